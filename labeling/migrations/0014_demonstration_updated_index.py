"""The dashboard's refresh finds the demonstrations approved or revised since it last ran
by their updated_at (dashboard.people_rollup)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0013_lease_constraints'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='demonstration',
            index=models.Index(fields=['updated_at'], name='demonstration_updated'),
        ),
    ]
