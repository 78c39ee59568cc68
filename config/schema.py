"""The error answers every API operation can give, written into the OpenAPI schema.

drf-spectacular documents the success answers each view declares; the 4xx answers come from
places it cannot see (permissions, `get_object_or_404`, `config.api_errors`, throttles), so
without this hook a client reading the schema would not know a 403 or a 409 can happen.
"""

from typing import Any

ERROR_SCHEMA_NAME = "Error"
VALIDATION_ERROR_SCHEMA_NAME = "ValidationError"

# `{"detail": "..."}` from DRF and config.api_errors, sometimes with a machine-readable
# `code` and more keys (e.g. the guideline to acknowledge).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "detail": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
        "code": {"type": "string"},
    },
    "additionalProperties": True,
}

# Serializer errors: `{"field": ["message", ...], ...}`, or one such object per item when a
# list was posted.
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "additionalProperties": True},
        {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    ]
}

WRITE_METHODS = {"post", "put", "patch", "delete"}


def _answer(description: str, schema_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def _is_throttled(view_class: type | None) -> bool:
    """Whether the view applies a throttle (APIView's default is the project's default)."""
    return bool(getattr(view_class, "throttle_classes", None))


def _error_codes(
    method: str, operation: dict[str, Any], view_class: type | None
) -> dict[str, tuple[str, str]]:
    """Status code -> (description, schema) of the errors this operation can answer."""
    parameters = operation.get("parameters", [])
    takes_input = "requestBody" in operation or any(p["in"] == "query" for p in parameters)
    anonymous = operation.get("security") == [{}]
    codes: dict[str, tuple[str, str]] = {}
    if takes_input:
        codes["400"] = ("The input is not valid.", VALIDATION_ERROR_SCHEMA_NAME)
    if not anonymous:
        codes["401"] = ("Not signed in, or the token is not valid.", ERROR_SCHEMA_NAME)
        codes["403"] = ("The user's roles do not allow it.", ERROR_SCHEMA_NAME)
    if any(p["in"] == "path" for p in parameters):
        codes["404"] = ("No such object, or not visible to this user.", ERROR_SCHEMA_NAME)
    if method in WRITE_METHODS:
        codes["409"] = ("The object's state does not allow it now.", ERROR_SCHEMA_NAME)
        codes["503"] = ("A service it needs (the job broker) is not answering.", ERROR_SCHEMA_NAME)
    if "requestBody" in operation:
        codes["413"] = ("The request body is too large.", ERROR_SCHEMA_NAME)
        codes["415"] = ("The request body's content type is not accepted.", ERROR_SCHEMA_NAME)
    if _is_throttled(view_class):
        codes["429"] = ("Too many requests; retry later.", ERROR_SCHEMA_NAME)
    return codes


def document_error_answers(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict:
    """Postprocessing hook: add the error answers to every operation that lacks them, and
    give an error answer a view declared by its description alone the error shape."""
    view_classes: dict[tuple[str, str], type] = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view_classes[(path, method.lower())] = getattr(callback, "cls", None)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    schemas.setdefault(VALIDATION_ERROR_SCHEMA_NAME, VALIDATION_ERROR_SCHEMA)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            view_class = view_classes.get((path, method))
            responses = operation.setdefault("responses", {})
            for code, (description, schema_name) in _error_codes(
                method, operation, view_class
            ).items():
                responses.setdefault(code, _answer(description, schema_name))
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "content" not in response:
                    response.update(_answer(response.get("description", ""), ERROR_SCHEMA_NAME))
    return result
