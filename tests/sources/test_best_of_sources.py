"""Best-of-n with a model source among the origins: the source (the platform's own /v1
over real HTTP) is asked for its share of n, its replies are scored beside the model's by
the promoted reward model, and only the K best of them all are filed."""

import pytest

from jobs.models import JobStatus
from rankings.models import Comparison
from trainer.models import ModelVersion, TrainingRun
from trainer.training import model_promote, run_execute, training_run_create

from .conftest import QUICK, generation_made, prompts_for_labelers


@pytest.mark.django_db(transaction=True)
def test_best_of_n_scores_a_sources_replies_beside_the_models_and_keeps_k(
    api, carol, own_source, sft_version, guideline, training_queue_emptied, inference_process
):
    reward = run_execute(run_id=training_run_create(kind="reward", config=QUICK, enqueue=False).pk)
    assert reward.status == JobStatus.SUCCEEDED, reward.error
    model_promote(version=reward.model)
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)

    # K 2 + 1 scaled to 6: four from the model, two from the source.
    job = generation_made(
        api,
        model=sft_version.pk,
        k=2,
        sources=[{"source": own_source.pk, "k": 1}],
        best_of=6,
        prompts=[p.pk for p in prompts],
    )

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.reward_model == reward.model
    for prompt in prompts:
        samples = job.rewards[str(prompt.pk)]
        origins = [s["model"] for s in samples]
        assert origins == [sft_version.name] * 4 + ["source:ourselves"] * 2
        kept = [s for s in samples if s["kept"]]
        comparison = Comparison.objects.get(pk=job.filed[str(prompt.pk)])
        assert len(kept) == comparison.candidates.count() == 3
        assert {c.model_name for c in comparison.candidates.all()} == {s["model"] for s in kept}
        # No reply that could have been kept scored above one that was.
        left = [s["reward"] for s in samples if not s["kept"] and "unfit" not in s]
        assert min(s["reward"] for s in kept) >= max(left, default=float("-inf"))
    assert job.reward_mean_kept > job.reward_mean_sampled


@pytest.mark.django_db(transaction=True)
def test_replies_the_reward_model_cannot_score_are_a_failure_of_their_prompt(
    api, carol, sft_version, guideline, training_queue_emptied, inference_process
):
    # A promoted reward model whose files are gone: the inference process answers 503,
    # which the job tries again, then records for each prompt.
    run = TrainingRun.objects.create(kind="reward", status="succeeded")
    reward = ModelVersion.objects.create(kind="reward", run=run, path="runs/gone", promoted=True)
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)
    comparisons = Comparison.objects.count()

    job = generation_made(
        api, model=sft_version.pk, k=2, best_of=3, prompts=[p.pk for p in prompts]
    )

    assert job.status == JobStatus.FAILED and not job.filed
    assert set(job.failures) == {str(p.pk) for p in prompts}
    for reason in job.failures.values():
        assert reason.startswith(f"{reward.name} scoring: HTTP 503"), reason
        assert "cannot be loaded" in reason and "gave up after 4 attempts" in reason
    assert Comparison.objects.count() == comparisons
