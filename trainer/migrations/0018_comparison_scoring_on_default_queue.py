"""The reward model's pass over open comparisons asks the inference process for its scores
(serving.scoring) and loads no model: its beat entry sends it to the default queue, where
it no longer waits behind a training run. An entry an admin sent elsewhere is left as
they set it."""

from django.db import migrations
from django.utils import timezone

NAME = "Score open comparisons with the promoted reward model (every minute)"


def _moved(apps, before: str, after: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME, queue=before).update(queue=after):
        # A running beat rereads its entries when this row says they changed (a bulk
        # update sends none of the signals that would tell it).
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def to_default(apps, schema_editor):
    _moved(apps, "training", "default")


def to_training(apps, schema_editor):
    _moved(apps, "default", "training")


class Migration(migrations.Migration):
    dependencies = [("trainer", "0017_comparison_scoring_schedule")]

    operations = [migrations.RunPython(to_default, to_training)]
