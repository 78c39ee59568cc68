"""The comparisons an evaluation's human judge filed before comparisons were marked are
marked by the migration that follows the new field, so exports leave them out too. Runs on
SQLite and on PostgreSQL (DATABASE_URL=postgres://...)."""

import pytest

from rankings.models import Comparison
from rankings.services import comparison_create
from tests.datasets.test_migration_keeps_data import migrate

from . import test_evaluations
from .test_evaluations_lists import human_evaluation
from .test_training_pages import model_version

questions = test_evaluations.questions

BEFORE_THE_MARK = [("trainer", "0015_evaluations"), ("rankings", "0004_ranking_pairs")]


@pytest.mark.django_db(transaction=True)
def test_comparisons_filed_by_an_evaluation_before_the_mark_are_marked(questions):
    judged = human_evaluation(model_version("sft"), model_version("sft"), questions[0])
    filed = judged.filed[str(questions[0].pk)]["comparison"]
    ordinary = comparison_create(
        prompt=questions[1], candidates=[{"content": "One."}, {"content": "Two."}], overlap=1
    )

    try:
        # Back to before the field, which drops it, then forward again as an upgrade runs.
        migrate(BEFORE_THE_MARK)
        migrate()
    finally:
        migrate()

    assert Comparison.objects.get(pk=filed).evaluation is True
    assert Comparison.objects.get(pk=ordinary.pk).evaluation is False
