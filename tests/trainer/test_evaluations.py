"""Evaluations: a model version against a baseline, judged by the promoted reward model or
by reviewers through the ranking queue; the counts, the win rate and its interval, and
who may ask for one."""

import gzip
import json
from pathlib import Path

import pytest
import torch
from django.conf import settings
from transformers import LlamaForSequenceClassification

from accounts.services import user_create
from dataset_io.exporting import snapshot_export
from dataset_io.models import DatasetSnapshot
from guidelines.services import acknowledgement_create
from jobs.models import JobStatus
from labeling.models import Prompt
from labeling.services import prompt_import
from rankings.models import Comparison
from tests.conftest import PASSWORD
from tests.serving import conftest as serving_fixtures
from trainer.evaluation_judges import REWARD_TIE_TOLERANCE, verdict_read
from trainer.evaluation_results import consensus_outcome, wilson_interval
from trainer.evaluations import evaluation_run
from trainer.ml.chat import tokenizer_train
from trainer.ml.modeling import model_save, tiny_config
from trainer.ml.reward import RewardScorer
from trainer.models import EvaluationJob, ModelVersion, TrainingRun

from .test_training_pages import model_version


def tiny_reward_model(folder: Path) -> Path:
    """An untrained reward model drawn from a fixed seed: its scores mean nothing, but
    they are the same for the same reply, and differ between different ones."""
    texts = ["A short reply.", "A much longer reply, with many words in it.", "No."] * 4
    tokenizer = tokenizer_train(texts)
    torch.manual_seed(0)
    config = tiny_config(tokenizer, max_length=128)
    config.num_labels = 1
    model_save(LlamaForSequenceClassification(config), tokenizer, folder)
    return folder


def version_at(kind: str, folder: Path, **fields) -> ModelVersion:
    run = TrainingRun.objects.create(kind=kind, status=JobStatus.SUCCEEDED, progress=1.0)
    # An absolute path: DATA_DIR / path is the path itself.
    return ModelVersion.objects.create(kind=kind, run=run, path=str(folder), **fields)


tiny_model_dir = serving_fixtures.tiny_model_dir


@pytest.fixture
def reward_judge(tmp_path) -> ModelVersion:
    return version_at("reward", tiny_reward_model(tmp_path / "reward"), promoted=True)


@pytest.fixture
def questions(guideline) -> list[Prompt]:
    return [
        prompt_import(guideline=guideline, messages=[{"role": "user", "content": f"Task {n}?"}])[0]
        for n in range(8)
    ]


def planted(job_id: int, pairs: list[tuple[str, str]], prompts: list[Prompt]) -> None:
    """The replies as if both models had answered: the job goes straight to judging."""
    EvaluationJob.objects.filter(pk=job_id).update(
        replies={
            str(p.pk): {"model": model, "baseline": baseline}
            for p, (model, baseline) in zip(prompts, pairs, strict=False)
        }
    )


def evaluation_planted(
    api, admin, judge, prompts, pairs, **asked
) -> tuple[int, ModelVersion, ModelVersion]:
    """An evaluation of one generative version (no weights behind it) against another on
    the first len(pairs) prompts, asked through the API, with `pairs` as their replies."""
    model, baseline = model_version("sft"), model_version("sft")
    api.force_authenticate(admin)
    answer = api.post(
        "/api/evaluations/",
        {
            "model": model.pk,
            "baseline": baseline.pk,
            "judge": judge,
            "prompts": [p.pk for p in prompts[: len(pairs)]],
            **asked,
        },
        format="json",
    )
    assert answer.status_code == 202, answer.json()
    planted(answer.json()["id"], pairs, prompts)
    return answer.json()["id"], model, baseline


def test_the_win_rate_interval_is_wilsons_and_the_consensus_decides_a_pair():
    low, high = wilson_interval(0.5, 10)
    assert round(low, 4) == 0.2366 and round(high, 4) == 0.7634
    assert wilson_interval(1.0, 3)[1] == 1.0 and 0.4 < wilson_interval(1.0, 3)[0] < 0.5
    assert consensus_outcome([[7], [8]], 7, 8) == "win"
    assert consensus_outcome([[8], [7]], 7, 8) == "loss"
    assert consensus_outcome([[7, 8]], 7, 8) == "tie"
    assert consensus_outcome([], 7, 8) is None
    assert [verdict_read(a) for a in ["A", " B.", "Reply A", "tie", "T", "a bit", "Both"]] == [
        "A",
        "B",
        "A",
        "T",
        "T",
        None,
        None,
    ]


@pytest.mark.django_db(transaction=True)
def test_the_reward_judge_counts_planted_replies_as_the_reward_model_scores_them(
    api, carol, questions, reward_judge, inference_process, training_queue_emptied
):
    pairs = [
        ("Boil it for seven minutes, then cool it in cold water.", "No."),
        ("No.", "Put the egg in boiling water for seven minutes."),
        ("Yes.", "I do not know."),
        ("The same reply.", "The same reply."),
    ]
    job_id, model, baseline = evaluation_planted(api, carol, "reward", questions, pairs)
    asked = api.get(f"/api/evaluations/{job_id}/").json()
    assert asked["judge"] == "reward" and asked["held_out"] is False and asked["status"] == "queued"

    job = evaluation_run(job_id=job_id)

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.reward_model == reward_judge
    scorer = RewardScorer(Path(settings.DATA_DIR) / reward_judge.path)
    expected = []
    for prompt, (mine, theirs) in zip(questions, pairs, strict=False):
        gap = scorer.score(prompt.messages, mine) - scorer.score(prompt.messages, theirs)
        expected.append(
            "tie" if abs(gap) <= REWARD_TIE_TOLERANCE else ("win" if gap > 0 else "loss")
        )
        assert job.results[str(prompt.pk)]["outcome"] == expected[-1]
    assert expected[3] == "tie" and set(expected[:3]) - {"tie"}, expected
    body = api.get(f"/api/evaluations/{job.pk}/").json()
    wins, ties, losses = (expected.count(o) for o in ("win", "tie", "loss"))
    assert (body["wins"], body["ties"], body["losses"], body["n"]) == (wins, ties, losses, 4)
    assert body["win_rate"] == pytest.approx((wins + ties / 2) / 4)
    assert body["ci95"] == pytest.approx(list(wilson_interval(body["win_rate"], 4)))
    assert [row["outcome"] for row in body["detail"]] == expected
    assert body["detail"][0]["model_reply"] == pairs[0][0]
    listed = api.get(f"/api/evaluations/?model={model.pk}").json()
    assert [e["id"] for e in listed] == [job.pk] and listed[0]["detail"] is None
    assert api.get(f"/api/evaluations/?model={baseline.pk}").json() == []


def snapshot_with(folder: Path, kind: str, rows: list[dict]) -> DatasetSnapshot:
    """A finished snapshot whose training split holds `rows` (gzipped for preferences,
    as an export may be)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if kind == "sft":
        (folder / "train.jsonl").write_text(text)
        train = folder / "train.jsonl"
    else:
        train = folder / "train.jsonl.gz"
        train.write_bytes(gzip.compress(text.encode()))
    return DatasetSnapshot.objects.create(
        kind=kind, status=JobStatus.SUCCEEDED, files={"train": str(train)}
    )


@pytest.mark.django_db(transaction=True)
def test_a_model_against_itself_ties_on_every_held_out_prompt_and_answers_the_same_again(
    api, carol, questions, tiny_model_dir, tmp_path, inference_process, training_queue_emptied
):
    # The parent learned from prompts 0-2 (SFT rows), the child from prompt 3 (preference
    # pairs): neither is held out from the child, whose lineage holds both.
    parent = version_at(
        "sft",
        tiny_model_dir,
        snapshot=snapshot_with(
            tmp_path / "sft",
            "sft",
            [
                {"messages": [*q.messages, {"role": "assistant", "content": "Done."}]}
                for q in questions[:3]
            ],
        ),
    )
    reply = [{"role": "assistant", "content": "Yes."}]
    child = version_at(
        "sft",
        tiny_model_dir,
        base_model=f"model:{parent.pk}",
        snapshot=snapshot_with(
            tmp_path / "preference",
            "preference",
            [{"prompt": questions[3].messages, "chosen": reply, "rejected": reply}],
        ),
    )
    api.force_authenticate(carol)
    ask = {
        "model": child.pk,
        "baseline": child.pk,
        "judge": "reward",
        "filters": {"limit": 3},
        "max_new_tokens": 8,
    }
    refused = api.post("/api/evaluations/", ask, format="json")
    assert refused.status_code == 400 and "No reward model" in refused.json()["judge"][0]
    version_at("reward", tiny_reward_model(tmp_path / "reward"), promoted=True)

    first = evaluation_run(job_id=api.post("/api/evaluations/", ask, format="json").json()["id"])
    again = evaluation_run(job_id=api.post("/api/evaluations/", ask, format="json").json()["id"])

    assert first.status == JobStatus.SUCCEEDED, (first.error, first.failures)
    assert first.held_out and first.prompts == again.prompts == [q.pk for q in questions[4:7]]
    assert all(pair["model"] == pair["baseline"] for pair in first.replies.values())
    assert len(first.replies) == 3 and again.replies == first.replies  # one seed per prompt
    body = api.get(f"/api/evaluations/{first.pk}/").json()
    assert (body["wins"], body["ties"], body["losses"], body["n"]) == (0, 3, 0, 3)
    assert body["win_rate"] == 0.5 and body["ci95"][0] < 0.5 < body["ci95"][1]
    anywhere = api.post(
        "/api/evaluations/",
        {**ask, "filters": {"limit": 2, "held_out": False}},
        format="json",
    )
    assert anywhere.json()["prompts"] == [q.pk for q in questions[:2]]
    assert anywhere.json()["held_out"] is False


def take_and_rank(api, reviewer, choose):
    """The reviewer takes the next ranking task through the API and ranks it as
    `choose(candidates by content)` says; the task as it was handed out."""
    api.force_authenticate(reviewer)
    task = api.post("/api/tasks/next/", {"kind": "ranking"}, format="json")
    assert task.status_code == 200, task.content
    comparison = task.json()["comparison"]
    ids = {c["content"]: c["id"] for c in comparison["candidates"]}
    answer = api.post(
        f"/api/comparisons/{comparison['id']}/rankings/",
        {"ranking": choose(ids)},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"rank-{comparison['id']}",
    )
    assert answer.status_code in (200, 201), answer.content
    return task


@pytest.mark.django_db
def test_the_human_judge_files_blind_pairs_and_counts_them_as_reviewers_rank(
    api, carol, bob, guideline, questions
):
    pairs = [(f"Model says {n}.", f"Baseline says {n}.") for n in range(7)] + [("Same.", "Same.")]
    job_id, model, baseline = evaluation_planted(api, carol, "human", questions, pairs)

    job = evaluation_run(job_id=job_id)

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert len(job.filed) == 7 and job.results == {
        str(questions[7].pk): {"outcome": "tie", "why": "the replies are the same"}
    }
    firsts = set()
    for prompt, (mine, theirs) in zip(questions, pairs[:7], strict=False):
        entry = job.filed[str(prompt.pk)]
        comparison = Comparison.objects.get(pk=entry["comparison"])
        candidates = list(comparison.candidates.order_by("pk"))
        assert len(candidates) == 2 and comparison.prompt == prompt
        assert {c.content for c in candidates} == {mine, theirs}
        assert comparison.task.wanted == 1
        firsts.add(candidates[0].content == mine)
    assert firsts == {True, False}  # the model's reply first in some, second in others
    body = api.get(f"/api/evaluations/{job.pk}/").json()
    assert (body["n"], body["ties"], body["pending"], body["win_rate"]) == (1, 1, 7, 0.5)

    acknowledgement_create(user=bob, version=guideline.versions.get(status="published"))
    plans = {  # by the prompt's number: which reply the reviewer puts first
        **dict.fromkeys(range(4), "model"),
        **dict.fromkeys(range(4, 6), "baseline"),
        6: "tie",
    }
    for done in range(7):
        holder = {}

        def choose(ids, holder=holder):
            number = int(next(iter(ids)).split()[-1].rstrip("."))
            holder["number"] = number
            mine, theirs = ids[f"Model says {number}."], ids[f"Baseline says {number}."]
            return {
                "model": [[mine], [theirs]],
                "baseline": [[theirs], [mine]],
                "tie": [[mine, theirs]],
            }[plans[number]]

        task = take_and_rank(api, bob, choose)
        shown = task.content.decode()
        assert model.name not in shown and baseline.name not in shown
        api.force_authenticate(carol)
        assert api.get(f"/api/evaluations/{job.pk}/").json()["pending"] == 6 - done

    body = api.get(f"/api/evaluations/{job.pk}/").json()
    assert (body["wins"], body["ties"], body["losses"], body["n"]) == (4, 2, 2, 8)
    assert body["win_rate"] == pytest.approx(5 / 8)
    assert body["ci95"] == pytest.approx(list(wilson_interval(5 / 8, 8)))


@pytest.mark.django_db
def test_a_human_judged_pair_counts_when_all_its_raters_ranked_and_stays_out_of_exports(
    api, carol, bob, guideline, questions
):
    erin = user_create(username="erin", password=PASSWORD, roles=["reviewer"])
    pairs = [("Model says 0.", "Baseline says 0.")]
    job_id, _, _ = evaluation_planted(api, carol, "human", questions, pairs, overlap=2)
    job = evaluation_run(job_id=job_id)
    comparison = Comparison.objects.get(pk=job.filed[str(questions[0].pk)]["comparison"])
    assert comparison.evaluation and comparison.task.wanted == 2

    version = guideline.versions.get(status="published")
    for reviewer, pending in ((bob, 1), (erin, 0)):
        acknowledgement_create(user=reviewer, version=version)
        take_and_rank(
            api, reviewer, lambda ids: [[ids["Model says 0."]], [ids["Baseline says 0."]]]
        )
        api.force_authenticate(carol)
        body = api.get(f"/api/evaluations/{job.pk}/").json()
        # One reviewer of the two asked for is no verdict yet.
        assert (body["pending"], body["n"]) == (pending, 1 - pending)
    assert body["wins"] == 1

    def exported(**filters) -> int:
        snapshot = DatasetSnapshot.objects.create(kind="preference", filters=filters)
        done = snapshot_export(snapshot_id=snapshot.pk)
        return done.counts["train"] + done.counts["validation"]

    assert exported() == 0  # held-out prompts, kept out of training data
    assert exported(include_evaluations=True) == 2  # one pair from each reviewer


@pytest.mark.django_db
def test_only_admins_evaluate_and_bad_input_is_a_400(
    api, alice, bob, dave, carol, questions, reward_judge
):
    model = model_version("sft")
    ask = {"model": model.pk, "baseline": model.pk, "judge": "reward", "prompts": [1]}
    for user in (alice, bob, dave):
        api.force_authenticate(user)
        assert api.get("/api/evaluations/").status_code == 403
        assert api.post("/api/evaluations/", ask, format="json").status_code == 403
        assert api.get("/api/evaluations/1/").status_code == 403
    api.force_authenticate(None)
    assert api.get("/api/evaluations/").status_code in (401, 403)

    api.force_authenticate(carol)
    ids = [questions[0].pk]
    for payload, field in [
        ({**ask, "judge": "robot"}, "judge"),
        ({**ask, "judge": 10**6}, "judge"),
        ({**ask, "judge": 2**70}, "judge"),
        ({**ask, "judge": True}, "judge"),
        ({**ask, "baseline": reward_judge.pk, "prompts": ids}, "baseline"),
        ({**ask, "model": 10**6}, "model"),
        ({"model": model.pk, "judge": "reward"}, "baseline"),
        ({**ask, "prompts": [10**9]}, "prompts"),
        ({**ask, "prompts": None, "filters": {"limit": 0}}, "filters.limit"),
        ({**ask, "prompts": None, "filters": {"guideline": ["a"]}}, "filters.guideline"),
        ({**ask, "prompts": ids, "temperature": 9}, "temperature"),
        # Above what /v1, which samples the replies, accepts.
        ({**ask, "prompts": ids, "temperature": 2.5}, "temperature"),
        ({**ask, "prompts": ids, "overlap": 0}, "overlap"),
    ]:
        answer = api.post("/api/evaluations/", payload, format="json")
        assert answer.status_code == 400 and field in answer.json(), (payload, answer.json())
    assert api.get("/api/evaluations/?model=abc").status_code == 400
    missing = api.get("/api/evaluations/999999/")
    assert missing.status_code == 404 and "detail" in missing.json()
    assert not EvaluationJob.objects.exists()
