"""The judges of an evaluation, each given the job once both models have answered: the
reward model scores the two replies, a model source is asked which is better in both
orders, and the human judge files each pair as a blind comparison for reviewers. Each
writes what it decided per prompt (`results`, or `filed` for people) as it goes, and a
prompt it could not judge goes to the job's failures; the others go on."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from config.errors import InputError
from jobs.services import Attempt, job_error_text
from labeling.models import Prompt
from rankings.models import Candidate
from rankings.services import comparison_create
from sources.client import in_flight
from sources.own_server import own_scores
from sources.services import source_client
from trainer.models import EvaluationJob

logger = logging.getLogger(__name__)

SIDES = ("model", "baseline")
# Both models, every rerun and every evaluation sample a prompt with this seed plus the
# prompt's id: a model against itself gives the same replies, a retried job the replies it
# had, and two prompts never share their sampling noise.
EVALUATION_SEED = 20_231_130
# Reward scores closer than this are a tie: float noise, not a preference.
REWARD_TIE_TOLERANCE = 1e-3
# The AI judge answers with a letter; a few tokens leave room for "Reply A".
JUDGE_MAX_TOKENS = 16
# The two orders an AI judge sees the replies in: which side is shown as A.
ORDERS = {"model_first": SIDES, "baseline_first": SIDES[::-1]}
JUDGE_SYSTEM = (
    "You compare two replies to the same conversation and say which one is better: more "
    "helpful, more truthful and more harmless. Answer with one letter only: A if reply A is "
    "better, B if reply B is better, T if they are equally good."
)
# A, B or T (or "tie"), optionally after "Reply" or "Answer:", at the start of the answer.
# Capitals only: a lower-case "a" starts English sentences.
VERDICT = re.compile(r"^[\W_]*(?:(?:reply|answer)\s*:?\s*)?(A|B|T|tie)\b", re.IGNORECASE)

Judge = Callable[[Attempt, EvaluationJob, dict[int, Prompt], dict, dict[str, str]], None]


def _waiting(job: EvaluationJob, replies: dict, done: dict, failures: dict[str, str]) -> list[str]:
    """The prompts answered by both models and not judged yet, in the job's order."""
    return [
        str(p)
        for p in job.prompts
        if str(p) not in done
        and str(p) not in failures
        and all(side in replies.get(str(p), {}) for side in SIDES)
    ]


def _kept(attempt: Attempt, **fields: object) -> None:
    if not attempt.rows().update(heartbeat_at=timezone.now(), **fields):
        raise attempt.lost()


def outcome_of(difference: float) -> str:
    if abs(difference) <= REWARD_TIE_TOLERANCE:
        return "tie"
    return "win" if difference > 0 else "loss"


def judge_reward(attempt, job, prompts, replies, failures) -> None:  # type: ignore[no-untyped-def]
    """Both replies to each prompt scored by the reward model, in the inference process
    (serving.scoring), one request per prompt."""
    results = dict(job.results)
    for key in _waiting(job, replies, results, failures):
        if attempt.should_stop():
            return
        messages = prompts[int(key)].messages
        try:
            model, baseline = own_scores(
                job.reward_model_id, [(messages, replies[key][side]) for side in SIDES]
            )
            if model is None or baseline is None:
                # NaN decides nothing, and neither JSON nor PostgreSQL's jsonb holds it.
                raise ValueError(f"The reward model gave no finite score: {model}, {baseline}.")
        except Exception as exc:  # one prompt's failure is recorded, the rest go on
            failures[key] = job_error_text(exc)
        else:
            results[key] = {
                "outcome": outcome_of(model - baseline),
                "model_score": model,
                "baseline_score": baseline,
            }
        _kept(attempt, results=results, failures=failures)


def _conversation(messages: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def judge_messages(messages: list[dict[str, str]], first: str, second: str) -> list[dict]:
    question = (
        f"Conversation:\n{_conversation(messages)}\n\nReply A:\n{first}\n\nReply B:\n{second}\n\n"
        "Which reply is better? Answer A, B or T."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": question}]


def verdict_read(answer: str) -> str | None:
    """ "A", "B" or "T" from a judge's answer; None when it says none of them first."""
    found = VERDICT.match(answer.strip())
    if found is None:
        return None
    letter = found.group(1)
    if letter.lower() == "tie" or letter == "T":
        return "T"
    return letter if letter in ("A", "B") else None


def both_orders(verdicts: dict[str, str]) -> str:
    """A win only when the judge preferred the model in both orders (a loss: the baseline
    in both); any disagreement, such as a judge that always picks A, is a tie."""
    if verdicts["model_first"] == verdicts["baseline_first"] == "model":
        return "win"
    if verdicts["model_first"] == verdicts["baseline_first"] == "baseline":
        return "loss"
    return "tie"


def judge_source(attempt, job, prompts, replies, failures) -> None:  # type: ignore[no-untyped-def]
    source = job.judge_source
    if source is None:
        raise InputError("judge", f"The source {job.judge_name} was deleted.")
    client = source_client(source)
    results = dict(job.results)
    asked: dict[str, dict[str, str]] = {}
    answers: dict[str, dict[str, str]] = {}

    def ask(item: tuple[str, str]) -> str:
        key, order = item
        first, second = (replies[key][side] for side in ORDERS[order])
        return client.chat(
            judge_messages(prompts[int(key)].messages, first, second),
            temperature=0.0,
            top_p=1.0,
            max_tokens=JUDGE_MAX_TOKENS,
            seed=EVALUATION_SEED,
        ).replies[0]

    items = [(key, order) for key in _waiting(job, replies, results, failures) for order in ORDERS]
    for (key, order), answer, error in in_flight(
        ask, items, at_once=source.max_concurrency, should_stop=attempt.should_stop
    ):
        if key in failures:
            continue  # the other order failed already
        letter = verdict_read(answer) if error is None else None
        if error is not None:
            failures[key] = f"{order}: {job_error_text(error)}"
        elif letter is None:
            failures[key] = f"{order}: the judge's answer is not A, B or T: {answer[:200]!r}"
        else:
            shown = ORDERS[order]
            asked.setdefault(key, {})[order] = {"A": shown[0], "B": shown[1], "T": "tie"}[letter]
            answers.setdefault(key, {})[order] = answer[:200]
            if len(asked[key]) == len(ORDERS):
                results[key] = {
                    "outcome": both_orders(asked[key]),
                    "verdicts": asked[key],
                    "answers": answers[key],
                }
        _kept(attempt, results=results, failures=failures)


def model_first(job: EvaluationJob) -> set[str]:
    """The prompts whose comparison lists the model's reply first: a half drawn per job,
    so neither side holds the first place across the evaluation, whatever the order
    each reviewer is then shown."""
    keys = [str(p) for p in job.prompts]
    rng = random.Random(f"evaluation:{job.pk}")
    # An odd count leaves one prompt over, whose side a coin decides.
    count = len(keys) // 2 + (len(keys) % 2 == 1 and rng.random() < 0.5)
    return set(rng.sample(keys, count))


def judge_human(attempt, job, prompts, replies, failures) -> None:  # type: ignore[no-untyped-def]
    """Each pair becomes a comparison of two candidates; reviewers never see the model
    names (the ranking payload leaves them out). Equal replies need nobody: they are a
    tie at once."""
    results, filed = dict(job.results), dict(job.filed)
    first = model_first(job)
    for key in _waiting(job, replies, {**results, **filed}, failures):
        if attempt.should_stop():
            return
        pair = replies[key]
        if pair["model"].strip() == pair["baseline"].strip():
            results[key] = {"outcome": "tie", "why": "the replies are the same"}
            _kept(attempt, results=results, failures=failures)
            continue
        sides = list(SIDES) if key in first else list(SIDES[::-1])
        candidates = [
            {
                "content": pair[side],
                "model": getattr(job, side).name,
                "sampling": {"temperature": job.temperature, "top_p": job.top_p},
            }
            for side in sides
        ]
        with transaction.atomic():
            try:
                comparison = comparison_create(
                    prompt=prompts[int(key)],
                    candidates=candidates,
                    overlap=job.overlap,
                    created_by=job.created_by,
                    source=Candidate.Source.GENERATED,
                    evaluation=True,
                )
            except InputError as exc:  # an empty reply, or one over the length limit
                failures[key] = job_error_text(exc)
            else:
                ids = sorted(comparison.candidates.values_list("pk", flat=True))
                filed[key] = {
                    "comparison": comparison.pk,
                    **{f"{side}_candidate": pk for side, pk in zip(sides, ids, strict=True)},
                }
            # Rolls this prompt's comparison back if the job was lost meanwhile.
            _kept(attempt, filed=filed, failures=failures)


JUDGES: dict[str, Judge] = {
    EvaluationJob.Judge.REWARD: judge_reward,
    EvaluationJob.Judge.SOURCE: judge_source,
    EvaluationJob.Judge.HUMAN: judge_human,
}
