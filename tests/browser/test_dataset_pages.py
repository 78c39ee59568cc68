import re

import pytest
from playwright.sync_api import expect

from guidelines.services import guideline_create, version_draft_create, version_publish
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.datasets.conftest import FIXTURES

pytestmark = pytest.mark.browser

# Jobs run on a real Celery worker; the first one also waits for the worker to start.
JOB_TIMEOUT_MS = 90_000


@pytest.fixture
def guideline(carol):
    guideline = guideline_create(slug="assistant", title="Assistant data")
    version_publish(
        version=version_draft_create(guideline=guideline, body="# Data\n", summary="", author=carol)
    )
    return guideline


def test_an_admin_imports_a_file_follows_it_then_exports_and_downloads(
    page, request, carol, guideline
):
    log_in(page, "carol", PASSWORD)
    page.get_by_role("navigation").get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="Import a file").click()
    page.get_by_label(re.compile(r"^File")).set_input_files(FIXTURES / "alpaca-three.jsonl")
    page.get_by_label("Format").select_option("alpaca")
    page.get_by_role("button", name="Upload and import").click()

    expect(page.get_by_role("heading", name=re.compile(r"Import \d+"))).to_be_visible()
    expect(page.locator("[data-job-status]")).to_have_text("Queued")
    # Marks this document: if it is still there at the end, the page was never reloaded.
    page.evaluate("window.followedInPlace = true")
    # Started only now, so that the page is sure to have shown the job unfinished.
    request.getfixturevalue("worker")
    expect(page.locator("[data-job-status]")).to_have_text("Succeeded", timeout=JOB_TIMEOUT_MS)
    bar = page.get_by_label("Lines read")
    expect(bar).to_have_js_property("max", 3)
    expect(bar).to_have_js_property("value", 3)
    expect(page.locator("[data-job-lines]")).to_have_text("3 of 3 lines")
    expect(page.get_by_text("lines imported: 3")).to_be_visible()
    expect(page.get_by_text("No line was refused.")).to_be_visible()
    assert page.evaluate("window.followedInPlace") is True

    page.get_by_role("navigation").get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="Export a snapshot").click()
    page.get_by_label("Kind").select_option("sft")
    page.get_by_label("Validation share").fill("0")
    page.get_by_role("button", name="Start the export").click()

    expect(page.get_by_role("heading", name=re.compile(r"Export \d+"))).to_be_visible()
    page.evaluate("window.followedInPlace = true")
    download_link = page.get_by_role("link", name="train.jsonl")
    expect(download_link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("[data-job-status]")).to_have_text("Succeeded")
    assert page.evaluate("window.followedInPlace") is True
    with page.expect_download() as download:
        download_link.click()
    assert len(download.value.path().read_bytes().splitlines()) == 3
