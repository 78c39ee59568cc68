"""A run's own fresh snapshot that an earlier attempt left unfinished is exported through
the job machinery: waited for while another worker still writes it, written again when
it failed, and never taken from (nor its folder deleted under) a live export."""

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dataset_io import exporting
from dataset_io.importing import import_run
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from jobs.services import Attempt, job_execute
from tests.datasets.conftest import FIXTURES
from trainer.models import TrainingRun
from trainer.training import run_execute, training_run_create

from .conftest import QUICK
from .test_training_shutdown import messages_waiting
from .test_training_worker import wait_for


def run_on(snapshot: DatasetSnapshot) -> TrainingRun:
    """A reward run tied to `snapshot`, as a first attempt's fresh export leaves it."""
    run = training_run_create(kind="reward", config=QUICK, enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(snapshot=snapshot)
    return run


def in_thread(work, results: dict, key: str) -> threading.Thread:
    def target() -> None:
        try:
            results[key] = work()
        finally:
            connection.close()

    thread = threading.Thread(target=target, name=key)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_run_waits_for_the_live_export_of_its_snapshot_and_trains_on_it(oasst):
    snapshot = DatasetSnapshot.objects.create(kind=DatasetSnapshot.Kind.RANKINGS)
    run = run_on(snapshot)
    holding, release = threading.Event(), threading.Event()
    folder_kept: list[bool] = []

    def live_export(attempt: Attempt) -> None:
        # Another worker's attempt, held under its own heartbeat: its temporary folder is
        # there until it is released, then it writes the snapshot for real.
        folder = Path(settings.EXPORTS_DIR) / f".tmp-{attempt.pk}-live"
        folder.mkdir(parents=True)
        holding.set()
        release.wait(timeout=120)
        folder_kept.append(folder.exists())
        exporting._export(attempt)

    results: dict = {}
    other = in_thread(lambda: job_execute(DatasetSnapshot, snapshot.pk, live_export), results, "x")
    try:
        assert holding.wait(timeout=30)
        training = in_thread(lambda: run_execute(run_id=run.pk), results, "run")
        wait_for(
            lambda: "waiting for it" in TrainingRun.objects.get(pk=run.pk).logs,
            timeout=60,
            what="the run to wait for the export",
        )
        during = DatasetSnapshot.objects.get(pk=snapshot.pk)
        assert during.status == JobStatus.RUNNING and during.attempts == 1
    finally:
        release.set()
    other.join(timeout=120)
    training.join(timeout=300)

    assert folder_kept == [True]
    trained = results["run"]
    assert trained.status == JobStatus.SUCCEEDED, trained.error
    assert trained.snapshot_id == snapshot.pk and DatasetSnapshot.objects.count() == 1
    exported = DatasetSnapshot.objects.get(pk=snapshot.pk)
    assert exported.status == JobStatus.SUCCEEDED and exported.attempts == 1
    assert trained.model.snapshot_id == snapshot.pk


# Committing: the requeue's message leaves only after a commit, and on SQLite an open test
# transaction would make the run's heartbeat wait out the busy timeout.
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_snapshot_failed_exports_it_again_and_trains_on_it(oasst):
    messages_waiting("default", purge=True)
    failed = DatasetSnapshot.objects.create(
        kind=DatasetSnapshot.Kind.RANKINGS,
        status=JobStatus.FAILED,
        error="MemoryError: worker killed",
        attempts=1,
        finished_at=timezone.now(),
    )

    run = run_execute(run_id=run_on(failed).pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.snapshot_id == failed.pk and DatasetSnapshot.objects.count() == 1
    again = DatasetSnapshot.objects.get(pk=failed.pk)
    assert again.status == JobStatus.SUCCEEDED and again.attempts == 2 and again.error == ""
    assert again.counts["train"] > 0
    assert f"snapshot {failed.pk} was failed: exporting it again" in run.logs
    # The requeue sent the snapshot as any retry does; that spare message finds it done.
    assert again.sent_at is not None
    assert messages_waiting("default") == 1
    messages_waiting("default", purge=True)  # no later worker of these tests gets it


@pytest.mark.django_db
def test_a_run_without_a_snapshot_trains_on_a_published_one_of_the_same_data(queue_import):
    import_run(job_id=queue_import(FIXTURES / "alpaca-three.jsonl", "alpaca").pk)
    spelled_out = {"gzip": False, "pairs": "all", "validation_permille": 50}
    published = DatasetSnapshot.objects.create(kind="sft", options=spelled_out)
    assert exporting.snapshot_export(snapshot_id=published.pk).status == JobStatus.SUCCEEDED

    first = run_execute(run_id=training_run_create(kind="sft", config=QUICK).pk)

    assert first.status == JobStatus.SUCCEEDED, first.error
    assert first.snapshot_id == published.pk and DatasetSnapshot.objects.count() == 1
    assert f"snapshot {published.pk} holds the same data" in first.logs
    # One approved demonstration more, and the next run exports the data as it is now.
    import_run(
        job_id=queue_import('{"instruction": "Count to two.", "output": "1, 2"}', "alpaca").pk
    )
    second = run_execute(run_id=training_run_create(kind="sft", config=QUICK).pk)
    assert second.status == JobStatus.SUCCEEDED, second.error
    assert second.snapshot_id != published.pk and DatasetSnapshot.objects.count() == 2
    assert sum(second.snapshot.counts.values()) == 4
