"""Model drafts: the replies a model wrote for prompts, offered to labelers to start from,
and how far a labeler's reply moved away from the draft it started from."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from config.errors import InputError
from labeling.models import Assignment, Draft, Prompt
from labeling.validation import text_checked


@dataclass(frozen=True)
class OfferedDraft:
    """What a labeler is offered: a Draft row (`id`), or the draft a prompt arrived with
    (`id` None: written with the prompt or imported)."""

    id: int | None
    model: str
    text: str


def draft_create(*, prompt: Prompt, text: str, origin: str, origin_name: str) -> Draft:
    if origin not in Draft.Origin.values:
        raise InputError("origin", f"One of {', '.join(Draft.Origin.values)}.")
    # A byte-level model can sample a NUL, which PostgreSQL's text cannot hold.
    text = text_checked(text.replace("\x00", ""), field="text")
    return Draft.objects.create(
        prompt=prompt, text=text, origin=origin, origin_name=origin_name[:200]
    )


def draft_offered(*, prompt: Prompt) -> OfferedDraft | None:
    """The newest model draft of the prompt, else the one it arrived with, else None."""
    draft = prompt.drafts.order_by("-created_at", "-id").first()
    newest = OfferedDraft(draft.pk, draft.origin_name, draft.text) if draft else None
    return draft_offered_given(prompt=prompt, newest=newest)


def draft_offered_given(*, prompt: Prompt, newest: OfferedDraft | None) -> OfferedDraft | None:
    """draft_offered, with the prompt's newest model draft already read (by the queue)."""
    if newest is not None:
        return newest
    if prompt.draft_text:
        return OfferedDraft(None, prompt.draft_model, prompt.draft_text)
    return None


def lease_draft_offered(assignment: Assignment) -> OfferedDraft | None:
    """The draft offered with a lease: the queue's statement reads it along with the
    lease on PostgreSQL (`draft_offer`); otherwise it is read now."""
    if hasattr(assignment, "draft_offer"):
        return assignment.draft_offer
    return draft_offered(prompt=assignment.task.prompt)


def draft_started_from(
    *,
    prompt: Prompt,
    draft_id: int | None = None,
    claimed_text: str | None = None,
    own: bool = False,
) -> OfferedDraft:
    """The draft a submission says it started from, as the platform has it (never a
    text the client sends): the prompt's own draft when `own`, else the one with
    `draft_id`, else the one offered now. A `claimed_text` must be that draft's text."""
    if own:
        # Named apart: a model draft made while the labeler wrote would be "the one
        # offered now", one they never saw.
        if not prompt.draft_text:
            raise InputError("draft", "This prompt arrived with no draft.")
        chosen: OfferedDraft | None = OfferedDraft(None, prompt.draft_model, prompt.draft_text)
    elif draft_id is not None:
        draft = prompt.drafts.filter(pk=draft_id).first()
        if draft is None:
            raise InputError("draft", f"Prompt {prompt.pk} has no draft {draft_id}.")
        chosen = OfferedDraft(draft.pk, draft.origin_name, draft.text)
    else:
        chosen = draft_offered(prompt=prompt)
    if chosen is None:
        raise InputError("draft", "This prompt has no model draft to start from.")
    if claimed_text is not None and claimed_text != chosen.text:
        raise InputError(
            "draft", 'That is not this prompt\'s model draft: send "draft": true to record it.'
        )
    return chosen


def edit_distances(before: str, after: str) -> tuple[int, int]:
    """(characters, words) inserted, deleted or replaced to turn `before` into `after`:
    Levenshtein distances, over characters and over whitespace-separated words."""
    return (
        Levenshtein.distance(before, after),
        Levenshtein.distance(before.split(), after.split()),
    )
