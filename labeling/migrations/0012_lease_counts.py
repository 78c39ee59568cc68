import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone


def leases_counted(apps, schema_editor):
    """Give each assignment its task's kind and each task its count of leases.

    Before this, an expired lease stayed "leased" after another person took its slot, and
    a person could hold expired leases of one kind on several tasks. The newest lease per
    person and kind stays; so do the leases that fit in their task's free slots, live
    ones first; every other one lapses, its draft kept.
    """
    Task = apps.get_model("labeling", "Task")
    Assignment = apps.get_model("labeling", "Assignment")
    Assignment.objects.update(
        kind=Subquery(Task.objects.filter(pk=OuterRef("task_id")).values("kind")[:1])
    )
    leased = Assignment.objects.filter(status="leased")
    leased.exclude(task__status="open").update(status="lapsed")
    crowded = (
        leased.values("user_id", "kind").annotate(n=Count("id")).filter(n__gt=1).order_by()
    )
    for group in crowded:
        held = leased.filter(user_id=group["user_id"], kind=group["kind"]).order_by("-leased_at")
        leased.filter(pk__in=list(held.values_list("pk", flat=True)[1:])).update(status="lapsed")
    now = timezone.now()
    for task in Task.objects.filter(assignments__status="leased").distinct():
        room = max(task.wanted - task.submitted_count, 0)
        held = list(
            leased.filter(task=task).order_by("-expires_at").values_list("pk", "expires_at")
        )
        live_first = sorted(held, key=lambda row: row[1] <= now)
        leased.filter(pk__in=[pk for pk, _ in live_first[room:]]).update(status="lapsed")
        Task.objects.filter(pk=task.pk).update(leased_count=min(len(held), room))


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
