"""Sampling new candidates from an SFT model version and filing them for ranking."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.errors import InputError
from jobs.models import JobStatus
from jobs.services import Attempt, job_execute, job_send
from labeling.models import Prompt
from rankings.models import Candidate
from rankings.services import MAX_OVERLAP, comparison_create
from trainer.ml.methods import POLICY, method_kinds_producing
from trainer.models import GenerationJob, ModelVersion

logger = logging.getLogger(__name__)

MAX_PROMPTS = 1000
DEFAULT_PROMPTS = 20


def _model_for(model: ModelVersion | None) -> ModelVersion:
    if model is None:
        # Of any method that makes a policy; each method's newest promotion first.
        model = ModelVersion.objects.filter(
            kind__in=method_kinds_producing(POLICY), promoted=True
        ).first()
        if model is None:
            raise InputError("model", "No SFT model is promoted: promote one first.")
    if model.produces != POLICY:
        raise InputError(
            "model", "Candidates are sampled from an SFT model or another policy model."
        )
    return model


def prompts_chosen(
    *, model: ModelVersion, prompt_ids: list[int] | None, filters: dict | None
) -> list[int]:
    """The prompts asked for by id, or the first `limit` prompts (optionally of one
    guideline or category) that have no candidate from this model yet."""
    if prompt_ids is not None:
        if not prompt_ids or len(prompt_ids) > MAX_PROMPTS:
            raise InputError("prompts", f"Between 1 and {MAX_PROMPTS} prompt ids.")
        found = set(Prompt.objects.filter(pk__in=prompt_ids).values_list("pk", flat=True))
        missing = [p for p in prompt_ids if p not in found]
        if missing:
            raise InputError("prompts", f"No prompt {missing[0]}.")
        return list(dict.fromkeys(prompt_ids))
    filters = filters or {}
    limit = filters.get("limit", DEFAULT_PROMPTS)
    if type(limit) is not int or not 1 <= limit <= MAX_PROMPTS:
        raise InputError("filters.limit", f"Between 1 and {MAX_PROMPTS}.")
    prompts = Prompt.objects.exclude(
        Exists(Candidate.objects.filter(prompt=OuterRef("pk"), model_name=model.name))
    )
    if filters.get("guideline"):
        prompts = prompts.filter(guideline__slug=filters["guideline"])
    if filters.get("category"):
        prompts = prompts.filter(category=filters["category"])
    chosen = list(prompts.order_by("pk").values_list("pk", flat=True)[:limit])
    if not chosen:
        raise InputError("filters", "No prompt matches that has no candidate from it.")
    return chosen


def generation_create(
    *,
    model: ModelVersion | None = None,
    prompt_ids: list[int] | None = None,
    filters: dict | None = None,
    k: int = 4,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    overlap: int = 3,
    created_by=None,
) -> GenerationJob:
    from trainer.ml.sampling import Sampling

    model = _model_for(model)
    if type(k) is not int or not 2 <= k <= 9:
        raise InputError("k", "Between 2 and 9 candidates per prompt.")
    try:
        Sampling(k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise InputError(field, str(exc)) from exc
    if type(overlap) is not int or not 1 <= overlap <= MAX_OVERLAP:
        raise InputError("overlap", f"Between 1 and {MAX_OVERLAP} raters.")
    chosen = prompts_chosen(model=model, prompt_ids=prompt_ids, filters=filters)
    with transaction.atomic():
        job = GenerationJob.objects.create(
            model=model,
            prompts=chosen,
            k=k,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            overlap=overlap,
            created_by=created_by,
        )
        job_send(job)
    return job


def generation_run(*, job_id: int) -> GenerationJob | None:
    """Sample and file every prompt not filed yet; None when another worker holds it."""
    return job_execute(GenerationJob, job_id, _generate)


def _generate(attempt: Attempt) -> None:
    from trainer.ml.generate import Generator, Sampling

    job = GenerationJob.objects.select_related("model").get(pk=attempt.pk)
    rows = attempt.rows()
    generator = Generator(f"{settings.DATA_DIR}/{job.model.path}")
    filed = dict(job.filed)
    prompts = Prompt.objects.in_bulk(job.prompts)
    for prompt_id in job.prompts:
        if attempt.should_stop():
            break
        if str(prompt_id) in filed or prompt_id not in prompts:
            continue
        prompt = prompts[prompt_id]
        # Seeded per job and prompt: a retried job samples the same replies again.
        sampling = Sampling(
            k=job.k,
            temperature=job.temperature,
            top_p=job.top_p,
            max_new_tokens=job.max_new_tokens,
            seed=job.pk * 100_003 + prompt_id,
        )
        # A byte-level model can sample a NUL, which PostgreSQL's text cannot hold.
        sampled = (r.replace("\x00", "") for r in generator.sample(prompt.messages, sampling))
        replies = [r for r in dict.fromkeys(sampled) if r]
        settings_used = {"temperature": job.temperature, "top_p": job.top_p, "seed": sampling.seed}
        with transaction.atomic():
            comparison_id = 0  # fewer than two different replies: nothing to rank
            if len(replies) >= 2:
                try:
                    comparison = comparison_create(
                        prompt=prompt,
                        candidates=[
                            {"content": r, "model": job.model.name, "sampling": settings_used}
                            for r in replies
                        ],
                        overlap=job.overlap,
                        created_by=job.created_by,
                        source=Candidate.Source.GENERATED,
                    )
                    comparison_id = comparison.pk
                except InputError as exc:
                    logger.warning("prompt %s: replies not filed: %s", prompt_id, exc)
            filed[str(prompt_id)] = comparison_id
            if not rows.update(filed=filed, heartbeat_at=timezone.now()):
                # Rolls this prompt's comparison back: the job's new holder files it.
                raise attempt.lost()
    cancelled = rows.filter(cancel_requested=True).exists()
    attempt.finish(status=JobStatus.CANCELLED if cancelled else JobStatus.SUCCEEDED)
