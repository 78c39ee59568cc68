"""The scheduled retraining and the check for orphaned jobs, as editable
django-celery-beat entries (admin: Periodic tasks)."""

from django.db import migrations

RETRAIN = "Retrain when enough new data arrived (hourly)"
RECOVER = "Take over training and generation jobs whose worker died (every minute)"


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    for name, task, interval in [
        (RETRAIN, "trainer.tasks.train_when_enough_data", every_hour),
        (RECOVER, "trainer.tasks.jobs_recover", every_minute),
    ]:
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "queue": "default", "enabled": True},
        )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[RETRAIN, RECOVER]).delete()


class Migration(migrations.Migration):
    dependencies = [("trainer", "0006_training_runs_and_models")]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
