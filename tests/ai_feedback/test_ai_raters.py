"""AI raters through real HTTP: the platform's own /v1 serving a tiny model trained to say
"A > B", asked in both orders; a critique-revise job that files an AI-made comparison;
and AI labels kept apart from people's until an export or the agreement page asks."""

import gzip
import json
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils.html import escape

from ai_feedback.models import AICritique, AIFeedbackJob, AIRanking
from ai_feedback.rating import ai_feedback_run
from dashboard.rollup import current_counts
from dataset_io.exporting import snapshot_export
from dataset_io.fingerprints import snapshot_fingerprint
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from labeling.models import Task
from rankings.models import Candidate, Comparison, Ranking
from rankings.services import comparison_create
from serving.engine import engine
from sources.models import ModelSource
from tests.ai_feedback.conftest import PAIRS, people_rank
from tests.conftest import free_port, worker_process
from tests.trainer.test_evaluations import version_at
from trainer.generation import generation_create


@pytest.fixture
def _no_model_loaded():
    # Version ids start again in every test database: a model the engine kept from
    # another test would answer for this test's version.
    engine.clear()
    yield
    engine.clear()


def asked(api, carol, **payload) -> dict:
    api.force_authenticate(carol)
    answer = api.post("/api/ai-feedback/", {"guideline": "kitchen", **payload}, format="json")
    assert answer.status_code == 202, answer.json()
    return answer.json()


def exported(kind: str, **filters) -> list[dict]:
    snapshot = DatasetSnapshot.objects.create(kind=kind, filters=filters)
    done = snapshot_export(snapshot_id=snapshot.pk)
    assert done.status == JobStatus.SUCCEEDED, done.error
    rows = []
    for split in ("train", "validation"):
        raw = (Path(settings.DATA_DIR) / done.files[split]).read_bytes()
        if done.files[split].endswith(".gz"):
            raw = gzip.decompress(raw)
        rows += [json.loads(line) for line in raw.decode().splitlines()]
    return rows


@pytest.mark.django_db(transaction=True)
def test_a_rank_job_asks_the_platforms_own_v1_in_both_orders_and_records_what_it_cannot_read(
    api, carol, v1, says_a_first, pairs, _no_model_loaded, training_queue_emptied
):
    rater = version_at("sft", says_a_first)
    base_url, token = v1
    source = ModelSource.objects.create(
        name="first-is-best", base_url=base_url, model=rater.name, api_key=token
    )
    three = comparison_create(
        prompt=pairs[0].prompt,
        candidates=[{"content": text} for text in ("One.", "Two.", "Three.")],
        overlap=1,
    )
    wanted = [pairs[0].pk, pairs[1].pk, three.pk]

    body = asked(api, carol, kind="rank", source=source.pk, comparisons=wanted)
    job = ai_feedback_run(job_id=body["id"])

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.rater_name == f"source:first-is-best/{rater.name}"
    # Three replies cannot be ranked by "A > B": the item fails with the answer it gave.
    assert set(job.failures) == {str(three.pk)}
    assert job.failures[str(three.pk)] == (
        "UnreadableAnswer: order 1: not each of A B C once: 'A > B'"
    )
    for comparison in pairs[:2]:
        ranking = AIRanking.objects.get(pk=job.made[str(comparison.pk)])
        ids = sorted(comparison.candidates.values_list("pk", flat=True))
        # Shown both ways round and answered "A > B" both times: a tie, not a preference.
        assert [order["answer"] for order in ranking.asked] == ["A > B", "A > B"]
        assert ranking.asked[0]["shown"] == ranking.asked[1]["shown"][::-1]
        assert sorted(ranking.asked[0]["shown"]) == ids
        assert ranking.ranking == [ids] and ranking.pairs == []
        assert ranking.guideline_version.number == 1
    # Stored as the rater's own labels: no person's ranking, no consensus moved.
    assert not Ranking.objects.exists()
    assert set(Comparison.objects.values_list("ranking_count", flat=True)) == {0}
    detail = api.get(f"/api/ai-feedback/{job.pk}/").json()
    assert len(detail["rankings"]) == 2 and detail["progress"] == 1.0
    assert token not in json.dumps(detail)


@pytest.mark.django_db(transaction=True)
def test_a_critique_revise_job_files_an_ai_comparison_that_no_person_is_asked_to_rank(
    api, carol, bob, v1, says_a_first, pairs, _no_model_loaded, training_queue_emptied
):
    rater = version_at("sft", says_a_first)
    base_url, token = v1
    source = ModelSource.objects.create(
        name="reviser", base_url=base_url, model=rater.name, api_key=token
    )
    prompt = pairs[2].prompt

    body = asked(
        api,
        carol,
        kind="critique_revise",
        source=source.pk,
        prompts=[prompt.pk],
        sections=["Helpful"],
    )
    job = ai_feedback_run(job_id=body["id"])

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    critique = AICritique.objects.get(pk=job.made[str(prompt.pk)])
    first = Candidate.objects.filter(prompt=prompt).order_by("id").first()
    assert (critique.reply_kind, critique.reply_id, critique.reply) == (
        "candidate",
        first.pk,
        first.content,
    )
    assert critique.principle == "Helpful"
    assert critique.critique and critique.revision and critique.revision != critique.reply
    reply, revision = critique.comparison.candidates.order_by("id")
    assert (reply.content, revision.content) == (critique.reply, critique.revision)
    assert (
        revision.source == "ai_revision" and revision.model_name == f"source:reviser/{rater.name}"
    )
    assert reply.source == "ai_critiqued" and reply.model_name == first.model_name
    ranking = AIRanking.objects.get(comparison=critique.comparison)
    assert (ranking.made, ranking.ranking) == ("revised", [[revision.pk], [reply.pk]])
    # Kept out of the people's queue unless an overlap is asked for.
    assert critique.comparison.task.status == Task.Status.CLOSED
    assert current_counts()["tasks"]["ranking"]["closed"] == 0  # nobody's work
    # Neither the revision nor the copied reply counts as a candidate the rater's own
    # model sampled for the prompt: a generation from it still takes the prompt.
    generation = generation_create(source=source, filters={"limit": 10}, k=2, overlap=1)
    assert prompt.pk in generation.prompts
    assert critique.comparison.pk not in people_rank(api, bob, len(pairs))
    assert api.post("/api/tasks/next/", {"kind": "ranking"}, format="json").status_code == 204
    # The job's page shows what the rater said.
    page = _admin_page(api, carol, f"/dashboard/ai-feedback/{job.pk}/")
    assert escape(critique.critique) in page and escape(critique.revision) in page
    assert "against “Helpful”" in page


def _admin_page(api, carol, path: str) -> str:
    from django.test import Client

    client = Client()
    client.force_login(carol)
    answer = client.get(path)
    assert answer.status_code == 200
    return answer.content.decode()


@pytest.mark.django_db(transaction=True)
def test_ai_labels_stay_out_of_exports_unless_asked_and_are_named_by_their_rater(
    api, carol, bob, pairs, scripted, training_queue_emptied
):
    source, server = scripted("longer", "likes-long")
    people_rank(api, bob, 2)
    people_before = snapshot_fingerprint("preference", {"source": "human"}, {})
    ai_before = snapshot_fingerprint("preference", {"source": "ai"}, {})
    ranked = asked(api, carol, kind="rank", source=source.pk, filters={"limit": 4})
    assert ai_feedback_run(job_id=ranked["id"]).status == JobStatus.SUCCEEDED
    revised = asked(
        api, carol, kind="critique_revise", source=source.pk, prompts=[pairs[3].prompt_id]
    )
    assert ai_feedback_run(job_id=revised["id"]).status == JobStatus.SUCCEEDED
    # Four comparisons asked both ways, then a critique and a revision.
    assert len(server.questions) == 10

    # AI labels make an AI export's data new, and leave people's as it was.
    assert snapshot_fingerprint("preference", {}, {}) == people_before
    assert snapshot_fingerprint("preference", {"source": "ai"}, {}) != ai_before
    people = exported("preference")
    assert len(people) == 2
    ai = exported("preference", source="ai")
    revision = "Revised: a fuller reply."
    # Four ranked comparisons, longest first as this rater likes, and the revision over
    # the reply it revised: one pair each.
    assert len(ai) == 5
    chosen = sorted(r["chosen"][0]["content"] for r in ai)
    assert chosen == sorted([longer for longer, _ in PAIRS] + [revision])
    assert len(exported("preference", source="all")) == 7
    assert len(exported("rankings")) == 2 and len(exported("rankings", source="all")) == 7
    sft = exported("sft", source="ai")
    assert [row["messages"][-1]["content"] for row in sft] == [revision]
    assert exported("sft") == []
    card = DatasetSnapshot.objects.filter(filters={"source": "ai"}, kind="preference").get().card
    assert "AI feedback only, from these AI raters: source:likes-long/scripted." in card
    assert "People whose labels it holds: 0." in card
    assert "Labels: people's only" in DatasetSnapshot.objects.filter(filters={}).first().card


@pytest.mark.django_db(transaction=True)
def test_agreement_with_people_counts_only_what_both_ranked_and_a_contrary_rater_shows_it(
    api, carol, bob, pairs, scripted, training_queue_emptied
):
    people_rank(api, bob, 3)  # the fourth comparison has no person's ranking
    for prefers, name in (("longer", "agrees"), ("shorter", "contrary")):
        source, _ = scripted(prefers, name)
        job = asked(api, carol, kind="rank", source=source.pk, filters={"limit": 4})
        assert ai_feedback_run(job_id=job["id"]).status == JobStatus.SUCCEEDED
    assert AIRanking.objects.count() == 8

    api.force_authenticate(carol)
    report = api.get("/api/rankings/agreement/?guideline=kitchen").json()

    # People's own figures are untouched by the AI's rankings.
    assert report["rankings"] == 3
    rows = {row["rater"]: row for row in report["ai_raters"]}
    assert rows["source:agrees/scripted"] == {
        "rater": "source:agrees/scripted",
        "guideline": "kitchen",
        "version": 1,
        "comparisons": 3,
        "pairs": 3,
        "pairwise_agreement": 1.0,
        # Every pair said the same way by both: no variation for alpha to measure.
        "krippendorff_alpha": None,
    }
    assert rows["source:contrary/scripted"]["comparisons"] == 3
    assert rows["source:contrary/scripted"]["pairwise_agreement"] == 0.0
    assert rows["source:contrary/scripted"]["krippendorff_alpha"] < 0
    page = _admin_page(api, carol, "/rankings/agreement/")
    assert "source:contrary/scripted" in page and 'data-testid="ai-raters"' in page


@pytest.mark.django_db
def test_only_admins_ask_for_ai_feedback_and_bad_input_is_a_400(
    api, alice, bob, carol, pairs, scripted
):
    source, _ = scripted("longer", "judge")
    for user in (alice, bob):
        api.force_authenticate(user)
        answer = api.post(
            "/api/ai-feedback/",
            {"kind": "rank", "guideline": "kitchen", "source": source.pk},
            format="json",
        )
        assert answer.status_code == 403
        assert api.get("/api/ai-feedback/").status_code == 403
    api.force_authenticate(carol)
    other = comparison_create(
        prompt=_other_guideline_prompt(carol),
        candidates=[{"content": "x"}, {"content": "y"}],
        overlap=1,
    )
    for payload, field in (
        ({"kind": "rank"}, "source"),
        ({"kind": "vote", "source": source.pk}, "kind"),
        ({"kind": "rank", "source": source.pk, "guideline": "nowhere"}, "guideline"),
        ({"kind": "rank", "source": source.pk, "comparisons": [other.pk]}, "comparisons"),
        ({"kind": "rank", "source": source.pk, "prompts": [pairs[0].prompt_id]}, "prompts"),
        ({"kind": "rank", "source": source.pk, "sections": ["Polite"]}, "sections"),
        ({"kind": "rank", "source": source.pk, "filters": {"limit": 0}}, "filters.limit"),
        ({"kind": "rank", "source": source.pk, "overlap": 2}, "overlap"),
    ):
        answer = api.post("/api/ai-feedback/", {"guideline": "kitchen", **payload}, format="json")
        assert answer.status_code == 400, (payload, answer.json())
        assert field in answer.json(), (payload, answer.json())
    assert not AIFeedbackJob.objects.exists()
    assert api.get("/api/ai-feedback/?status=lost").status_code == 400


def _other_guideline_prompt(carol):
    from guidelines.services import guideline_create, version_draft_create, version_publish
    from labeling.services import prompt_create

    other = guideline_create(slug="garden", title="Garden")
    version_publish(
        version=version_draft_create(guideline=other, body="# Grow\n", summary="", author=carol)
    )
    return prompt_create(
        author=carol,
        guideline=other,
        require_acknowledgement=False,
        messages=[{"role": "user", "content": "When do I plant?"}],
    )


@pytest.mark.django_db
def test_the_same_request_twice_while_it_waits_is_one_job(
    api, carol, pairs, scripted, training_queue_emptied
):
    source, _ = scripted("longer", "judge")
    first = asked(api, carol, kind="rank", source=source.pk, filters={"limit": 2})
    again = asked(api, carol, kind="rank", source=source.pk, filters={"limit": 2})
    assert again["id"] == first["id"]
    assert first["items"] == [pairs[0].pk, pairs[1].pk]
    assert AIFeedbackJob.objects.count() == 1
    listed = api.get("/api/ai-feedback/?kind=rank").json()
    assert [job["id"] for job in listed] == [first["id"]]


@pytest.mark.django_db
def test_the_page_starts_a_job_from_its_form_and_answers_a_bad_form_at_its_fields(
    client, carol, bob, pairs, scripted, training_queue_emptied
):
    source, _ = scripted("longer", "judge")
    client.force_login(bob)
    assert client.get("/dashboard/ai-feedback/").status_code == 403
    client.force_login(carol)
    form = {"origin": f"source:{source.pk}", "kind": "rank", "guideline": "kitchen", "limit": "3"}

    bad = client.post("/dashboard/ai-feedback/", {**form, "origin": "", "limit": "many"})
    assert bad.status_code == 400
    assert "Choose a model or a model source." in bad.content.decode()
    assert "A whole number." in bad.content.decode()
    started = client.post("/dashboard/ai-feedback/", form, follow=True)

    job = AIFeedbackJob.objects.get()
    assert started.redirect_chain[-1][0] == f"/dashboard/ai-feedback/{job.pk}/"
    assert (job.kind, job.rater_name, job.items) == (
        "rank",
        "source:judge/scripted",
        [p.pk for p in pairs[:3]],
    )
    assert f"AI feedback {job.pk} was queued." in started.content.decode()
    listed = client.get("/dashboard/ai-feedback/").content.decode()
    assert f'data-ai-feedback="{job.pk}"' in listed


@pytest.mark.django_db(transaction=True)
def test_a_model_version_of_ours_rates_through_the_inference_process_as_a_source_would(
    api, carol, says_a_first, pairs, training_queue_emptied, inference_process
):
    rater = version_at("sft", says_a_first)

    body = asked(api, carol, kind="rank", model=rater.pk, comparisons=[pairs[0].pk])
    job = ai_feedback_run(job_id=body["id"])

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    # Asked of the inference process (here the live server, whose engine lives in this
    # process), which decoded the answers in its steps.
    (serving,) = engine.loaded()
    assert serving.stats.steps > 0
    ranking = AIRanking.objects.get(comparison=pairs[0])
    assert ranking.rater_name == rater.name
    assert [order["answer"] for order in ranking.asked] == ["A > B", "A > B"]
    assert len(ranking.ranking) == 1  # a tie
    # And only there: with nothing answering at INFERENCE_URL, the same rater rates nothing.
    with override_settings(INFERENCE_URL=f"http://127.0.0.1:{free_port()}"):
        body = asked(api, carol, kind="rank", model=rater.pk, comparisons=[pairs[1].pk])
        unreached = ai_feedback_run(job_id=body["id"])
    assert unreached.status == JobStatus.FAILED
    assert "Could not reach" in unreached.failures[str(pairs[1].pk)], unreached.failures
    reward = version_at("reward", says_a_first)
    refused = api.post(
        "/api/ai-feedback/",
        {"kind": "rank", "guideline": "kitchen", "model": reward.pk},
        format="json",
    )
    assert refused.status_code == 400 and "generative" in refused.json()["model"][0]


@pytest.mark.django_db
def test_the_training_form_says_whose_labels_each_export_holds(client, carol):
    for source in ("ai", "all", None):
        DatasetSnapshot.objects.create(
            kind="preference",
            status=JobStatus.SUCCEEDED,
            filters={"source": source} if source else {},
            counts={"train": 3, "validation": 0},
        )
    client.force_login(carol)

    page = client.get("/dashboard/training/").content.decode()

    ids = list(DatasetSnapshot.objects.order_by("id").values_list("id", flat=True))
    for pk, words in zip(
        ids, ["AI raters' labels", "people's and AI raters' labels", "people's labels"], strict=True
    ):
        assert f"Export {pk}: Preference pairs, {escape(words)} (3 train" in page
    assert "A fresh export of people's labels when the run starts" in page


@pytest.mark.django_db(transaction=True)
def test_a_drafts_worker_runs_the_job_the_api_queued(
    api, carol, bob, pairs, scripted, child_env, training_queue_emptied
):
    source, server = scripted("longer", "judge")
    with worker_process(child_env, queue="drafts"):
        job = asked(api, carol, kind="rank", source=source.pk, filters={"limit": 2})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = api.get(f"/api/ai-feedback/{job['id']}/").json()
            if status["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert [len(r["asked"]) for r in status["rankings"]] == [2, 2]
    assert len(server.questions) == 4
