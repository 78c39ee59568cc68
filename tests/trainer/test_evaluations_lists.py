"""Evaluations as lists read them and forms send them: a list page costs the same few
queries however many human-judged evaluations it shows, the same evaluation asked for
twice while the first is waiting is one job, a form's prompt count of 0 is refused, and
a reward model's score that is not a number fails its prompt instead of deciding it, and
held-out prompts are refused when a training file they are told from is missing."""

from pathlib import Path

import pytest
import torch
from django.db import connection
from django.test.utils import CaptureQueriesContext
from transformers import LlamaForSequenceClassification

from jobs.models import JobStatus
from rankings.services import comparison_create
from trainer.evaluations import evaluation_run
from trainer.models import EvaluationJob, ModelVersion

from . import test_evaluations
from .test_training_pages import field_error, model_version

questions = test_evaluations.questions


def human_evaluation(model: ModelVersion, baseline: ModelVersion, prompt) -> EvaluationJob:
    """A finished human-judged evaluation with one comparison filed for reviewers."""
    comparison = comparison_create(
        prompt=prompt,
        candidates=[{"content": "One reply."}, {"content": "Another reply."}],
        overlap=1,
    )
    first, second = sorted(comparison.candidates.values_list("pk", flat=True))
    return EvaluationJob.objects.create(
        model=model,
        baseline=baseline,
        judge=EvaluationJob.Judge.HUMAN,
        judge_name="human",
        prompts=[prompt.pk],
        status="succeeded",
        filed={
            str(prompt.pk): {
                "comparison": comparison.pk,
                "model_candidate": first,
                "baseline_candidate": second,
            }
        },
    )


def queries_of(read) -> int:
    with CaptureQueriesContext(connection) as captured:
        read()
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_lists_of_human_judged_evaluations_read_the_comparisons_in_one_query(
    api, client, carol, questions
):
    model, baseline = model_version("sft"), model_version("sft")
    api.force_authenticate(carol)
    client.force_login(carol)
    reads = {
        "api": lambda: api.get("/api/evaluations/"),
        "model page": lambda: client.get(f"/dashboard/models/{model.pk}/"),
        "models page": lambda: client.get("/dashboard/models/"),
    }
    human_evaluation(model, baseline, questions[0])
    human_evaluation(model_version("sft"), model, questions[0])
    for read in reads.values():
        read()  # what a first request reads once (the session, caches) is not counted
    before = {name: queries_of(read) for name, read in reads.items()}

    for prompt in questions[1:5]:
        human_evaluation(model, baseline, prompt)
        human_evaluation(model_version("sft"), model, prompt)

    after = {name: queries_of(read) for name, read in reads.items()}
    assert after == before
    listed = api.get("/api/evaluations/").json()
    assert len(listed) == 10 and {e["pending"] for e in listed} == {1}


@pytest.mark.django_db
def test_the_same_evaluation_asked_twice_while_it_waits_is_one_job(api, client, carol, questions):
    model, baseline = model_version("sft"), model_version("sft")
    model_version("reward", promoted=True)
    api.force_authenticate(carol)
    ask = {
        "model": model.pk,
        "baseline": baseline.pk,
        "judge": "reward",
        "prompts": [questions[0].pk, questions[1].pk],
    }

    first = api.post("/api/evaluations/", ask, format="json")
    second = api.post("/api/evaluations/", ask, format="json")

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    other = api.post("/api/evaluations/", {**ask, "prompts": [questions[0].pk]}, format="json")
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    EvaluationJob.objects.filter(pk=first.json()["id"]).update(status="succeeded")
    again = api.post("/api/evaluations/", ask, format="json")
    assert again.json()["id"] not in (first.json()["id"], other.json()["id"])
    assert EvaluationJob.objects.count() == 3

    client.force_login(carol)
    form = {"baseline": baseline.pk, "judge": "reward", "limit": "3"}
    posted = [client.post(f"/dashboard/models/{model.pk}/", form) for _ in range(2)]
    assert [p.status_code for p in posted] == [302, 302] and posted[0].url == posted[1].url
    assert EvaluationJob.objects.count() == 4


@pytest.mark.django_db
def test_a_form_asking_for_no_prompts_is_refused_at_the_count(client, carol, questions):
    model, baseline = model_version("sft"), model_version("sft")
    model_version("reward", promoted=True)
    client.force_login(carol)

    answer = client.post(
        f"/dashboard/models/{model.pk}/", {"baseline": baseline.pk, "judge": "reward", "limit": "0"}
    )

    assert answer.status_code == 400 and "Between 1 and" in field_error(answer, "limit")
    assert not EvaluationJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_reward_judge_that_scores_nan_fails_those_prompts_rather_than_calling_them_losses(
    api, carol, questions, tmp_path, inference_process, training_queue_emptied
):
    folder = test_evaluations.tiny_reward_model(tmp_path / "broken")
    broken = LlamaForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        broken.score.weight.fill_(float("nan"))
    broken.save_pretrained(folder)
    test_evaluations.version_at("reward", folder, promoted=True)
    pairs = [("Boil it for seven minutes.", "No."), ("Yes.", "I do not know.")]
    job_id, _, _ = test_evaluations.evaluation_planted(api, carol, "reward", questions, pairs)

    job = evaluation_run(job_id=job_id)

    assert job.status == JobStatus.FAILED and job.results == {}
    assert set(job.failures) == {str(p.pk) for p in questions[:2]}
    assert "no finite score" in job.failures[str(questions[0].pk)]
    body = api.get(f"/api/evaluations/{job_id}/").json()
    assert (body["n"], body["losses"], body["win_rate"]) == (0, 0, None)


@pytest.mark.django_db
def test_held_out_prompts_are_not_claimed_when_a_training_file_is_gone(
    api, carol, questions, tmp_path
):
    model_version("reward", promoted=True)
    snapshot = test_evaluations.snapshot_with(
        tmp_path / "sft",
        "sft",
        [{"messages": [*questions[0].messages, {"role": "assistant", "content": "Done."}]}],
    )
    parent = model_version("sft", snapshot=snapshot)
    child = model_version("sft", base_model=f"model:{parent.pk}")
    Path(snapshot.files["train"]).unlink()
    api.force_authenticate(carol)
    ask = {"model": child.pk, "baseline": child.pk, "judge": "reward", "filters": {"limit": 2}}

    refused = api.post("/api/evaluations/", ask, format="json")

    assert refused.status_code == 400 and "training file is gone" in refused.json()["filters"][0]
    anywhere = api.post(
        "/api/evaluations/", {**ask, "filters": {"limit": 2, "held_out": False}}, format="json"
    )
    assert anywhere.status_code == 202 and anywhere.json()["held_out"] is False


@pytest.mark.django_db
def test_held_out_given_as_anything_but_true_or_false_is_a_400(api, carol, questions):
    model_version("reward", promoted=True)
    model = model_version("sft")
    api.force_authenticate(carol)
    ask = {"model": model.pk, "baseline": model.pk, "judge": "reward"}

    for held_out in ("false", 0, None):
        answer = api.post(
            "/api/evaluations/",
            {**ask, "filters": {"limit": 2, "held_out": held_out}},
            format="json",
        )
        assert answer.status_code == 400 and "filters.held_out" in answer.json(), answer.json()
    assert not EvaluationJob.objects.exists()
    answer = api.post(
        "/api/evaluations/", {**ask, "filters": {"limit": 2, "held_out": False}}, format="json"
    )
    assert answer.status_code == 202 and answer.json()["held_out"] is False
