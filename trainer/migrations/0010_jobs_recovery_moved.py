"""JobsRecovery now belongs to the jobs app (its migration 0001 took the table over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("trainer", "0009_recovery_entry_covers_every_job"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="JobsRecovery")],
            database_operations=[],
        ),
    ]
