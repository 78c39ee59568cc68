"""ImportJob, ImportedLine and DatasetSnapshot move here from the trainer app with their
rows: the tables are renamed, not made anew, and the foreign keys of training runs and model
versions follow the rename (trainer's 0011 points them here in the state)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ["importjob", "importedline", "datasetsnapshot"]


def content_types_move(apps, schema_editor, old="trainer", new="datasets"):
    # Permissions and admin log entries point at the content type: they come along.
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=old, model__in=MODELS).update(app_label=new)


def content_types_move_back(apps, schema_editor):
    content_types_move(apps, schema_editor, old="datasets", new="trainer")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("guidelines", "0004_guideline_own_prompts_answerable"),
        ("trainer", "0010_jobs_recovery_moved"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Into this app's state under their old tables, which trainer's migrations made ...
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DatasetSnapshot',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('cancel_requested', models.BooleanField(default=False)),
                        ('error', models.TextField(blank=True)),
                        ('kind', models.CharField(choices=[('sft', 'SFT conversations'), ('preference', 'Preference pairs'), ('rankings', 'K-wise rankings')], max_length=16)),
                        ('filters', models.JSONField(blank=True, default=dict)),
                        ('options', models.JSONField(blank=True, default=dict)),
                        ('counts', models.JSONField(blank=True, default=dict)),
                        ('files', models.JSONField(blank=True, default=dict, help_text='{split: path under DATA_DIR}')),
                        ('sha256', models.JSONField(blank=True, default=dict)),
                        ('guideline_versions', models.JSONField(blank=True, default=list)),
                        ('fingerprint', models.CharField(blank=True, db_index=True, max_length=64)),
                        ('card', models.TextField(blank=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'abstract': False,
                        'db_table': 'trainer_datasetsnapshot',
                    },
                ),
                migrations.CreateModel(
                    name='ImportJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('cancel_requested', models.BooleanField(default=False)),
                        ('error', models.TextField(blank=True)),
                        ('format', models.CharField(choices=[('hh-rlhf', 'HH-RLHF preference pairs'), ('oasst', 'OpenAssistant message trees'), ('alpaca', 'Alpaca-style instructions'), ('prompts-jsonl', 'Prompts (JSONL)'), ('candidates-jsonl', 'Candidates to rank (JSONL)')], max_length=32)),
                        ('file', models.CharField(help_text='Path under DATA_DIR', max_length=500)),
                        ('original_name', models.CharField(blank=True, max_length=255)),
                        ('strict', models.BooleanField(default=False)),
                        ('lines_total', models.PositiveIntegerField(default=0)),
                        ('lines_done', models.PositiveIntegerField(default=0)),
                        ('counts', models.JSONField(blank=True, default=dict)),
                        ('errors', models.JSONField(blank=True, default=list, help_text='[{line, reason}], the first 1,000')),
                        ('error_count', models.PositiveIntegerField(default=0)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('guideline', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='guidelines.guideline')),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'abstract': False,
                        'db_table': 'trainer_importjob',
                    },
                ),
                migrations.CreateModel(
                    name='ImportedLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(help_text='sha256 of format and line', max_length=64, unique=True)),
                        ('job', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='datasets.importjob')),
                    ],
                    options={
                        'db_table': 'trainer_importedline',
                    },
                ),
            ],
            database_operations=[],
        ),
        # ... then under this app's own names (on PostgreSQL and SQLite the foreign keys of
        # other tables follow a renamed table).
        migrations.AlterModelTable(name="DatasetSnapshot", table=None),
        migrations.AlterModelTable(name="ImportJob", table=None),
        migrations.AlterModelTable(name="ImportedLine", table=None),
        migrations.RunPython(content_types_move, content_types_move_back),
    ]
