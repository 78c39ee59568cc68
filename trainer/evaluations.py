"""Evaluations: is a model version better than its baseline? Both answer the same
prompts through the inference process's /v1 (one fixed seed, the same for both and for
every rerun), then a judge compares each pair of replies:

- "reward": the reward model promoted when the evaluation was asked for scores both, in
  the inference process too;
- a model source: an AI judge asked in both orders (trainer.evaluation_judges);
- "human": blind side-by-side comparisons in the ranking queue, counted as they are
  ranked (trainer.evaluation_results).

By default the prompts are held out: none of them is in the training split of the data
either model (or a model it was trained from) learned from."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import InputError
from jobs.models import JobStatus
from jobs.services import Attempt, job_error_text, job_execute, job_send
from labeling.models import Prompt
from labeling.services import prompt_content_hash
from rankings.services import MAX_OVERLAP
from sources.client import in_flight
from sources.models import ModelSource
from trainer.evaluation_judges import EVALUATION_SEED, JUDGES, SIDES
from trainer.generation import (
    MAX_PROMPTS,
    finish_listing_failures,
    prompts_chosen,
    served_checked,
)
from trainer.ml.methods import POLICY, REWARD
from trainer.ml.sampling import Sampling
from trainer.models import EvaluationJob, ModelVersion
from trainer.reply_sampling import model_origin

logger = logging.getLogger(__name__)

DEFAULT_PROMPTS = 50


def _generative(version: ModelVersion, field: str) -> ModelVersion:
    if version.produces != POLICY:
        raise InputError(
            field, f"{version.name} does not answer prompts: choose an SFT or policy model."
        )
    return version


def _judge(judge: object) -> tuple[str, ModelVersion | None, ModelSource | None, str]:
    """(kind, reward model, source, name) of the judge asked for."""
    if judge == EvaluationJob.Judge.HUMAN:
        return EvaluationJob.Judge.HUMAN, None, None, "human"
    if judge == EvaluationJob.Judge.REWARD:
        reward_model = ModelVersion.objects.promoted(REWARD)
        if reward_model is None:
            raise InputError("judge", "No reward model is promoted: promote one to judge with it.")
        return EvaluationJob.Judge.REWARD, reward_model, None, reward_model.name
    if type(judge) is int:
        # Beyond a database integer no source can have the id (and the query would fail).
        source = ModelSource.objects.filter(pk=judge).first() if 0 < judge < 2**63 else None
        if source is None:
            raise InputError("judge", f"No model source {judge}.")
        return EvaluationJob.Judge.SOURCE, None, source, source.label
    raise InputError("judge", '"reward", "human" or the id of a model source.')


def _snapshot_prompts(path: Path) -> Iterator[list[dict[str, str]]]:
    """The prompt of every row of a snapshot file: SFT rows hold it as all messages but
    the reply, the preference kinds under "prompt"."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                yield row.get("prompt") or row.get("messages", [])[:-1]


def trained_on(versions: list[ModelVersion]) -> set[str]:
    """Content hashes of the prompts in the training splits the versions learned from; an
    InputError when a split's file is missing."""
    hashes: set[str] = set()
    snapshots = {v.snapshot_id: v.snapshot for v in versions if v.snapshot_id}
    for snapshot in snapshots.values():
        train = (snapshot.files or {}).get("train")
        path = Path(settings.DATA_DIR) / train if train else None
        if path is None or not path.is_file():
            # Taken as empty, its prompts would be offered as held out.
            raise InputError(
                "filters",
                f"Snapshot {snapshot.pk}'s training file is gone, so the prompts a model "
                "learned from are not known: give prompt ids or held_out false.",
            )
        for prompt in _snapshot_prompts(path):
            if prompt:
                hashes.add(prompt_content_hash(prompt))
    return hashes


def held_out_prompts(
    *, model: ModelVersion, baseline: ModelVersion, filters: dict | None
) -> list[int]:
    """The first `limit` prompts (of a guideline or category if asked) that no version in
    either model's lineage was trained on, in id order."""
    filters = filters or {}
    limit = filters.get("limit", DEFAULT_PROMPTS)
    if type(limit) is not int or not 1 <= limit <= MAX_PROMPTS:
        raise InputError("filters.limit", f"Between 1 and {MAX_PROMPTS}.")
    for name in ("guideline", "category"):
        if filters.get(name) is not None and not isinstance(filters[name], str):
            raise InputError(f"filters.{name}", "A slug, as text.")
    seen = trained_on(model.lineage() + baseline.lineage())
    prompts = Prompt.objects.order_by("pk")
    if filters.get("guideline"):
        prompts = prompts.filter(guideline__slug=filters["guideline"])
    if filters.get("category"):
        prompts = prompts.filter(category=filters["category"])
    chosen = []
    for pk, content_hash in prompts.values_list("pk", "content_hash").iterator(chunk_size=2000):
        if content_hash not in seen:
            chosen.append(pk)
            if len(chosen) == limit:
                break
    if not chosen:
        raise InputError("filters", "No prompt matches that either model was not trained on.")
    return chosen


def evaluation_create(
    *,
    model: ModelVersion,
    baseline: ModelVersion,
    judge: object,
    prompt_ids: list[int] | None = None,
    filters: dict | None = None,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    overlap: int = 1,
    created_by=None,
) -> EvaluationJob:
    """Queue `model` against `baseline` on the prompts given by id, or else on held-out
    prompts (`filters`: guideline, category, limit; `"held_out": false` takes any). The
    same evaluation asked for again while it waits or runs is that job, not a second."""
    _generative(model, "model")
    _generative(baseline, "baseline")
    kind, reward_model, source, judge_name = _judge(judge)
    try:
        Sampling(k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    except ValueError as exc:
        raise InputError(str(exc).split(" ", 1)[0], str(exc)) from exc
    served_checked(1, temperature=temperature, max_new_tokens=max_new_tokens)
    if type(overlap) is not int or not 1 <= overlap <= MAX_OVERLAP:
        raise InputError("overlap", f"Between 1 and {MAX_OVERLAP} raters per comparison.")
    if filters is not None and not isinstance(filters, dict):
        raise InputError("filters", "An object: guideline, category, limit, held_out.")
    if not isinstance((filters or {}).get("held_out", True), bool):
        # "false" as text would otherwise read as true: held-out prompts nobody asked for.
        raise InputError("filters.held_out", "true or false.")
    held_out = prompt_ids is None and (filters or {}).get("held_out", True) is not False
    if held_out:
        chosen = held_out_prompts(model=model, baseline=baseline, filters=filters)
    else:
        chosen = prompts_chosen(
            prompt_ids=prompt_ids,
            filters={k: v for k, v in (filters or {}).items() if k != "held_out"},
            already=Q(pk__in=[]),  # type: ignore[arg-type]  # excludes nothing
            nothing_left="No prompt matches.",
        )
    asked = {
        "model": model,
        "baseline": baseline,
        "judge": kind,
        "reward_model": reward_model,
        "judge_source": source,
        "held_out": held_out,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "overlap": overlap,
    }
    with transaction.atomic():
        # The model's row locked: two submits of one form at once take turns, and the
        # second finds the first's job rather than judging everything twice.
        list(ModelVersion.objects.select_for_update().filter(pk=model.pk).values_list("pk"))
        waiting = EvaluationJob.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING], **asked
        )
        for job in waiting:
            if job.prompts == chosen:
                return job
        job = EvaluationJob.objects.create(
            **asked, judge_name=judge_name, prompts=chosen, created_by=created_by
        )
        job_send(job)
    return job


def evaluation_run(*, job_id: int) -> EvaluationJob | None:
    """Answer, then judge, every prompt not done yet; None when another worker holds it."""
    return job_execute(EvaluationJob, job_id, _evaluate)


def _evaluate(attempt: Attempt) -> None:
    job = EvaluationJob.objects.select_related(
        "model", "baseline", "reward_model", "judge_source", "created_by"
    ).get(pk=attempt.pk)
    prompts = Prompt.objects.in_bulk(job.prompts)
    # Every attempt tries each unfinished prompt again and lists its own failures.
    replies, failures = dict(job.replies), {}
    for side in SIDES:
        if attempt.should_stop():
            break
        todo = [
            p
            for p in job.prompts
            if p in prompts and str(p) not in failures and side not in replies.get(str(p), {})
        ]
        if todo and side == "baseline" and job.baseline_id == job.model_id:
            _replies_shared(attempt, todo, replies)
        elif todo:
            _answer(attempt, job, side, prompts, todo, replies, failures)
    if not attempt.should_stop():
        JUDGES[job.judge](attempt, job, prompts, replies, failures)
    job.refresh_from_db(fields=["results", "filed", "failures"])
    finish_listing_failures(
        attempt,
        tried=bool(job.prompts),
        succeeded=bool(job.results or job.filed),
        failures=job.failures,
        nothing="No prompt was judged",
    )


def _replies_shared(attempt: Attempt, todo: list[int], replies: dict[str, dict[str, str]]) -> None:
    """A version against itself: its replies as the model are its replies as the baseline.
    Sampled once, they are the same exactly, as two samplings might not be where the
    requests a batch holds change its arithmetic (on a GPU)."""
    for prompt_id in todo:
        answered = replies.get(str(prompt_id), {})
        if "model" in answered:
            answered["baseline"] = answered["model"]
    if not attempt.rows().update(replies=replies, heartbeat_at=timezone.now()):
        raise attempt.lost()


def _answer(
    attempt: Attempt,
    job: EvaluationJob,
    side: str,
    prompts: dict[int, Prompt],
    todo: list[int],
    replies: dict[str, dict[str, str]],
    failures: dict[str, str],
) -> None:
    """One model's reply to each prompt in `todo`, asked of the inference process's /v1
    (8 at once, batched there with everyone else's requests), kept on the job as each
    comes."""
    version: ModelVersion = getattr(job, side)
    origin = model_origin(version, 1)
    rows = attempt.rows()

    def reply_to(prompt_id: int) -> str:
        completion = origin.client.chat(
            prompts[prompt_id].messages,
            temperature=job.temperature,
            top_p=job.top_p,
            max_tokens=job.max_new_tokens,
            seed=EVALUATION_SEED + prompt_id,
        )
        # A byte-level model can sample a NUL, which PostgreSQL's text cannot hold.
        return completion.replies[0].replace("\x00", "")

    for prompt_id, text, error in in_flight(
        reply_to, todo, at_once=origin.at_once, should_stop=attempt.should_stop
    ):
        key = str(prompt_id)
        if error is not None:  # one prompt's failure is recorded, the rest go on
            logger.warning("evaluation %s: prompt %s: %s", job.pk, prompt_id, error)
            failures[key] = f"{version.name}: {job_error_text(error)}"
            replies.pop(key, None)
        else:
            replies.setdefault(key, {})[side] = text
        if not rows.update(replies=replies, failures=failures, heartbeat_at=timezone.now()):
            raise attempt.lost()
