"""Candidates from model sources: a generation mixes the platform's own model version with
a model source (its /v1 over real HTTP) into one comparison per prompt, in an order that
tells nothing, and reviewers never see which model wrote what."""

import json

import pytest

from guidelines.services import acknowledgement_create
from jobs.models import JobStatus
from rankings.models import Candidate, Comparison
from trainer.generation import generation_run

from .conftest import generation_made, prompts_for_labelers

NAMES = ("sft-", "source:", "ourselves")


@pytest.mark.django_db(transaction=True)
def test_a_generation_mixing_a_version_and_a_source_files_both_with_names_hidden(
    api,
    client,
    carol,
    bob,
    own_source,
    sft_version,
    guideline,
    training_queue_emptied,
    inference_process,
):
    prompts = prompts_for_labelers(guideline, 2)
    api.force_authenticate(carol)

    job = generation_made(
        api,
        model=sft_version.pk,
        k=2,
        sources=[{"source": own_source.pk, "k": 2}],
        prompts=[p.pk for p in prompts],
    )

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.sources == [{"source": own_source.pk, "name": "ourselves", "k": 2}]
    comparisons = Comparison.objects.filter(prompt__in=prompts)
    assert comparisons.count() == 2 and job.failures == {}
    for comparison in comparisons:
        names = [c.model_name for c in comparison.candidates.all()]
        assert {sft_version.name, "source:ourselves"} <= set(names) and len(names) <= 4, names
    # The reviewer's task, through the API and on the page: no model or source name.
    acknowledgement_create(user=bob, version=guideline.versions.get(status="published"))
    api.force_authenticate(bob)
    task = api.post("/api/tasks/next/", {"kind": "ranking"}, format="json")
    assert task.status_code == 200 and task.json()["comparison"]["candidates"]
    client.force_login(bob)
    page = client.get(f"/work/rank/{task.json()['id']}/").content.decode()
    for shown in (json.dumps(task.json()), page):
        assert not any(name in shown for name in NAMES), shown


@pytest.mark.django_db(transaction=True)
def test_a_generation_from_a_source_alone_and_the_shapes_it_refuses(
    api, carol, own_source, sft_version, guideline, training_queue_emptied
):
    prompt = prompts_for_labelers(guideline, 1)[0]
    api.force_authenticate(carol)
    for payload, field in [
        ({"model": sft_version.pk, "source": own_source.pk}, "source"),
        ({"source": own_source.pk, "k": 1}, "k"),
        ({"model": sft_version.pk, "k": 5, "sources": [{"source": own_source.pk, "k": 5}]}, "k"),
        ({"model": sft_version.pk, "k": -1, "sources": [{"source": own_source.pk, "k": 3}]}, "k"),
        ({"sources": [{"source": own_source.pk, "k": 0}]}, "sources"),
    ]:
        refused = api.post("/api/generations/", {**payload, "prompts": [prompt.pk]}, format="json")
        assert refused.status_code == 400 and field in refused.json(), (payload, refused.json())

    answer = api.post(
        "/api/generations/",
        {"source": own_source.pk, "k": 3, "prompts": [prompt.pk], "temperature": 1.0},
        format="json",
    )
    assert answer.status_code == 202, answer.json()
    job = generation_run(job_id=answer.json()["id"])

    assert job.status == JobStatus.SUCCEEDED and job.model is None, job.error
    names = set(Candidate.objects.filter(prompt=prompt).values_list("model_name", flat=True))
    assert names == {"source:ourselves"}
