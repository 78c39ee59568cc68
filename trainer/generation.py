"""Sampling new candidates from a policy model version, model sources or both, and filing
each prompt's set for ranking. The model version answers through the inference process's
/v1 (trainer.reply_sampling), so a generation never loads it in a worker."""

from __future__ import annotations

import logging
import random

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.errors import InputError
from jobs.models import JobStatus
from jobs.services import Attempt, job_execute, job_send
from labeling.models import Prompt
from rankings.models import AI_FEEDBACK_SOURCES, Candidate
from rankings.services import MAX_OVERLAP, comparison_create
from sources.models import ModelSource
from trainer.best_of import BestOf, ScoringFailed, best_of_checked, job_shares, origin_shares
from trainer.ml.methods import POLICY
from trainer.ml.sampling import MAX_TEMPERATURE, MAX_TOTAL_TOKENS
from trainer.models import GenerationJob, ModelVersion
from trainer.priorities import scoring_send
from trainer.reply_sampling import ReplySampling, SamplingFailed, origins_of

logger = logging.getLogger(__name__)

MAX_PROMPTS = 1000
DEFAULT_PROMPTS = 20


def _model_for(model: ModelVersion | None) -> ModelVersion:
    if model is None:
        # The one promoted policy, of whichever method made it (SFT, DPO).
        model = ModelVersion.objects.promoted(POLICY)
        if model is None:
            raise InputError(
                "model", "No policy (SFT, DPO or RL model) is promoted: promote one first."
            )
    if model.produces != POLICY:
        raise InputError(
            "model", "Candidates are sampled from an SFT model or another policy model (DPO)."
        )
    return model


def prompts_chosen(
    *,
    prompt_ids: list[int] | None,
    filters: dict | None,
    already: Exists,
    nothing_left: str,
) -> list[int]:
    """The prompts asked for by id, or the first `limit` prompts (optionally of one
    guideline or category) for which `already` is false: those with nothing from this
    model yet."""
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
    prompts = Prompt.objects.exclude(already)
    if filters.get("guideline"):
        prompts = prompts.filter(guideline__slug=filters["guideline"])
    if filters.get("category"):
        prompts = prompts.filter(category=filters["category"])
    chosen = list(prompts.order_by("pk").values_list("pk", flat=True)[:limit])
    if not chosen:
        raise InputError("filters", nothing_left)
    return chosen


def generation_create(
    *,
    model: ModelVersion | None = None,
    source: ModelSource | None = None,
    sources: list[dict] | None = None,
    prompt_ids: list[int] | None = None,
    filters: dict | None = None,
    k: int = 4,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    overlap: int = 3,
    best_of: int | None = None,
    created_by=None,
) -> GenerationJob:
    """K candidates per prompt from a model version (the promoted one unless named), or
    from a model source (`source`, K from it alone), or a mix: `model` with K plus
    each of `sources` ({"source": ModelSource, "k": n}) with its own n; `sources` without
    `model` means the sources alone. With `best_of` n, each origin samples its share of n
    (trainer.best_of.shares) and the promoted reward model keeps the K it scores highest."""
    from trainer.ml.sampling import Sampling

    if source is not None and (model is not None or sources):
        raise InputError(
            "source", 'Give "source" alone; mix a model and sources with "model" and "sources".'
        )
    entries = [{"source": source, "k": k}] if source is not None else list(sources or [])
    for entry in entries:
        if type(entry.get("k")) is not int or not 1 <= entry["k"] <= 9:
            raise InputError("sources.k", "Between 1 and 9 candidates from each source.")
    # Our own model answers too unless only sources were named.
    model = _model_for(model) if model is not None or not entries else None
    model_k = k if model is not None else 0
    if type(k) is not int or (model is not None and k < 1):
        raise InputError("k", "At least 1 candidate per prompt from the model version.")
    total = model_k + sum(e["k"] for e in entries)
    if not 2 <= total <= 9:
        raise InputError("k", "Between 2 and 9 candidates per prompt, all models together.")
    try:
        Sampling(k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise InputError(field, str(exc)) from exc
    if type(overlap) is not int or not 1 <= overlap <= MAX_OVERLAP:
        raise InputError("overlap", f"Between 1 and {MAX_OVERLAP} raters.")
    reward_model = best_of_checked(best_of, total) if best_of is not None else None
    if model is not None:
        share, _ = origin_shares(model_k, [e["k"] for e in entries], best_of)
        served_checked(share, temperature=temperature, max_new_tokens=max_new_tokens)
    names = ([model.name] if model is not None else []) + [e["source"].label for e in entries]
    chosen = prompts_chosen(
        prompt_ids=prompt_ids,
        filters=filters,
        already=Exists(
            Candidate.objects.filter(prompt=OuterRef("pk"), model_name__in=names).exclude(
                source__in=AI_FEEDBACK_SOURCES
            )
        ),
        nothing_left="No prompt matches that has no candidate from it.",
    )
    with transaction.atomic():
        job = GenerationJob.objects.create(
            model=model,
            prompts=chosen,
            k=model_k,
            sources=[
                {"source": e["source"].pk, "name": e["source"].name, "k": e["k"]} for e in entries
            ],
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            overlap=overlap,
            best_of=best_of,
            reward_model=reward_model,
            created_by=created_by,
        )
        job_send(job)
    return job


def served_checked(n: int, *, temperature: float, max_new_tokens: int) -> None:
    """The model version's replies come from /v1, n to a request: what /v1 would refuse
    is refused here, before the job is queued, rather than failing every prompt."""
    if temperature > MAX_TEMPERATURE:
        raise InputError("temperature", f"At most {MAX_TEMPERATURE:g} for a model version.")
    if n * max_new_tokens > MAX_TOTAL_TOKENS:
        raise InputError(
            "max_new_tokens",
            f"At most {MAX_TOTAL_TOKENS // n:,} with {n} replies per prompt from the model "
            f"version ({MAX_TOTAL_TOKENS:,} tokens in all).",
        )


def generation_run(*, job_id: int) -> GenerationJob | None:
    """Sample and file every prompt not filed yet; None when another worker holds it."""
    return job_execute(GenerationJob, job_id, _generate)


def job_seed(job_id: int, prompt_id: int) -> int:
    """Seeded per job and prompt: a retried job samples the same replies again."""
    return job_id * 100_003 + prompt_id


def _seed(job: GenerationJob, prompt_id: int) -> int:
    return job_seed(job.pk, prompt_id)


def finish_listing_failures(
    attempt: Attempt, *, tried: bool, succeeded: bool, failures: dict[str, str], nothing: str
) -> None:
    """The end of a job that goes prompt by prompt and records each prompt's failure:
    cancelled if asked; failed when it tried prompts and none worked (`nothing`, with the
    first failure); else succeeded, with whatever failed listed on the job."""
    if attempt.rows().filter(cancel_requested=True).exists():
        attempt.finish(status=JobStatus.CANCELLED)
    elif tried and not succeeded:
        first = next(iter(failures.values()), "")
        attempt.finish(status=JobStatus.FAILED, error=f"{nothing}: {first}")
    else:
        attempt.finish(status=JobStatus.SUCCEEDED)


def _generate(attempt: Attempt) -> None:
    job = GenerationJob.objects.select_related("model", "reward_model").get(pk=attempt.pk)
    rows = attempt.rows()
    model_share, source_shares = job_shares(job)
    chooser = BestOf.of(job) if job.best_of else None
    filed, failures, rewards = dict(job.filed), dict(job.failures), dict(job.rewards)
    prompts = Prompt.objects.in_bulk(job.prompts)
    todo = [p for p in job.prompts if str(p) not in filed and p in prompts]
    with ReplySampling(
        origins_of(job.model, model_share, source_shares),
        {p: prompts[p].messages for p in todo},
        seed_of=lambda p: _seed(job, p),
        temperature=job.temperature,
        top_p=job.top_p,
        max_tokens=job.max_new_tokens,
    ) as sampling:
        for prompt_id in todo:
            if attempt.should_stop():
                break
            try:
                replies = sampling.replies(prompt_id)
                if chooser is not None:
                    replies, rewards[str(prompt_id)] = chooser.choose(
                        prompts[prompt_id].messages, [(_clean(t), name) for t, name in replies]
                    )
            except (SamplingFailed, ScoringFailed) as exc:
                logger.warning("generation %s: prompt %s: %s", job.pk, prompt_id, exc)
                failures[str(prompt_id)] = str(exc)
                if not rows.update(failures=failures, heartbeat_at=timezone.now()):
                    raise attempt.lost() from None
                continue
            with transaction.atomic():
                failures.pop(str(prompt_id), None)
                filed[str(prompt_id)] = _file(
                    job, prompts[prompt_id], replies, sampling.seeds(prompt_id)
                )
                if not rows.update(
                    filed=filed, failures=failures, rewards=rewards, heartbeat_at=timezone.now()
                ):
                    # Rolls this prompt's comparison back: the job's new holder files it.
                    raise attempt.lost()
    finish_listing_failures(
        attempt,
        tried=bool(todo),
        succeeded=bool(filed),
        failures=failures,
        nothing="Nothing was filed",
    )
    if filed:
        scoring_send()  # the new comparisons' place in the queue, from the reward model


def _file(
    job: GenerationJob, prompt: Prompt, replies: list[tuple[str, str]], seeds: dict[str, int]
) -> int:
    """One comparison of the prompt's different replies, in an order of their own, so no
    position says which model wrote what; 0 when fewer than two differ. Each candidate
    keeps the seed its origin sampled it with (`seeds`, by origin label)."""
    seed = _seed(job, prompt.pk)
    unique: dict[str, str] = {}
    for text, name in replies:
        text = _clean(text)
        if text and text not in unique:
            unique[text] = name
    if len(unique) < 2:
        return 0
    candidates = [
        {
            "content": text,
            "model": name,
            "sampling": {"temperature": job.temperature, "top_p": job.top_p, "seed": seeds[name]},
        }
        for text, name in unique.items()
    ]
    random.Random(seed).shuffle(candidates)
    try:
        comparison = comparison_create(
            prompt=prompt,
            candidates=candidates,
            overlap=job.overlap,
            created_by=job.created_by,
            source=Candidate.Source.GENERATED,
        )
    except InputError as exc:
        logger.warning("prompt %s: replies not filed: %s", prompt.pk, exc)
        return 0
    return comparison.pk


def _clean(text: str) -> str:
    # A byte-level model can sample a NUL, which PostgreSQL's text cannot hold.
    return text.replace("\x00", "")
