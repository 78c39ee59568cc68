"""A task's kind is any kind an app registers (labeling.task_kinds): the field loses its
`choices`, so a new kind needs no migration. Choices live only in Django's state: no SQL on
any database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0006_demonstration_source"),
    ]

    operations = [
        migrations.AlterField(
            model_name="task",
            name="kind",
            field=models.CharField(max_length=16),
        ),
    ]
