"""GET /api/exports/ and GET /api/generations/: the jobs newest first, filtered by checked
query parameters, for admins only, in a number of queries that does not grow with the list."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from trainer.models import GenerationJob

from .test_training_pages import model_version

pytestmark = pytest.mark.django_db


def queries_of(read) -> int:
    with CaptureQueriesContext(connection) as captured:
        read()
    return len(captured.captured_queries)


def test_admins_list_the_snapshots_newest_first_by_kind_and_status(api, carol, bob):
    made = [
        DatasetSnapshot.objects.create(kind=kind, status=status)
        for kind, status in [
            ("sft", JobStatus.SUCCEEDED),
            ("preference", JobStatus.FAILED),
            ("preference", JobStatus.SUCCEEDED),
        ]
    ]
    api.force_authenticate(carol)

    listed = api.get("/api/exports/").json()
    assert [s["id"] for s in listed] == [s.pk for s in reversed(made)]
    assert {"kind", "status", "counts", "sha256", "card"} <= set(listed[0])
    preference = api.get("/api/exports/", {"kind": "preference", "status": "succeeded"}).json()
    assert [s["id"] for s in preference] == [made[2].pk]

    answer = api.get("/api/exports/", {"kind": "everything"})
    assert answer.status_code == 400 and "kind" in answer.json()
    assert api.get("/api/exports/", {"status": "done"}).status_code == 400
    one = queries_of(lambda: api.get("/api/exports/", {"kind": "sft"}))
    many = queries_of(lambda: api.get("/api/exports/"))
    assert many == one
    api.force_authenticate(bob)
    assert api.get("/api/exports/").status_code == 403


def test_admins_list_the_generations_newest_first_without_their_rewards(api, carol, bob):
    model = model_version("sft")
    jobs = [
        GenerationJob.objects.create(model=model, prompts=[], k=2, status=status)
        for status in (JobStatus.SUCCEEDED, JobStatus.QUEUED, JobStatus.SUCCEEDED)
    ]
    GenerationJob.objects.filter(pk=jobs[0].pk).update(
        rewards={"7": [{"reward": 1.5, "kept": True}, {"reward": 0.5, "kept": False}]}
    )
    api.force_authenticate(carol)

    listed = api.get("/api/generations/").json()
    assert [j["id"] for j in listed] == [j.pk for j in reversed(jobs)]
    assert listed[0]["model"] == model.pk and "rewards" not in listed[0]
    assert listed[-1]["reward_mean_sampled"] == pytest.approx(1.0)
    queued = api.get("/api/generations/", {"status": "queued"}).json()
    assert [j["id"] for j in queued] == [jobs[1].pk]
    assert api.get("/api/generations/", {"status": "nope"}).status_code == 400
    one = queries_of(lambda: api.get("/api/generations/", {"status": "queued"}))
    assert queries_of(lambda: api.get("/api/generations/")) == one
    api.force_authenticate(bob)
    assert api.get("/api/generations/").status_code == 403


def test_the_models_list_checks_its_filters(api, carol):
    sft, reward = model_version("sft"), model_version("reward")
    api.force_authenticate(carol)

    assert [m["id"] for m in api.get("/api/models/", {"produces": "reward"}).json()] == [reward.pk]
    assert [m["id"] for m in api.get("/api/models/", {"kind": "sft"}).json()] == [sft.pk]
    for bad in ({"produces": "Policy"}, {"kind": "ppo"}):
        answer = api.get("/api/models/", bad)
        assert answer.status_code == 400 and set(bad) <= set(answer.json()), answer.json()
