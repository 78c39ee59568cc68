"""stream: true: server-sent chunks that add up to the reply the same request gets whole."""

import json
import urllib.request

from .conftest import QUESTION


def test_a_streamed_reply_adds_up_to_the_whole_one(openai_admin, sft):
    options = {"model": sft.name, "messages": QUESTION, "max_tokens": 10, "seed": 3, "n": 2}
    whole = openai_admin.chat.completions.create(**options)

    stream = openai_admin.chat.completions.create(
        **options, stream=True, stream_options={"include_usage": True}
    )
    texts, finishes, usage, roles = ["", ""], [None, None], None, set()
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == sft.name
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            roles.add(choice.delta.role)
            finishes[choice.index] = choice.finish_reason or finishes[choice.index]

    assert texts == [choice.message.content for choice in whole.choices]
    assert finishes == ["length", "length"]
    assert "assistant" in roles
    assert usage.model_dump() == whole.usage.model_dump()


def test_the_stream_is_server_sent_events_ending_with_done(live_server, sft, carol):
    from accounts.tokens import token_issue

    _row, token = token_issue(user=carol)
    # Greedy, so the reply is the same every run: a sampled one sometimes ended early.
    body = {
        "model": sft.name,
        "messages": QUESTION,
        "max_tokens": 4,
        "stream": True,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{live_server.url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    with urllib.request.urlopen(request) as answer:
        content_type = answer.headers["Content-Type"]
        events = [line for line in answer.read().decode().split("\n\n") if line]

    assert content_type.startswith("text/event-stream")
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "length"
