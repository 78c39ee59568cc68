"""The task page's model draft in a real browser: the draft is shown, "Start from the
model draft" puts it into the reply box while it stays in view, and the demonstration
keeps the draft with how far the reply moved from it."""

import pytest
from playwright.sync_api import expect

from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.drafts import draft_create
from labeling.models import Demonstration
from labeling.services import prompt_create
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

DRAFT = "Plants make sugar from light."


@pytest.fixture
def drafted(alice, carol):
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    version = version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Be kind\n", summary="", author=carol
        )
    )
    acknowledgement_create(user=alice, version=version)
    prompt = prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "How do plants make food?"}],
    )
    return draft_create(prompt=prompt, text=DRAFT, origin="source", origin_name="source:vllm")


def test_a_labeler_starts_from_the_model_draft_and_edits_it(new_page, drafted):
    page = new_page()
    log_in(page, "alice", PASSWORD)
    page.get_by_role("link", name="Write a demonstration").click()
    expect(page.get_by_test_id("model-draft")).to_have_text(DRAFT)
    page.wait_for_load_state()  # the page's scripts have run

    page.get_by_role("button", name="Start from the model draft").click()
    editor = page.get_by_label("Your reply (Markdown)")
    expect(editor).to_have_value(DRAFT)
    expect(page.get_by_test_id("model-draft")).to_be_visible()
    editor.press("Control+End")
    page.keyboard.type(" They use water too.")
    page.keyboard.press("Control+Enter")

    expect(page.get_by_role("heading", name="Nothing to do right now")).to_be_visible()
    demonstration = Demonstration.objects.get()
    assert demonstration.draft_id == drafted.pk and demonstration.draft_text == DRAFT
    assert demonstration.content == DRAFT + " They use water too."
    assert (demonstration.draft_char_distance, demonstration.draft_edit_distance) == (20, 4)
