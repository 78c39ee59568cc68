from django.db import migrations, models

from rankings.consensus import ranking_pairs

BATCH = 2000


def fill_pairs(apps, schema_editor):
    """Rankings made before the column existed get their pairs computed once, here."""
    Ranking = apps.get_model("rankings", "Ranking")
    batch = []
    for ranking in Ranking.objects.only("id", "ranking").iterator(chunk_size=BATCH):
        ranking.pairs = [list(pair) for pair in ranking_pairs(ranking.ranking)]
        batch.append(ranking)
        if len(batch) == BATCH:
            Ranking.objects.bulk_update(batch, ["pairs"])
            batch = []
    Ranking.objects.bulk_update(batch, ["pairs"])


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0003_comparison_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="ranking",
            name="pairs",
            field=models.JSONField(default=list, help_text="[[winner, loser], ...]"),
        ),
        migrations.RunPython(fill_pairs, migrations.RunPython.noop),
    ]
