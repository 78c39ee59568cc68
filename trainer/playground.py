"""The playground: a reply from an SFT model version, or the score a reward model version
gives the last reply of a conversation, with the tokens the chat template made of it.

The web request checks the input (no model library needed) and asks the inference process
for the model work (serving.playground, over HTTP with the platform's internal key),
waiting a little less than gunicorn lets a request run. A reply comes from the engine that
answers /v1, so one process holds each model, and that process keeps the recently used ones
loaded: a request that gave up waiting while its model loaded finds it loaded next time."""

from __future__ import annotations

import http.client
import json
import secrets
import urllib.error
import urllib.request

from django.conf import settings

from config.errors import InputError
from labeling.validation import conversation_checked, text_checked
from sources.client import NO_REDIRECTS
from sources.own_server import internal_key
from trainer.ml.methods import REWARD
from trainer.ml.sampling import Sampling
from trainer.models import ModelVersion

MAX_NEW_TOKENS = 512
# Below gunicorn's 30 s timeout, so the request answers 503 itself instead of being killed.
ANSWER_WAIT_S = 25.0
# How much of the inference process's error message is shown.
DETAIL_CHARS = 300


class ModelNotReady(Exception):
    """The inference process did not answer in time (the model is loading, or busy), is
    not running, or could not use the model."""


def _reward_input(messages: object) -> tuple[list[dict[str, str]], str]:
    """A conversation ending on the assistant reply to score: the prompt before it must
    be one an SFT model could have answered."""
    if not isinstance(messages, list) or len(messages) < 2:
        raise InputError("messages", "A conversation ending on the assistant reply to score.")
    last = messages[-1]
    where = f"messages[{len(messages) - 1}]"
    if not isinstance(last, dict) or last.get("role") != "assistant":
        raise InputError(where, "A reward model scores an assistant reply: end on one.")
    prompt = conversation_checked(messages[:-1])
    return prompt, text_checked(last.get("content"), field=where)


def _sampling_checked(
    *, temperature: float, top_p: float, max_new_tokens: int, seed: int
) -> Sampling:
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise InputError("max_new_tokens", f"Between 1 and {MAX_NEW_TOKENS}.")
    try:
        return Sampling(
            k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        )
    except ValueError as exc:
        raise InputError(str(exc).split(" ", 1)[0], str(exc)) from exc


def playground_answer(
    *,
    version: ModelVersion,
    messages: object,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    seed: int | None = None,
) -> dict[str, object]:
    """An SFT version's reply to `messages` (ending on a user turn), or a reward version's
    score of the assistant reply `messages` ends on. Either way with `prompt_tokens`, the
    rendered conversation as token strings. Raises ModelNotReady when the inference
    process has not answered within ANSWER_WAIT_S, or could not."""
    if version.produces == REWARD:
        prompt, reply = _reward_input(messages)
        work: dict[str, object] = {"prompt": prompt, "reply": reply}
    else:
        prompt = conversation_checked(messages)
        seed = secrets.randbelow(2**31) if seed is None else seed
        sampling = _sampling_checked(
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        )
        work = {"prompt": prompt, "sampling": vars(sampling)}
    return _asked(version, work)


def _asked(version: ModelVersion, work: dict[str, object]) -> dict[str, object]:
    url = f"{settings.INFERENCE_URL.rstrip('/')}/internal/playground/{version.pk}"
    request = urllib.request.Request(
        url,
        data=json.dumps(work).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {internal_key()}"},
        method="POST",
    )
    try:
        # Never following a redirect, which would send the platform's key elsewhere.
        with NO_REDIRECTS.open(request, timeout=ANSWER_WAIT_S) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as refused:
        raise _refusal(refused) from None
    except TimeoutError:
        raise ModelNotReady(
            "The model is still loading or busy: try again in a few seconds."
        ) from None
    except (OSError, http.client.HTTPException, ValueError):
        # Refused or reset connections, or something that is not the inference process.
        raise ModelNotReady(
            "The inference process is not answering: is it running (runstack starts it)?"
        ) from None


def _refusal(refused: urllib.error.HTTPError) -> Exception:
    """What the inference process's refusal means here: a 400 is the input's fault (a
    prompt longer than the model reads), a 401 a deployment whose processes do not share
    SECRET_KEY, anything else a model not usable now (its files gone, one it cannot load)."""
    try:
        error = json.load(refused)["error"]
        message, param = str(error["message"])[:DETAIL_CHARS], error.get("param")
    except (OSError, ValueError, KeyError, TypeError):
        message, param = f"HTTP {refused.code}", None
    if refused.code == 400:
        return InputError(str(param or "messages"), message)
    if refused.code == 401:
        return ModelNotReady(
            f"The inference process refused the platform's key ({message}): every process "
            "must run with the same SECRET_KEY."
        )
    return ModelNotReady(f"The model could not answer: {message}")
