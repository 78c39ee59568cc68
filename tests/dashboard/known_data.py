"""A small flywheel with every figure worked out by hand, for the dashboard's tests.

People: alice writes, bob reviews and ranks, erin (labeler and reviewer) and frank rank.
Prompts: three written by carol, two imported, one generated.
Demonstrations: alice answers two prompts (120 s and 300 s); bob approves the first
(30 s) and rejects the second (50 s); erin holds a lease on the third prompt's task.
Comparisons, with candidate ids in increasing order:
  A  (a < b < c, 3 raters, today):  bob a>b>c (40 s), erin a>c>b (60 s), frank a>b>c (20 s)
      candidate pairs (a,b) and (a,c): all agree; (b,c): bob = frank != erin
      agreement: 7 of 9 rater-pair judgements alike -> 7/9
      consensus: a > b > c
  B  (x < y, 2 raters, 8 days ago): bob and erin both x>y (10 s, 30 s) -> agreement 1/1
  G  (gold: g0 best, 2 raters, today): bob g0>g1 (5 s, right), erin g1>g0 (15 s, wrong)
      -> agreement 0/1, consensus a tie
  I  imported from hh-rlhf, ranked once by the source account: no agreement.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.services import user_create
from dataset_io.importing import source_user
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from labeling.models import Prompt, Task
from labeling.queue import task_next_for_user
from labeling.services import (
    demonstration_submit,
    profile_set_opt_outs,
    prompt_create,
    review_submit,
)
from rankings.models import RANKING, Comparison, Ranking
from rankings.services import comparison_create, comparison_import, ranking_submit
from tests.conftest import PASSWORD

EIGHT_DAYS = timedelta(days=8)


@dataclass
class Flywheel:
    a: Comparison
    b: Comparison
    g: Comparison
    imported: Comparison
    erin: object
    frank: object


def rank(user, comparison: Comparison, order: list[int], seconds: int) -> Ranking:
    """`user` takes the next ranking task, which must be `comparison`'s, and ranks its
    candidates in `order` (indexes into the candidates by id, best first)."""
    assignment = task_next_for_user(user=user, kind=RANKING)
    assert assignment is not None and assignment.task_id == comparison.task_id
    ids = sorted(comparison.candidates.values_list("pk", flat=True))
    ranking, _ = ranking_submit(
        rater=user,
        comparison_id=comparison.pk,
        ranking=[[ids[i]] for i in order],
        time_spent_s=seconds,
    )
    return ranking


def write(user, seconds: int):
    assignment = task_next_for_user(user=user, kind=Task.Kind.DEMONSTRATION)
    demonstration, _ = demonstration_submit(
        author=user, task_id=assignment.task_id, content="A careful answer.", time_spent_s=seconds
    )
    return demonstration


def review(user, verdict: str, seconds: int) -> None:
    assignment = task_next_for_user(user=user, kind=Task.Kind.REVIEW)
    review_submit(
        reviewer=user,
        demonstration_id=assignment.task.demonstration_id,
        verdict=verdict,
        reasons=[] if verdict == "approve" else ["incomplete"],
        time_spent_s=seconds,
    )


def backdate(comparison: Comparison, by: timedelta) -> None:
    Comparison.objects.filter(pk=comparison.pk).update(created_at=timezone.now() - by)
    Ranking.objects.filter(comparison=comparison).update(created_at=timezone.now() - by)


def build(*, alice, bob, carol) -> Flywheel:
    erin = user_create(username="erin", password=PASSWORD, roles=["labeler", "reviewer"])
    frank = user_create(username="frank", password=PASSWORD, roles=["reviewer"])
    guideline = guideline_create(slug="assistant", title="Assistant behaviour")
    version = version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Be good\n", summary="", author=carol
        )
    )
    for user in (alice, bob, erin, frank):
        acknowledgement_create(user=user, version=version)
    profile_set_opt_outs(user=alice, categories=["violence", "self_harm"])

    def prompt(text: str, source: str = Prompt.Source.WRITTEN) -> Prompt:
        return prompt_create(
            author=carol if source == Prompt.Source.WRITTEN else None,
            guideline=guideline,
            messages=[{"role": "user", "content": text}],
            source=source,
            require_acknowledgement=False,
            open_task=source == Prompt.Source.WRITTEN,
            flag_near_duplicates=False,
        )

    for text in ("Explain tides.", "Name three rivers.", "Write a haiku."):
        prompt(text)
    imported_one = prompt("Imported question one?", Prompt.Source.IMPORTED)
    imported_two = prompt("Imported question two?", Prompt.Source.IMPORTED)
    generated = prompt("A generated question?", Prompt.Source.GENERATED)

    write(alice, 120)
    write(alice, 300)
    review(bob, "approve", 30)
    review(bob, "reject", 50)
    assert task_next_for_user(user=erin, kind=Task.Kind.DEMONSTRATION) is not None

    def compare(on: Prompt, k: int, overlap: int, **extra) -> Comparison:
        return comparison_create(
            prompt=on,
            candidates=[{"content": f"Reply {i} to {on.pk}", "model": "m"} for i in range(k)],
            overlap=overlap,
            **extra,
        )

    b = compare(imported_two, 2, 2)
    rank(bob, b, [0, 1], 10)
    rank(erin, b, [0, 1], 30)
    backdate(b, EIGHT_DAYS)
    a = compare(imported_one, 3, 3)
    rank(bob, a, [0, 1, 2], 40)
    rank(erin, a, [0, 2, 1], 60)
    rank(frank, a, [0, 1, 2], 20)
    g = compare(generated, 2, 2, gold=[[0], [1]])
    rank(bob, g, [0, 1], 5)
    rank(erin, g, [1, 0], 15)
    imported = comparison_import(
        prompt=imported_two,
        replies=["Chosen.", "Rejected."],
        models=["", ""],
        ranking=[[0], [1]],
        rater=source_user("hh-rlhf"),
        source="hh-rlhf",
    )
    return Flywheel(a=a, b=b, g=g, imported=imported, erin=erin, frank=frank)
