"""Leases: work one process at a time may do, by name (jobs.leases)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_recovery_task_renamed"),
    ]

    operations = [
        migrations.CreateModel(
            name="Lease",
            fields=[
                ("name", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("holder", models.CharField(blank=True, max_length=32)),
                ("until", models.DateTimeField()),
            ],
        ),
    ]
