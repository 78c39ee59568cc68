"""JobsRecovery moves here from the trainer app with its row: the table is renamed, not
made anew, so /healthz keeps the time of the last recovery across the upgrade."""

from django.db import migrations, models


def content_type_move(apps, schema_editor, old="trainer", new="jobs"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=old, model="jobsrecovery").update(app_label=new)


def content_type_move_back(apps, schema_editor):
    content_type_move(apps, schema_editor, old="jobs", new="trainer")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("trainer", "0009_recovery_entry_covers_every_job"),
    ]

    operations = [
        # Into this app's state under its old table, which trainer's migrations made ...
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="JobsRecovery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("ran_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "resent",
                            models.PositiveIntegerField(
                                default=0, help_text="Jobs sent again on that run"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "trainer_jobsrecovery"},
                ),
            ],
            database_operations=[],
        ),
        # ... then under this app's own name.
        migrations.AlterModelTable(name="JobsRecovery", table=None),
        migrations.RunPython(content_type_move, content_type_move_back),
    ]
