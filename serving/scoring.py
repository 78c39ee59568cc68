"""Reward models' scores, in the inference process: a job that ranks replies (best-of-n
generation) asks here over HTTP with the platform's internal key (sources.own_server), so
the reward model is loaded once, here, and no worker holds it. Nobody else may call this.

    POST /internal/scores/<model id>   {"items": [{"prompt": [...], "reply": "..."}, ...]}
    -> {"model": <id>, "scores": [<number or null>, ...]}      in the order asked

A score is null where the model gave no finite number (JSON holds no NaN)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from config.errors import InputError
from labeling.validation import conversation_checked
from serving.access import platform_checked
from serving.engine import unloadable
from serving.errors import BadRequest, PathNotFound
from serving.views import served
from sources.own_server import SCORED_PER_REQUEST
from trainer.loaded_models import LoadedModels, reward_scorer_load
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion

if TYPE_CHECKING:
    from trainer.ml.reward import RewardScorer

# Reward models kept loaded for scores and the playground; only the inference process
# fills it.
scorers = LoadedModels(settings.SERVING_MODELS_KEPT, reward_scorer_load)


def not_here(request: HttpRequest) -> HttpResponse:
    """The answer of the web process, which asks the inference process and does none of
    the model work itself."""
    return PathNotFound("The inference process does the models' work.").response()


def version_found(model_id: int) -> ModelVersion:
    """The model version an /internal path names; a 404 when there is none."""
    version = ModelVersion.objects.filter(pk=model_id).first()
    if version is None:
        raise PathNotFound(f"There is no model version {model_id}.")
    return version


def scorer_loaded(version: ModelVersion) -> RewardScorer:
    """The reward model, loaded once and kept; a 503 when its files are gone or are not a
    model transformers reads."""
    try:
        return scorers.get(version)
    except OSError:
        raise unloadable(version) from None


@served("POST", caller=platform_checked, elsewhere=not_here)
def scores(request: HttpRequest, model_id: int) -> HttpResponse:
    version = version_found(model_id)
    if version.produces != REWARD:
        raise BadRequest(f"{version.name} is not a reward model: only reward models score.")
    items = _items_parsed(request.body)
    found = scorer_loaded(version).scores(items).tolist()
    return JsonResponse(
        {"model": version.pk, "scores": [s if math.isfinite(s) else None for s in found]}
    )


def _items_parsed(raw: bytes) -> list[tuple[list[dict[str, str]], str]]:
    """Checked as any request's input, so a bad one is a 400 and never a failure further in."""
    try:
        body: Any = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not JSON.") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= SCORED_PER_REQUEST:
        raise BadRequest(
            f'The body is {{"items": [...]}}, 1 to {SCORED_PER_REQUEST} of {{"prompt", "reply"}}.',
            param="items",
        )
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest('Each item is {"prompt": [...], "reply": "..."}.', param=f"items[{i}]")
        try:
            prompt = conversation_checked(
                item.get("prompt"), field=f"items[{i}].prompt", limited=False
            )
        except InputError as exc:
            raise BadRequest(exc.detail(), param=exc.field) from None
        reply = item.get("reply")
        # Any text, empty or past what a labeler may write: a model's reply is scored as
        # it came (an evaluation counts an empty one as the reward model scores it).
        if not isinstance(reply, str):
            raise BadRequest("A reply is text.", param=f"items[{i}].reply")
        parsed.append((prompt, reply))
    return parsed
