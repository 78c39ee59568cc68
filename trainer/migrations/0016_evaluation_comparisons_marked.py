"""Marks the comparisons the human judge of an evaluation filed before Comparison.evaluation
existed, so that exports and scheduled retraining leave them out as they do new ones."""

from django.db import migrations


def evaluation_comparisons_mark(apps, schema_editor):
    EvaluationJob = apps.get_model("trainer", "EvaluationJob")
    Comparison = apps.get_model("rankings", "Comparison")
    ids = [
        entry["comparison"]
        for filed in EvaluationJob.objects.exclude(filed={}).values_list("filed", flat=True)
        for entry in filed.values()
    ]
    for start in range(0, len(ids), 1000):
        Comparison.objects.filter(pk__in=ids[start : start + 1000]).update(evaluation=True)


class Migration(migrations.Migration):
    dependencies = [
        ("trainer", "0015_evaluations"),
        ("rankings", "0005_comparison_evaluation"),
    ]

    operations = [migrations.RunPython(evaluation_comparisons_mark, migrations.RunPython.noop)]
