"""Writes for labeling: prompts, demonstrations, reviews. The queue is in labeling/queue.py."""

import hashlib
import json

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from config.errors import IdempotencyKeyReused, InputError
from guidelines.models import Guideline, GuidelineVersion
from guidelines.selectors import version_current_published, version_last_acknowledged
from guidelines.services import NoPublishedVersion, acknowledgement_require
from labeling.drafts import draft_started_from, edit_distances
from labeling.models import Assignment, Demonstration, LabelerProfile, Prompt, Review, Task
from labeling.queue import (
    QueueError,
    assignment_finish,
    assignment_held,
    leases_lapse,
    task_close,
    task_open,
    task_record_imported,
    task_row_lock,
)
from labeling.similarity import prompt_near_duplicates, prompt_search_text
from labeling.submit_statement import demonstration_submit_in_one_statement
from labeling.validation import conversation_checked, seconds_checked, text_checked


def prompt_content_hash(messages: list[dict[str, str]]) -> str:
    """A stable fingerprint of a conversation: roles and whitespace-trimmed text."""
    canonical = [{"role": m["role"], "content": m["content"].strip()} for m in messages]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def _demonstration_task_create(prompt: Prompt) -> Task:
    guideline = prompt.guideline
    return task_open(
        kind=Task.Kind.DEMONSTRATION,
        prompt=prompt,
        wanted=prompt.wanted_demonstrations,
        # Only a prompt's writer is kept from answering it; an importer wrote nothing.
        excluded_user=(
            prompt.author
            if prompt.source == Prompt.Source.WRITTEN and not guideline.own_prompts_answerable
            else None
        ),
    )


@transaction.atomic
def prompt_create(
    *,
    author: AbstractBaseUser,
    guideline: Guideline,
    messages: object,
    category: str = Prompt.Category.OTHER,
    language: str = "en",
    sensitive_category: str = "",
    wanted_demonstrations: int = 1,
    source: str = Prompt.Source.WRITTEN,
    require_acknowledgement: bool = True,
    draft_model: str = "",
    draft_text: str = "",
    open_task: bool = True,
    flag_near_duplicates: bool = True,
) -> Prompt:
    """A new prompt, stamped with the guideline version it was written under, and its
    demonstration task. Labelers must have read that version; admin imports need not."""
    cleaned = conversation_checked(messages)
    if category not in Prompt.Category.values:
        raise InputError("category", f"Unknown category {category!r}.")
    if sensitive_category not in Prompt.Sensitivity.values:
        raise InputError("sensitive_category", f"Unknown category {sensitive_category!r}.")
    if not 1 <= wanted_demonstrations <= 20:
        raise InputError("wanted_demonstrations", "Between 1 and 20.")
    if require_acknowledgement:
        version = acknowledgement_require(user=author, guideline=guideline)
    else:
        version = version_current_published(guideline=guideline)
        if version is None:
            raise NoPublishedVersion(guideline)
    search_text = prompt_search_text(cleaned)
    # Bulk imports skip the search: they are deduplicated by content hash, and the flag is
    # there to warn a person who is writing.
    near = (
        prompt_near_duplicates(guideline_id=guideline.pk, search_text=search_text)
        if flag_near_duplicates
        else []
    )
    prompt = Prompt.objects.create(
        guideline=guideline,
        guideline_version=version,
        messages=cleaned,
        search_text=search_text,
        near_duplicate_of_id=near[0].prompt_id if near else None,
        draft_model=draft_model[:200],
        draft_text=draft_text,
        category=category,
        language=language[:16] or "en",
        sensitive_category=sensitive_category,
        wanted_demonstrations=wanted_demonstrations,
        source=source,
        author=author,
        content_hash=prompt_content_hash(cleaned),
    )
    if open_task:
        _demonstration_task_create(prompt)
    # Shown to whoever submitted it; the flag itself is near_duplicate_of.
    prompt.near_duplicates = near
    return prompt


def prompt_import(
    *,
    guideline: Guideline,
    messages: list[dict[str, str]],
    category: str = Prompt.Category.OTHER,
    author: AbstractBaseUser | None = None,
) -> tuple[Prompt, bool]:
    """Store an imported prompt once per content, with its demonstration task."""
    existing = Prompt.objects.filter(
        guideline=guideline, content_hash=prompt_content_hash(messages)
    ).first()
    if existing is not None:
        return existing, False
    prompt = prompt_create(
        author=author,
        guideline=guideline,
        messages=messages,
        category=category,
        source=Prompt.Source.IMPORTED,
        require_acknowledgement=False,
    )
    return prompt, True


def version_worked_under(user: AbstractBaseUser, guideline: Guideline) -> GuidelineVersion:
    """The newest version the user had read: what they were following while they wrote."""
    version = version_last_acknowledged(user=user, guideline=guideline)
    if version is None:  # the queue never leases without an acknowledgement
        raise QueueError("You have not read this task's guideline.")
    return version


def _review_task_create(demonstration: Demonstration) -> Task:
    return task_open(
        kind=Task.Kind.REVIEW,
        prompt=demonstration.prompt,
        demonstration=demonstration,
        wanted=settings.LABELING_APPROVALS_REQUIRED,
        excluded_user=demonstration.author,
    )


def demonstration_submit(
    *,
    author: AbstractBaseUser,
    task_id: int,
    content: object,
    time_spent_s: int = 0,
    idempotency_key: str = "",
    started_from_draft: bool = False,
    claimed_draft_text: str | None = None,
    claimed_draft_id: int | None = None,
    claimed_own_draft: bool = False,
) -> tuple[Demonstration, bool]:
    """Submit the ideal reply for a leased demonstration task.

    Returns (demonstration, created). The same Idempotency-Key again, for the same task,
    returns the first record, so a double click or a retried request makes one
    demonstration. `started_from_draft` records the model draft offered on the prompt (or
    the prompt's draft `claimed_draft_id`, or the draft the prompt arrived with when
    `claimed_own_draft`; never a text the client sends) with how much the labeler
    changed it.
    """
    text = text_checked(content, field="content")
    time_spent_s = seconds_checked(time_spent_s)
    if connection.vendor == "postgresql" and not started_from_draft:
        saved = demonstration_submit_in_one_statement(
            author_id=author.pk,
            task_id=task_id,
            text=text,
            time_spent_s=time_spent_s,
            idempotency_key=idempotency_key[:100],
        )
        if saved is not None:
            return saved, True
    try:
        with transaction.atomic():
            return _demonstration_submit(
                author=author,
                task_id=task_id,
                text=text,
                time_spent_s=time_spent_s,
                idempotency_key=idempotency_key[:100],
                started_from_draft=started_from_draft,
                claimed_draft_text=claimed_draft_text,
                claimed_draft_id=claimed_draft_id,
                claimed_own_draft=claimed_own_draft,
            )
    except IntegrityError:
        # Two requests with one key raced past the check: the first one's record stands.
        earlier = _demonstration_for_key(author, idempotency_key[:100], task_id, text)
        if earlier is not None:
            return earlier, False
        raise


def _demonstration_for_key(author, key: str, task_id: int, text: str) -> Demonstration | None:  # type: ignore[no-untyped-def]
    """The demonstration an earlier request with this key made, if it asked for the same
    thing; a key that made something else is refused (409), as a retry never changes."""
    if not key:
        return None
    earlier = Demonstration.objects.filter(author=author, idempotency_key=key).first()
    if earlier is not None and earlier.task_id != task_id:
        raise IdempotencyKeyReused(
            f"This key was used for task {earlier.task_id}; send a new key for each task."
        )
    if earlier is not None and earlier.content != text:
        raise IdempotencyKeyReused(
            f"This key made demonstration {earlier.pk} with other content; "
            "send a new key for a different request."
        )
    return earlier


def _demonstration_submit(
    *,
    author,
    task_id,
    text,
    time_spent_s,
    idempotency_key,
    started_from_draft,
    claimed_draft_text,
    claimed_draft_id,
    claimed_own_draft,
):  # type: ignore[no-untyped-def]
    earlier = _demonstration_for_key(author, idempotency_key, task_id, text)
    if earlier is not None:
        return earlier, False
    task_row_lock(task_id)  # before the lease, as skip takes them
    try:
        assignment = assignment_held(user=author, task_id=task_id, lock=True)
    except QueueError:
        # On PostgreSQL a request with the same key may have finished the lease while this
        # one waited for its lock; the query after the wait sees that request's commit.
        earlier = _demonstration_for_key(author, idempotency_key, task_id, text)
        if earlier is not None:
            return earlier, False
        raise
    task = assignment.task
    if task.kind != Task.Kind.DEMONSTRATION:
        raise InputError("task", f"Task {task_id} is a {task.kind} task, not a demonstration task.")
    draft = (
        draft_started_from(
            prompt=task.prompt,
            draft_id=claimed_draft_id,
            claimed_text=claimed_draft_text,
            own=claimed_own_draft,
        )
        if started_from_draft
        else None
    )
    char_distance, word_distance = edit_distances(draft.text, text) if draft else (None, None)
    demonstration = Demonstration.objects.create(
        prompt=task.prompt,
        task=task,
        author=author,
        guideline_version=version_worked_under(author, task.guideline),
        content=text,
        time_spent_s=time_spent_s,
        draft_id=draft.id if draft else None,
        draft_model=draft.model if draft else "",
        draft_text=draft.text if draft else "",
        draft_edit_distance=word_distance,
        draft_char_distance=char_distance,
        idempotency_key=idempotency_key,
    )
    assignment_finish(assignment=assignment)
    _review_task_create(demonstration)
    return demonstration, True


@transaction.atomic
def demonstration_revise(
    *, author: AbstractBaseUser, demonstration_id: int, content: object, time_spent_s: int = 0
) -> Demonstration:
    """The author's new revision of a demonstration a reviewer sent back."""
    text = text_checked(content, field="content")
    demonstration = (
        Demonstration.objects.select_for_update().filter(pk=demonstration_id, author=author).first()
    )
    if demonstration is None:
        raise InputError("demonstration", f"You have no demonstration {demonstration_id}.")
    if demonstration.status != Demonstration.Status.NEEDS_REVISION:
        raise QueueError(
            f"Demonstration {demonstration_id} is {demonstration.get_status_display().lower()}: "
            "only a demonstration sent back for revision can be revised."
        )
    demonstration.content = text
    demonstration.revision = F("revision") + 1
    demonstration.time_spent_s = F("time_spent_s") + max(0, time_spent_s)
    demonstration.status = Demonstration.Status.SUBMITTED
    demonstration.save(
        update_fields=["content", "revision", "time_spent_s", "status", "updated_at"]
    )
    demonstration.refresh_from_db()
    _review_task_create(demonstration)
    return demonstration


def review_submit(
    *,
    reviewer: AbstractBaseUser,
    demonstration_id: int,
    verdict: str,
    reasons: object = (),
    comment: str = "",
    time_spent_s: int = 0,
) -> tuple[Review, bool]:
    """A reviewer's verdict on the demonstration whose review task they hold."""
    if verdict not in Review.Verdict.values:
        raise InputError("verdict", f"One of {', '.join(Review.Verdict.values)}.")
    if not isinstance(reasons, list | tuple) or any(r not in Review.Reason.values for r in reasons):
        raise InputError("reasons", f"A list of: {', '.join(Review.Reason.values)}.")
    if verdict != Review.Verdict.APPROVE and not (reasons or comment.strip()):
        raise InputError("reasons", "Say why: give a reason or a comment.")
    if len(comment) > settings.LABELING_MAX_CHARS:
        raise InputError("comment", "Too long.")
    with transaction.atomic():
        # The demonstration is locked first, by every reviewer: a verdict that ends other
        # reviewers' leases then never waits on a lease row while its holder waits on it.
        demonstration = (
            Demonstration.objects.select_for_update().filter(pk=demonstration_id).first()
        )
        if demonstration is None:
            raise InputError("demonstration", f"No demonstration {demonstration_id}.")
        task = (
            Task.objects.filter(
                kind=Task.Kind.REVIEW, demonstration_id=demonstration_id, assignments__user=reviewer
            )
            .order_by("-id")
            .first()
        )
        if task is None:
            raise QueueError(
                f"You hold no review of demonstration {demonstration_id}: "
                'take one with POST /api/tasks/next/ {"kind": "review"}.'
            )
        earlier = Review.objects.filter(task=task, reviewer=reviewer).first()
        if earlier is not None:  # a double submit
            return earlier, False
        assignment = assignment_held(user=reviewer, task_id=task.pk, lock=True)
        review = Review.objects.create(
            demonstration=demonstration,
            task=task,
            reviewer=reviewer,
            guideline_version=version_worked_under(reviewer, task.guideline),
            revision=demonstration.revision,
            reviewed_content=demonstration.content,
            verdict=verdict,
            reasons=list(reasons),
            comment=comment,
            time_spent_s=max(0, time_spent_s),
        )
        assignment_finish(assignment=assignment)
        _apply_verdict(demonstration=demonstration, task=task, verdict=verdict)
    return review, True


def _apply_verdict(*, demonstration: Demonstration, task: Task, verdict: str) -> None:
    if verdict == Review.Verdict.APPROVE:
        approvals = Review.objects.filter(
            demonstration=demonstration,
            revision=demonstration.revision,
            verdict=Review.Verdict.APPROVE,
        ).count()
        # The task's own number, fixed when it was made: changing the setting later does
        # not strand demonstrations already in review.
        if approvals >= task.wanted:
            demonstration.status = Demonstration.Status.APPROVED
            demonstration.save(update_fields=["status", "updated_at"])
        return
    demonstration.status = (
        Demonstration.Status.REJECTED
        if verdict == Review.Verdict.REJECT
        else Demonstration.Status.NEEDS_REVISION
    )
    demonstration.save(update_fields=["status", "updated_at"])
    # One rejection or request for revision decides this round: other reviewers' leases
    # on it end, and a revision gets a fresh review task.
    task_close(task=task)


@transaction.atomic
def profile_set_opt_outs(*, user: AbstractBaseUser, categories: object) -> LabelerProfile:
    if not isinstance(categories, list | tuple) or not all(isinstance(c, str) for c in categories):
        raise InputError("sensitive_opt_outs", "A list of category names.")
    unknown = set(categories) - set(Prompt.Sensitivity.values) - {""}
    if unknown:
        raise InputError("sensitive_opt_outs", f"Unknown categories: {', '.join(sorted(unknown))}.")
    profile, _ = LabelerProfile.objects.get_or_create(user=user)
    profile.sensitive_opt_outs = sorted(set(categories) - {""})
    profile.save(update_fields=["sensitive_opt_outs"])
    # A task of a category just opted out of that the person still holds goes back to the
    # queue at once, rather than being handed to them again on their next "next task".
    leases_lapse(
        Assignment.objects.filter(
            user=user, task__prompt__sensitive_category__in=profile.sensitive_opt_outs
        )
    )
    return profile


def prompt_for_import(
    *, guideline: Guideline, messages: list[dict[str, str]], language: str = "en"
) -> Prompt:
    """The prompt with this conversation, made if new, without a task for labelers: it
    arrives with its replies already."""
    cleaned = conversation_checked(messages)
    existing = Prompt.objects.filter(
        guideline=guideline, content_hash=prompt_content_hash(cleaned)
    ).first()
    if existing is not None:
        return existing
    return prompt_create(
        author=None,
        guideline=guideline,
        messages=cleaned,
        language=language,
        source=Prompt.Source.IMPORTED,
        require_acknowledgement=False,
        open_task=False,
        flag_near_duplicates=False,
    )


def demonstration_import(
    *, prompt: Prompt, author: AbstractBaseUser, content: str, source: str
) -> Demonstration:
    """An approved demonstration from outside, with a finished task of its own so that it
    never enters the queue."""
    version = version_current_published(guideline=prompt.guideline)
    if version is None:
        raise NoPublishedVersion(prompt.guideline)
    task = task_record_imported(kind=Task.Kind.DEMONSTRATION, prompt=prompt)
    return Demonstration.objects.create(
        prompt=prompt,
        task=task,
        author=author,
        guideline_version=version,
        content=content,
        status=Demonstration.Status.APPROVED,
        source=source,
    )
