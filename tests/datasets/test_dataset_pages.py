"""The dataset pages: who may see them, the upload and export forms, the job pages and
a list that costs the same few queries however many jobs there are."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dataset_io import api as datasets_api
from dataset_io.exporting import snapshot_export
from dataset_io.importing import import_run
from dataset_io.models import DatasetSnapshot, ImportJob
from jobs.models import JobStatus
from tests.datasets.conftest import FIXTURES

ALPACA = (FIXTURES / "alpaca-three.jsonl").read_bytes()


@pytest.fixture
def job(queue_import):
    return queue_import(FIXTURES / "alpaca-three.jsonl", "alpaca")


@pytest.fixture
def snapshot(carol):
    return DatasetSnapshot.objects.create(
        kind=DatasetSnapshot.Kind.SFT, status=JobStatus.FAILED, created_by=carol
    )


@pytest.fixture
def pages(job, snapshot):
    return [
        "/datasets/",
        "/datasets/imports/new/",
        f"/datasets/imports/{job.pk}/",
        "/datasets/exports/new/",
        f"/datasets/exports/{snapshot.pk}/",
    ]


def field_error(response, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', response.content.decode())
    return found.group(1) if found else ""


def uploaded_files() -> set[Path]:
    folder = Path(settings.DATA_DIR) / "uploads" / "imports"
    return set(folder.iterdir()) if folder.exists() else set()


def test_an_admin_sees_every_page(client, carol, pages):
    client.force_login(carol)

    statuses = {url: client.get(url).status_code for url in pages}

    assert statuses == {url: 200 for url in pages}


def test_the_nav_links_to_datasets_for_admins_only(client, carol, alice):
    client.force_login(carol)
    admin_home = client.get("/").content.decode()
    client.force_login(alice)
    labeler_home = client.get("/").content.decode()

    assert 'href="/datasets/"' in admin_home
    assert 'href="/datasets/"' not in labeler_home


def test_the_datasets_page_is_a_dashboard_section_with_its_tab_current(client, carol):
    client.force_login(carol)

    page = client.get("/datasets/").content.decode()

    tabs = re.search(r'<nav class="tabs".*?</nav>', page, re.S).group(0)
    assert re.search(r'<a href="/datasets/" aria-current="page">Datasets</a>', tabs)
    assert 'href="/dashboard/training/"' in tabs


def test_the_old_dashboard_address_of_the_datasets_page_redirects_to_it_for_good(client, carol):
    client.force_login(carol)

    response = client.get("/dashboard/datasets/")

    assert response.status_code == 301
    assert response["Location"] == "/datasets/"


def test_the_datasets_page_shows_the_latest_snapshots_with_counts_cards_and_downloads(
    client, carol
):
    client.force_login(carol)
    snapshot = DatasetSnapshot.objects.create(
        kind="rankings",
        status=JobStatus.SUCCEEDED,
        counts={"train": 180, "validation": 12},
        files={"train": "exports/1/train.jsonl", "validation": "exports/1/validation.jsonl"},
        card="# Rankings snapshot\n\nK-wise rankings from **two** raters.",
    )

    page = client.get("/datasets/").content.decode()

    card = re.search(r'data-snapshot-card="rankings".*?</article>', page, re.S).group(0)
    assert "<dd>180</dd>" in card and "<dd>12</dd>" in card
    assert "<strong>two</strong>" in card
    assert f"/api/exports/{snapshot.pk}/download/?split=train" in card
    assert 'data-snapshot-card="sft"' not in page  # no snapshot of that kind yet
    assert 'action="/datasets/exports/new/"' in page


@pytest.mark.parametrize("persona", ["alice", "dave"])
def test_labelers_and_people_without_a_role_get_403_on_every_page(
    client, request, persona, pages, snapshot, guideline
):
    client.force_login(request.getfixturevalue(persona))

    reads = {url: client.get(url).status_code for url in pages}
    writes = {
        url: client.post(url, data).status_code
        for url, data in [
            (
                "/datasets/imports/new/",
                {"format": "alpaca", "file": SimpleUploadedFile("a", ALPACA)},
            ),
            ("/datasets/exports/new/", {"kind": "sft"}),
            (f"/datasets/exports/{snapshot.pk}/run-again/", {}),
        ]
    }

    assert set(reads.values()) == set(writes.values()) == {403}
    assert ImportJob.objects.count() == 1  # the fixture's own
    assert DatasetSnapshot.objects.get().status == JobStatus.FAILED


def test_anonymous_visitors_are_sent_to_log_in(client, pages):
    for url in pages:
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"format": "csv", "file": True}, "format", "is not a valid choice"),
        ({"format": "alpaca"}, "file", "No file was submitted"),
        ({"file": True}, "format", "This field is required"),
        ({"format": "alpaca", "guideline": "nope", "file": True}, "guideline", "No published"),
    ],
)
def test_a_bad_upload_shows_the_reason_and_creates_nothing(
    client, carol, guideline, data, field, message
):
    client.force_login(carol)
    if data.pop("file", False):
        data["file"] = SimpleUploadedFile("three.jsonl", ALPACA)
    before = uploaded_files()

    response = client.post("/datasets/imports/new/", data)

    assert response.status_code == 400
    assert message in field_error(response, field)
    assert ImportJob.objects.count() == 0
    assert uploaded_files() == before


def test_a_file_over_the_size_limit_is_refused_with_the_limit(
    client, carol, guideline, monkeypatch
):
    # A real file over 512 MiB would be slow to build; the rule is the same at 1 MiB.
    monkeypatch.setattr(datasets_api, "MAX_UPLOAD_BYTES", 2**20)
    client.force_login(carol)

    response = client.post(
        "/datasets/imports/new/",
        {"format": "alpaca", "file": SimpleUploadedFile("big.jsonl", b"{}\n" * 2**19)},
    )

    assert response.status_code == 400
    assert field_error(response, "file") == "At most 1 MiB."
    assert ImportJob.objects.count() == 0


def test_a_valid_upload_creates_one_job_queued_after_commit_and_opens_its_page(
    client, carol, guideline, django_capture_on_commit_callbacks
):
    client.force_login(carol)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            "/datasets/imports/new/",
            {
                "file": SimpleUploadedFile("three.jsonl", ALPACA),
                "format": "alpaca",
                "guideline": guideline.slug,
                "strict": "on",
            },
        )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/imports/{job.pk}/"
    assert (job.format, job.original_name, job.strict) == ("alpaca", "three.jsonl", True)
    assert (job.guideline, job.created_by, job.status) == (guideline, carol, JobStatus.QUEUED)
    assert (Path(settings.DATA_DIR) / job.file).read_bytes() == ALPACA
    assert len(queued) == 1


def test_the_only_published_guideline_is_chosen_when_none_is_named(client, carol, guideline):
    client.force_login(carol)

    client.post(
        "/datasets/imports/new/",
        {"file": SimpleUploadedFile("three.jsonl", ALPACA), "format": "alpaca"},
    )

    assert ImportJob.objects.get().guideline == guideline


def test_a_queued_import_page_polls_and_refreshes_without_script(client, carol, job):
    client.force_login(carol)

    page = client.get(f"/datasets/imports/{job.pk}/").content.decode()

    assert f'data-job-url="/api/imports/{job.pk}/"' in page
    assert "js/job-progress.js" in page
    assert '<noscript><meta http-equiv="refresh"' in page


def test_a_finished_import_page_reports_each_refused_line(client, carol, queue_import):
    job = import_run(job_id=queue_import(FIXTURES / "mixed-prompts.jsonl", "prompts-jsonl").pk)
    client.force_login(carol)

    page = client.get(f"/datasets/imports/{job.pk}/").content.decode()

    refused = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", page)
    assert [int(line) for line, _ in refused] == [2, 4, 6]
    assert all(reason.strip() for _, reason in refused)
    assert f'max="{job.lines_total}" value="{job.lines_total}"' in page
    assert "<li>prompts: 3</li>" in page
    assert "<li>lines imported: 3</li>" in page and "lines_imported" not in page
    assert "http-equiv" not in page


def test_the_export_form_stores_what_the_api_stores_for_the_same_input(client, api, carol):
    client.force_login(carol)
    api.force_authenticate(carol)

    response = client.post(
        "/datasets/exports/new/",
        {
            "kind": "preference",
            "guideline_versions": "1, 2",
            "categories": ["chat", "open_qa"],
            "min_agreement": "0.5",
            "languages": "en,de",
            "created_after": "2025-01-01",
            "gzip": "on",
            "pairs": "consensus",
            "validation_permille": "100",
        },
    )
    by_api = api.post(
        "/api/exports/",
        {
            "kind": "preference",
            "filters": {
                "guideline_versions": [1, 2],
                "categories": ["chat", "open_qa"],
                "min_agreement": 0.5,
                "languages": ["en", "de"],
                "created_after": "2025-01-01",
            },
            "options": {"gzip": True, "pairs": "consensus", "validation_permille": 100},
        },
        format="json",
    ).json()

    page, scripted = DatasetSnapshot.objects.order_by("id")
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/exports/{page.pk}/"
    assert (page.kind, page.created_by, page.status) == ("preference", carol, JobStatus.QUEUED)
    assert page.filters == scripted.filters == by_api["filters"]
    assert page.filters["created_after"] == "2025-01-01T00:00:00Z"
    assert page.options == {"gzip": True, "pairs": "consensus", "validation_permille": 100}


def test_a_bad_export_shows_each_fields_error_and_queues_nothing(client, carol):
    client.force_login(carol)

    response = client.post(
        "/datasets/exports/new/",
        {
            "kind": "sft",
            "guideline_versions": "1, two",
            "min_agreement": "2",
            "created_before": "not a date",
            "validation_permille": "5000",
        },
    )

    assert response.status_code == 400
    assert field_error(response, "guideline_versions") == "Item 2: A valid integer is required."
    assert "less than or equal to 1" in field_error(response, "min_agreement")
    assert "Datetime has wrong format" in field_error(response, "created_before")
    assert "less than or equal to 1000" in field_error(response, "validation_permille")
    assert field_error(response, "kind") == ""
    assert DatasetSnapshot.objects.count() == 0


def test_an_export_without_a_kind_is_refused(client, carol):
    client.force_login(carol)

    response = client.post("/datasets/exports/new/", {"validation_permille": "50"})

    assert field_error(response, "kind") == "This field is required."
    assert DatasetSnapshot.objects.count() == 0


def test_download_links_appear_only_for_succeeded_snapshots(client, carol, job, snapshot):
    import_run(job_id=job.pk)
    done = snapshot_export(
        snapshot_id=DatasetSnapshot.objects.create(kind="sft", options={"gzip": False}).pk
    )
    queued = DatasetSnapshot.objects.create(kind="preference")
    client.force_login(carol)

    index = client.get("/datasets/").content.decode()
    pages = {
        s.pk: client.get(f"/datasets/exports/{s.pk}/").content.decode()
        for s in (done, queued, snapshot)
    }

    assert done.status == JobStatus.SUCCEEDED
    for split in ("train", "validation", "card"):
        link = f"/api/exports/{done.pk}/download/?split={split}"
        assert link in index and link in pages[done.pk]
    for other in (queued, snapshot):
        assert f"/api/exports/{other.pk}/download/" not in index
        assert "/download/" not in pages[other.pk]
    assert done.sha256["train"] in pages[done.pk]
    train = client.get(f"/api/exports/{done.pk}/download/?split=train")
    assert len(b"".join(train.streaming_content).splitlines()) == done.counts["train"]


def test_the_dataset_card_is_rendered_as_sanitized_markdown(client, carol):
    snapshot = DatasetSnapshot.objects.create(
        kind="sft",
        status=JobStatus.SUCCEEDED,
        card="# Card\n\n| category | rows |\n|---|---|\n| chat | 3 |\n\n<script>alert(1)</script>",
    )
    client.force_login(carol)

    page = client.get(f"/datasets/exports/{snapshot.pk}/").content.decode()

    assert "<td>chat</td>" in page
    assert "<script>alert(1)</script>" not in page


def test_run_again_is_offered_for_a_failed_export_and_queues_it(
    client, carol, snapshot, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    failed_page = client.get(f"/datasets/exports/{snapshot.pk}/").content.decode()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/datasets/exports/{snapshot.pk}/run-again/")
    queued_page = client.get(f"/datasets/exports/{snapshot.pk}/").content.decode()

    assert "Run again" in failed_page
    assert response["Location"] == f"/datasets/exports/{snapshot.pk}/"
    snapshot.refresh_from_db()
    assert snapshot.status == JobStatus.QUEUED
    assert len(queued) == 1
    assert "Run again" not in queued_page


def test_run_again_leaves_a_queued_or_published_export_alone(
    client, carol, django_capture_on_commit_callbacks
):
    client.force_login(carol)
    snapshots = [
        DatasetSnapshot.objects.create(kind="sft", status=status)
        for status in (JobStatus.QUEUED, JobStatus.SUCCEEDED)
    ]

    with django_capture_on_commit_callbacks() as queued:
        for snapshot in snapshots:
            client.post(f"/datasets/exports/{snapshot.pk}/run-again/")

    assert queued == []
    assert [s.status for s in DatasetSnapshot.objects.order_by("id")] == ["queued", "succeeded"]


def test_run_again_is_a_post(client, carol, snapshot):
    client.force_login(carol)

    assert client.get(f"/datasets/exports/{snapshot.pk}/run-again/").status_code == 405


def _jobs(count: int, *, guideline, carol) -> None:
    ImportJob.objects.bulk_create(
        ImportJob(
            format="alpaca",
            guideline=guideline,
            created_by=carol,
            file=f"uploads/imports/{n}.jsonl",
            original_name=f"{n}.jsonl",
            lines_total=10,
            lines_done=n % 10,
            counts={"demonstrations": n},
            errors=[{"line": 1, "reason": "bad"}],
            error_count=1,
        )
        for n in range(count)
    )
    DatasetSnapshot.objects.bulk_create(
        DatasetSnapshot(
            kind="sft",
            status=JobStatus.SUCCEEDED,
            created_by=carol,
            counts={"train": n, "validation": 1},
            files={"train": f"exports/{n}/train.jsonl"},
        )
        for n in range(count)
    )


def test_the_list_page_takes_as_many_queries_for_twenty_jobs_as_for_two(client, carol, guideline):
    client.force_login(carol)
    _jobs(2, guideline=guideline, carol=carol)
    with CaptureQueriesContext(connection) as two:
        few = client.get("/datasets/").content.decode()
    _jobs(18, guideline=guideline, carol=carol)
    with CaptureQueriesContext(connection) as twenty:
        many = client.get("/datasets/").content.decode()

    assert (few.count("<tr data-import="), many.count("<tr data-import=")) == (2, 20)
    assert (few.count("<tr data-snapshot="), many.count("<tr data-snapshot=")) == (2, 20)
    assert len(twenty) == len(two)
