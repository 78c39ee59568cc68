"""Jobs of every kind survive a dead worker, a task that raises and a message that never
left: real workers, the configured broker, the recovery as beat runs it."""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from dataset_io.exporting import snapshot_export
from dataset_io.importing import import_run
from dataset_io.models import DatasetSnapshot, ImportedLine, ImportJob
from jobs.models import JobStatus
from jobs.services import job_claim, job_publish
from jobs.tasks import jobs_recover
from labeling.models import Prompt
from tests.conftest import worker_process
from trainer.models import DraftJob, GenerationJob

from .test_training_worker import wait_for

# A worker's heartbeat every second, silent for 3 s means dead: tests wait seconds.
FAST_TAKEOVER = {"TRAINING_HEARTBEAT_S": "1", "TRAINING_STALE_AFTER_S": "3"}
BIG_IMPORT_LINES = 3000
BIG_EXPORT_ROWS = 100_000


def prompt_lines(count: int) -> str:
    return "".join(
        f'{{"prompt": "Question number {n}: what comes after {n}?", "category": "open_qa"}}\n'
        for n in range(count)
    )


def job_reached(model, pk: int, **lookup):
    return model.objects.filter(pk=pk, **lookup).first()


def job_finished(model, pk: int, *, timeout: float):
    return wait_for(
        lambda: job_reached(model, pk, status__in=["succeeded", "failed", "cancelled"]),
        timeout=timeout,
        what=f"{model.__name__} {pk} to finish",
    )


def silent_since(job, *, seconds: int) -> None:
    """The job as a worker that died `seconds` ago left it."""
    type(job).objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=timezone.now() - timedelta(seconds=seconds + 5),
        heartbeat_at=timezone.now() - timedelta(seconds=seconds),
    )


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_is_killed_is_finished_once_by_the_next_worker(
    queue_import, child_env
):
    env = {**child_env, **FAST_TAKEOVER}
    job = queue_import(prompt_lines(BIG_IMPORT_LINES), "prompts-jsonl")
    job_publish(job)  # queued by hand: sent the way job_send sends after a commit

    with worker_process(env) as first:
        wait_for(
            lambda: job_reached(ImportJob, job.pk, lines_done__gte=200),
            timeout=80,
            what="200 lines imported",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = ImportJob.objects.get(pk=job.pk)
    assert killed_at.status == JobStatus.RUNNING
    assert ImportedLine.objects.count() < BIG_IMPORT_LINES
    time.sleep(4)  # the heartbeat goes stale
    # The new worker runs the recovery as it starts, which sends the orphan again.
    with worker_process(env):
        done = job_finished(ImportJob, job.pk, timeout=85)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2
    assert done.lines_done == BIG_IMPORT_LINES
    assert done.counts["lines_imported"] == BIG_IMPORT_LINES
    assert ImportedLine.objects.filter(job=done).count() == BIG_IMPORT_LINES
    assert Prompt.objects.count() == BIG_IMPORT_LINES  # each line imported once


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_died_is_written_once_by_the_recovery(oasst, child_env, tmp_path):
    # A DATA_DIR of the worker's own, so its exports folder holds this test's only: the
    # worker runs the recovery itself as it starts, on its own broker.
    data_dir = tmp_path / "data"
    exports = data_dir / "exports"
    snapshot = DatasetSnapshot.objects.create(kind="rankings")
    silent_since(snapshot, seconds=600)
    leftover = exports / f".tmp-{snapshot.pk}-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "train.jsonl").write_text('{"prompt": [')

    with worker_process({**child_env, "DATA_DIR": str(data_dir)}):
        done = job_finished(DatasetSnapshot, snapshot.pk, timeout=60)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2
    assert not leftover.exists()
    folders = list(exports.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(f"{done.pk}-")
    assert data_dir / done.files["train"] == folders[0] / "train.jsonl"
    assert sorted(p.name for p in folders[0].iterdir()) == [
        "README.md",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert done.counts["train"] + done.counts["validation"] > 0


def demonstrations_add(count: int) -> int:
    """`count` more approved demonstrations, like the first one imported, in bulk; the
    number of approved demonstrations now."""
    from labeling.models import Demonstration, Task

    model = Demonstration.objects.filter(status=Demonstration.Status.APPROVED).first()
    tasks = Task.objects.bulk_create(
        Task(
            kind=Task.Kind.DEMONSTRATION,
            guideline=model.prompt.guideline,
            prompt=model.prompt,
            wanted=1,
            submitted_count=1,
            status=Task.Status.DONE,
        )
        for _ in range(count)
    )
    Demonstration.objects.bulk_create(
        (
            Demonstration(
                prompt=model.prompt,
                task=task,
                author=model.author,
                guideline_version=model.guideline_version,
                content=f"Reply number {n}. " * 8,
                status=Demonstration.Status.APPROVED,
            )
            for n, task in enumerate(tasks)
        ),
        batch_size=5000,
    )
    return Demonstration.objects.filter(status=Demonstration.Status.APPROVED).count()


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_is_killed_is_written_once_by_the_next_worker(
    oasst, child_env, tmp_path
):
    rows = demonstrations_add(BIG_EXPORT_ROWS)
    # The workers' own DATA_DIR and broker: each sends the job itself, from the recovery
    # it runs as it starts (the snapshot looks committed a minute ago and never sent).
    data_dir = tmp_path / "data"
    env = {**child_env, **FAST_TAKEOVER, "DATA_DIR": str(data_dir)}
    snapshot = DatasetSnapshot.objects.create(kind="sft")
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )

    with worker_process(env) as first:
        wait_for(
            lambda: list((data_dir / "exports").glob(f".tmp-{snapshot.pk}-*/train.jsonl")),
            timeout=80,
            what="the export to start writing",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert DatasetSnapshot.objects.get(pk=snapshot.pk).status == JobStatus.RUNNING
    time.sleep(4)  # the heartbeat goes stale
    with worker_process(env):
        done = job_finished(DatasetSnapshot, snapshot.pk, timeout=85)

    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2
    folders = list((data_dir / "exports").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(f"{done.pk}-")  # no leftover
    assert done.counts["train"] + done.counts["validation"] == rows
    written = (data_dir / done.files["train"]).read_text().count("\n")
    assert written == done.counts["train"]


@pytest.mark.django_db(transaction=True)
def test_a_queued_job_whose_message_never_left_is_sent_by_the_recovery(queue_import, worker):
    job = queue_import(prompt_lines(3), "prompts-jsonl")
    # Committed, then its process died before publishing: queued, never sent.
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    sent = jobs_recover()
    done = job_finished(ImportJob, job.pk, timeout=60)

    assert sent == {"ImportJob": [job.pk]}
    assert done.status == JobStatus.SUCCEEDED
    assert done.sent_at is not None and done.attempts == 1
    assert Prompt.objects.count() == 3


@pytest.mark.django_db
def test_a_job_handed_back_without_a_new_message_is_sent_by_the_recovery(queue_import, settings):
    settings.CELERY_BROKER_URL = "memory://"  # no worker of a later test receives it
    job = queue_import(prompt_lines(1), "prompts-jsonl")
    long_ago = timezone.now() - timedelta(minutes=10)
    # Sent, started, then put back to queued by a stopping worker whose send failed.
    ImportJob.objects.filter(pk=job.pk).update(
        created_at=long_ago, sent_at=long_ago, started_at=long_ago + timedelta(seconds=1)
    )

    assert jobs_recover() == {"ImportJob": [job.pk]}
    assert jobs_recover() == {}  # sent now: left to that message


@pytest.mark.django_db
def test_a_job_whose_message_was_lost_after_it_was_sent_is_sent_again(queue_import, settings):
    settings.CELERY_BROKER_URL = "memory://"  # no worker of a later test receives it
    lost = queue_import(prompt_lines(1), "prompts-jsonl")
    waiting = queue_import(prompt_lines(2), "prompts-jsonl")
    long_ago = timezone.now() - timedelta(minutes=30)
    # Both sent and never claimed: one sent 11 minutes ago (a worker killed after taking
    # its message), the other a minute ago (its message still on the way).
    ImportJob.objects.filter(pk=lost.pk).update(
        created_at=long_ago, sent_at=timezone.now() - timedelta(minutes=11)
    )
    ImportJob.objects.filter(pk=waiting.pk).update(
        created_at=long_ago, sent_at=timezone.now() - timedelta(minutes=1)
    )

    assert jobs_recover() == {"ImportJob": [lost.pk]}
    assert jobs_recover() == {}  # its fresh message is given the same time again


@pytest.mark.django_db
def test_a_fresh_queued_job_is_left_to_the_message_being_sent(queue_import):
    job = queue_import(prompt_lines(1), "prompts-jsonl")

    assert jobs_recover() == {}
    job.refresh_from_db()
    assert job.sent_at is None and job.status == JobStatus.QUEUED


@pytest.mark.django_db
def test_an_import_whose_task_raises_ends_failed_with_the_exception_text(queue_import):
    job = queue_import(prompt_lines(2), "prompts-jsonl")
    (Path(settings.DATA_DIR) / job.file).unlink()

    failed = import_run(job_id=job.pk)

    assert failed.status == JobStatus.FAILED
    assert failed.error.startswith("FileNotFoundError: ")
    assert failed.finished_at is not None
    assert import_run(job_id=job.pk) is None  # a second delivery finds nothing to claim


@pytest.mark.django_db
def test_a_cancel_asked_while_the_worker_was_dead_is_closed_by_the_recovery(queue_import):
    job = queue_import(prompt_lines(2), "prompts-jsonl")
    silent_since(job, seconds=600)
    ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)

    jobs_recover()

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None


@pytest.mark.django_db
def test_the_recovery_records_when_it_ran_for_healthz(client):
    before = client.get("/healthz").json()["checks"]["recovery"]
    jobs_recover()
    after = client.get("/healthz").json()["checks"]["recovery"]

    assert before["last_run"] is None and before["detail"].startswith("never run")
    assert after["ok"] is True and after["last_run"] is not None


@pytest.mark.django_db
def test_healthz_says_the_recovery_is_late_without_failing_the_web(client):
    from jobs.models import JobsRecovery

    JobsRecovery.objects.filter(pk=1).update(ran_at=timezone.now() - timedelta(minutes=6))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["recovery"]["ok"] is False
    assert response.json()["checks"]["recovery"]["age_s"] >= 360


@pytest.mark.django_db
def test_an_export_cancelled_while_queued_is_never_written(oasst):
    from jobs.services import job_cancel

    snapshot = DatasetSnapshot.objects.create(kind="sft")
    job_cancel(snapshot)

    assert snapshot_export(snapshot_id=snapshot.pk) is None
    snapshot.refresh_from_db()
    assert snapshot.status == JobStatus.CANCELLED and snapshot.files == {}


@pytest.mark.django_db(transaction=True)
def test_a_generation_whose_worker_is_killed_files_each_prompt_once(
    oasst, child_env, inference_process
):
    from rankings.models import Comparison
    from trainer.generation import generation_create
    from trainer.training import model_promote, run_execute, training_run_create

    from .conftest import QUICK

    sft = run_execute(run_id=training_run_create(kind="sft", config=QUICK, enqueue=False).pk)
    model_promote(version=sft.model)
    env = {**child_env, **FAST_TAKEOVER, "INFERENCE_URL": inference_process.url}
    job = generation_create(filters={"limit": 24}, k=3, temperature=1.0, max_new_tokens=32)

    # Without best-of-n a generation only waits on HTTP: the drafts queue takes it.
    with worker_process(env, queue="default,drafts") as first:
        wait_for(
            lambda: len(GenerationJob.objects.get(pk=job.pk).filed) >= 3,
            timeout=80,
            what="three prompts filed",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert len(GenerationJob.objects.get(pk=job.pk).filed) < 24
    time.sleep(4)
    with worker_process(env, queue="default,drafts"):
        done = job_finished(GenerationJob, job.pk, timeout=85)

    assert done.status == JobStatus.SUCCEEDED, done.error
    # Every prompt ends filed or with its error: the model refuses the imported
    # conversations longer than it reads, those and no others, and records why.
    refused = too_long(sft.model, done.prompts)
    assert refused and set(map(int, done.failures)) == refused
    assert done.attempts == 2 and set(map(int, done.filed)) == set(done.prompts) - refused
    assert all("this model reads at most" in error for error in done.failures.values())
    generated = Comparison.objects.filter(candidates__model_name=sft.model.name).distinct()
    # One comparison per prompt filed, none from the killed attempt's unfinished prompt.
    assert set(generated.values_list("pk", flat=True)) == {c for c in done.filed.values() if c}
    assert generated.count() == len(set(generated.values_list("prompt_id", flat=True)))


def too_long(version, prompt_ids: list[int]) -> set[int]:
    """The prompts whose conversation is longer than `version` reads."""
    from transformers import AutoConfig, AutoTokenizer

    from trainer.ml.chat import conversation_encode

    folder = Path(settings.DATA_DIR) / version.path
    tokenizer = AutoTokenizer.from_pretrained(folder)
    positions = AutoConfig.from_pretrained(folder).max_position_embeddings
    prompts = Prompt.objects.in_bulk(prompt_ids)
    return {
        p
        for p in prompt_ids
        if len(conversation_encode(tokenizer, prompts[p].messages, generation_prompt=True)[0])
        >= positions
    }


def jobs_guideline_version():
    """The published version of the imports' guideline, for a job that works under one."""
    from guidelines.models import GuidelineVersion

    return GuidelineVersion.objects.filter(status="published").first()


@pytest.mark.django_db
def test_the_recovery_sends_again_the_silent_jobs_of_every_registered_kind(queue_import, settings):
    from ai_feedback.models import AIFeedbackJob
    from jobs.services import JOB_KINDS
    from trainer.models import EvaluationJob, ModelVersion, TrainingRun

    # An in-process broker: no worker of a later test receives these ids.
    settings.CELERY_BROKER_URL = "memory://"

    run = TrainingRun.objects.create(kind="sft")
    version = ModelVersion.objects.create(kind="sft", run=run, path="runs/x")
    jobs = [
        queue_import(prompt_lines(1), "prompts-jsonl"),
        DatasetSnapshot.objects.create(kind="sft"),
        TrainingRun.objects.create(kind="reward"),
        GenerationJob.objects.create(model=version, prompts=[1]),
        DraftJob.objects.create(model=version, origin_name=version.name, prompts=[1]),
        EvaluationJob.objects.create(model=version, baseline=version, judge="human", prompts=[1]),
        AIFeedbackJob.objects.create(
            kind="rank",
            model=version,
            rater_name=version.name,
            guideline_version=jobs_guideline_version(),
            items=[1],
        ),
    ]
    assert {type(job) for job in jobs} == set(JOB_KINDS)
    for job in jobs:
        silent_since(job, seconds=600)

    sent = jobs_recover()

    assert sent == {type(job).__name__: [job.pk] for job in jobs}
    for job in jobs:
        job.refresh_from_db()
        assert job.sent_at is not None and job.status == JobStatus.RUNNING


@pytest.mark.django_db
def test_a_silent_job_gets_one_message_per_stale_period_not_one_per_recovery(
    queue_import, settings
):
    settings.CELERY_BROKER_URL = "memory://"  # no worker of a later test receives it
    job = queue_import(prompt_lines(1), "prompts-jsonl")
    silent_since(job, seconds=600)

    first = jobs_recover()
    second = jobs_recover()  # a minute later, say: no worker has claimed it yet

    assert first == {"ImportJob": [job.pk]}
    assert second == {}


@pytest.mark.django_db
def test_a_job_whose_worker_died_too_often_is_failed_instead_of_taken_over(queue_import, settings):
    from jobs.services import MAX_ATTEMPTS

    settings.CELERY_BROKER_URL = "memory://"
    deadly = queue_import(prompt_lines(1), "prompts-jsonl")
    unlucky = queue_import(prompt_lines(2), "prompts-jsonl")
    for job in (deadly, unlucky):
        silent_since(job, seconds=600)
    ImportJob.objects.filter(pk=deadly.pk).update(attempts=MAX_ATTEMPTS)

    sent = jobs_recover()

    assert sent == {"ImportJob": [unlucky.pk]}
    deadly.refresh_from_db()
    assert deadly.status == JobStatus.FAILED
    assert f"stopped answering {MAX_ATTEMPTS} times" in deadly.error
    # Nor can a stray message of it claim it again.
    assert job_claim(ImportJob, deadly.pk) is None


@pytest.mark.django_db
def test_a_job_running_since_before_heartbeats_existed_counts_as_silent(queue_import, settings):
    settings.CELERY_BROKER_URL = "memory://"
    job = queue_import(prompt_lines(1), "prompts-jsonl")
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )

    assert jobs_recover() == {"ImportJob": [job.pk]}
