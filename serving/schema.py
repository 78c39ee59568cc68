"""`/v1` in the OpenAPI schema: the two OpenAI-compatible operations the platform serves.

They are plain Django views (OpenAI's shapes, not DRF's: errors are `{"error": {...}}`,
streams are server-sent events), so drf-spectacular cannot see them. This hook writes them
in by hand, the limits taken from `serving.completions` so the schema cannot drift from
what the views enforce."""

from typing import Any

from serving.completions import DEFAULT_MAX_TOKENS, MAX_N, MAX_STOPS, MAX_TOKENS
from trainer.ml.sampling import MAX_TOTAL_TOKENS

TAG = "v1 (OpenAI-compatible)"

MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant"]},
        "content": {
            "description": "Text, or a list of text parts ({type: text, text}).",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        },
    },
}

REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "A name from GET /v1/models."},
        "messages": {"type": "array", "items": MESSAGE, "minItems": 1},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
        "n": {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 1},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "stop": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOPS},
            ]
        },
        "stream": {"type": "boolean", "default": False},
        "stream_options": {
            "type": "object",
            "properties": {"include_usage": {"type": "boolean"}},
        },
    },
    "description": f"Without max_tokens a reply may run {DEFAULT_MAX_TOKENS} tokens; n times "
    f"max_tokens is at most {MAX_TOTAL_TOKENS}.",
}

USAGE = {
    "type": "object",
    "properties": {
        name: {"type": "integer"} for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    },
}

COMPLETION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": MESSAGE,
                    "logprobs": {"type": "object", "nullable": True},
                    "finish_reason": {"type": "string", "enum": ["stop", "length"]},
                },
            },
        },
        "usage": USAGE,
    },
}

MODELS = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "object": {"type": "string", "enum": ["model"]},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                },
            },
        },
    },
}

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: tuple[str, str]) -> dict[str, Any]:
    return {code: _json(description, ERROR) for code, description in codes}


AUTH = ("401", "No token, or a wrong one (Authorization: Bearer <token>).")
FORBIDDEN = ("403", "A user whose roles may not call /v1 (admin or inference may).")
NOT_ALLOWED = ("405", "Another HTTP method than the operation's.")
BROKEN = ("500", "Something broke in the server; the message says what.")
# OpenAI's clients send the platform's API token as a bearer token.
SECURITY = [{"bearerAuth": []}]
BEARER = {"type": "http", "scheme": "bearer", "description": "The platform's API token."}

PATHS: dict[str, Any] = {
    "/v1/models": {
        "get": {
            "operationId": "v1_models_list",
            "tags": [TAG],
            "summary": "The models that can be asked: every policy version (SFT, DPO, RL); "
            "'promoted' asks the promoted one.",
            "security": SECURITY,
            "responses": {
                "200": _json("The models", MODELS),
                **_errors(AUTH, FORBIDDEN, NOT_ALLOWED, BROKEN),
            },
        }
    },
    "/v1/chat/completions": {
        "post": {
            "operationId": "v1_chat_completions",
            "tags": [TAG],
            "summary": "A chat completion, whole or streamed as server-sent events.",
            "security": SECURITY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": REQUEST}}},
            "responses": {
                "200": {
                    "description": "The completion, or with stream: true its chunks as "
                    "server-sent events ending with data: [DONE].",
                    "content": {
                        "application/json": {"schema": COMPLETION},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors(
                    ("400", "A bad request; error.param names the field."),
                    AUTH,
                    FORBIDDEN,
                    ("404", "No such model."),
                    NOT_ALLOWED,
                    ("413", "A body over the size limit."),
                    BROKEN,
                    ("503", "The inference process is not answering."),
                    ("504", "The whole answer took longer than SERVING_DEADLINE_S."),
                ),
            },
        }
    },
}


def document_v1(result: dict[str, Any], generator, request, public) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A drf-spectacular postprocessing hook: `/v1`'s operations added to the paths."""
    result.setdefault("paths", {}).update(PATHS)
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearerAuth"] = BEARER
    return result
