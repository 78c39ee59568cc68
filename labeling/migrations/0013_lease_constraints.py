from django.conf import settings
from django.db import migrations, models
import django.db.models.expressions


class Migration(migrations.Migration):
    """Apart from 0012: PostgreSQL cannot build an index in the transaction that updated
    the table's rows while their foreign-key checks are still pending."""

    dependencies = [
        ('labeling', '0012_lease_counts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='assignment',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'leased')), fields=('user', 'kind'), name='one_lease_per_user_and_kind'),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.CheckConstraint(condition=models.Q(('submitted_count__lte', django.db.models.expressions.CombinedExpression(models.F('wanted'), '-', models.F('leased_count')))), name='task_never_over_assigned'),
        ),
    ]
