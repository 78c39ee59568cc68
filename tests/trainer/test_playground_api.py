"""The playground: an SFT model version replies, a reward model version scores a reply,
both show the tokens the chat template made; through the API and the dashboard page. The
model work is asked of the inference process over HTTP: here the live server, which runs
models itself as that process does."""

import html
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from serving.engine import engine
from serving.scoring import scorers
from tests.conftest import free_port
from trainer.ml.chat import IM_END, IM_SEP, IM_START
from trainer.models import ModelVersion, TrainingRun
from trainer.training import run_execute, training_run_create

from .conftest import QUICK

QUESTION = [{"role": "user", "content": "How do I boil an egg?"}]


def trained(kind: str) -> ModelVersion:
    run = training_run_create(kind=kind, config=QUICK, enqueue=False)
    run = run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run.model


def chat(api, version: ModelVersion, **payload):
    return api.post(f"/api/models/{version.pk}/chat/", payload, format="json")


def model_dir(version: ModelVersion) -> Path:
    return Path(settings.DATA_DIR) / version.path


def test_an_sft_model_replies_and_shows_the_tokens_the_chat_template_made(
    api, client, carol, oasst, inference_process
):
    from openai import OpenAI

    from accounts.tokens import token_issue

    version = trained("sft")
    api.force_authenticate(carol)

    answer = chat(api, version, messages=QUESTION, temperature=0.7, top_p=0.9, max_new_tokens=12)

    assert answer.status_code == 200, answer.data
    rendered = f"{IM_START}user{IM_SEP}How do I boil an egg?{IM_END}{IM_START}assistant{IM_SEP}"
    assert "".join(answer.data["prompt_tokens"]) == rendered
    assert answer.data["prompt_tokens"][0] == IM_START
    assert answer.data["prompt_tokens"][-1] == IM_SEP
    assert set(answer.data["turn_tokens"]) == {IM_START, IM_SEP, IM_END}
    # The reply comes from the engine that answers /v1: the same seed there gives it.
    _row, token = token_issue(user=carol)
    with OpenAI(base_url=f"{inference_process.url}/v1", api_key=token, max_retries=0) as v1:
        same = v1.chat.completions.create(
            model=version.name,
            messages=QUESTION,
            temperature=0.7,
            top_p=0.9,
            max_tokens=12,
            seed=answer.data["seed"],
        )
    assert answer.data["reply"] == same.choices[0].message.content
    # One model loaded, in the inference process's engine, for both.
    assert len(engine.loaded()) == 1 and engine.loaded()[0].stats.steps > 0
    again = chat(api, version, messages=QUESTION, temperature=0.7, top_p=0.9, max_new_tokens=12)
    assert again.status_code == 200 and "score" not in again.data
    # A prompt longer than the model reads is the input's fault: a 400, not "try again".
    too_long = " ".join(f"word{i} zq{i * 7}" for i in range(900))
    refused = chat(api, version, messages=[{"role": "user", "content": too_long}])
    assert refused.status_code == 400 and "tokens" in str(refused.data["messages"])

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
def test_at_most_two_reward_models_stay_loaded_the_least_recently_used_goes(
    monkeypatch, untrained, settings
):
    loads = []
    monkeypatch.setattr(scorers, "_load", lambda version: loads.append(version.pk))
    second, third = (
        ModelVersion.objects.create(
            kind="reward",
            run=TrainingRun.objects.create(kind="reward", status="succeeded"),
            path=path,
        )
        for path in ("runs/second", "runs/third")
    )
    first = untrained["reward"]

    for version in (first, second, first, third, first, second):
        scorers.get(version)

    assert scorers.size == settings.SERVING_MODELS_KEPT == 2
    # second went when third came; first stayed, used more recently than second.
    assert loads == [first.pk, second.pk, third.pk, second.pk]
    assert [pk for pk, _ in scorers.loaded()] == [first.pk, second.pk]


def test_a_reward_model_scores_the_last_assistant_reply(
    api, client, carol, oasst, inference_process
):
    from trainer.ml.reward import RewardScorer

    version = trained("reward")
    api.force_authenticate(carol)
    reply = "Put it in boiling water for nine minutes."

    answer = chat(api, version, messages=[*QUESTION, {"role": "assistant", "content": reply}])

    assert answer.status_code == 200, answer.data
    scorer = RewardScorer(model_dir(version), max_length=QUICK["max_length"])
    assert answer.data["score"] == pytest.approx(scorer.score(QUESTION, reply), abs=1e-5)
    assert [pk for pk, _ in scorers.loaded()] == [version.pk] and engine.loaded() == []
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


@pytest.fixture
def silent_server(settings):
    """An inference process that takes the connection and never answers (a model loading)."""
    listening = socket.create_server(("127.0.0.1", 0))
    settings.INFERENCE_URL = f"http://127.0.0.1:{listening.getsockname()[1]}"
    yield
    listening.close()


@pytest.mark.django_db
def test_with_the_inference_process_not_answering_in_time_the_api_says_try_again(
    api, client, carol, untrained, monkeypatch, silent_server
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
def test_with_the_inference_process_down_the_api_answers_503_at_once(
    api, carol, untrained, settings
):
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    api.force_authenticate(carol)

    started = time.monotonic()
    answer = chat(api, untrained["reward"], messages=[USER, ASSISTANT])

    assert time.monotonic() - started < 5
    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "model_not_ready"
    assert "not answering" in answer.json()["detail"]


def test_a_model_whose_files_are_gone_is_a_503_that_says_so(api, carol, oasst, inference_process):
    version = trained("sft")
    shutil.rmtree(model_dir(version))
    api.force_authenticate(carol)

    answer = chat(api, version, messages=QUESTION, max_new_tokens=4)

    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "model_not_ready"
    assert answer.json()["detail"].startswith("The model could not answer: ")


@pytest.mark.django_db(transaction=True)
def test_only_the_platform_asks_the_inference_process_for_playground_work(
    live_server, carol, untrained
):
    from accounts.tokens import token_issue
    from sources.own_server import internal_key

    _row, token = token_issue(user=carol)  # an admin's token is still not the platform
    url = f"{live_server.url}/internal/playground/{untrained['sft'].pk}"
    body = json.dumps({"prompt": [USER], "sampling": {"max_new_tokens": 2}}).encode()
    for header in (None, f"Bearer {token}", "Bearer platform.forged:x:y"):
        request = urllib.request.Request(url, data=body, method="POST")
        if header:
            request.add_header("Authorization", header)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 401, header
    # The platform's key passes; a body that is not the playground's work is a 400.
    request = urllib.request.Request(
        url, data=b'{"prompt": "Hi"}', headers={"Authorization": f"Bearer {internal_key()}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400


@pytest.mark.django_db
def test_a_reward_model_loading_holds_up_neither_a_loaded_one_nor_a_second_load(untrained):
    from trainer.loaded_models import LoadedModels

    first = untrained["reward"]
    second = ModelVersion.objects.create(
        kind="reward",
        run=TrainingRun.objects.create(kind="reward", status="succeeded"),
        path="runs/second",
    )
    release, loads = threading.Event(), []

    def load(version):
        loads.append(version.pk)
        if version.pk == second.pk:
            release.wait(timeout=30)  # a slow load
        return f"model {version.pk}"

    kept = LoadedModels(2, load)
    kept.get(first)
    waiting = [threading.Thread(target=kept.get, args=(second,)) for _ in range(2)]
    for thread in waiting:
        thread.start()
    time.sleep(0.2)

    assert kept.get(first) == f"model {first.pk}"  # answered while the other loads
    release.set()
    for thread in waiting:
        thread.join(timeout=30)
    assert loads == [first.pk, second.pk]  # two requests for it, one load
