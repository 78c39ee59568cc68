"""The open ranking tasks filed before the queue had priorities get the one they would
have had: unscored, under the default weights, with the disagreement of their raters so
far. Left at the column's default of 0 they would all go ahead of every new task (whose
age part is below 0) until a reward model was promoted."""

from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations

# rankings.priority as it stood when this was written: frozen here, as a migration is.
AGE_ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)
DAY_S = 86_400


def prioritise(apps, schema_editor):
    Comparison = apps.get_model("rankings", "Comparison")
    Task = apps.get_model("labeling", "Task")
    per_day = settings.RANKING_PRIORITY_PER_DAY
    batch = []
    rows = Comparison.objects.filter(task__kind="ranking", task__status="open").values_list(
        "task_id", "agreement", "ranking_count", "created_at"
    )
    for task_id, agreement, ranking_count, created_at in rows.iterator(chunk_size=2000):
        value = (agreement or {}).get("pairwise_agreement")
        disagreement = (
            min(1.0, max(0.0, 1.0 - float(value)))
            if ranking_count >= 2 and isinstance(value, int | float)
            else 0.0
        )
        days = (created_at - AGE_ORIGIN).total_seconds() / DAY_S
        batch.append(Task(pk=task_id, priority=1.0 + disagreement - per_day * days))
        if len(batch) >= 2000:
            Task.objects.bulk_update(batch, ["priority"])
            batch = []
    Task.objects.bulk_update(batch, ["priority"])


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0007_queue_priority"),
        ("labeling", "0011_task_priority"),
    ]

    operations = [migrations.RunPython(prioritise, migrations.RunPython.noop)]
