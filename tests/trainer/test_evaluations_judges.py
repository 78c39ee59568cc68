"""Evaluations judged by a model source, through the platform's own live /v1, asked in both
orders; a judge whose answers cannot be read fails its prompts, not the worker; and an
evaluation whose worker died is finished by the next one."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jobs.models import JobStatus
from jobs.services import jobs_recover_all
from serving.engine import engine
from sources.models import ModelSource
from tests.conftest import worker_process
from tests.serving import conftest as serving_fixtures
from tests.sources import conftest as sources_fixtures
from trainer.evaluation_judges import judge_messages
from trainer.evaluations import evaluation_run
from trainer.models import EvaluationJob

from . import test_evaluations
from .test_evaluations import evaluation_planted, tiny_reward_model, version_at
from .test_job_recovery import FAST_TAKEOVER, job_finished, silent_since

# Fixtures of other modules, under the names the tests ask for.
questions = test_evaluations.questions
tiny_model_dir = serving_fixtures.tiny_model_dir
training_queue_emptied = sources_fixtures.training_queue_emptied
v1 = sources_fixtures.v1

PAIRS = [("Boil it for seven minutes.", "No idea."), ("Yes.", "No."), ("Red.", "Blue.")]


@pytest.fixture(scope="session")
def says_a(tmp_path_factory) -> Path:
    """A tiny model trained for real to answer every judging question with "A": a judge
    with nothing but position bias."""
    from trainer.ml.sft import main

    folder = tmp_path_factory.mktemp("judge")
    rows = [
        {
            "messages": [
                *judge_messages(
                    [{"role": "user", "content": f"Question {i}: what is {i} plus {i + 1}?"}],
                    f"It is {2 * i + 1}.",
                    f"Maybe {i * 3} or so.",
                ),
                {"role": "assistant", "content": "A"},
            ]
        }
        for i in range(16)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    settings = ["max_steps=10", "batch_size=4", "max_length=160", "lr=5e-3", "checkpoint_every=0"]
    main(
        ["--train", str(folder / "train.jsonl"), "--output-dir", str(folder / "run")]
        + [part for setting in settings for part in ("--set", setting)]
    )
    return folder / "run" / "model"


@pytest.fixture
def _no_model_loaded():
    # Version ids start again in every test database: a model the engine kept from
    # another test would answer for this test's version.
    engine.clear()
    yield
    engine.clear()


@pytest.mark.django_db(transaction=True)
def test_an_ai_judge_is_asked_in_both_orders_so_a_judge_that_always_says_a_only_ties(
    api,
    carol,
    v1,
    says_a,
    questions,
    _no_model_loaded,
    training_queue_emptied,
):
    judge = version_at("sft", says_a)
    base_url, token = v1
    source = ModelSource.objects.create(
        name="always-a", base_url=base_url, model=judge.name, api_key=token
    )
    job_id, _, _ = evaluation_planted(api, carol, source.pk, questions, PAIRS)

    job = evaluation_run(job_id=job_id)

    assert job.status == JobStatus.SUCCEEDED, (job.error, job.failures)
    assert job.failures == {} and len(job.results) == 3
    for result in job.results.values():
        # Asked once it would be a win for the model (shown as A); asked both ways, the
        # judge contradicts itself and the pair is a tie.
        assert result["verdicts"] == {"model_first": "model", "baseline_first": "baseline"}
        assert result["answers"] == {"model_first": "A", "baseline_first": "A"}
        assert result["outcome"] == "tie"
    body = api.get(f"/api/evaluations/{job_id}/").json()
    assert body["judge"] == source.pk and body["judge_name"] == "source:always-a"
    assert (body["wins"], body["ties"], body["losses"], body["win_rate"]) == (0, 3, 0, 0.5)
    assert token not in json.dumps(body)


class Unsure(ThreadingHTTPServer):
    """An OpenAI-compatible judge that never says A, B or T."""

    def __init__(self):
        self.asked = 0
        super().__init__(("127.0.0.1", 0), UnsureAnswer)


class UnsureAnswer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.asked += 1  # type: ignore[attr-defined]
        sources_fixtures.chat_reply_send(self, 200, "Hmm, hard.")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.django_db
def test_answers_a_judge_cannot_be_read_for_are_failures_of_their_prompts(
    api,
    carol,
    questions,
    training_queue_emptied,
):
    server = Unsure()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = ModelSource.objects.create(
            name="unsure", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="m"
        )
        job_id, _, _ = evaluation_planted(api, carol, source.pk, questions, PAIRS)
        job = evaluation_run(job_id=job_id)
    finally:
        server.shutdown()
        server.server_close()

    assert job.status == JobStatus.FAILED and job.results == {}
    assert job.error.startswith("No prompt was judged")
    assert set(job.failures) == {str(p.pk) for p in questions[:3]}
    assert all("not A, B or T: 'Hmm, hard.'" in why for why in job.failures.values())
    body = api.get(f"/api/evaluations/{job.pk}/").json()
    assert body["n"] == 0 and body["win_rate"] is None and body["ci95"] is None


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_whose_worker_died_is_finished_by_the_next_worker(
    carol,
    questions,
    child_env,
    tmp_path,
    tiny_model_dir,
    inference_process,
):
    policy = version_at("sft", tiny_model_dir)
    reward = version_at("reward", tiny_reward_model(tmp_path / "reward"), promoted=True)
    job = EvaluationJob.objects.create(
        model=policy,
        baseline=policy,
        judge=EvaluationJob.Judge.REWARD,
        reward_model=reward,
        judge_name=reward.name,
        prompts=[p.pk for p in questions[:3]],
        max_new_tokens=6,
        # What the dead worker had answered before it died.
        replies={str(questions[0].pk): {"model": "Kept.", "baseline": "Kept too."}},
    )
    silent_since(job, seconds=600)

    # The recovery, as beat runs it, sends the orphan again, to the drafts queue.
    assert jobs_recover_all() == {"EvaluationJob": [job.pk]}
    started = time.monotonic()
    env = {**child_env, **FAST_TAKEOVER, "INFERENCE_URL": inference_process.url}
    with worker_process(env, queue="drafts"):
        done = job_finished(EvaluationJob, job.pk, timeout=120)

    assert done.status == JobStatus.SUCCEEDED, (done.error, done.failures)
    assert done.attempts == 2 and time.monotonic() - started < 120
    assert done.replies[str(questions[0].pk)] == {"model": "Kept.", "baseline": "Kept too."}
    assert set(done.results) == {str(p.pk) for p in questions[:3]}
