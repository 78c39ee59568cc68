"""A reward model's scores from the inference process: the platform's jobs ask
/internal/scores over real HTTP (here the live server, which runs models as that process
does) and get what the model itself gives; nobody else may ask, and bad input is a 400."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from accounts.tokens import token_issue
from sources.client import ChatClient, SourceError
from sources.own_server import SCORED_PER_REQUEST, internal_key, own_scores
from trainer.ml.chat import tokenizer_train
from trainer.ml.modeling import model_save, reward_model_load
from trainer.ml.reward import RewardScorer

from .conftest import QUESTION, version_of

REPLIES = ["The river is blue.", "Grey.", "The stone is grey and the river is blue."]


@pytest.fixture(scope="module")
def reward_dir(tmp_path_factory) -> Path:
    """An untrained tiny reward model from a fixed seed: its scores mean nothing, but they
    differ per reply and are the same wherever it is loaded."""
    tokenizer = tokenizer_train([QUESTION[0]["content"], *REPLIES] * 4)
    torch.manual_seed(0)
    model = reward_model_load("", tokenizer, max_length=128)
    folder = tmp_path_factory.mktemp("scoring") / "reward"
    model_save(model, tokenizer, folder)
    return folder


@pytest.fixture
def reward(transactional_db, reward_dir):
    return version_of("reward", reward_dir)


def scores_asked(url: str, body: object, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {key or internal_key()}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_scores_are_the_reward_models_own_in_the_order_asked(
    inference_process, reward, reward_dir
):
    # More than one request carries: the client splits them, and the order holds. An
    # empty reply is scored too, as the model scores it.
    replies = [f"{REPLIES[i % 3]} {i}" for i in range(SCORED_PER_REQUEST + 5)] + [""]

    scores = own_scores(reward.pk, [(QUESTION, reply) for reply in replies])

    scorer = RewardScorer(reward_dir)
    expected = [scorer.score(QUESTION, reply) for reply in replies]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len(set(scores)) > 1  # a model that scores everything alike would prove nothing


def test_a_conversation_of_any_length_is_scored_from_its_end(inference_process, reward, settings):
    # Longer than a labeler's message may be: the model reads as much as it holds.
    long = [{"role": "user", "content": "What colour is the river? " * 2000}]
    assert len(long[0]["content"]) > settings.LABELING_MAX_CHARS

    scores = own_scores(reward.pk, [(long, "Blue."), (long, "Grey.")])

    assert all(isinstance(s, float) for s in scores) and scores[0] != scores[1]


def test_a_body_too_large_for_one_request_is_split_across_several(
    inference_process, reward, reward_dir, settings
):
    # Each pair is about a third of the body one request may carry: at most one fits in
    # half of it, so each goes alone, and the answers still come in the order asked.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 30_000
    prompt = [{"role": "user", "content": "What colour is the river? " * 400}]
    replies = ["Blue.", "Grey.", "The stone is grey."]

    scores = own_scores(reward.pk, [(prompt, reply) for reply in replies])

    scorer = RewardScorer(reward_dir)
    assert scores == pytest.approx([scorer.score(prompt, r) for r in replies], abs=1e-4)


def test_a_caller_may_ask_in_smaller_requests_and_never_past_its_deadline(
    inference_process, reward, reward_dir, monkeypatch
):
    items = [(QUESTION, reply) for reply in REPLIES]
    bodies: list[dict] = []
    post = ChatClient.post

    def counted(client, path, body):
        bodies.append(body)
        return post(client, path, body)

    monkeypatch.setattr(ChatClient, "post", counted)

    scores = own_scores(reward.pk, items, per_request=2)

    assert [len(body["items"]) for body in bodies] == [2, 1]
    scorer = RewardScorer(reward_dir)
    assert scores == pytest.approx([scorer.score(QUESTION, r) for r in REPLIES], abs=1e-4)
    with pytest.raises(SourceError, match="Ran out of time"):
        own_scores(reward.pk, items, attempts=1, deadline=time.monotonic())
    assert len(bodies) == 2  # nothing asked once the deadline has passed


def test_only_the_platform_may_ask_and_only_a_reward_model_scores(
    inference_process, reward, sft, carol
):
    url = f"{inference_process.url}/internal/scores/{reward.pk}"
    body = {"items": [{"prompt": QUESTION, "reply": "Blue."}]}
    _row, token = token_issue(user=carol)  # an admin's token is still not the platform
    for key in (token, "platform.forged:x:y"):
        status, answer = scores_asked(url, body, key)
        assert status == 401 and answer["error"]["type"] == "authentication_error"

    status, answer = scores_asked(f"{inference_process.url}/internal/scores/{sft.pk}", body)
    assert status == 400 and "not a reward model" in answer["error"]["message"]
    status, answer = scores_asked(f"{inference_process.url}/internal/scores/999999", body)
    assert status == 404
    with pytest.raises(SourceError, match="HTTP 400"):
        own_scores(sft.pk, [(QUESTION, "Blue.")])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"items": []}, "items"),
        ({"items": [{"prompt": QUESTION, "reply": "x"}] * (SCORED_PER_REQUEST + 1)}, "items"),
        ({"items": ["Blue."]}, "items[0]"),
        ({"items": [{"prompt": QUESTION, "reply": 3}]}, "items[0].reply"),
        ({"items": [{"prompt": [{"role": "robot", "content": "Hi"}], "reply": "x"}]}, None),
        ({"items": [{"prompt": "Hi", "reply": "x"}]}, "items[0].prompt"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_loads_nothing(
    inference_process, reward, body, param
):
    from serving.scoring import scorers

    status, answer = scores_asked(f"{inference_process.url}/internal/scores/{reward.pk}", body)

    assert status == 400, answer
    if param:
        assert answer["error"]["param"] == param
    assert scorers.loaded() == []


def test_the_web_process_does_no_model_work(client, settings, reward):
    settings.SERVING_IN_PROCESS = False
    answer = client.post(
        f"/internal/scores/{reward.pk}",
        {"items": [{"prompt": QUESTION, "reply": "Blue."}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {internal_key()}",
    )
    assert answer.status_code == 404 and "inference process" in answer.json()["error"]["message"]
