"""ImportJob, ImportedLine and DatasetSnapshot now belong to the datasets app (its migration
0001 took their tables over and renamed them). The snapshot foreign keys of training runs
and model versions keep their columns and constraints, which followed the renamed table:
only the state changes here."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trainer", "0010_jobs_recovery_moved"),
        ("datasets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="trainingrun",
                    name="snapshot",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="Blank when queued: a fresh export is made when the run starts",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="training_runs",
                        to="datasets.datasetsnapshot",
                    ),
                ),
                migrations.AlterField(
                    model_name="modelversion",
                    name="snapshot",
                    field=models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="datasets.datasetsnapshot",
                    ),
                ),
                migrations.DeleteModel(name="ImportedLine"),
                migrations.DeleteModel(name="ImportJob"),
                migrations.DeleteModel(name="DatasetSnapshot"),
            ],
            database_operations=[],
        ),
    ]
