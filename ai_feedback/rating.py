"""Running an AI feedback job: each item asked of the rater, its label stored as it comes,
an item the rater cannot be read for recorded with its answer while the others go on.

rank: every comparison is shown in one order and in the reverse order (position bias
cancelled by ai_feedback.prompts.orders_merged) and stored as the rater's AIRanking.
critique_revise: the prompt's reply is critiqued against one principle of the guideline
and revised; reply and revision become an AI-made comparison with the revision preferred.
"""

from __future__ import annotations

import hashlib
import logging
import random

from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.utils import timezone

from ai_feedback.models import AICritique, AIFeedbackJob, AIRanking
from ai_feedback.prompts import (
    ANSWER_KEPT,
    CRITIQUE_MAX_TOKENS,
    RANK_MAX_TOKENS,
    REVISION_MAX_TOKENS,
    UnreadableAnswer,
    critique_messages,
    guideline_sections,
    orders_merged,
    rank_messages,
    ranking_read,
    revision_messages,
)
from ai_feedback.raters import Rater, rater_for
from config.errors import InputError
from jobs.services import Attempt, job_error_text, job_execute
from labeling.models import Demonstration, Draft, Prompt, Task
from rankings.consensus import ranking_pairs
from rankings.models import AI_FEEDBACK_SOURCES, Candidate, Comparison
from rankings.services import comparison_create
from trainer.generation import finish_listing_failures

logger = logging.getLogger(__name__)

# Demonstrations ordered approved first: the reply people accepted is the one to improve.
APPROVED_FIRST = Case(
    When(status=Demonstration.Status.APPROVED, then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)


def ai_feedback_run(*, job_id: int) -> AIFeedbackJob | None:
    """Label every item not labelled yet; None when another worker holds the job."""
    return job_execute(AIFeedbackJob, job_id, _rate)


def _rate(attempt: Attempt) -> None:
    job = AIFeedbackJob.objects.select_related(
        "source", "model", "guideline_version__guideline"
    ).get(pk=attempt.pk)
    rater = rater_for(job)
    made, failures = dict(job.made), dict(job.failures)
    todo = [i for i in job.items if str(i) not in made]
    # What each item needs from the database is read here, in this thread: the rater's
    # threads only ask and answer, and open no connection of their own.
    prepare = _rank_questions if job.kind == AIFeedbackJob.Kind.RANK else _critique_questions
    questions, unready = prepare(job, todo)
    failures.update(unready)
    for question, result, error in rater.each(
        lambda question: question.asked(rater), questions, attempt.should_stop
    ):
        key = str(question.item)
        with transaction.atomic():
            if error is None:
                try:
                    with transaction.atomic():  # nothing of a refused label is kept
                        made[key] = result.store(job)  # type: ignore[union-attr]
                except InputError as exc:  # a revision over the length limit
                    error = exc
                else:
                    failures.pop(key, None)
            if error is not None:
                logger.warning("AI feedback %s: item %s: %s", job.pk, key, error)
                failures[key] = job_error_text(error)
            if not attempt.rows().update(made=made, failures=failures, heartbeat_at=timezone.now()):
                raise attempt.lost()
    finish_listing_failures(
        attempt,
        tried=bool(todo),
        succeeded=bool(made),
        failures=failures,
        nothing="No item was labelled",
    )


def _guideline_text(job: AIFeedbackJob) -> str:
    version = job.guideline_version
    if not job.sections:
        return version.body
    sections = guideline_sections(version.body)
    return "\n\n".join(sections[heading] for heading in job.sections if heading in sections)


class Ranked:
    """A comparison's AI ranking, read from both answers, waiting to be stored."""

    def __init__(self, comparison: Comparison, ranking: list[list[int]], asked: list[dict]):
        self.comparison, self.ranking, self.asked = comparison, ranking, asked

    def store(self, job: AIFeedbackJob) -> int:
        try:
            with transaction.atomic():
                return AIRanking.objects.create(
                    comparison=self.comparison,
                    job=job,
                    rater_name=job.rater_name,
                    guideline_version=job.guideline_version,
                    ranking=self.ranking,
                    pairs=ranking_pairs(self.ranking),
                    asked=self.asked,
                ).pk
        except IntegrityError:
            # Another job of the same rater ranked it under this version first (a double
            # submit, or overlapping requests): that ranking stands for this one.
            return AIRanking.objects.get(
                comparison=self.comparison,
                rater_name=job.rater_name,
                guideline_version=job.guideline_version,
            ).pk


def shown_orders(comparison_id: int, candidate_ids: list[int]) -> list[list[int]]:
    """A shuffled order, the same on every retry, and its reverse."""
    first = sorted(candidate_ids)
    random.Random(f"ai-rank:{comparison_id}").shuffle(first)
    return [first, first[::-1]]


class RankQuestion:
    """A comparison to ask about, read beforehand: its candidates' text and both orders."""

    def __init__(self, comparison: Comparison, guideline: str):
        self.item, self.comparison, self.guideline = comparison.pk, comparison, guideline
        self.text = {c.pk: c.content for c in comparison.candidates.all()}
        self.messages = comparison.prompt.messages

    def asked(self, rater: Rater) -> Ranked:
        asked, read = [], []
        for number, shown in enumerate(shown_orders(self.item, list(self.text)), start=1):
            answer = rater.chat(
                rank_messages(self.guideline, self.messages, [self.text[c] for c in shown]),
                RANK_MAX_TOKENS,
            )
            try:
                groups = ranking_read(answer, len(shown))
            except UnreadableAnswer as exc:
                raise UnreadableAnswer(f"order {number}: {exc}") from None
            asked.append({"shown": shown, "answer": answer[:ANSWER_KEPT]})
            read.append((shown, groups))
        return Ranked(self.comparison, orders_merged(read), asked)


def _rank_questions(job: AIFeedbackJob, todo: list[int]) -> tuple[list, dict[str, str]]:
    comparisons = Comparison.objects.select_related("prompt").prefetch_related(
        Prefetch("candidates", queryset=Candidate.objects.only("id", "content"))
    )
    found = comparisons.in_bulk(todo)
    guideline = _guideline_text(job)
    questions = [RankQuestion(found[i], guideline) for i in todo if i in found]
    return questions, {str(i): "No such comparison." for i in todo if i not in found}


class Revised:
    """A critique and a revision, waiting to be filed as an AI-made comparison."""

    def __init__(self, prompt: Prompt, reply: dict, principle: str, critique: str, revision: str):
        self.prompt, self.reply, self.principle = prompt, reply, principle
        self.critique, self.revision = critique, revision

    def store(self, job: AIFeedbackJob) -> int:
        # The prompt's row locked until the label is stored: two jobs (overlapping requests,
        # or a worker thought lost) cannot both find no critique and both file one.
        list(Prompt.objects.select_for_update().filter(pk=self.prompt.pk).values_list("pk"))
        earlier = AICritique.objects.filter(
            prompt=self.prompt, rater_name=job.rater_name, guideline_version=job.guideline_version
        ).first()
        if earlier is not None:
            return earlier.pk
        comparison = comparison_create(
            prompt=self.prompt,
            candidates=[
                {**self.reply["candidate"], "source": Candidate.Source.AI_CRITIQUED},
                {
                    "content": self.revision,
                    "model": job.rater_name,
                    "source": Candidate.Source.AI_REVISION,
                },
            ],
            overlap=max(job.overlap, 1),
            created_by=job.created_by,
            # A prompt an evaluation holds out stays out of training data, AI-made or not.
            evaluation=Comparison.objects.filter(prompt=self.prompt, evaluation=True).exists(),
        )
        if not job.overlap:
            Task.objects.filter(pk=comparison.task_id).update(status=Task.Status.CLOSED)
        reply, revision = sorted(comparison.candidates.all(), key=lambda c: c.pk)
        AIRanking.objects.create(
            comparison=comparison,
            job=job,
            rater_name=job.rater_name,
            guideline_version=job.guideline_version,
            ranking=[[revision.pk], [reply.pk]],
            pairs=[[revision.pk, reply.pk]],
            made=AIRanking.Made.REVISED,
        )
        return AICritique.objects.create(
            job=job,
            rater_name=job.rater_name,
            guideline_version=job.guideline_version,
            prompt=self.prompt,
            reply_kind=self.reply["kind"],
            reply_id=self.reply["id"],
            reply=self.reply["candidate"]["content"],
            principle=self.principle[:300],
            critique=self.critique,
            revision=self.revision,
            comparison=comparison,
            revision_candidate=revision,
        ).pk


def reply_to_critique(prompt: Prompt) -> dict | None:
    """What a prompt's critique is of: its newest model draft, else its first candidate
    that is not an AI revision, else its newest demonstration (approved ones first)."""
    draft = Draft.objects.filter(prompt=prompt).order_by("-created_at", "-id").first()
    if draft is not None:
        return {
            "kind": AICritique.ReplyKind.DRAFT,
            "id": draft.pk,
            "candidate": {"content": draft.text, "model": draft.origin_name},
        }
    candidate = (
        Candidate.objects.filter(prompt=prompt)
        .exclude(source__in=AI_FEEDBACK_SOURCES)
        .order_by("id")
        .first()
    )
    if candidate is not None:
        return {
            "kind": AICritique.ReplyKind.CANDIDATE,
            "id": candidate.pk,
            "candidate": {
                "content": candidate.content,
                "model": candidate.model_name,
                "author": candidate.author,
            },
        }
    demonstration = (
        Demonstration.objects.filter(prompt=prompt).order_by(APPROVED_FIRST.desc(), "-id").first()
    )
    if demonstration is None:
        return None
    return {
        "kind": AICritique.ReplyKind.DEMONSTRATION,
        "id": demonstration.pk,
        # Whoever wrote it never ranks the pair.
        "candidate": {"content": demonstration.content, "author": demonstration.author},
    }


def principle_for(job: AIFeedbackJob, prompt_id: int, sections: dict[str, str]) -> tuple[str, str]:
    """(heading, text) of the principle a prompt's reply is critiqued against: one of the
    job's sections (or of all the guideline's, `sections`), drawn by the prompt, the same on
    a retry."""
    headings = job.sections or list(sections)
    digest = hashlib.sha256(f"{job.guideline_version_id}:{prompt_id}".encode()).digest()
    heading = headings[int.from_bytes(digest[:4], "big") % len(headings)]
    return heading, sections[heading]


class CritiqueQuestion:
    """A prompt's reply to critique against one principle, read beforehand."""

    def __init__(self, prompt: Prompt, reply: dict, heading: str, principle: str):
        self.item, self.prompt, self.reply = prompt.pk, prompt, reply
        self.heading, self.principle = heading, principle

    def asked(self, rater: Rater) -> Revised:
        content = self.reply["candidate"]["content"]
        messages = self.prompt.messages
        critique = rater.chat(
            critique_messages(self.principle, messages, content), CRITIQUE_MAX_TOKENS
        ).strip()
        if not critique:
            raise UnreadableAnswer("the critique is empty")
        revision = rater.chat(
            revision_messages(self.principle, messages, content, critique), REVISION_MAX_TOKENS
        ).strip()
        if not revision:
            raise UnreadableAnswer("the revision is empty")
        if revision == content.strip():
            raise UnreadableAnswer("the revision is the reply unchanged")
        return Revised(self.prompt, self.reply, self.heading, critique, revision)


def _critique_questions(job: AIFeedbackJob, todo: list[int]) -> tuple[list, dict[str, str]]:
    prompts = Prompt.objects.in_bulk(todo)
    sections = guideline_sections(job.guideline_version.body)
    questions, unready = [], {}
    for prompt_id in todo:
        prompt = prompts.get(prompt_id)
        reply = reply_to_critique(prompt) if prompt is not None else None
        if reply is None:
            unready[str(prompt_id)] = "The prompt has no draft, candidate or demonstration."
            continue
        questions.append(CritiqueQuestion(prompt, reply, *principle_for(job, prompt_id, sections)))
    return questions, unready
