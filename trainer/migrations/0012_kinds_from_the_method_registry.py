"""A run's and a model version's kind is any registered training method's name
(trainer.ml.methods): the field loses its `choices`, so a new method needs no migration.
Choices live only in Django's state: no SQL on any database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("trainer", "0011_datasets_moved"),
    ]

    operations = [
        migrations.AlterField(
            model_name="modelversion",
            name="kind",
            field=models.CharField(max_length=16),
        ),
        migrations.AlterField(
            model_name="trainingrun",
            name="kind",
            field=models.CharField(max_length=16),
        ),
    ]
