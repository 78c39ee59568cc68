"""The recovery entry now covers every kind of job, and says so on the schedules page."""

from django.db import migrations

OLD = "Take over training and generation jobs whose worker died (every minute)"
NEW = "Recover jobs of every kind whose worker died or whose message was lost (every minute)"


def rename(apps, schema_editor, old=OLD, new=NEW):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=old).update(name=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [("trainer", "0008_job_base_fields")]

    operations = [migrations.RunPython(rename, rename_back)]
