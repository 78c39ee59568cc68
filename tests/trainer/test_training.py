"""Training runs through the API and the services: queued, trained, kept as model
versions, promoted, cancelled, and refused when asked for nonsense."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from rankings.models import Candidate, Comparison
from trainer.generation import generation_run
from trainer.models import GenerationJob, ModelVersion, TrainingRun
from trainer.retraining import runs_start_when_enough_data
from trainer.training import (
    model_promote,
    run_execute,
    training_run_create,
)

from .conftest import QUICK


def trained(kind: str, **options) -> TrainingRun:
    run = training_run_create(kind=kind, config=QUICK, enqueue=False, **options)
    return run_execute(run_id=run.pk)


@pytest.mark.django_db
def test_a_reward_run_on_a_fresh_export_becomes_a_model_version(oasst):
    run = trained("reward")

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.step == run.total_steps == 6
    assert run.snapshot.kind == DatasetSnapshot.Kind.RANKINGS
    assert run.snapshot.status == JobStatus.SUCCEEDED
    assert [h["step"] for h in run.history if "loss" in h] == [2, 4, 6]
    version = run.model
    assert version.kind == "reward"
    assert version.guideline_versions == run.snapshot.guideline_versions
    assert 0.0 <= version.metrics["validation_accuracy"] <= 1.0
    assert "reward_mean" in version.metrics and "loss" in version.metrics
    assert "resumed" not in run.logs and "saved as model version" in run.logs


@pytest.mark.any_backend
@pytest.mark.django_db
def test_a_pretrained_base_gets_the_pretrained_lr_unless_the_run_sets_one(oasst):
    scratch = trained("sft")
    base = f"model:{scratch.model.pk}"

    pretrained = trained("sft", base_model=base)
    given = training_run_create(
        kind="sft", base_model=base, config={**QUICK, "lr": 1e-4}, enqueue=False
    )
    given = run_execute(run_id=given.pk)

    assert scratch.model.config["lr"] == 5e-4
    # The version keeps the rate it trained at; the run, what was asked.
    assert pretrained.status == JobStatus.SUCCEEDED, pretrained.error
    assert pretrained.model.config["lr"] == 5e-5 and "lr" not in pretrained.config
    assert given.model.config["lr"] == 1e-4
    assert max(h["lr"] for h in pretrained.history if "lr" in h) <= 5e-5


# Committing: on SQLite an open test transaction would make the run's heartbeat wait out
# the busy timeout (30 s).
@pytest.mark.django_db(transaction=True)
def test_a_fresh_export_left_unfinished_by_a_dead_worker_is_written_again(oasst, settings):
    run = training_run_create(kind="reward", config=QUICK, enqueue=False)
    # What a worker killed mid-export leaves: the run's snapshot running, a hidden folder.
    dead_since = timezone.now() - timedelta(days=1)
    interrupted = DatasetSnapshot.objects.create(
        kind=DatasetSnapshot.Kind.RANKINGS,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=dead_since,
        heartbeat_at=dead_since,
    )
    TrainingRun.objects.filter(pk=run.pk).update(snapshot=interrupted)
    leftover = Path(settings.EXPORTS_DIR) / f".tmp-{interrupted.pk}-dead"
    leftover.mkdir(parents=True)

    run = run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.snapshot_id == interrupted.pk and DatasetSnapshot.objects.count() == 1
    assert run.snapshot.status == JobStatus.SUCCEEDED and run.snapshot.counts["train"] > 0
    assert not leftover.exists()
    assert f"snapshot {interrupted.pk} left unfinished by an earlier attempt" in run.logs
    # Taken over as an orphan by the usual claim.
    assert run.snapshot.attempts == 2 and "waiting" not in run.logs


@pytest.mark.django_db
def test_the_api_queues_a_run_and_reports_it(api, carol, oasst, django_capture_on_commit_callbacks):
    api.force_authenticate(carol)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = api.post("/api/training-runs/", {"kind": "sft", "config": QUICK}, format="json")
    assert answer.status_code == 202, answer.data
    assert answer.data["status"] == "queued" and len(queued) == 1
    run_execute(run_id=answer.data["id"])

    shown = api.get(f"/api/training-runs/{answer.data['id']}/").data
    assert shown["status"] == "succeeded" and shown["progress"] == 1.0
    assert shown["model"] == ModelVersion.objects.get().pk
    assert shown["metrics"]["loss"] > 0 and len(shown["history"]) >= 3
    listed = api.get("/api/models/").data
    assert [m["kind"] for m in listed] == ["sft"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "magic"}, "kind"),
        ({"kind": "dpo"}, "base_model"),
        ({"kind": "sft", "config": {"beta": 0.1}}, "config.beta"),
        ({"kind": "sft", "config": {"lr": "fast"}}, "config.lr"),
        ({"kind": "sft", "config": {"max_steps": -1}}, "config.max_steps"),
        ({"kind": "sft", "config": {"learning_rate": 1e-4}}, "config.learning_rate"),
        ({"kind": "sft", "base_model": "/nowhere/at/all"}, "base_model"),
        ({"kind": "sft", "base_model": "model:2000000000"}, "base_model"),
        ({"kind": "sft", "base_model": "model:²"}, "base_model"),
        ({"kind": "reward", "snapshot": 2_000_000_000}, "snapshot"),
    ],
)
def test_bad_run_requests_get_a_400_naming_the_field(api, carol, payload, field):
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", payload, format="json")

    assert answer.status_code == 400, answer.data
    assert field in answer.data
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_run_needs_a_snapshot_of_its_kind(api, carol, oasst):
    api.force_authenticate(carol)
    sft_snapshot = DatasetSnapshot.objects.create(kind="sft", status=JobStatus.SUCCEEDED)

    answer = api.post(
        "/api/training-runs/", {"kind": "reward", "snapshot": sft_snapshot.pk}, format="json"
    )

    assert answer.status_code == 400
    assert "rankings or preference" in str(answer.data["snapshot"])


@pytest.mark.django_db
def test_only_admins_reach_the_training_api(api, alice, bob, dave):
    run = training_run_create(kind="sft", enqueue=False)
    for person in (alice, bob, dave):
        api.force_authenticate(person)
        for method, url in [
            ("get", "/api/training-runs/"),
            ("post", "/api/training-runs/"),
            ("get", f"/api/training-runs/{run.pk}/"),
            ("post", f"/api/training-runs/{run.pk}/cancel/"),
            ("get", "/api/models/"),
            ("post", "/api/models/1/promote/"),
            ("post", "/api/generations/"),
            ("get", "/api/generations/1/"),
        ]:
            assert getattr(api, method)(url, {}, format="json").status_code == 403, url
    api.force_authenticate(None)
    assert api.get("/api/training-runs/").status_code in (401, 403)
    run.refresh_from_db()
    assert run.status == "queued"


@pytest.mark.django_db
def test_cancelling_a_queued_run_stops_it_and_a_finished_one_is_refused(api, carol):
    api.force_authenticate(carol)
    run = training_run_create(kind="sft", enqueue=False)

    first = api.post(f"/api/training-runs/{run.pk}/cancel/")
    again = api.post(f"/api/training-runs/{run.pk}/cancel/")

    assert first.status_code == 200 and first.data["status"] == "cancelled"
    assert again.status_code == 409
    # A cancelled run is never claimed by a late delivery of its task.
    assert run_execute(run_id=run.pk) is None


@pytest.mark.django_db(transaction=True)
def test_promoting_keeps_one_promoted_model_per_kind_and_generation_files_comparisons(
    api, carol, oasst, inference_process
):
    first, second = trained("sft"), trained("sft")
    api.force_authenticate(carol)

    api.post(f"/api/models/{first.model.pk}/promote/")
    answer = api.post(f"/api/models/{second.model.pk}/promote/")

    assert answer.status_code == 200 and answer.data["promoted"] is True
    assert list(ModelVersion.objects.filter(promoted=True)) == [second.model]
    before = Comparison.objects.count()
    answer = api.post(
        "/api/generations/",
        {"filters": {"limit": 3}, "k": 3, "temperature": 1.0, "max_new_tokens": 12, "overlap": 2},
        format="json",
    )
    assert answer.status_code == 202, answer.data
    job = generation_run(job_id=answer.data["id"])

    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0
    made = Comparison.objects.order_by("pk")[before:]
    assert len(made) == len([c for c in job.filed.values() if c]) >= 1
    for comparison in made:
        candidates = Candidate.objects.filter(prompt=comparison.prompt, source="generated")
        assert {c.model_name for c in candidates} == {second.model.name}
        assert comparison.task.wanted == 2 and comparison.task.kind == "ranking"
    # Running it again (a second delivery) files nothing more.
    assert generation_run(job_id=job.pk) is None
    assert Comparison.objects.count() == before + len(made)


@pytest.mark.django_db
def test_generation_needs_a_promoted_sft_model(api, carol, oasst):
    api.force_authenticate(carol)

    answer = api.post("/api/generations/", {"filters": {"limit": 2}}, format="json")

    assert answer.status_code == 400 and "promote" in str(answer.data["model"])
    reward = trained("reward")
    model_promote(version=reward.model)
    answer = api.post("/api/generations/", {"model": reward.model.pk}, format="json")
    assert answer.status_code == 400 and "SFT" in str(answer.data["model"])
    model_promote(version=trained("sft").model)
    for payload, field in [
        ({"k": 1}, "k"),
        ({"top_p": 0}, "top_p"),
        ({"prompts": [2_000_000_000]}, "prompts"),
        # What /v1, which answers for the model version, would refuse for every prompt.
        ({"temperature": 3.0}, "temperature"),
        ({"k": 9, "max_new_tokens": 4096}, "max_new_tokens"),
    ]:
        answer = api.post("/api/generations/", payload, format="json")
        assert answer.status_code == 400 and field in answer.data, answer.data
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db
def test_the_schedule_retrains_once_enough_new_data_arrived(oasst, settings):
    settings.TRAINING_RETRAIN_MIN_DEMONSTRATIONS = 10_000
    settings.TRAINING_RETRAIN_MIN_RANKINGS = 1

    started = runs_start_when_enough_data()
    again = runs_start_when_enough_data()

    assert [run.kind for run in started] == ["reward"]
    assert again == []  # one is already queued
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"trainer.tasks.train_when_enough_data", "jobs.tasks.jobs_recover"} <= names


@pytest.mark.django_db
def test_the_train_command_shows_progress_and_makes_a_model(oasst, capsys):
    call_command("train", "--kind", "sft", *[f"--set={k}={v}" for k, v in QUICK.items()])

    out = capsys.readouterr().out
    assert "[" in out and "6/6" in out and "succeeded: model version" in out
    assert ModelVersion.objects.filter(kind="sft").count() == 1
