import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone


def leases_counted(apps, schema_editor):
    """Give each assignment its task's kind and each task its count of leases.

    Before this, an expired lease stayed "leased" after another person took its slot, and
    a person could hold expired leases of one kind on several tasks. Leases on tasks no
    longer open lapse; then each task keeps the leases that fit in its free slots, and
    each person one lease per kind, live ones first, then the latest to expire (renewing
    moved a lease's expiry, not its start). Every other one lapses, its draft kept.
    """
    Task = apps.get_model("labeling", "Task")
    Assignment = apps.get_model("labeling", "Assignment")
    Assignment.objects.update(
        kind=Subquery(Task.objects.filter(pk=OuterRef("task_id")).values("kind")[:1])
    )
    leased = Assignment.objects.filter(status="leased")
    leased.exclude(task__status="open").update(status="lapsed")
    now = timezone.now()

    def keep_best(held, keep: int) -> None:
        rows = sorted(held.values_list("pk", "expires_at"), key=lambda row: row[1], reverse=True)
        live_first = sorted(rows, key=lambda row: row[1] <= now)
        leased.filter(pk__in=[pk for pk, _ in live_first[keep:]]).update(status="lapsed")

    for task in Task.objects.filter(assignments__status="leased").distinct():
        keep_best(leased.filter(task=task), max(task.wanted - task.submitted_count, 0))
    crowded = (
        leased.values("user_id", "kind").annotate(n=Count("id")).filter(n__gt=1).order_by()
    )
    for group in crowded:
        keep_best(leased.filter(user_id=group["user_id"], kind=group["kind"]), 1)
    Task.objects.update(
        leased_count=Coalesce(
            Subquery(
                leased.filter(task_id=OuterRef("pk"))
                .values("task_id")
                .annotate(n=Count("id"))
                .values("n")[:1]
            ),
            0,
        )
    )


class Migration(migrations.Migration):

    dependencies = [
        ('guidelines', '0004_guideline_own_prompts_answerable'),
        ('labeling', '0011_task_priority'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='task',
            name='task_never_over_submitted',
        ),
        migrations.AddField(
            model_name='assignment',
            name='kind',
            field=models.CharField(default='', max_length=16),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='task',
            name='leased_count',
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='assignment',
            name='status',
            field=models.CharField(choices=[('leased', 'Leased'), ('submitted', 'Submitted'), ('skipped', 'Skipped'), ('lapsed', 'Lapsed')], default='leased', max_length=10),
        ),
        migrations.RunPython(leases_counted, migrations.RunPython.noop),
    ]
