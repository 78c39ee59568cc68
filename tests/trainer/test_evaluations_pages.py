"""The model page lists a version's evaluations and starts one against its parent or any
other generative version; the models table shows each version's latest evaluation beside
its promote button; the Jobs page lists a failed evaluation."""

import re

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from trainer.models import EvaluationJob

from . import test_evaluations
from .test_training_pages import field_error, model_version

questions = test_evaluations.questions


@pytest.mark.django_db
def test_the_model_page_starts_an_evaluation_against_the_parent_and_shows_its_counts(
    client, carol, questions
):
    parent = model_version("sft")
    child = model_version("sft", base_model=f"model:{parent.pk}")
    other = model_version("sft")
    client.force_login(carol)

    page = client.get(f"/dashboard/models/{child.pk}/").content.decode()
    assert "None yet." in page and f"trained from {parent.name}" in page
    assert re.search(rf'<option value="{parent.pk}" selected>{parent.name} \(its parent\)', page)
    assert f'<option value="{other.pk}">' in page and f'<option value="{child.pk}"' not in page
    form = {"baseline": parent.pk, "judge": "reward", "limit": "2", "held_out": "on"}
    refused = client.post(f"/dashboard/models/{child.pk}/", form)
    assert refused.status_code == 400
    assert "No reward model is promoted" in field_error(refused, "judge")
    assert not EvaluationJob.objects.exists()
    model_version("reward", promoted=True)

    answer = client.post(f"/dashboard/models/{child.pk}/", form)

    job = EvaluationJob.objects.get()
    assert answer.status_code == 302 and answer.url == f"/dashboard/evaluations/{job.pk}/"
    assert (job.model, job.baseline, job.judge, job.held_out) == (child, parent, "reward", True)
    assert job.prompts == [p.pk for p in questions[:2]]
    assert client.get(answer.url).status_code == 200
    EvaluationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        results={
            str(questions[0].pk): {"outcome": "win"},
            str(questions[1].pk): {"outcome": "tie"},
        },
    )
    page = client.get(f"/dashboard/models/{child.pk}/").content.decode()
    row = re.search(rf'<tr data-evaluation="{job.pk}".*?</tr>', page, re.S).group(0)
    assert parent.name in row and "1/1/0" in row and "0.750" in row and "succeeded" in row
    promote = re.search(r"<form[^>]*data-promote.*?</form>", page, re.S).group(0)
    assert f"Promote {child.name}" in promote and f"vs {parent.name}" in promote
    assert "1/1/0" in promote
    detail = client.get(f"/dashboard/evaluations/{job.pk}/").content.decode()
    assert "Win rate 0.750" in detail and "Wilson" in detail

    models = client.get("/dashboard/models/").content.decode()
    row = re.search(rf'<tr data-model="{child.pk}".*?</tr>', models, re.S).group(0)
    assert f"vs {parent.name}" in row and "1/1/0" in row and f"Promote {child.name}" in row
    assert f'href="/dashboard/models/{child.pk}/"' in row


@pytest.mark.django_db
def test_a_bad_form_is_answered_at_its_fields_and_a_reward_model_has_no_form(client, carol):
    version = model_version("sft")
    reward = model_version("reward", promoted=True)
    client.force_login(carol)

    answer = client.post(
        f"/dashboard/models/{version.pk}/", {"baseline": version.pk, "judge": "x", "limit": "z"}
    )

    assert answer.status_code == 400
    assert field_error(answer, "judge") and field_error(answer, "limit") == "A whole number."
    assert (
        "Start the evaluation" not in client.get(f"/dashboard/models/{reward.pk}/").content.decode()
    )
    assert client.get("/dashboard/models/999999/").status_code == 404


@pytest.mark.django_db
def test_only_admins_see_evaluations_and_the_jobs_page_lists_a_failed_one(
    client, carol, alice, bob, dave
):
    version = model_version("sft")
    job = EvaluationJob.objects.create(
        model=version,
        baseline=version,
        judge="human",
        judge_name="human",
        status=JobStatus.FAILED,
        error="InputError: gone",
        finished_at=timezone.now(),
    )
    for person in (alice, bob, dave):
        client.force_login(person)
        assert client.get(f"/dashboard/models/{version.pk}/").status_code == 403
        assert client.get(f"/dashboard/evaluations/{job.pk}/").status_code == 403
    client.force_login(carol)
    jobs = client.get("/dashboard/jobs/").content.decode()
    assert "Evaluation" in jobs and f"/dashboard/evaluations/{job.pk}/" in jobs
