import pytest
from django.test import override_settings

from labeling.models import Demonstration, Review
from tests.labeling.conftest import make_prompts


@pytest.fixture
def submitted(api, alice, read, guideline, carol):
    """alice's demonstration, waiting for review."""
    make_prompts(guideline, carol, 1)
    read(alice)
    api.force_authenticate(alice)
    task_id = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()["id"]
    return api.post(
        "/api/demonstrations/", {"task": task_id, "content": "First try."}, format="json"
    ).json()


def review(api, reviewer, demonstration_id, **payload):
    api.force_authenticate(reviewer)
    taken = api.post("/api/tasks/next/", {"kind": "review"}, format="json")
    assert taken.status_code == 200, taken.content
    return api.post(f"/api/demonstrations/{demonstration_id}/reviews/", payload, format="json")


def test_send_back_revise_approve(api, alice, bob, read, submitted):
    read(bob)
    sent_back = review(
        api,
        bob,
        submitted["id"],
        verdict="revise",
        reasons=["incomplete"],
        comment="Add an example.",
    )
    api.force_authenticate(alice)
    feedback = api.get("/api/demonstrations/mine/").json()["results"][0]
    revised = api.patch(
        f"/api/demonstrations/{submitted['id']}/",
        {"content": "Second try, with an example."},
        format="json",
    )
    approved = review(api, bob, submitted["id"], verdict="approve")

    assert sent_back.status_code == 201
    assert feedback["status"] == "needs_revision"
    assert feedback["reviews"][0]["comment"] == "Add an example."
    assert revised.json()["revision"] == 2
    assert approved.status_code == 201
    demonstration = Demonstration.objects.get()
    assert demonstration.status == "approved"
    assert list(demonstration.reviews.values_list("revision", "verdict")) == [
        (1, "revise"),
        (2, "approve"),
    ]
    assert all(r.guideline_version.number == 1 for r in Review.objects.all())


def test_a_user_never_gets_their_own_work_to_review(api, alice, erin, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(erin)
    api.force_authenticate(erin)
    task_id = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()["id"]
    api.post("/api/demonstrations/", {"task": task_id, "content": "Mine."}, format="json")

    response = api.post("/api/tasks/next/", {"kind": "review"}, format="json")

    assert response.status_code == 204


def test_a_reviewer_without_the_review_task_cannot_review(api, bob, read, submitted):
    read(bob)
    api.force_authenticate(bob)

    response = api.post(
        f"/api/demonstrations/{submitted['id']}/reviews/", {"verdict": "approve"}, format="json"
    )

    assert response.status_code == 409
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "reject"}, "reasons"),
        ({"verdict": "reject", "reasons": ["boring"]}, "reasons"),
    ],
)
def test_a_bad_review_is_a_400_and_the_lease_is_kept(api, bob, read, submitted, payload, field):
    read(bob)

    response = review(api, bob, submitted["id"], **payload)
    retry = api.post(
        f"/api/demonstrations/{submitted['id']}/reviews/", {"verdict": "approve"}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    assert retry.status_code == 201


@override_settings(LABELING_APPROVALS_REQUIRED=2)
def test_two_approvals_are_needed_when_configured(api, alice, bob, erin, read, guideline, carol):
    make_prompts(guideline, carol, 1)
    read(alice, bob, erin)
    api.force_authenticate(alice)
    task_id = api.post("/api/tasks/next/", {"kind": "demonstration"}, format="json").json()["id"]
    demo_id = api.post(
        "/api/demonstrations/", {"task": task_id, "content": "Answer."}, format="json"
    ).json()["id"]

    review(api, bob, demo_id, verdict="approve")
    after_one = Demonstration.objects.get().status
    review(api, erin, demo_id, verdict="approve")

    assert after_one == "submitted"
    assert Demonstration.objects.get().status == "approved"


def test_only_a_demonstration_sent_back_can_be_revised(api, alice, submitted):
    api.force_authenticate(alice)

    response = api.patch(
        f"/api/demonstrations/{submitted['id']}/", {"content": "Sneaky edit"}, format="json"
    )

    assert response.status_code == 409
    assert Demonstration.objects.get().content == "First try."
