"""Per-person days for the People pages. The refresh that follows recounts everything
from scratch, the history included: an incremental one would count the recent days only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def recount_in_full(apps, schema_editor):
    apps.get_model("dashboard", "Rollup").objects.update(refreshed_at=None)


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0002_refresh_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PersonDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('day', models.DateField()),
                ('count', models.IntegerField(default=0)),
                ('approved', models.IntegerField(default=0)),
                ('seconds', models.JSONField(default=dict)),
                ('seconds_through', models.JSONField(default=dict)),
                ('consensus_pairs', models.IntegerField(default=0)),
                ('consensus_alike', models.IntegerField(default=0)),
                ('gold_pairs', models.IntegerField(default=0)),
                ('gold_right', models.IntegerField(default=0)),
                ('first_id', models.BigIntegerField()),
                ('last_id', models.BigIntegerField()),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['kind', 'day'], name='person_day_by_day')],
                'constraints': [models.UniqueConstraint(fields=('user', 'kind', 'day'), name='person_day_once')],
            },
        ),
        migrations.RunPython(recount_in_full, migrations.RunPython.noop),
    ]
