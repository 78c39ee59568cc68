"""Per-person days for the People pages. A dashboard counted before they existed counts
them from scratch in its next refresh (Rollup.people_counted)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0002_refresh_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='rollup',
            name='people_counted',
            field=models.BooleanField(default=False),
        ),
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
                'constraints': [models.UniqueConstraint(fields=('user', 'kind', 'day'), name='person_day_once'), models.CheckConstraint(condition=models.Q(('kind__in', ('demonstrations', 'reviews', 'rankings'))), name='person_day_kind')],
            },
        ),
    ]
