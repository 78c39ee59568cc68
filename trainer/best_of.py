"""Best-of-n generation: each prompt gets n replies from the job's origins (its model and
its sources), the promoted reward model scores them in the inference process, and the K
it scores highest become the comparison's candidates."""

from __future__ import annotations

import math

from config.errors import InputError
from sources.client import SourceError
from sources.own_server import own_scores
from trainer.ml.methods import REWARD
from trainer.models import GenerationJob, ModelVersion

# The most replies one prompt may get: what one sampling call (trainer.ml.sampling) and
# one /v1 request (its `n`) allow, so no origin's share has to be split across calls.
MAX_BEST_OF = 16


def best_of_checked(best_of: object, k: int) -> ModelVersion:
    """The reward model that will choose, once `best_of` is a number of replies from K
    (the candidates kept) to MAX_BEST_OF."""
    if type(best_of) is not int or not k <= best_of <= MAX_BEST_OF:
        raise InputError(
            "best_of", f"Between K ({k}, the candidates kept) and {MAX_BEST_OF} replies per prompt."
        )
    reward_model = ModelVersion.objects.promoted(REWARD)
    if reward_model is None:
        raise InputError("best_of", "No reward model is promoted: promote one to keep the best.")
    return reward_model


def shares(counts: list[int], best_of: int) -> list[int]:
    """How many of the n replies each origin samples: its K scaled by n / (all K), the
    remainder going to the largest fractions (the first origin on a tie). Each origin
    gets at least its K, so best-of-n never takes a reply source out of the running."""
    total = sum(counts)
    exact = [count * best_of / total for count in counts]
    given = [math.floor(x) for x in exact]
    by_fraction = sorted(range(len(counts)), key=lambda i: (given[i] - exact[i], i))
    for i in by_fraction[: best_of - sum(given)]:
        given[i] += 1
    return given


def origin_shares(k: int, source_ks: list[int], best_of: int | None) -> tuple[int, list[int]]:
    """The replies per prompt the model (its K `k`, 0 for none) and each source (its K
    in `source_ks`) are asked for: their K, or with best-of-n their shares of n."""
    if not best_of:
        return k, source_ks
    given = shares(([k] if k else []) + source_ks, best_of)
    return (given.pop(0) if k else 0), given


def job_shares(job: GenerationJob) -> tuple[int, list[dict]]:
    """The replies the job's model samples per prompt and its source entries with each
    one's `k` as it is asked."""
    model_share, given = origin_shares(job.k, [e["k"] for e in job.sources], job.best_of)
    return model_share, [{**entry, "k": n} for entry, n in zip(job.sources, given, strict=True)]


def kept_best(texts: list[str], rewards: list[float | None], k: int) -> list[int]:
    """The places of the k replies scored highest, one per distinct text (a reply
    sampled twice is kept once, so the next best distinct one gets its place) and never
    an empty (or whitespace-only) one or one the model could not score; fewer when fewer
    such replies exist.
    Equal rewards keep the earlier sampled."""
    order = sorted(
        # Blank is empty: a comparison refuses a whitespace-only candidate, and one kept
        # would leave the prompt with nothing filed.
        (i for i, reward in enumerate(rewards) if reward is not None and texts[i].strip()),
        key=lambda i: (-rewards[i], i),
    )
    kept: list[int] = []
    seen: set[str] = set()
    for i in order:
        if texts[i] not in seen:
            seen.add(texts[i])
            kept.append(i)
        if len(kept) == k:
            break
    return kept


def samples_record(
    replies: list[tuple[str, str]], rewards: list[float | None], kept: list[int]
) -> list[dict]:
    """Each reply as the job keeps it: its origin, reward and whether it was kept, and
    for one that could not be (`unfit`) why: empty, unscored, or a repeat of a reply
    sampled before it."""
    record: list[dict] = []
    seen: set[str] = set()
    for i, ((text, name), reward) in enumerate(zip(replies, rewards, strict=True)):
        entry: dict = {"model": name, "reward": reward, "kept": i in kept}
        if not text.strip():
            entry["unfit"] = "empty"
        elif reward is None:
            entry["unfit"] = "unscored"
        elif text in seen:
            entry["unfit"] = "repeat"
        seen.add(text)
        record.append(entry)
    return record


def reward_kept(reward: float) -> float | None:
    """A score as a job or comparison keeps it: JSON (and PostgreSQL's jsonb) holds no
    NaN, so a broken model's score is left out."""
    return round(reward, 6) if math.isfinite(reward) else None


class BestOf:
    """The job's reward model, asked over HTTP: the inference process loads it and scores
    (serving.scoring), so the worker holds no model."""

    def __init__(self, reward_model: ModelVersion, k: int):
        self.reward_model = reward_model
        self.k = k

    @classmethod
    def of(cls, job: GenerationJob) -> BestOf:
        """The job's reward model, keeping its K: the model's and every source's."""
        assert job.reward_model is not None  # kept while a job names it (PROTECT)
        return cls(job.reward_model, job.k + sum(entry["k"] for entry in job.sources))

    def choose(
        self, messages: list[dict[str, str]], replies: list[tuple[str, str]]
    ) -> tuple[list[tuple[str, str]], list[dict]]:
        """The replies kept, best first, and every reply's record for the job;
        ScoringFailed when the inference process could not score them."""
        texts = [text for text, _ in replies]
        try:
            scores = own_scores(self.reward_model.pk, [(messages, text) for text in texts])
        except SourceError as exc:
            raise ScoringFailed(f"{self.reward_model.name} scoring: {exc}") from exc
        rewards = [None if score is None else reward_kept(score) for score in scores]
        kept = kept_best(texts, rewards, self.k)
        return [replies[i] for i in kept], samples_record(replies, rewards, kept)


class ScoringFailed(Exception):
    """The reward model could not score a prompt's replies."""


def reward_figures(job: GenerationJob) -> dict[str, object]:
    """What a generation's page shows of best-of-n: the mean reward of every reply
    sampled and of those kept, overall and per prompt."""
    per_prompt = []
    for prompt_id, samples in job.rewards.items():
        scored = [s["reward"] for s in samples if s["reward"] is not None]
        kept = [s["reward"] for s in samples if s["kept"]]
        per_prompt.append(
            {
                "prompt": prompt_id,
                "sampled": len(samples),
                "kept": len(kept),
                "mean_sampled": sum(scored) / len(scored) if scored else None,
                "mean_kept": sum(kept) / len(kept) if kept else None,
            }
        )
    sampled, kept = job.reward_mean_sampled, job.reward_mean_kept
    return {
        "mean_sampled": sampled,
        "mean_kept": kept,
        "gain": kept - sampled if sampled is not None and kept is not None else None,
        "per_prompt": per_prompt,
    }
