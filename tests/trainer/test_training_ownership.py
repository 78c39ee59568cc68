"""Who holds a training run or a generation: an attempt that lost its job to another
worker writes nothing more, a run cancelled while its worker was dead is closed, and
numbers JSON cannot hold (a diverging loss) do not fail a run."""

import math
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from jobs.models import JobStatus
from jobs.services import Heartbeat, job_claim
from jobs.tasks import jobs_recover
from rankings.models import Comparison
from trainer.generation import generation_run
from trainer.models import GenerationJob, TrainingRun
from trainer.reply_sampling import ReplySampling
from trainer.training import RunReport, model_promote, run_execute, training_run_create

from .conftest import QUICK


def long_run() -> TrainingRun:
    return training_run_create(
        kind="sft", config={**QUICK, "max_steps": 200, "log_every": 1}, enqueue=False
    )


def silent_since(run: TrainingRun, *, minutes: int) -> None:
    """As a worker that died `minutes` ago leaves its run."""
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(minutes=minutes),
    )


@pytest.mark.django_db
def test_an_attempt_that_lost_its_run_stops_and_writes_nothing_more(oasst):
    run = long_run()

    def taken_over_at_step_3(event: dict) -> None:
        # What a second worker's claim does to the row while this attempt trains.
        if event["type"] == "progress" and event["step"] == 3:
            TrainingRun.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1)

    after = run_execute(run_id=run.pk, echo=taken_over_at_step_3)

    assert after.status == JobStatus.RUNNING  # the new holder's to finish
    assert after.attempts == 2 and after.step == 2 and after.error == ""
    assert not hasattr(after, "model")
    assert "failed" not in after.logs and "cancelled" not in after.logs


@pytest.mark.django_db
def test_a_run_cancelled_after_its_worker_died_is_closed(api, carol):
    by_api, by_beat = long_run(), long_run()
    for run in (by_api, by_beat):
        silent_since(run, minutes=60)
    TrainingRun.objects.filter(pk=by_beat.pk).update(cancel_requested=True)
    api.force_authenticate(carol)

    answer = api.post(f"/api/training-runs/{by_api.pk}/cancel/")
    jobs_recover()

    assert answer.status_code == 200 and answer.data["status"] == JobStatus.CANCELLED
    by_beat.refresh_from_db()
    assert by_beat.status == JobStatus.CANCELLED and by_beat.finished_at is not None


@pytest.mark.django_db
def test_a_live_run_being_cancelled_is_left_to_its_worker(api, carol):
    run = long_run()
    silent_since(run, minutes=0)
    api.force_authenticate(carol)

    answer = api.post(f"/api/training-runs/{run.pk}/cancel/")

    assert answer.status_code == 200
    assert answer.data["status"] == JobStatus.RUNNING and answer.data["cancel_requested"]


@pytest.mark.django_db
def test_a_nan_loss_is_stored_as_null_and_the_run_goes_on(oasst):
    run = long_run()
    attempt = job_claim(TrainingRun, run.pk)
    report = RunReport(TrainingRun.objects.get(pk=run.pk), attempt)

    report(
        {
            "type": "progress",
            "step": 1,
            "total_steps": 200,
            "progress": 0.005,
            "eta_s": 60,
            "metrics": {"step": 1, "loss": math.nan, "lr": 1e-4, "grad_norm": math.inf},
        }
    )

    run.refresh_from_db()
    assert run.step == 1 and run.history[-1]["loss"] is None
    assert run.metrics["grad_norm"] is None and "loss nan" in run.logs


@pytest.mark.django_db(transaction=True)
def test_a_generation_that_lost_its_job_files_nothing_more(
    api, carol, oasst, monkeypatch, inference_process
):
    sft = run_execute(run_id=training_run_create(kind="sft", config=QUICK, enqueue=False).pk)
    model_promote(version=sft.model)
    api.force_authenticate(carol)
    answer = api.post(
        "/api/generations/",
        {"filters": {"limit": 3}, "k": 3, "temperature": 1.0, "max_new_tokens": 12},
        format="json",
    )
    job_id = answer.data["id"]
    before = Comparison.objects.count()
    replies, calls = ReplySampling.replies, []

    def taken_over_during_the_second_prompt(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # what a second worker's claim does to the row meanwhile
            GenerationJob.objects.filter(pk=job_id).update(attempts=F("attempts") + 1)
        return replies(self, *args, **kwargs)

    monkeypatch.setattr(ReplySampling, "replies", taken_over_during_the_second_prompt)
    job = generation_run(job_id=job_id)

    assert job.status == JobStatus.RUNNING and job.attempts == 2 and job.error == ""
    assert len(calls) == 2 and len(job.filed) == 1  # the second prompt's filing rolled back
    assert Comparison.objects.count() == before + len([c for c in job.filed.values() if c])


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_notices_a_run_taken_over_and_stops_it(settings):
    settings.TRAINING_HEARTBEAT_S = 1
    run = long_run()
    attempt = job_claim(TrainingRun, run.pk)

    with Heartbeat(TrainingRun, run.pk, attempt) as heartbeat:
        # A beat while the run is still this attempt's: nothing to stop.
        assert not heartbeat.cancelled.wait(1.5)
        TrainingRun.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1)
        assert heartbeat.cancelled.wait(15)

    assert heartbeat.lost.is_set()
    assert TrainingRun.objects.get(pk=run.pk).attempts == attempt + 1
