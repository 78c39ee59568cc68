"""The playground: an SFT model version replies, a reward model version scores a reply,
both show the tokens the chat template made; through the API and the dashboard page."""

import html
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import worker_process
from trainer.ml.chat import IM_END, IM_SEP, IM_START
from trainer.models import ModelVersion, TrainingRun
from trainer.playground import MODELS_KEPT, loaded_models
from trainer.training import run_execute, training_run_create

from .conftest import QUICK

QUESTION = [{"role": "user", "content": "How do I boil an egg?"}]


@pytest.fixture(autouse=True)
def _no_model_loaded():
    # Model version ids start again in every test database: a model kept from another
    # test would answer for the wrong weights.
    loaded_models.clear()
    yield
    loaded_models.clear()


def trained(kind: str) -> ModelVersion:
    run = training_run_create(kind=kind, config=QUICK, enqueue=False)
    run = run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run.model


def chat(api, version: ModelVersion, **payload):
    return api.post(f"/api/models/{version.pk}/chat/", payload, format="json")


def model_dir(version: ModelVersion) -> Path:
    return Path(settings.DATA_DIR) / version.path


@pytest.fixture
def inference_worker(child_env):
    """The worker that loads and runs the models; the test process only sends it work."""
    with worker_process(child_env, queue="inference") as process:
        yield process


def test_an_sft_model_replies_and_shows_the_tokens_the_chat_template_made(
    api, client, carol, oasst, inference_worker
):
    from trainer.ml.generate import Generator, Sampling

    version = trained("sft")
    api.force_authenticate(carol)

    answer = chat(api, version, messages=QUESTION, temperature=0.7, top_p=0.9, max_new_tokens=12)

    assert answer.status_code == 200, answer.data
    rendered = f"{IM_START}user{IM_SEP}How do I boil an egg?{IM_END}{IM_START}assistant{IM_SEP}"
    assert "".join(answer.data["prompt_tokens"]) == rendered
    assert answer.data["prompt_tokens"][0] == IM_START
    assert answer.data["prompt_tokens"][-1] == IM_SEP
    assert set(answer.data["turn_tokens"]) == {IM_START, IM_SEP, IM_END}
    # The reply is the model's own sample with the seed it reports.
    sampling = Sampling(
        k=1, temperature=0.7, top_p=0.9, max_new_tokens=12, seed=answer.data["seed"]
    )
    assert answer.data["reply"] == Generator(model_dir(version)).sample(QUESTION, sampling)[0]
    again = chat(api, version, messages=QUESTION, temperature=0.7, top_p=0.9, max_new_tokens=12)
    assert again.status_code == 200 and "score" not in again.data

    # The dashboard page answers the same way, and carries the conversation on.
    client.force_login(carol)
    form = {"model": version.pk, "message": "How do I boil an egg?", "max_new_tokens": "8"}
    page = client.post("/dashboard/playground/", form)
    assert page.status_code == 200
    content = page.content.decode()
    assert content.count('class="turn-token"') == 5  # a turn: start, sep, end; then start, sep
    carried = re.search(r'name="conversation" value="([^"]*)"', content).group(1)
    conversation = json.loads(html.unescape(carried))
    assert [m["role"] for m in conversation] == ["user", "assistant"]
    page = client.post(
        "/dashboard/playground/",
        {**form, "conversation": json.dumps(conversation), "message": "And a soft one?"},
    )
    assert page.status_code == 200
    assert page.content.decode().count('class="turn-token"') == 11


@pytest.mark.django_db
def test_at_most_two_models_stay_loaded_the_least_recently_used_goes(monkeypatch, untrained):
    loads = []
    monkeypatch.setattr("trainer.playground._load", lambda version: loads.append(version.pk))
    run = TrainingRun.objects.create(kind="sft", status="succeeded")
    third = ModelVersion.objects.create(kind="sft", run=run, path="runs/other")
    sft, reward = untrained["sft"], untrained["reward"]

    for version in (sft, reward, sft, third, sft, reward):
        loaded_models.get(version)

    assert MODELS_KEPT == 2
    # reward went when third came; sft stayed, used more recently than reward.
    assert loads == [sft.pk, reward.pk, third.pk, reward.pk]
    assert [pk for pk, _ in loaded_models.loaded()] == [sft.pk, reward.pk]


def test_a_reward_model_scores_the_last_assistant_reply(
    api, client, carol, oasst, inference_worker
):
    from trainer.ml.reward import RewardScorer

    version = trained("reward")
    api.force_authenticate(carol)
    reply = "Put it in boiling water for nine minutes."

    answer = chat(api, version, messages=[*QUESTION, {"role": "assistant", "content": reply}])

    assert answer.status_code == 200, answer.data
    scorer = RewardScorer(model_dir(version), max_length=QUICK["max_length"])
    assert answer.data["score"] == pytest.approx(scorer.score(QUESTION, reply), abs=1e-5)
    assert "reply" not in answer.data
    assert "".join(answer.data["prompt_tokens"]).endswith(f"assistant{IM_SEP}{reply}{IM_END}")

    refused = chat(api, version, messages=QUESTION)
    assert refused.status_code == 400 and "messages" in refused.data

    client.force_login(carol)
    page = client.post(
        "/dashboard/playground/",
        {"model": version.pk, "message": "How do I boil an egg?", "reply": reply},
    )
    assert page.status_code == 200
    shown = float(re.search(r"<strong data-score>([^<]*)<", page.content.decode()).group(1))
    assert shown == pytest.approx(answer.data["score"], abs=1e-4)
    # The reply stays in its box, to be changed and scored again.
    assert f">{reply}</textarea>" in page.content.decode()


@pytest.fixture
def untrained(carol):
    """Model versions with no weights: input is checked before any model is loaded."""
    versions = {}
    for kind in ("sft", "reward"):
        run = TrainingRun.objects.create(kind=kind, status="succeeded")
        versions[kind] = ModelVersion.objects.create(kind=kind, run=run, path="runs/none")
    return versions


USER = {"role": "user", "content": "Hi"}
ASSISTANT = {"role": "assistant", "content": "Hello."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("sft", {}, "messages"),
        ("sft", {"messages": []}, "messages"),
        ("sft", {"messages": "Hi"}, "messages"),
        ("sft", {"messages": [{"role": "robot", "content": "Hi"}]}, "messages[0]"),
        ("sft", {"messages": [{"role": "user", "content": "  "}]}, "messages[0]"),
        ("sft", {"messages": [{"role": "user"}]}, "messages[0]"),
        ("sft", {"messages": [USER, ASSISTANT]}, "messages"),
        ("sft", {"messages": [USER, USER]}, "messages[1]"),
        ("sft", {"messages": [USER], "temperature": 7}, "temperature"),
        ("sft", {"messages": [USER], "temperature": "hot"}, "temperature"),
        ("sft", {"messages": [USER], "top_p": 0}, "top_p"),
        ("sft", {"messages": [USER], "top_p": 1.5}, "top_p"),
        ("sft", {"messages": [USER], "max_new_tokens": 0}, "max_new_tokens"),
        ("sft", {"messages": [USER], "max_new_tokens": 100_000}, "max_new_tokens"),
        ("reward", {"messages": [USER]}, "messages"),
        ("reward", {"messages": [USER, USER]}, "messages[1]"),
        ("reward", {"messages": [ASSISTANT, ASSISTANT]}, "messages[0]"),
        ("reward", {"messages": [USER, {"role": "assistant", "content": ""}]}, "messages[1]"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field(api, carol, untrained, kind, payload, field):
    api.force_authenticate(carol)

    answer = chat(api, untrained[kind], **payload)

    assert answer.status_code == 400, answer.data
    assert field in answer.data, answer.data


@pytest.mark.django_db
def test_only_admins_may_chat(api, alice, bob, dave, untrained):
    url = f"/api/models/{untrained['sft'].pk}/chat/"
    for person in (alice, bob, dave):
        api.force_authenticate(person)
        assert api.post(url, {"messages": [USER]}, format="json").status_code == 403, person
    api.force_authenticate(None)
    assert api.post(url, {"messages": [USER]}, format="json").status_code in (401, 403)


@pytest.mark.django_db
def test_a_model_that_does_not_exist_is_a_404(api, carol):
    api.force_authenticate(carol)

    assert api.post("/api/models/999/chat/", {"messages": [USER]}, format="json").status_code == 404


@pytest.mark.django_db
def test_with_no_inference_worker_answering_in_time_the_api_says_try_again(
    api, client, carol, untrained, monkeypatch, inference_queue_emptied
):
    monkeypatch.setattr("trainer.playground.ANSWER_WAIT_S", 1.0)
    api.force_authenticate(carol)

    started = time.monotonic()
    answer = chat(api, untrained["sft"], messages=[USER])

    assert time.monotonic() - started < 10
    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "model_not_ready"
    assert "try again" in answer.json()["detail"]
    assert answer["Retry-After"] == "5"

    client.force_login(carol)
    page = client.post("/dashboard/playground/", {"model": untrained["sft"].pk, "message": "Hi"})
    assert page.status_code == 503
    assert "try again" in page.content.decode()
    assert ">Hi</textarea>" in page.content.decode()  # the message stays, to be sent again


@pytest.mark.django_db
def test_with_the_broker_down_the_api_answers_503_at_once(api, carol, untrained, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    api.force_authenticate(carol)

    started = time.monotonic()
    answer = chat(api, untrained["sft"], messages=[USER])

    assert time.monotonic() - started < 5
    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "broker_unavailable"


def test_a_model_whose_files_are_gone_is_a_503_that_says_so(api, carol, oasst, inference_worker):
    version = trained("sft")
    shutil.rmtree(model_dir(version))
    api.force_authenticate(carol)

    answer = chat(api, version, messages=QUESTION, max_new_tokens=4)

    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "model_not_ready"
    assert answer.json()["detail"].startswith("The model could not answer: ")
