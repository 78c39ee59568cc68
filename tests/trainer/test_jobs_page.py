"""The jobs page: every kind of job that failed, got stuck or waits too long, with a retry
or cancel button; admins only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dataset_io.models import DatasetSnapshot, ImportJob
from jobs.models import JobStatus
from trainer.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def troubled(guideline):
    """A failed import, a stuck training run, an export waiting in the queue for long, and
    a finished export and a fresh queued one that need nobody."""
    long_ago = timezone.now() - timedelta(minutes=30)
    failed = ImportJob.objects.create(
        format="prompts-jsonl",
        guideline=guideline,
        file="uploads/gone.jsonl",
        status=JobStatus.FAILED,
        error="FileNotFoundError: gone.jsonl",
        finished_at=timezone.now(),
        attempts=1,
    )
    stuck = TrainingRun.objects.create(
        kind="sft", status=JobStatus.RUNNING, heartbeat_at=long_ago, started_at=long_ago
    )
    waiting = DatasetSnapshot.objects.create(kind="sft")
    DatasetSnapshot.objects.filter(pk=waiting.pk).update(created_at=long_ago)
    DatasetSnapshot.objects.create(kind="sft", status=JobStatus.SUCCEEDED)
    DatasetSnapshot.objects.create(kind="rankings")
    return failed, stuck, waiting


def test_the_page_lists_stuck_failed_and_waiting_jobs_with_their_actions(client, carol, troubled):
    failed, stuck, waiting = troubled
    client.force_login(carol)

    html = client.get("/dashboard/jobs/").content.decode()

    assert html.count("<tr data-job=") == 3
    assert f'data-job="TrainingRun-{stuck.pk}" data-state="stuck"' in html
    assert f'data-job="ImportJob-{failed.pk}" data-state="failed"' in html
    assert f'data-job="DatasetSnapshot-{waiting.pk}" data-state="waiting"' in html
    assert "FileNotFoundError: gone.jsonl" in html
    assert f'action="/dashboard/jobs/ImportJob/{failed.pk}/retry/"' in html
    assert f'action="/dashboard/jobs/TrainingRun/{stuck.pk}/retry/"' in html
    assert f'action="/dashboard/jobs/DatasetSnapshot/{waiting.pk}/cancel/"' in html
    assert f'href="/dashboard/training/runs/{stuck.pk}/"' in html
    assert 'aria-current="page">Jobs<' in html


def test_retry_queues_a_failed_job_again_and_a_stuck_one_too(client, carol, troubled):
    failed, stuck, _ = troubled
    client.force_login(carol)

    first = client.post(f"/dashboard/jobs/ImportJob/{failed.pk}/retry/")
    second = client.post(f"/dashboard/jobs/TrainingRun/{stuck.pk}/retry/")

    assert first.status_code == second.status_code == 302
    assert first["Location"] == "/dashboard/jobs/"
    failed.refresh_from_db()
    stuck.refresh_from_db()
    assert (failed.status, failed.error, failed.finished_at) == (JobStatus.QUEUED, "", None)
    assert stuck.status == JobStatus.QUEUED
    page = client.get("/dashboard/jobs/").content.decode()
    assert f"Import {failed.pk} queued again." in page


def test_a_second_click_on_retry_changes_nothing_and_says_why(client, carol, troubled):
    failed, _, _ = troubled
    client.force_login(carol)
    client.post(f"/dashboard/jobs/ImportJob/{failed.pk}/retry/")

    again = client.post(f"/dashboard/jobs/ImportJob/{failed.pk}/retry/", follow=True)

    assert "only a failed, cancelled or stuck job runs again" in again.content.decode()
    assert ImportJob.objects.get(pk=failed.pk).status == JobStatus.QUEUED


def test_cancel_stops_a_job_waiting_in_the_queue(client, carol, troubled):
    _, _, waiting = troubled
    client.force_login(carol)

    client.post(f"/dashboard/jobs/DatasetSnapshot/{waiting.pk}/cancel/")

    waiting.refresh_from_db()
    assert waiting.status == JobStatus.CANCELLED


def test_an_unknown_kind_or_job_is_a_404(client, carol, troubled):
    client.force_login(carol)

    assert client.post("/dashboard/jobs/User/1/retry/").status_code == 404
    assert client.post("/dashboard/jobs/ImportJob/999999/retry/").status_code == 404


def test_with_nothing_wrong_the_page_says_so(client, carol):
    client.force_login(carol)

    html = client.get("/dashboard/jobs/").content.decode()

    assert 'data-testid="no-jobs"' in html


@pytest.mark.parametrize("who", ["alice", "bob", "dave"])
def test_only_admins_see_the_page_or_retry(client, troubled, who, request):
    failed, _, _ = troubled
    client.force_login(request.getfixturevalue(who))

    assert client.get("/dashboard/jobs/").status_code == 403
    assert client.post(f"/dashboard/jobs/ImportJob/{failed.pk}/retry/").status_code == 403
    assert ImportJob.objects.get(pk=failed.pk).status == JobStatus.FAILED
