"""Beat's pass over guidelines whose queue weights changed but whose open ranking tasks
were not re-ordered yet (the message was lost, or the broker was down when they were
saved), as an editable django-celery-beat entry (admin: Periodic tasks)."""

from django.db import migrations

NAME = "Re-order ranking tasks whose guideline's weights changed (every minute)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "rankings.tasks.priorities_owed",
            "interval": every_minute,
            "queue": "default",
            "enabled": True,
            "expire_seconds": 120,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0008_open_tasks_prioritised"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
