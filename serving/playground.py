"""The playground's model work, in the inference process: a reply sampled by the engine that
answers /v1 (so the model is loaded once, and the playground's request shares its batches),
or a reward model's score. The web process checks the input and asks for it over HTTP
(trainer.playground), with the platform's internal key: nobody else may call this.

    POST /internal/playground/<model id>   {"prompt": [...], "reply": "..."}       a score
                                           {"prompt": [...], "sampling": {...}}    a reply
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from config.errors import InputError
from labeling.validation import conversation_checked, text_checked
from serving.access import platform_checked
from serving.completions import MAX_TOKENS, Ask, answer_whole, ask_start, number_checked
from serving.engine import generator_loaded
from serving.errors import BadRequest
from serving.scoring import not_here, scorer_loaded, version_found
from serving.views import served
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion


def _token_strings(tokenizer: Any, ids: list[int]) -> list[str]:
    # One token at a time, so the list shows where the tokenizer cut the text.
    return [tokenizer.decode([token_id]) for token_id in ids]


def playground_compute(
    version: ModelVersion,
    *,
    prompt: list[dict[str, str]],
    reply: str | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, object]:
    """A score when `reply` is given, else a sampled reply; either with the rendered
    prompt's token strings. The input was checked by the web process."""
    from trainer.ml.chat import TURN_TOKENS

    if (reply is not None) != (version.produces == REWARD):
        raise BadRequest("A reward model scores a reply; any other model samples one.")
    if reply is not None:
        scorer = scorer_loaded(version)
        return {
            "model": version.pk,
            "kind": version.kind,
            "score": scorer.score(prompt, reply),
            "prompt_tokens": _token_strings(scorer.tokenizer, scorer.sequence(prompt, reply)),
            "turn_tokens": TURN_TOKENS,
        }
    chosen = sampling or {}
    ask = Ask(
        version=version,
        messages=prompt,
        stream=False,
        include_usage=False,
        n=1,
        temperature=chosen["temperature"],
        # 0 keeps only the most likely token, as the smallest positive value does.
        top_p=max(chosen["top_p"], 1e-6),
        max_tokens=chosen["max_new_tokens"],
        seed=chosen["seed"],
        stop=(),
    )
    # The tokens first, from the generator that is about to answer: once it answered, it
    # may have been unloaded to make room, and loading it again for its tokenizer would
    # push out another model.
    generator = generator_loaded(version)
    tokens = _token_strings(generator.tokenizer, generator.prompt_ids(prompt))
    answer = answer_whole(ask_start(ask))
    return {
        "model": version.pk,
        "kind": version.kind,
        "reply": answer["choices"][0]["message"]["content"],
        "seed": ask.seed,
        "prompt_tokens": tokens,
        "turn_tokens": TURN_TOKENS,
    }


@served("POST", caller=platform_checked, elsewhere=not_here)
def playground(request: HttpRequest, model_id: int) -> HttpResponse:
    """The playground's model work for the web process; every refusal in /v1's error shape,
    whose message the web process shows."""
    version = version_found(model_id)
    return JsonResponse(playground_compute(version, **_work_parsed(request.body)))


def _work_parsed(raw: bytes) -> dict[str, Any]:
    """The web process checked the input already; this process checks it again, as it
    would any request, so that a bad one is a 400 here and never a failure further in."""
    try:
        work = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(work, dict) or set(work) - {"prompt", "reply", "sampling"}:
        raise BadRequest('The body is {"prompt": [...], and "reply" or "sampling"}.')
    try:
        prompt = conversation_checked(work.get("prompt"), field="prompt")
        reply = work.get("reply")
        if reply is not None:
            return {"prompt": prompt, "reply": text_checked(reply, field="reply")}
    except InputError as exc:
        raise BadRequest(exc.detail(), param=exc.field) from None
    sampling = work.get("sampling")
    if not isinstance(sampling, dict):
        raise BadRequest("sampling is an object.", param="sampling")
    return {
        "prompt": prompt,
        "sampling": {
            "temperature": number_checked(sampling, "temperature", 1.0, 0.0, 5.0, whole=False),
            "top_p": number_checked(sampling, "top_p", 1.0, 0.0, 1.0, whole=False),
            "max_new_tokens": number_checked(
                sampling, "max_new_tokens", 128, 1, MAX_TOKENS, whole=True
            ),
            "seed": number_checked(sampling, "seed", None, 0, 2**63 - 1, whole=True),
        },
    }
