import pytest

from labeling.models import Task
from rankings.models import Comparison, Ranking
from tests.rankings.conftest import make_comparison


def take(api, user):
    api.force_authenticate(user)
    return api.post("/api/tasks/next/", {"kind": "ranking"}, format="json")


def rank(api, comparison_id, ranking, **extra):
    return api.post(
        f"/api/comparisons/{comparison_id}/rankings/", {"ranking": ranking, **extra}, format="json"
    )


def test_an_admin_creates_a_comparison_and_gets_the_candidate_ids(api, carol, prompt):
    api.force_authenticate(carol)

    response = api.post(
        "/api/comparisons/",
        {
            "prompt": prompt.pk,
            "overlap": 2,
            "candidates": [
                {"content": "Gravity of the moon.", "model": "a"},
                {"content": "Wind.", "model": "b"},
            ],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert [c["content"] for c in body["candidates"]] == ["Gravity of the moon.", "Wind."]
    assert body["overlap"] == 2
    assert Task.objects.get(pk=body["task"]).kind == "ranking"


@pytest.mark.parametrize("k", [1, 10])
def test_k_outside_two_to_nine_is_a_400(api, carol, prompt, k):
    api.force_authenticate(carol)

    response = api.post(
        "/api/comparisons/",
        {"prompt": prompt.pk, "candidates": [{"content": f"r{i}"} for i in range(k)]},
        format="json",
    )

    assert response.status_code == 400
    assert "Between 2 and 9" in response.json()["candidates"][0]
    assert not Comparison.objects.exists()


def test_a_reviewer_ranks_with_a_tie_in_their_own_shown_order(api, bob, read, prompt):
    comparison = make_comparison(prompt)
    read(bob)

    task = take(api, bob).json()
    shown = [c["id"] for c in task["comparison"]["candidates"]]
    response = rank(
        api,
        comparison.pk,
        [[shown[2]], [shown[0], shown[3]], [shown[1]]],
        flags={str(shown[1]): ["untruthful"]},
        likert={str(shown[2]): 6},
        time_spent_s=40,
    )

    assert task["comparison"]["k"] == 4
    assert "model" not in task["comparison"]["candidates"][0]  # names would bias the rater
    assert response.status_code == 201
    ranking = Ranking.objects.get()
    assert ranking.shown_order == shown
    assert ranking.ranking == [[shown[2]], sorted([shown[0], shown[3]]), [shown[1]]]
    # The five pairs it implies (the tied two make none), kept for the export.
    low, high = sorted([shown[0], shown[3]])
    assert ranking.pairs == [
        [shown[2], low],
        [shown[2], high],
        [shown[2], shown[1]],
        [low, shown[1]],
        [high, shown[1]],
    ]
    assert ranking.guideline_version.number == 1
    assert ranking.flags == {str(shown[1]): ["untruthful"]}


def test_the_shown_order_is_random_per_rater_and_stable_per_rater(api, bob, erin, read, prompt):
    from rankings.services import shown_order

    comparisons = [make_comparison(prompt, k=6, overlap=2) for _ in range(3)]
    read(bob)
    first = take(api, bob).json()["comparison"]["candidates"]
    again = take(api, bob).json()["comparison"]["candidates"]
    bobs = [shown_order(comparison=c, rater_id=bob.pk) for c in comparisons]
    erins = [shown_order(comparison=c, rater_id=erin.pk) for c in comparisons]

    assert first == again  # a reload shows the same order
    assert bobs != erins
    assert any(order != sorted(order) for order in bobs + erins)


@pytest.mark.parametrize(
    ("ranking", "words"),
    [
        (lambda c: [[c[0]], [c[1]], [c[2]]], "left out"),
        (lambda c: [[c[0]], [c[1], c[0]], [c[2], c[3]]], "named twice"),
        (lambda c: [[c[0]], [c[1]], [c[2]], [c[3], 999999]], "not in this comparison"),
        (lambda c: [[c[0]], [], [c[1], c[2], c[3]]], "Group 2 is empty"),
        (lambda c: [[c[0], c[1], c[2], str(c[3])]], "must be a list of candidate ids"),
        (lambda c: [], "A list of groups"),
    ],
)
def test_a_bad_ranking_is_a_400_naming_the_problem(api, bob, read, prompt, ranking, words):
    comparison = make_comparison(prompt)
    read(bob)
    take(api, bob)
    ids = sorted(comparison.candidates.values_list("id", flat=True))

    response = rank(api, comparison.pk, ranking(ids))

    assert response.status_code == 400
    assert words in response.json()["ranking"][0]
    assert not Ranking.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"likert": {"{c0}": 8}}, "likert", "1 to 7"),
        ({"likert": {"{c0}": 0}}, "likert", "1 to 7"),
        ({"flags": {"{c0}": ["rude"]}}, "flags", "Flags are some of"),
        ({"flags": {"12345678": ["harmful"]}}, "flags", "not in this comparison"),
        ({"strength": 2}, "strength", "only when comparing two"),
    ],
)
def test_bad_flags_likert_or_strength_are_a_400(api, bob, read, prompt, extra, field, words):
    comparison = make_comparison(prompt)
    read(bob)
    take(api, bob)
    ids = sorted(comparison.candidates.values_list("id", flat=True))
    payload = {
        key: (
            {k.replace("{c0}", str(ids[0])): v for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )
        for key, value in extra.items()
    }

    response = rank(api, comparison.pk, [[i] for i in ids], **payload)

    assert response.status_code == 400
    assert words in response.json()[field][0]


def test_a_pairwise_preference_carries_its_strength_and_a_tie_has_none(
    api, bob, erin, read, prompt
):
    comparison = make_comparison(prompt, k=2, overlap=2)
    read(bob, erin)
    a, b = sorted(comparison.candidates.values_list("id", flat=True))
    take(api, bob)
    preferred = rank(api, comparison.pk, [[b], [a]], strength=3)
    take(api, erin)
    bad_tie = rank(api, comparison.pk, [[a, b]], strength=2)
    tie = rank(api, comparison.pk, [[a, b]], strength=0)

    assert preferred.json()["strength"] == 3
    assert bad_tie.status_code == 400
    assert tie.status_code == 201


def test_a_double_submit_makes_one_ranking(api, bob, read, prompt):
    comparison = make_comparison(prompt)
    read(bob)
    take(api, bob)
    ids = sorted(comparison.candidates.values_list("id", flat=True))

    first = rank(api, comparison.pk, [[i] for i in ids])
    second = rank(api, comparison.pk, [[i] for i in ids])

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Ranking.objects.count() == 1


def test_nobody_ranks_a_set_containing_their_own_writing(api, erin, read, prompt):
    from rankings.services import comparison_create

    own = comparison_create(
        prompt=prompt,
        overlap=3,
        candidates=[
            {"content": "Erin's demonstration.", "model": "", "author": erin},
            {"content": "A model reply.", "model": "m"},
        ],
    )
    other = make_comparison(prompt, k=2, overlap=3)
    read(erin)

    first = take(api, erin).json()
    api.post(f"/api/tasks/{first['id']}/skip/")
    then = take(api, erin)

    assert first["comparison"]["id"] == other.pk
    assert then.status_code == 204  # the set with her own writing is never offered
    assert own.task.wanted == 3


def test_consensus_and_agreement_after_three_raters(
    api, bob, erin, carol, read, prompt, django_user_model
):
    from accounts.services import user_create

    frank = user_create(username="frank", password="a-long-test-password-42", roles=["reviewer"])
    comparison = make_comparison(prompt, k=3, overlap=3)
    a, b, c = sorted(comparison.candidates.values_list("id", flat=True))
    read(bob, erin, frank)
    for rater, order in ((bob, [[a], [b], [c]]), (erin, [[a], [c], [b]]), (frank, [[a], [b, c]])):
        take(api, rater)
        assert rank(api, comparison.pk, order).status_code == 201
    api.force_authenticate(carol)

    consensus = api.get(f"/api/comparisons/{comparison.pk}/consensus/").json()
    report = api.get("/api/rankings/agreement/").json()

    assert consensus["complete"] is True
    assert consensus["ranked_pairs"][0] == [a]
    assert max(consensus["bradley_terry"], key=consensus["bradley_terry"].get) == str(a)
    # Units: (a,b) +1,+1,+1  (a,c) +1,+1,+1  (b,c) +1,-1,0 -> 6 agreeing rater pairs of 9.
    assert consensus["agreement"]["pairwise_agreement"] == pytest.approx(6 / 9)
    assert report["rankings"] == 3
    assert {row["rater"] for row in report["raters"]} == {"bob", "erin", "frank"}
    assert report["by_guideline_version"][0]["version"] == 1


def test_gold_tasks_measure_each_rater(api, bob, carol, read, prompt):
    comparison = make_comparison(prompt, k=3, overlap=1, gold=[[0], [1], [2]])
    ids = sorted(comparison.candidates.values_list("id", flat=True))
    read(bob)
    take(api, bob)
    rank(api, comparison.pk, [[ids[0]], [ids[2]], [ids[1]]])
    api.force_authenticate(carol)

    report = api.get("/api/rankings/agreement/").json()

    assert comparison.gold_ranking == [[ids[0]], [ids[1]], [ids[2]]]
    assert report["raters"][0]["gold_accuracy"] == pytest.approx(2 / 3, abs=1e-4)


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_only_admins_create_comparisons_or_read_consensus(api, request, prompt, persona):
    comparison = make_comparison(prompt)
    api.force_authenticate(request.getfixturevalue(persona))

    assert (
        api.post(
            "/api/comparisons/", {"prompt": prompt.pk, "candidates": []}, format="json"
        ).status_code
        == 403
    )
    assert api.get(f"/api/comparisons/{comparison.pk}/consensus/").status_code == 403
    assert api.get("/api/rankings/agreement/").status_code == 403


def test_a_labeler_cannot_rank(api, alice, read, prompt):
    make_comparison(prompt)
    read(alice)

    assert take(api, alice).status_code == 403
