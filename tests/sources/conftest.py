"""What the model source tests start from: a tiny SFT model version trained by the test,
the platform's own OpenAI-compatible /v1 behind a live server as the real server to talk
to, and sources pointing at it."""

import json

import pytest

from accounts.tokens import token_issue
from labeling.models import Prompt
from labeling.services import prompt_create
from sources.models import ModelSource
from tests.datasets.conftest import (  # noqa: F401 (fixtures)
    _own_exports_dir,
    guideline,
    oasst,
    queue_import,
)
from trainer.generation import generation_run
from trainer.models import GenerationJob, ModelVersion
from trainer.training import run_execute, training_run_create

# A few training steps on short sequences: a model that answers, made in seconds.
QUICK = {"max_steps": 4, "batch_size": 4, "max_length": 64, "log_every": 2, "checkpoint_every": 0}
# A key no answer, log or error may ever show.
SECRET = "sk-test-never-shown-0123456789"


@pytest.fixture
def sft_version(oasst) -> ModelVersion:  # noqa: F811 (the fixture imported above)
    run = run_execute(run_id=training_run_create(kind="sft", config=QUICK, enqueue=False).pk)
    assert run.status == "succeeded", run.error
    return run.model


@pytest.fixture
def v1(live_server, carol) -> tuple[str, str]:
    """The platform's own /v1 and a token that may call it."""
    _, token = token_issue(user=carol)
    return f"{live_server.url}/v1", token


@pytest.fixture
def own_source(v1, sft_version, carol) -> ModelSource:
    """A source whose server is the platform's /v1 answering with the tiny model."""
    base_url, token = v1
    return ModelSource.objects.create(
        name="ourselves", base_url=base_url, model=sft_version.name, api_key=token
    )


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    from tests.conftest import free_port

    return free_port()


@pytest.fixture
def training_queue_emptied():
    """For a test that queued a job through the API and ran it itself: its message must
    not reach a later test's worker, against that test's rows. A generation goes to the
    drafts queue, so both are emptied."""
    yield
    queue_purged("training")
    queue_purged("drafts")


@pytest.fixture
def drafts_queue_emptied():
    """training_queue_emptied for drafts jobs, which have a queue of their own."""
    yield
    queue_purged("drafts")


def queue_purged(name: str) -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(name)


def prompts_for_labelers(under, count: int, *, text: str = "Question") -> list[Prompt]:
    """Prompts with a demonstration task each, under the published guideline `under`."""
    return [
        prompt_create(
            author=None,
            guideline=under,
            messages=[{"role": "user", "content": f"{text} {i}: how do I boil an egg?"}],
            require_acknowledgement=False,
        )
        for i in range(count)
    ]


def generation_made(api, **payload) -> GenerationJob:
    """A generation asked for through the API (short replies sampled at temperature 1 and
    one rater per task unless `payload` says otherwise), run here as the drafts worker
    would run it."""
    asked = {"temperature": 1.0, "max_new_tokens": 16, "overlap": 1, **payload}
    answer = api.post("/api/generations/", asked, format="json")
    assert answer.status_code == 202, answer.json()
    return generation_run(job_id=answer.json()["id"])


def chat_reply_send(handler, status: int, text: str) -> None:  # type: ignore[no-untyped-def]
    """Answers a stub server's request (`handler`, an http.server request handler) with a
    chat completion of one choice saying `text`."""
    body = json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    ).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
