"""The reward model's pass over open comparisons for the ranking queue's priority, as an
editable django-celery-beat entry (admin: Periodic tasks). Promotion and generation send
a pass at once; this one catches comparisons imported or created by the API."""

from django.db import migrations

NAME = "Score open comparisons with the promoted reward model (every minute)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "trainer.tasks.score_comparisons",
            "interval": every_minute,
            "queue": "training",
            "enabled": True,
            # A pass left waiting behind a training run is dropped, not stacked up.
            "expire_seconds": 120,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("trainer", "0016_evaluation_comparisons_marked"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
