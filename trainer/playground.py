"""The playground: a reply from an SFT model version, or the score a reward model version
gives the last reply of a conversation, with the tokens the chat template made of it.

Loading a model takes longer than answering with it, so the last few used stay loaded in
this process (MODELS_KEPT of them: a web process must not fill its memory with models)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.validation import conversation_checked, text_checked
from trainer.models import ModelVersion
from trainer.training import TrainingInputError

MODELS_KEPT = 2
MAX_NEW_TOKENS = 512


class _LoadedModels:
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
    # Imported here: only a process that answers the playground loads torch for it.
    from trainer.ml.generate import Generator
    from trainer.ml.reward import RewardScorer

    folder = Path(settings.DATA_DIR) / version.path
    if version.kind == ModelVersion.Kind.REWARD:
        return RewardScorer(folder, max_length=int(version.config.get("max_length", 1024)))
    return Generator(folder)


loaded_models = _LoadedModels(MODELS_KEPT)


def _token_strings(tokenizer, ids: list[int]) -> list[str]:
    # One token at a time, so the list shows where the tokenizer cut the text.
    return [tokenizer.decode([token_id]) for token_id in ids]


def _reward_input(messages: object) -> tuple[list[dict[str, str]], str]:
    """A conversation ending on the assistant reply to score: the prompt before it must
    be one an SFT model could have answered."""
    if not isinstance(messages, list) or len(messages) < 2:
        raise TrainingInputError(
            "messages", "A conversation ending on the assistant reply to score."
        )
    last = messages[-1]
    where = f"messages[{len(messages) - 1}]"
    if not isinstance(last, dict) or last.get("role") != "assistant":
        raise TrainingInputError(where, "A reward model scores an assistant reply: end on one.")
    prompt = conversation_checked(messages[:-1])
    return prompt, text_checked(last.get("content"), field=where)


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
    rendered conversation as token strings."""
    from trainer.ml.chat import TURN_TOKENS
    from trainer.ml.generate import Sampling
    from trainer.ml.reward import sequences_encode

    if version.kind == ModelVersion.Kind.REWARD:
        prompt, reply = _reward_input(messages)
        scorer = loaded_models.get(version)
        completion = [{"role": "assistant", "content": reply}]
        ids = sequences_encode(scorer.tokenizer, prompt, completion, scorer.max_length)
        return {
            "model": version.pk,
            "kind": version.kind,
            "score": scorer.score(prompt, reply),
            "prompt_tokens": _token_strings(scorer.tokenizer, ids),
            "turn_tokens": TURN_TOKENS,
        }
    prompt = conversation_checked(messages)
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise TrainingInputError("max_new_tokens", f"Between 1 and {MAX_NEW_TOKENS}.")
    seed = secrets.randbelow(2**31) if seed is None else seed
    try:
        sampling = Sampling(
            k=1, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        )
    except ValueError as exc:
        raise TrainingInputError(str(exc).split(" ", 1)[0], str(exc)) from exc
    generator = loaded_models.get(version)
    return {
        "model": version.pk,
        "kind": version.kind,
        "reply": generator.sample(prompt, sampling)[0],
        "seed": seed,
        "prompt_tokens": _token_strings(generator.tokenizer, generator.prompt_ids(prompt)),
        "turn_tokens": TURN_TOKENS,
    }
