"""Best-of-n generation: each prompt gets n replies, the promoted reward model (a real
tiny one, trained by the test) scores them in the inference process (the live server), and
the K it scores highest are filed; the job keeps every reply's reward, what was kept and
the reward model used."""

import re

import pytest
from django.conf import settings

from jobs.models import JobStatus
from rankings.models import Comparison
from trainer.best_of import MAX_BEST_OF, kept_best, samples_record, shares
from trainer.generation import generation_run
from trainer.ml.reward import RewardScorer
from trainer.models import GenerationJob
from trainer.training import model_promote

from .test_training import trained
from .test_training_pages import field_error, model_version


def test_each_origin_samples_its_share_of_n_and_never_less_than_its_k():
    assert shares([4], 9) == [9]
    assert shares([2, 2], 8) == [4, 4]
    assert shares([2, 1], 6) == [4, 2]
    # 7 * 2/3 = 4.67 and 7 * 1/3 = 2.33: the larger fraction takes the one left over.
    assert shares([2, 1], 7) == [5, 2]
    assert shares([1, 1, 1], 4) == [2, 1, 1]
    assert shares([3, 3, 3], 9) == [3, 3, 3]


def test_the_k_best_distinct_replies_are_kept_never_an_empty_or_unscored_one():
    texts = ["a", "b", "a", "", "c", "d", "e"]
    rewards = [5.0, 1.0, 5.0, 9.0, None, 3.0, 3.0]

    # "a" twice: its copy gives its place to the next best distinct reply; "d" and "e"
    # tie, and the earlier sampled wins.
    assert kept_best(texts, rewards, 3) == [0, 5, 6]
    assert kept_best(texts, rewards, 2) == [0, 5]
    # A whitespace-only reply is empty: a comparison would refuse it, filing nothing.
    assert kept_best([" \n", "b", "c"], [9.0, 1.0, 0.0], 2) == [1, 2]
    assert samples_record([(" \n", "sft-1")], [9.0], [])[0]["unfit"] == "empty"
    # Fewer distinct scored replies than K: all of them.
    assert kept_best(["x", "x", "y"], [1.0, 1.0, 0.0], 3) == [0, 2]
    record = samples_record([(t, "sft-1") for t in texts], rewards, [0, 5, 6])
    assert [(r["kept"], r.get("unfit")) for r in record] == [
        (True, None),
        (False, None),
        (False, "repeat"),
        (False, "empty"),
        (False, "unscored"),
        (True, None),
        (True, None),
    ]


@pytest.mark.any_backend
@pytest.mark.django_db(transaction=True)
def test_best_of_n_files_the_k_replies_the_reward_model_scores_highest(
    api, client, carol, oasst, inference_process, training_queue_emptied
):
    api.force_authenticate(carol)
    model_promote(version=trained("sft").model)
    ask = {"filters": {"limit": 3}, "k": 2, "temperature": 1.2, "max_new_tokens": 12}

    refused = api.post("/api/generations/", {**ask, "best_of": 6}, format="json")
    assert refused.status_code == 400 and "No reward model" in refused.json()["best_of"][0]
    reward = trained("reward").model
    model_promote(version=reward)
    for best_of in (1, MAX_BEST_OF + 1, "many"):
        refused = api.post("/api/generations/", {**ask, "best_of": best_of}, format="json")
        assert refused.status_code == 400 and "best_of" in refused.json(), refused.json()
    assert not GenerationJob.objects.exists()

    answer = api.post("/api/generations/", {**ask, "best_of": 8, "overlap": 1}, format="json")
    assert answer.status_code == 202, answer.json()
    assert answer.json()["reward_model"] == reward.pk and answer.json()["rewards"] == {}
    job = generation_run(job_id=answer.json()["id"])

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.reward_model == reward and len(job.rewards) == 3
    scorer = RewardScorer(f"{settings.DATA_DIR}/{reward.path}")
    for prompt_id, samples in job.rewards.items():
        assert len(samples) == 8
        kept = sorted(s["reward"] for s in samples if s["kept"])
        comparison = Comparison.objects.get(pk=job.filed[prompt_id])
        candidates = list(comparison.candidates.all())
        assert len(kept) == len(candidates) == 2
        # What was filed is what was scored, by the reward model the job names.
        again = sorted(scorer.score(comparison.prompt.messages, c.content) for c in candidates)
        assert again == pytest.approx(kept, abs=1e-4)
        # No reply that could have been kept scored above one that was.
        left = [s["reward"] for s in samples if not s["kept"] and "unfit" not in s]
        assert min(kept) >= max(left, default=float("-inf"))
    detail = api.get(f"/api/generations/{job.pk}/").json()
    assert detail["reward_mean_kept"] > detail["reward_mean_sampled"] + 0.01, detail

    client.force_login(carol)
    page = client.get(f"/dashboard/generations/{job.pk}/").content.decode()
    shown = {
        name: float(re.search(rf"data-reward-{name}>([^<]+)<", page).group(1))
        for name in ("sampled", "kept", "gain")
    }
    assert shown["sampled"] == pytest.approx(job.reward_mean_sampled, abs=1e-3)
    assert shown["kept"] == pytest.approx(job.reward_mean_kept, abs=1e-3)
    assert shown["gain"] > 0 and f"chosen by {reward.name}" in page


def test_the_generation_form_offers_best_of_and_refuses_it_below_k(
    client, carol, prompts, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    model_version("sft", promoted=True)
    form = {"limit": "2", "k": "3"}
    assert 'name="best_of"' in client.get("/dashboard/generations/").content.decode()

    refused = client.post("/dashboard/generations/", {**form, "best_of": "6"})
    assert "No reward model" in field_error(refused, "best_of")
    reward = model_version("reward", promoted=True)
    refused = client.post("/dashboard/generations/", {**form, "best_of": "2"})
    assert refused.status_code == 400 and "Between K (3" in field_error(refused, "best_of")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/dashboard/generations/", {**form, "best_of": "6"})

    job = GenerationJob.objects.get()
    assert answer.status_code == 302 and len(queued) == 1
    assert (job.k, job.best_of, job.reward_model) == (3, 6, reward)
