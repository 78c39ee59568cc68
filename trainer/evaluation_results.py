"""What an evaluation found, computed when it is read: the judged prompts' outcomes, and
for the human judge the consensus of each comparison as it stands now, so the counts
follow the reviewers as they rank. Ties count half a win; the 95% interval is Wilson's
score interval on that rate over the decided prompts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rankings.models import Comparison
from trainer.models import EvaluationJob

Z95 = 1.959964


def wilson_interval(rate: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion `rate` seen over `n` trials: unlike the
    normal approximation it stays inside [0, 1] and is honest for small n and rates near
    0 or 1, which is where a few dozen prompts leave an evaluation."""
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Tally:
    wins: int = 0
    ties: int = 0
    losses: int = 0
    pending: int = 0
    # Prompt id -> its outcome ("win", "tie", "loss") or None while it waits for people.
    outcomes: dict[str, str | None] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float | None:
        return (self.wins + self.ties / 2) / self.n if self.n else None

    @property
    def ci95(self) -> list[float] | None:
        if not self.n:
            return None
        return list(wilson_interval(self.win_rate, self.n))  # type: ignore[arg-type]

    def add(self, key: str, outcome: str | None) -> None:
        self.outcomes[key] = outcome
        if outcome is None:
            self.pending += 1
        else:
            setattr(self, _COUNTER[outcome], getattr(self, _COUNTER[outcome]) + 1)


_COUNTER = {"win": "wins", "tie": "ties", "loss": "losses"}


def consensus_outcome(groups: list[list[int]], model: int, baseline: int) -> str | None:
    """Where the reviewers' merged order puts the model's candidate against the
    baseline's: above is a win, the same group a tie; None before all have ranked it."""
    place = {pk: index for index, group in enumerate(groups) for pk in group}
    if model not in place or baseline not in place:
        return None
    if place[model] == place[baseline]:
        return "tie"
    return "win" if place[model] < place[baseline] else "loss"


def comparisons_consensus(jobs: list[EvaluationJob]) -> dict[int, list[list[int]]]:
    """The consensus of every comparison the human judge filed for `jobs` that all its
    raters (the evaluation's overlap) have ranked, by comparison id, in one query however
    many jobs a list shows. One still short of raters is left out, so its prompt stays
    pending: the first reviewer's order alone is not the verdict the overlap asked for."""
    ids = [entry["comparison"] for job in jobs for entry in job.filed.values()]
    if not ids:
        return {}
    rows = Comparison.objects.filter(pk__in=ids).values_list(
        "pk", "consensus_ranked_pairs", "ranking_count", "task__wanted"
    )
    return {pk: groups for pk, groups, ranked, wanted in rows if ranked >= wanted}


def evaluation_tally(
    job: EvaluationJob, consensus: dict[int, list[list[int]]] | None = None
) -> Tally:
    """The job's counts; `consensus` (comparisons_consensus) when a list read it already."""
    if consensus is None:
        consensus = comparisons_consensus([job])
    tally = Tally()
    for prompt_id in job.prompts:
        key = str(prompt_id)
        if key in job.results:
            tally.add(key, job.results[key]["outcome"])
        elif key in job.filed:
            entry = job.filed[key]
            tally.add(
                key,
                consensus_outcome(
                    consensus.get(entry["comparison"]) or [],
                    entry["model_candidate"],
                    entry["baseline_candidate"],
                ),
            )
    return tally


def evaluation_tallies(jobs: list[EvaluationJob]) -> dict[int, Tally]:
    """Each job's counts by job id, the comparisons of them all read at once."""
    consensus = comparisons_consensus(jobs)
    return {job.pk: evaluation_tally(job, consensus) for job in jobs}


def evaluation_detail(job: EvaluationJob, tally: Tally) -> list[dict[str, object]]:
    """Each prompt's replies, outcome and what the judge said, in the job's order."""
    rows = []
    for prompt_id in job.prompts:
        key = str(prompt_id)
        replies = job.replies.get(key, {})
        rows.append(
            {
                "prompt": prompt_id,
                "model_reply": replies.get("model"),
                "baseline_reply": replies.get("baseline"),
                "outcome": tally.outcomes.get(key),
                "judged": job.results.get(key),
                "comparison": job.filed.get(key, {}).get("comparison"),
                "failure": job.failures.get(key),
            }
        )
    return rows


def evaluation_summary(job: EvaluationJob, tally: Tally) -> dict[str, object]:
    """The counts pages and lists show."""
    return {
        "n": tally.n,
        "wins": tally.wins,
        "ties": tally.ties,
        "losses": tally.losses,
        "pending": tally.pending,
        "win_rate": tally.win_rate,
        "ci95": tally.ci95,
    }


def evaluations_latest(versions: list) -> dict[int, dict[str, object]]:
    """Each version's newest evaluation (as the model's own, not as a baseline) with its
    counts, by version id: what the models page shows beside the promote button."""
    # Ids first, so only the newest job of each version is loaded, and without its
    # replies, the largest field, which the counts never read.
    newest: dict[int, int] = {}
    ordered = EvaluationJob.objects.filter(model__in=versions).order_by("model_id", "-created_at")
    for model_id, pk in ordered.values_list("model_id", "pk"):
        newest.setdefault(model_id, pk)
    jobs = EvaluationJob.objects.filter(pk__in=newest.values()).select_related("baseline")
    latest = {job.model_id: job for job in jobs.defer("replies")}
    tallies = evaluation_tallies(list(latest.values()))
    return {
        pk: {
            "id": job.pk,
            "status": job.status,
            "baseline_name": job.baseline.name,
            "judge_name": job.judge_name,
            **evaluation_summary(job, tallies[job.pk]),
        }
        for pk, job in latest.items()
    }
