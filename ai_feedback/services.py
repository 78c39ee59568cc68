"""Asking for AI feedback: which rater, under which guideline version, over which
comparisons or prompts. The job itself runs in ai_feedback.rating."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from ai_feedback.models import AICritique, AIFeedbackJob, AIRanking
from ai_feedback.prompts import guideline_sections
from config.errors import InputError
from guidelines.models import Guideline, GuidelineVersion
from guidelines.selectors import version_current_published
from jobs.models import JobStatus
from jobs.services import job_send
from labeling.models import Demonstration, Draft, Prompt
from rankings.models import AI_FEEDBACK_SOURCES, Candidate, Comparison
from rankings.services import MAX_OVERLAP
from sources.models import ModelSource
from trainer.ml.methods import POLICY
from trainer.models import ModelVersion

MAX_ITEMS = 1000
DEFAULT_ITEMS = 100
KINDS = AIFeedbackJob.Kind


def _version_of(slug: object) -> GuidelineVersion:
    if not isinstance(slug, str) or not slug:
        raise InputError("guideline", "The slug of the guideline the rater judges by.")
    guideline = Guideline.objects.filter(slug=slug).first()
    if guideline is None:
        raise InputError("guideline", f"No guideline {slug!r}.")
    version = version_current_published(guideline=guideline)
    if version is None:
        raise InputError("guideline", f"The guideline {slug!r} has no published version.")
    return version


def _sections_checked(version: GuidelineVersion, sections: object) -> list[str]:
    if sections is None:
        return []
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise InputError("sections", "A list of the guideline's section headings.")
    known = guideline_sections(version.body)
    for heading in sections:
        if heading not in known:
            raise InputError("sections", f"{version} has no section {heading!r}.")
    return list(dict.fromkeys(sections))


def _limit_of(filters: dict) -> int:
    limit = filters.get("limit", DEFAULT_ITEMS)
    if type(limit) is not int or not 1 <= limit <= MAX_ITEMS:
        raise InputError("filters.limit", f"Between 1 and {MAX_ITEMS}.")
    return limit


def _ids_checked(ids: object, field: str, found: QuerySet, what: str) -> list[int]:
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_ITEMS:
        raise InputError(field, f"Between 1 and {MAX_ITEMS} {what} ids.")
    if not all(type(i) is int and i > 0 for i in ids):
        raise InputError(field, f"{what.capitalize()} ids are positive whole numbers.")
    present = set(found.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in present]
    if missing:
        raise InputError(field, f"No {what} {missing[0]} under this guideline.")
    return list(dict.fromkeys(ids))


def comparisons_for_rating(version: GuidelineVersion, rater_name: str) -> QuerySet[Comparison]:
    """The comparisons of the version's guideline that this rater has not ranked under it
    and that are not AI-made (those carry their rater's preference already)."""
    return (
        Comparison.objects.filter(prompt__guideline_id=version.guideline_id)
        .filter(ai_critique__isnull=True)
        .exclude(
            Exists(
                AIRanking.objects.filter(
                    comparison=OuterRef("pk"), rater_name=rater_name, guideline_version=version
                )
            )
        )
    )


def prompts_for_critique(version: GuidelineVersion, rater_name: str) -> QuerySet[Prompt]:
    """The prompts of the version's guideline with a reply to critique and no critique from
    this rater under it."""
    has_reply = (
        Q(Exists(Draft.objects.filter(prompt=OuterRef("pk"))))
        | Q(
            Exists(
                Candidate.objects.filter(prompt=OuterRef("pk")).exclude(
                    source__in=AI_FEEDBACK_SOURCES
                )
            )
        )
        | Q(Exists(Demonstration.objects.filter(prompt=OuterRef("pk"))))
    )
    return (
        Prompt.objects.filter(guideline_id=version.guideline_id)
        .filter(has_reply)
        .exclude(
            Exists(
                AICritique.objects.filter(
                    prompt=OuterRef("pk"), rater_name=rater_name, guideline_version=version
                )
            )
        )
    )


def rater_name_of(model: ModelVersion | None, source: ModelSource | None) -> str:
    """The name on an AI rater's labels: a model version's name, or `source:<name>/<model>`,
    as a source switched to another model is another rater."""
    if model is not None:
        return model.name
    return f"{source.label}/{source.model}"  # type: ignore[union-attr]


def _items_chosen(
    kind: str, version: GuidelineVersion, rater_name: str, ids: object, filters: object
) -> list[int]:
    rank = kind == KINDS.RANK
    field = "comparisons" if rank else "prompts"
    of_guideline: QuerySet = (
        Comparison.objects.filter(prompt__guideline_id=version.guideline_id)
        if rank
        else Prompt.objects.filter(guideline_id=version.guideline_id)
    )
    if ids is not None:
        return _ids_checked(ids, field, of_guideline, field[:-1])
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise InputError("filters", 'An object, such as {"limit": 50}.')
    unknown = set(filters) - {"limit", "category"}
    if unknown:
        raise InputError("filters", f"Unknown filter {sorted(unknown)[0]!r}: limit, category.")
    todo = (
        comparisons_for_rating(version, rater_name)
        if rank
        else prompts_for_critique(version, rater_name)
    )
    if filters.get("category"):
        path = "prompt__category" if rank else "category"
        todo = todo.filter(**{path: filters["category"]})
    chosen = list(todo.order_by("pk").values_list("pk", flat=True)[: _limit_of(filters)])
    if not chosen:
        raise InputError("filters", f"Nothing under {version} is left for {rater_name}.")
    return chosen


def ai_feedback_create(
    *,
    kind: str,
    guideline: object,
    source: ModelSource | None = None,
    model: ModelVersion | None = None,
    comparisons: object = None,
    prompts: object = None,
    filters: object = None,
    sections: object = None,
    overlap: object = 0,
    created_by=None,
) -> AIFeedbackJob:
    """Queue an AI rater's job; the same job asked again while it waits is the one job."""
    if kind not in KINDS.values:
        raise InputError("kind", f"One of {', '.join(KINDS.values)}.")
    if (model is None) == (source is None):
        raise InputError("source", 'Give "source" (a model source) or "model" (a model version).')
    if model is not None and model.produces != POLICY:
        raise InputError("model", "An AI rater is a generative model: SFT, DPO or RL.")
    ids = comparisons if kind == KINDS.RANK else prompts
    wrong, right = ("prompts", "comparisons") if kind == KINDS.RANK else ("comparisons", "prompts")
    if (prompts if kind == KINDS.RANK else comparisons) is not None:
        raise InputError(wrong, f"A {kind} job takes {right}.")
    if type(overlap) is not int or not 0 <= overlap <= MAX_OVERLAP:
        raise InputError("overlap", f"Between 0 (kept out of the queue) and {MAX_OVERLAP}.")
    if overlap and kind == KINDS.RANK:
        raise InputError("overlap", "Only critique_revise files comparisons.")
    version = _version_of(guideline)
    chosen_sections = _sections_checked(version, sections)
    if kind == KINDS.CRITIQUE_REVISE and not (chosen_sections or guideline_sections(version.body)):
        raise InputError("guideline", f"{version} has no sections (headings) to use as principles.")
    rater_name = rater_name_of(model, source)
    items = _items_chosen(kind, version, rater_name, ids, filters)
    with transaction.atomic():
        # The version's row locked: two submits of one form at once take turns, and the
        # second finds the first's job rather than asking the rater everything twice.
        list(GuidelineVersion.objects.select_for_update().filter(pk=version.pk).values_list("pk"))
        waiting = AIFeedbackJob.objects.filter(
            kind=kind,
            rater_name=rater_name,
            guideline_version=version,
            overlap=overlap,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        for job in waiting:
            if job.items == items and job.sections == chosen_sections:
                return job
        job = AIFeedbackJob.objects.create(
            kind=kind,
            source=source,
            model=model,
            rater_name=rater_name,
            guideline_version=version,
            sections=chosen_sections,
            items=items,
            overlap=overlap,
            created_by=created_by,
        )
        job_send(job)
    return job
