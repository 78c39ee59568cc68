"""The dashboard's playground: talk to a model version, or score a reply with a reward model.

The form goes through the chat API's own serializer, so the page and the API check a
message the same way."""

import json

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from accounts.permissions import role_required
from accounts.roles import Role
from config.errors import InputError
from config.form_errors import field_errors
from trainer.api_playground import ChatInputSerializer
from trainer.ml.methods import REWARD
from trainer.models import ModelVersion
from trainer.playground import ModelNotReady, playground_answer

admins = role_required(Role.ADMIN)


def _conversation(text: str) -> list[dict[str, str]]:
    """The turns so far, carried from one answer to the next in a hidden field."""
    if not text:
        return []
    try:
        found = json.loads(text)
    except ValueError:
        raise InputError("conversation", "Not a conversation: start over.") from None
    if not isinstance(found, list):
        raise InputError("conversation", "Not a conversation: start over.")
    return found


def _playground_answer(
    version: ModelVersion, conversation: list[dict[str, str]], post: QueryDict
) -> tuple[dict[str, object], list[dict[str, str]], dict[str, str]]:
    """The answer, the conversation to carry on with, and the fields in error."""
    asked = [*conversation, {"role": "user", "content": post.get("message", "")}]
    if version.produces == REWARD:
        asked.append({"role": "assistant", "content": post.get("reply", "")})
    data = {
        name: post[name] for name in ("temperature", "top_p", "max_new_tokens") if post.get(name)
    }
    payload = ChatInputSerializer(data={**data, "messages": asked})
    if not payload.is_valid():
        return {}, conversation, field_errors(payload.errors)
    answer = playground_answer(version=version, **payload.validated_data)
    if version.produces == REWARD:
        # The conversation stays as it was: another reply to the same prompt can be scored.
        return answer, conversation, {}
    return answer, [*asked, {"role": "assistant", "content": answer["reply"]}], {}


def _message_field(name: str, conversation_length: int, produces: str | None) -> str:
    """`messages[i]` names the turn the form typed in, `message` or `reply`, or one before."""
    if name == "messages":
        return "message"
    if not name.startswith("messages["):
        return name
    index = int(name.removeprefix("messages[").rstrip("]"))
    if index < conversation_length:
        return "conversation"
    if produces == REWARD and index == conversation_length + 1:
        return "reply"
    return "message"


@admins
def playground(request: HttpRequest) -> HttpResponse:
    versions = list(ModelVersion.objects.all()[:100])
    chosen_id = request.POST.get("model") or request.GET.get("model")
    version = next((v for v in versions if str(v.pk) == chosen_id), None)
    if version is None:
        promoted = [v for v in versions if v.promoted]
        version = (promoted or versions or [None])[0]
    answer: dict[str, object] = {}
    conversation: list[dict[str, str]] = []
    errors: dict[str, str] = {}
    not_ready = False
    if request.method == "POST":
        try:
            conversation = _conversation(request.POST.get("conversation", ""))
            if version is None:
                raise InputError("model", "No model version yet: train one first.")
            answer, conversation, errors = _playground_answer(version, conversation, request.POST)
        except InputError as exc:
            produces = version.produces if version else None
            errors = {_message_field(exc.field, len(conversation), produces): str(exc)}
        except ModelNotReady as exc:
            # The inference process goes on loading the model: sending again finds it loaded.
            errors, not_ready = {"model": str(exc)}, True
    turn_tokens = set(answer.get("turn_tokens", []))
    return render(
        request,
        "trainer/playground.html",
        {
            "section": "playground",
            "versions": versions,
            "version": version,
            "answer": answer,
            "tokens": [(t, t in turn_tokens) for t in answer.get("prompt_tokens", [])],
            "conversation": conversation,
            "conversation_json": json.dumps(conversation),
            # A scored reply stays in its box, to be edited and scored again.
            "form": request.POST if (errors or "score" in answer) else {},
            "sampling": request.POST if request.method == "POST" else {},
            "errors": errors,
        },
        status=503 if not_ready else 400 if errors else 200,
    )
