"""The promoted reward model (a real tiny one, trained by the test) scores the open
comparisons in a worker pass, asked of the inference process over real HTTP (the live
server, which runs models as that process does), and the ranking queue's priorities
follow it: every promotion makes them all due again, and a pass with nothing due does
nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.leases import leased
from jobs.models import Lease
from labeling.models import Prompt, Task
from labeling.services import prompt_import
from rankings.models import Comparison
from rankings.priority import priority_of, uncertainty_of, weights_for
from rankings.services import comparison_create
from sources.client import SourceError
from tests.conftest import free_port
from tests.sources.conftest import queue_purged
from trainer.ml.reward import RewardScorer
from trainer.models import ModelVersion, TrainingRun
from trainer.priorities import PASS_LEASE, comparisons_due, comparisons_score
from trainer.tasks import score_comparisons
from trainer.training import model_promote

from .test_training import trained

REPLIES = [
    ["Tides come from the Moon's pull on the oceans.", "Tides are caused by wind."],
    ["Water rises twice a day as the Earth turns under the Moon.", "No idea.", "The Sun."],
]


def _open_comparisons() -> list[Comparison]:
    prompt = Prompt.objects.order_by("pk").first()
    return [
        comparison_create(
            prompt=prompt, candidates=[{"content": text, "model": "m"} for text in texts]
        )
        for texts in REPLIES
    ]


def _asked_instead(comparison: Comparison, messages: list[dict]) -> None:
    """`comparison` moved to a prompt of its own holding `messages`, written past the
    checks, as a bad or oversized row would be."""
    prompt = prompt_import(
        guideline=comparison.prompt.guideline, messages=[{"role": "user", "content": "Hm?"}]
    )[0]
    Prompt.objects.filter(pk=prompt.pk).update(messages=messages)
    Comparison.objects.filter(pk=comparison.pk).update(prompt=prompt)


@pytest.fixture
def default_queue_emptied():
    """A promotion sends a scoring pass to the default queue at once (in a test whose
    transactions commit): it must not reach a later test's worker."""
    yield
    queue_purged("default")


@pytest.mark.django_db(transaction=True)
def test_a_promotion_rescores_the_open_comparisons_and_their_priority(
    oasst, inference_process, default_queue_emptied
):
    comparisons = _open_comparisons()
    unscored = {c.pk: c.task.priority for c in comparisons}
    first = trained("reward").model
    assert score_comparisons() == 0  # nothing promoted: nothing to score with

    model_promote(version=first)
    assert comparisons_due(first).count() == len(comparisons)
    # The pass a worker runs after the promotion (the beat entry runs it every minute).
    assert score_comparisons() == len(comparisons)

    scorer = RewardScorer(f"{settings.DATA_DIR}/{first.path}")
    weights = weights_for(comparisons[0].task.guideline_id)
    for comparison in comparisons:
        comparison.refresh_from_db()
        candidates = list(comparison.candidates.order_by("pk"))
        expected = scorer.scores([(comparison.prompt.messages, c.content) for c in candidates])
        assert comparison.scored_by == first.pk
        assert list(comparison.reward_scores) == [str(c.pk) for c in candidates]
        assert list(comparison.reward_scores.values()) == pytest.approx(expected.tolist(), abs=1e-5)
        assert comparison.uncertainty == pytest.approx(uncertainty_of(expected.tolist()))
        task = Task.objects.get(pk=comparison.task_id)
        assert task.priority == pytest.approx(
            priority_of(
                weights,
                uncertainty=comparison.uncertainty,
                agreement=None,
                ranking_count=0,
                created_at=comparison.created_at,
            )
        )
        # Below where it waited unscored: the model has now said how sure it is.
        assert task.priority < unscored[comparison.pk]
    assert score_comparisons() == 0  # nothing due any more

    second = trained("reward").model
    model_promote(version=second)
    assert score_comparisons() == len(comparisons)
    assert set(
        Comparison.objects.values_list("scored_by", flat=True).filter(
            pk__in=[c.pk for c in comparisons]
        )
    ) == {second.pk}


@pytest.mark.django_db(transaction=True)
def test_a_comparison_the_model_cannot_read_is_passed_over_not_retried_for_ever(
    oasst, inference_process, default_queue_emptied
):
    readable, unreadable = _open_comparisons()
    # No content: nothing a tokenizer can read.
    _asked_instead(unreadable, [{"role": "user"}])
    reward = trained("reward").model
    model_promote(version=reward)

    assert score_comparisons() == 2
    readable.refresh_from_db()
    unreadable.refresh_from_db()
    assert readable.uncertainty is not None and len(readable.reward_scores) == 2
    assert unreadable.scored_by == reward.pk and unreadable.uncertainty is None
    assert unreadable.reward_scores == {}
    assert score_comparisons() == 0


@pytest.mark.django_db(transaction=True)
def test_a_comparison_too_large_for_any_request_is_passed_over_and_the_rest_scored(
    oasst, inference_process, default_queue_emptied, settings
):
    # A body limit (for the inference process and the pass alike) a little over what the
    # others need: the oldest comparison alone is past it, a 413 however it is sent.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 30_000
    large, other = _open_comparisons()
    _asked_instead(large, [{"role": "user", "content": "Why is the sea salty? " * 2_000}])
    reward = trained("reward").model
    model_promote(version=reward)

    assert score_comparisons() == 2
    large.refresh_from_db()
    other.refresh_from_db()
    assert large.scored_by == reward.pk and large.reward_scores == {}
    assert other.scored_by == reward.pk and len(other.reward_scores) == 3


@pytest.mark.django_db
def test_beat_sends_a_pass_every_minute_to_the_default_queue():
    # Never behind a training run: the default worker asks the inference process. (Read
    # in a test whose transaction rolls back: the migration's entry is still there.)
    entry = PeriodicTask.objects.get(task="trainer.tasks.score_comparisons")
    assert entry.enabled and entry.queue == "default"
    assert entry.interval.every == 1 and entry.interval.period == "minutes"


def promoted_without_weights() -> ModelVersion:
    """A promoted reward model no test's pass ever reaches the weights of."""
    run = TrainingRun.objects.create(kind="reward", status="succeeded")
    return ModelVersion.objects.create(kind="reward", run=run, path="runs/r", promoted=True)


@pytest.mark.django_db
def test_with_the_inference_process_down_a_pass_fails_and_leaves_every_comparison_due(
    oasst, settings
):
    comparisons = _open_comparisons()
    reward = promoted_without_weights()
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(SourceError, match="Could not reach"):
        score_comparisons()

    # Nothing is marked scored: the next pass, with the inference process back, takes all.
    assert comparisons_due(reward).count() == len(comparisons)


@pytest.mark.django_db(transaction=True)
def test_a_promoted_model_the_inference_process_cannot_load_fails_the_pass(
    oasst, inference_process
):
    comparisons = _open_comparisons()
    reward = promoted_without_weights()

    # A 503 from the inference process is nobody's comparison's fault.
    with pytest.raises(SourceError, match="HTTP 503"):
        score_comparisons()

    assert comparisons_due(reward).count() == len(comparisons)


@pytest.mark.django_db
def test_a_pass_asked_for_while_another_runs_does_nothing_and_a_dead_ones_lease_runs_out(
    oasst, settings
):
    comparisons = _open_comparisons()
    reward = promoted_without_weights()
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port()}"  # a pass that asks fails

    # Another pass holds the scoring: this one neither asks nor marks anything.
    with leased(PASS_LEASE, 60) as held:
        assert held
        assert comparisons_score() == (0, False)
        with leased(PASS_LEASE, 60) as again:
            assert not again
    assert comparisons_due(reward).count() == len(comparisons)
    # Given back on leaving: the next pass runs (and fails here, nothing listening).
    with pytest.raises(SourceError):
        comparisons_score()
    # A holder that died without giving it back holds it only until its time is out.
    Lease.objects.filter(name=PASS_LEASE).update(
        holder="dead", until=timezone.now() - timedelta(seconds=1)
    )
    with leased(PASS_LEASE, 60) as held:
        assert held
