import pytest
from playwright.sync_api import expect

from guidelines.services import acknowledgement_create
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

HONESTY = "\n## Honesty\nSay when you do not know.\n"


@pytest.fixture
def v1_read_by_alice(alice, carol):
    from guidelines.services import guideline_create, version_draft_create, version_publish

    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    body = "# Assistant\n\n## Helpfulness\nAnswer the question.\n"
    v1 = version_publish(
        version=version_draft_create(guideline=guideline, body=body, summary="First", author=carol)
    )
    acknowledgement_create(user=alice, version=v1)
    return v1


def test_an_admin_publishes_v2_and_a_labeler_reads_the_change_and_acknowledges(
    new_page, v1_read_by_alice
):
    admin = new_page()
    log_in(admin, "carol", PASSWORD)
    admin.goto("/guidelines/assistant/write/")
    admin.get_by_label("What changed").fill("New section on honesty")
    editor = admin.get_by_label("Markdown")
    editor.press("Control+End")
    editor.type(HONESTY)
    # The live preview is rendered by the server as labelers will see it.
    expect(admin.locator("#preview h2#honesty")).to_have_text("Honesty")
    admin.get_by_role("button", name="Save draft").click()
    expect(admin.locator(".doc-head h1")).to_contain_text("v2")
    admin.get_by_role("button", name="Publish v2").click()
    expect(admin.locator(".status")).to_have_text("Published")

    labeler = new_page()
    log_in(labeler, "alice", PASSWORD)
    banner = labeler.get_by_test_id("guideline-banner")
    expect(banner).to_contain_text("Assistant behaviour v2 was published: New section on honesty")
    banner.get_by_role("link", name="Read what changed").click()
    # One message on the gate: the notice, not the banner again; the button after the text.
    expect(labeler.get_by_test_id("guideline-banner")).to_have_count(0)
    expect(labeler.get_by_test_id("acknowledge-notice")).to_contain_text("You last read v1")
    button_below = labeler.evaluate(
        "document.querySelector('#guideline-body').compareDocumentPosition("
        "document.querySelector('form.acknowledge')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert button_below
    labeler.get_by_role("link", name="see what changed since").click()
    expect(labeler.get_by_test_id("unified-diff")).to_contain_text("+## Honesty")
    expect(labeler.locator("tr.diff-added td.new", has_text="## Honesty")).to_have_count(1)
    labeler.get_by_role("button", name="I have read version 2").click()

    expect(labeler.get_by_role("heading", name="Welcome, alice")).to_be_visible()
    expect(labeler.get_by_text("you have read Assistant behaviour v2")).to_be_visible()
    expect(labeler.get_by_test_id("guideline-banner")).to_have_count(0)
