"""The scheduled export's task moved to this app, and its beat entry names it here."""

from django.db import migrations

OLD = "trainer.tasks.export_when_changed"
NEW = "dataset_io.tasks.export_when_changed"


def rename(apps, schema_editor, old=OLD, new=NEW):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=old).update(task=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
