"""The playground: a reply from an SFT model version, or the score a reward model version
gives the last reply of a conversation, with the tokens the chat template made of it.

The web request checks the input (no model library needed) and hands the model work to a
Celery task on the `inference` queue, waiting for its answer a little less than gunicorn
lets a request run. Loading a model takes longer than answering with it, so the inference
worker process keeps the last few used loaded (MODELS_KEPT of them); a request that gave
up waiting still leaves its model loaded for the next try."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult
from django.conf import settings

from config.celery import app as celery_app
from config.errors import InputError
from jobs.services import job_error_text, task_publish
from labeling.validation import conversation_checked, text_checked
from trainer.ml.methods import REWARD
from trainer.ml.sampling import Sampling
from trainer.models import ModelVersion

MODELS_KEPT = 2
MAX_NEW_TOKENS = 512
# Below gunicorn's 30 s timeout, so the request answers 503 itself instead of being killed.
ANSWER_WAIT_S = 25.0
# A request nobody waits for any more is dropped from the queue rather than run late.
ANSWER_EXPIRES_S = 120
# The task in trainer.tasks that does the model work (by name: no import of the tasks).
PLAYGROUND_TASK = "trainer.tasks.playground_compute"


class ModelNotReady(Exception):
    """The inference worker did not answer in time: the model is loading, or it is busy."""


class LoadedModels:
    """Least recently used first; loads happen under a lock so that two requests for the
    same model load it once."""

    def __init__(self, size: int):
        self.size = size
        self._models: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> Any:
        key = (version.pk, version.path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = _load(version)
            self._models[key] = loaded
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return loaded

    def loaded(self) -> list[tuple[int, str]]:
        return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def _load(version: ModelVersion) -> Any:
    # Imported here: only the inference worker loads torch for the playground.
    from trainer.ml.generate import Generator
    from trainer.ml.reward import RewardScorer

    folder = Path(settings.DATA_DIR) / version.path
    if version.produces == REWARD:
        # The length it was trained at, saved with it: the scores its evaluation saw.
        return RewardScorer(folder)
    return Generator(folder)


# One per inference worker process; the web process never fills it.
loaded_models = LoadedModels(MODELS_KEPT)


def _token_strings(tokenizer, ids: list[int]) -> list[str]:
    # One token at a time, so the list shows where the tokenizer cut the text.
    return [tokenizer.decode([token_id]) for token_id in ids]


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
    worker has not answered within ANSWER_WAIT_S."""
    if version.produces == REWARD:
        prompt, reply = _reward_input(messages)
        work = {"model_id": version.pk, "prompt": prompt, "reply": reply}
    else:
        prompt = conversation_checked(messages)
        seed = secrets.randbelow(2**31) if seed is None else seed
        sampling = _sampling_checked(
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        )
        work = {"model_id": version.pk, "prompt": prompt, "sampling": vars(sampling)}
    # Sent like every job (a short publish timeout: BrokerUnavailable, a 503, when the
    # broker is down), routed to the inference queue by CELERY_TASK_ROUTES.
    sent = AsyncResult(
        task_publish(PLAYGROUND_TASK, kwargs=work, expires=ANSWER_EXPIRES_S, ignore_result=False),
        app=celery_app,
    )
    try:
        answer = sent.get(timeout=ANSWER_WAIT_S, interval=0.05, propagate=False)
    except ResultTimeout:
        raise ModelNotReady(
            "The model is still loading or busy: try again in a few seconds."
        ) from None
    failed = sent.failed()
    sent.forget()
    if failed:
        # The worker could not answer (its files gone, a model it cannot load): the
        # request was fine, the model is not usable now.
        raise ModelNotReady(f"The model could not answer: {job_error_text(answer)}")
    return answer


def playground_compute(
    *,
    model_id: int,
    prompt: list[dict[str, str]],
    reply: str | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, object]:
    """The model work behind playground_answer, in the inference worker, on input the web
    request has checked: a score when `reply` is given, else a sampled reply."""
    from trainer.ml.chat import TURN_TOKENS

    version = ModelVersion.objects.get(pk=model_id)
    if reply is not None:
        scorer = loaded_models.get(version)
        ids = scorer.sequence(prompt, reply)
        return {
            "model": version.pk,
            "kind": version.kind,
            "score": scorer.score(prompt, reply),
            "prompt_tokens": _token_strings(scorer.tokenizer, ids),
            "turn_tokens": TURN_TOKENS,
        }
    chosen = Sampling(**(sampling or {}))
    generator = loaded_models.get(version)
    return {
        "model": version.pk,
        "kind": version.kind,
        "reply": generator.sample(prompt, chosen)[0],
        "seed": chosen.seed,
        "prompt_tokens": _token_strings(generator.tokenizer, generator.prompt_ids(prompt)),
        "turn_tokens": TURN_TOKENS,
    }
