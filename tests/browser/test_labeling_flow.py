import re

import pytest
from playwright.sync_api import expect

from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.models import Assignment, Demonstration
from labeling.services import prompt_create
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def world(alice, bob, carol):
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    body = "# Assistant\n\n## Refusals\nDecline harmful requests.\n"
    v1 = version_publish(
        version=version_draft_create(guideline=guideline, body=body, summary="", author=carol)
    )
    acknowledgement_create(user=bob, version=v1)
    prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "How do plants make food?"}],
    )


def seconds_shown(clock: str | None) -> int:
    minutes, seconds = (clock or "").split(":")
    return int(minutes) * 60 + int(seconds)


def test_write_reload_submit_send_back_revise_approve(new_page, world):
    labeler = new_page()
    log_in(labeler, "alice", PASSWORD)
    labeler.get_by_role("link", name="Write a demonstration").click()
    # Not read yet: the queue sends the labeler to the guideline first.
    labeler.get_by_role("button", name="I have read version 1").click()
    expect(labeler.get_by_text("How do plants make food?")).to_be_visible()
    labeler.wait_for_load_state()  # the page's scripts have run: shortcuts are live

    labeler.keyboard.press("Alt+g")
    expect(labeler.locator("#guideline-panel h2#refusals")).to_be_visible()
    labeler.keyboard.press("Escape")
    expect(labeler.locator("#guideline-panel")).to_be_hidden()

    editor = labeler.get_by_label("Your reply (Markdown)")
    editor.click()
    labeler.keyboard.type("Plants use **photosynthesis**")
    expect(labeler.locator("#save-status")).to_have_text("Draft saved")
    clock = labeler.get_by_test_id("time-on-task")
    expect(clock).to_have_text(re.compile(r"0:0[3-9]"))
    before = seconds_shown(clock.text_content())
    labeler.reload()
    expect(labeler.get_by_label("Your reply (Markdown)")).to_have_value(
        "Plants use **photosynthesis**"
    )
    # The clock goes on from where it was, not from 0:00.
    assert seconds_shown(labeler.get_by_test_id("time-on-task").text_content()) >= before
    expect(labeler.locator("#reply-preview strong")).to_have_text("photosynthesis")
    editor = labeler.get_by_label("Your reply (Markdown)")
    editor.press("Control+End")
    labeler.keyboard.type(" to turn light, water and CO2 into sugar.")
    labeler.keyboard.press("Control+Enter")
    expect(labeler.get_by_role("heading", name="Nothing to do right now")).to_be_visible()
    assert Demonstration.objects.get().content.endswith("into sugar.")
    assert Demonstration.objects.get().time_spent_s >= before

    reviewer = new_page()
    log_in(reviewer, "bob", PASSWORD)
    reviewer.get_by_role("link", name="Review demonstrations").click()
    expect(reviewer.get_by_test_id("demonstration")).to_contain_text("photosynthesis")
    # Read as the labeler previewed it: Markdown rendered, not its asterisks.
    expect(reviewer.get_by_test_id("demonstration").locator("strong")).to_have_text(
        "photosynthesis"
    )
    reviewer.wait_for_load_state()
    reviewer.get_by_label("Send back for revision").check()
    reviewer.get_by_label("Incomplete").check()
    reviewer.get_by_label("Comment for the labeler").fill("Mention chlorophyll.")
    reviewer.keyboard.press("Control+Enter")
    expect(reviewer.get_by_role("heading", name="Nothing to do right now")).to_be_visible()

    labeler.goto("/work/mine/")
    expect(labeler.get_by_text("Mention chlorophyll.")).to_be_visible()
    labeler.get_by_role("link", name="Revise").click()
    labeler.get_by_label("Your reply").press("Control+End")
    labeler.keyboard.type(" Chlorophyll absorbs the light.")
    labeler.get_by_role("button", name="Submit the revision").click()
    expect(labeler.locator(".status-cell")).to_have_text("Submitted")

    reviewer.goto("/")
    reviewer.get_by_role("link", name="Review demonstrations").click()
    expect(reviewer.get_by_test_id("demonstration")).to_contain_text("Chlorophyll absorbs")
    expect(reviewer.get_by_test_id("revision-changes")).to_contain_text("Mention chlorophyll.")
    reviewer.get_by_label("Approve").check()
    reviewer.get_by_role("button", name="Submit review").click()
    expect(reviewer.get_by_role("heading", name="Nothing to do right now")).to_be_visible()

    labeler.goto("/work/mine/")
    expect(labeler.locator(".status-cell")).to_have_text("Approved")


def test_text_typed_after_the_session_ended_is_kept_and_saved_after_signing_in_again(
    new_page, world
):
    labeler = new_page()
    log_in(labeler, "alice", PASSWORD)
    labeler.get_by_role("link", name="Write a demonstration").click()
    labeler.get_by_role("button", name="I have read version 1").click()
    labeler.wait_for_load_state()
    editor = labeler.get_by_label("Your reply (Markdown)")
    editor.click()
    labeler.keyboard.type("Plants make sugar")
    expect(labeler.locator("#save-status")).to_have_text("Draft saved")

    labeler.context.clear_cookies()  # the session ends
    labeler.keyboard.type(" from light.")
    status = labeler.locator("#save-status")
    expect(status).to_contain_text("Not saved: you are signed out.")
    expect(status.get_by_role("link", name="you sign in again")).to_be_visible()
    labeler.keyboard.press("Control+Enter")  # refused on the page: nothing is sent unseen
    expect(status).to_contain_text("it cannot be sent yet")
    assert not Demonstration.objects.exists()

    # A reload goes to the login page; signing in comes back to the task with the text.
    labeler.reload()
    labeler.get_by_label("Username").fill("alice")
    labeler.get_by_label("Password").fill(PASSWORD)
    labeler.get_by_role("button", name="Log in").click()
    expect(labeler.get_by_label("Your reply (Markdown)")).to_have_value(
        "Plants make sugar from light."
    )
    expect(labeler.locator("#save-status")).to_have_text("Draft saved")
    assert Assignment.objects.get().draft == "Plants make sugar from light."
