"""The review page shows the labeler's Markdown as they previewed it (rendered, sanitized)
and, for a revision, what changed since the review that sent it back."""

from django.test import Client

from tests.labeling.conftest import make_prompts


def test_a_revision_is_reviewed_rendered_with_what_changed_since(
    api, alice, bob, read, guideline, carol
):
    make_prompts(guideline, carol, 1)
    read(alice, bob)
    api.force_authenticate(alice)
    task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()
    first = "Boil it.\n\n**two short paragraphs**\n\n<script>alert(1)</script>"
    demonstration = api.post(
        "/api/demonstrations/", {"task": task["id"], "content": first}, format="json"
    ).json()
    pages = Client()
    pages.force_login(bob)

    taken = pages.post("/work/review/next/", follow=True)
    page = taken.content.decode()
    assert "<strong>two short paragraphs</strong>" in page
    assert "**two short paragraphs**" not in page and "<script>alert(1)" not in page
    assert 'data-testid="revision-changes"' not in page  # the first revision: nothing before
    api.force_authenticate(bob)
    api.post(
        f"/api/demonstrations/{demonstration['id']}/reviews/",
        {"verdict": "revise", "comment": "Say how long."},
        format="json",
    )
    api.force_authenticate(alice)
    second = "Boil it for seven minutes.\n\n**two short paragraphs**"
    api.patch(f"/api/demonstrations/{demonstration['id']}/", {"content": second}, format="json")

    page = pages.post("/work/review/next/", follow=True).content.decode()

    assert "revision 2" in page
    assert "What changed since revision 1 (send back for revision: “Say how long.”)" in page
    assert '<tr class="diff-changed"><td class="ln">1</td><td class="old">Boil it.</td>' in page
    assert '<td class="new">Boil it for seven minutes.</td>' in page
    assert '<tr class="diff-removed">' in page  # the script line is gone


def test_a_sensitive_prompt_can_be_shown_without_the_pages_script(
    api, alice, read, guideline, carol
):
    from labeling.services import prompt_create

    prompt_create(
        author=carol,
        guideline=guideline,
        require_acknowledgement=False,
        sensitive_category="violence",
        messages=[{"role": "user", "content": "Describe the fight."}],
    )
    read(alice)
    api.force_authenticate(alice)
    task = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()
    pages = Client()
    pages.force_login(alice)

    warned = pages.get(f"/work/tasks/{task['id']}/").content.decode()
    shown = pages.get(f"/work/tasks/{task['id']}/?shown=1").content.decode()

    assert "Content warning" in warned and "hidden data-until-revealed" in warned
    # The warning's button is a plain form asking for the page with it shown.
    assert '<input type="hidden" name="shown" value="1">' in warned
    assert "Content warning" not in shown and "data-until-revealed" not in shown
    assert "Describe the fight." in shown
