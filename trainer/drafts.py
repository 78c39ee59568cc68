"""Model drafts for labelers: one reply per prompt from a model version of the platform
(asked of the inference process over /v1) or from a model source (over HTTP,
`max_concurrency` requests at once), each stored as a labeling Draft. A prompt that fails
is recorded on the job with why; the job still finishes with the drafts that worked.

Drafts jobs run on a queue of their own (`drafts`): they only wait on HTTP, and a
labeler's drafts should never wait behind a training run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.errors import InputError
from jobs.services import Attempt, job_error_text, job_execute, job_send
from labeling.drafts import draft_create
from labeling.models import Draft, Prompt
from sources.client import in_flight
from sources.models import ModelSource
from trainer.generation import finish_listing_failures, job_seed, prompts_chosen
from trainer.ml.methods import POLICY
from trainer.models import DraftJob, ModelVersion
from trainer.reply_sampling import model_origin, source_origin

logger = logging.getLogger(__name__)

# What a prompt's outcome is, once its sampling ended: its text, or the error.
Outcome = tuple[int, str | None, Exception | None]


def drafts_create(
    *,
    model: ModelVersion | None = None,
    source: ModelSource | None = None,
    prompt_ids: list[int] | None = None,
    filters: dict | None = None,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = 256,
    created_by=None,
) -> DraftJob:
    if (model is None) == (source is None):
        raise InputError("source", 'Give "source" (a model source) or "model" (a model version).')
    if model is not None and model.produces != POLICY:
        raise InputError("model", "Drafts come from an SFT model or another policy model.")
    if isinstance(temperature, bool) or not 0.0 <= temperature <= 2.0:
        raise InputError("temperature", "Between 0 and 2.")
    if isinstance(top_p, bool) or not 0.0 < top_p <= 1.0:
        raise InputError("top_p", "Above 0, at most 1.")
    if type(max_new_tokens) is not int or not 1 <= max_new_tokens <= 4096:
        raise InputError("max_new_tokens", "Between 1 and 4096.")
    origin_name = model.name if model is not None else source.label  # type: ignore[union-attr]
    chosen = prompts_chosen(
        prompt_ids=prompt_ids,
        filters=filters,
        already=Exists(Draft.objects.filter(prompt=OuterRef("pk"), origin_name=origin_name)),
        nothing_left="No prompt matches that has no draft from it.",
    )
    with transaction.atomic():
        job = DraftJob.objects.create(
            model=model,
            source=source,
            origin_name=origin_name,
            prompts=chosen,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            created_by=created_by,
        )
        job_send(job)
    return job


def drafts_run(*, job_id: int) -> DraftJob | None:
    """Draft every prompt without one yet; None when another worker holds the job."""
    return job_execute(DraftJob, job_id, _draft)


def _draft(attempt: Attempt) -> None:
    job = DraftJob.objects.select_related("model", "source").get(pk=attempt.pk)
    if job.model is None and job.source is None:
        raise InputError("source", f"The source {job.origin_name} was deleted.")
    rows = attempt.rows()
    made, failures = dict(job.made), dict(job.failures)
    prompts = Prompt.objects.in_bulk(job.prompts)
    todo = [p for p in job.prompts if str(p) not in made and p in prompts]
    origin = Draft.Origin.MODEL if job.model is not None else Draft.Origin.SOURCE
    for prompt_id, text, error in _drafts_asked(job, prompts, todo, attempt.should_stop):
        with transaction.atomic():
            earlier = _draft_from(job.origin_name, prompt_id) if error is None else None
            if earlier is not None:
                # Another job from the same origin (a double submit, or overlapping
                # requests) drafted this prompt first: its draft stands for this one.
                made[str(prompt_id)] = earlier
                failures.pop(str(prompt_id), None)
            elif error is None:
                try:
                    draft = draft_create(
                        prompt=prompts[prompt_id],
                        text=text or "",
                        origin=origin,
                        origin_name=job.origin_name,
                    )
                except InputError as exc:  # an empty reply, or one over the length limit
                    error = exc
                else:
                    made[str(prompt_id)] = draft.pk
                    failures.pop(str(prompt_id), None)
            if error is not None:
                logger.warning("drafts %s: prompt %s: %s", job.pk, prompt_id, error)
                failures[str(prompt_id)] = job_error_text(error)
            if not rows.update(made=made, failures=failures, heartbeat_at=timezone.now()):
                raise attempt.lost()
    finish_listing_failures(
        attempt,
        tried=bool(todo),
        succeeded=bool(made),
        failures=failures,
        nothing="No draft was made",
    )


def _draft_from(origin_name: str, prompt_id: int) -> int | None:
    """The id of the prompt's draft from `origin_name`, if it has one. The prompt's row is
    locked until the caller's transaction ends, so two jobs cannot both find none."""
    list(Prompt.objects.select_for_update().filter(pk=prompt_id).values_list("pk"))
    return (
        Draft.objects.filter(prompt_id=prompt_id, origin_name=origin_name)
        .values_list("pk", flat=True)
        .first()
    )


def _drafts_asked(
    job: DraftJob, prompts: dict[int, Prompt], todo: list[int], should_stop: Callable[[], bool]
) -> Iterator[Outcome]:
    """Each prompt's reply, as its request ends. A model version answers through the
    inference process's /v1 (sources.own_server), a source through its own server: the
    same client and the same requests in flight either way."""
    origin = (
        model_origin(job.model, 1) if job.model is not None else source_origin(job.source, 1)  # type: ignore[arg-type]
    )

    def ask(prompt_id: int) -> str:
        return origin.client.replies(
            prompts[prompt_id].messages,
            k=1,
            seed=job_seed(job.pk, prompt_id),
            temperature=job.temperature,
            top_p=job.top_p,
            max_tokens=job.max_new_tokens,
        )[0]

    yield from in_flight(ask, todo, at_once=origin.at_once, should_stop=should_stop)
