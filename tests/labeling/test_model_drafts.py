"""Model drafts on the task page and through the API: the newest draft of a prompt is
offered and stays visible; a demonstration started from it keeps that draft, its text and
how far the reply moved from it, in characters and in words."""

import pytest

from labeling.drafts import draft_create
from labeling.models import Demonstration, Draft
from labeling.services import prompt_create

pytestmark = pytest.mark.django_db

DRAFT = "Boil it for nine minutes."
REPLY = "Boil the egg for nine minutes, then cool it."
# Levenshtein from DRAFT to REPLY: 21 characters; 6 words ("it" -> "the", "egg" added,
# "minutes." -> "minutes,", then "then", "cool", "it." added).
CHARS, WORDS = 21, 6


@pytest.fixture
def egg(guideline, carol):
    prompt = prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "How do I boil an egg?"}],
    )
    draft_create(prompt=prompt, text="An older draft.", origin="model", origin_name="sft-1")
    newest = draft_create(prompt=prompt, text=DRAFT, origin="source", origin_name="source:vllm")
    return prompt, newest


@pytest.fixture
def task_page(client, alice, read):
    """Opens alice's next demonstration task: (its path, its html)."""

    def open_page() -> tuple[str, str]:
        read(alice)
        client.force_login(alice)
        page = client.post("/work/demonstration/next/", follow=True)
        return page.redirect_chain[-1][0], page.content.decode()

    return open_page


def submit_started_from(client, path: str, draft_id: str):  # type: ignore[no-untyped-def]
    fields = {"content": REPLY, "started_from_draft": "1", "draft_id": draft_id}
    return client.post(path, {**fields, "idempotency_key": "k1", "time_spent_s": "12"})


def test_the_api_offers_the_newest_draft_and_the_demonstration_keeps_it(api, alice, read, egg):
    _, newest = egg
    read(alice)
    api.force_authenticate(alice)
    task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()

    answer = api.post(
        "/api/demonstrations/",
        {"task": task["id"], "content": REPLY, "draft": {"id": task["prompt"]["draft"]["id"]}},
        format="json",
    )

    assert task["prompt"]["draft"] == {"id": newest.pk, "model": "source:vllm", "content": DRAFT}
    assert answer.status_code == 201, answer.json()
    shown = answer.json()
    assert shown["draft"] == newest.pk and shown["draft_model"] == "source:vllm"
    assert (shown["draft_char_distance"], shown["draft_edit_distance"]) == (CHARS, WORDS)
    demonstration = Demonstration.objects.get()
    assert demonstration.draft_text == DRAFT and demonstration.content == REPLY


def test_a_draft_of_another_prompt_is_refused(api, alice, read, egg, guideline, carol):
    other = prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "Another question?"}],
    )
    elsewhere = draft_create(prompt=other, text="Elsewhere.", origin="model", origin_name="sft-1")
    read(alice)
    api.force_authenticate(alice)
    task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()
    assert task["prompt"]["id"] == egg[0].pk

    answer = api.post(
        "/api/demonstrations/",
        {"task": task["id"], "content": REPLY, "draft": {"id": elsewhere.pk}},
        format="json",
    )

    assert answer.status_code == 400 and "draft" in answer.json()
    assert not Demonstration.objects.exists()


def test_the_task_page_shows_the_draft_and_keeps_the_one_started_from(client, task_page, egg):
    prompt, newest = egg
    path, html = task_page()
    # A newer draft arriving while the labeler writes does not change what they started from.
    draft_create(prompt=prompt, text="Newer still.", origin="model", origin_name="sft-2")

    submit_started_from(client, path, str(newest.pk))

    assert "Start from the model draft" in html
    assert 'data-testid="model-draft"' in html and DRAFT in html and "source:vllm" in html
    assert f'name="draft_id" value="{newest.pk}"' in html
    demonstration = Demonstration.objects.get()
    assert demonstration.draft_id == newest.pk and demonstration.draft_model == "source:vllm"
    assert demonstration.draft_text == DRAFT
    assert (demonstration.draft_char_distance, demonstration.draft_edit_distance) == (CHARS, WORDS)
    assert Draft.objects.filter(prompt=prompt).count() == 3


def test_starting_from_the_prompts_own_draft_keeps_it_when_a_model_draft_arrives(
    client, task_page, guideline, carol
):
    prompt = prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "How do I boil an egg?"}],
        draft_model="imported",
        draft_text=DRAFT,
    )
    path, html = task_page()
    # Made while the labeler writes: offered from now on, but never seen by this labeler.
    draft_create(prompt=prompt, text="Unseen.", origin="model", origin_name="sft-2")

    submit_started_from(client, path, "own")

    assert 'name="draft_id" value="own"' in html
    demonstration = Demonstration.objects.get()
    assert demonstration.draft_id is None and demonstration.draft_model == "imported"
    assert demonstration.draft_text == DRAFT
    assert (demonstration.draft_char_distance, demonstration.draft_edit_distance) == (CHARS, WORDS)


def test_a_draft_id_that_is_not_ascii_digits_is_a_400_on_the_page(client, task_page, egg):
    path, _ = task_page()

    answer = submit_started_from(client, path, "²")

    assert answer.status_code == 400
    assert not Demonstration.objects.exists()
