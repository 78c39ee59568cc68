from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="DailyTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric", models.CharField(max_length=32)),
                ("key", models.CharField(blank=True, default="", max_length=100)),
                ("day", models.DateField()),
                ("count", models.BigIntegerField(default=0)),
                ("total", models.FloatField(default=0.0)),
                ("first_id", models.BigIntegerField()),
                ("last_id", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("metric", "day", "key"), name="daily_tally_once"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Rollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("refreshed_at", models.DateTimeField(blank=True, null=True)),
                ("took_ms", models.FloatField(default=0.0)),
                ("current", models.JSONField(blank=True, default=dict)),
            ],
        ),
    ]
