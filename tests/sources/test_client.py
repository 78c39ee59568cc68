"""The OpenAI client's retries, against a small HTTP server of the test's own that answers
what the test tells it to: connection errors, timeouts, 429 and 5xx are tried again with
backoff, for a bounded number of attempts; another 4xx is not; the key never shows."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sources.client import ChatClient, SourceError, in_flight

from .conftest import SECRET

COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "choices": [
        {"index": 1, "message": {"role": "assistant", "content": "two"}, "finish_reason": "stop"},
        {"index": 0, "message": {"role": "assistant", "content": "one"}, "finish_reason": "stop"},
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next (status, body[, headers]) of `script`; the last one
    repeats. The headers given replace those the answer would have had."""

    def __init__(self, script: list[tuple]):
        self.script, self.seen = list(script), []
        super().__init__(("127.0.0.1", 0), Answer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Scripted = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.seen.append({"path": self.path, "body": body, "auth": self.headers["Authorization"]})
        status, answer, *extra = (
            server.script.pop(0) if len(server.script) > 1 else server.script[0]
        )
        raw = json.dumps(answer).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
        if status == 429:
            headers["Retry-After"] = "0"
        self.send_response(status)
        for name, value in {**headers, **(extra[0] if extra else {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted():
    servers = []

    def start(*script: tuple[int, dict]) -> Scripted:
        server = Scripted(list(script))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def client(url: str, **options) -> ChatClient:
    return ChatClient(base_url=url, model="m", api_key=SECRET, backoff_s=0.01, **options)


def test_5xx_and_429_are_tried_again_until_an_answer_comes(scripted):
    server = scripted((503, {"error": {"message": "loading"}}), (429, {}), (200, COMPLETION))

    completion = client(server.url).chat([{"role": "user", "content": "hi"}], n=2, seed=7)

    assert completion.replies == ["one", "two"]  # by index
    assert completion.usage["total_tokens"] == 5
    assert len(server.seen) == 3
    assert server.seen[0]["path"] == "/v1/chat/completions"
    assert server.seen[0]["auth"] == f"Bearer {SECRET}"
    assert server.seen[0]["body"]["n"] == 2 and server.seen[0]["body"]["seed"] == 7


def test_a_key_made_per_attempt_is_made_again_for_each_retry(scripted):
    # Keys that expire (the platform's own, sources.own_server): a retry after a long
    # first attempt sends a new one.
    server = scripted((503, {}), (503, {}), (200, COMPLETION))
    made = iter(["first", "second", "third"])
    asking = ChatClient(base_url=server.url, model="m", key_made=lambda: next(made), backoff_s=0.01)

    asking.chat([{"role": "user", "content": "hi"}])

    assert [seen["auth"] for seen in server.seen] == [
        "Bearer first",
        "Bearer second",
        "Bearer third",
    ]
    assert "second" not in repr(asking)


def test_a_4xx_is_not_tried_again_and_the_key_is_scrubbed_from_its_text(scripted):
    server = scripted((404, {"error": {"message": f"no model m for key {SECRET}"}}))

    with pytest.raises(SourceError) as raised:
        client(server.url).chat([{"role": "user", "content": "hi"}])

    assert len(server.seen) == 1
    assert raised.value.status == 404 and not raised.value.retryable
    assert "HTTP 404: no model m" in str(raised.value) and SECRET not in str(raised.value)


def test_a_server_that_keeps_failing_is_given_up_on_after_the_attempts(scripted):
    server = scripted((502, {"detail": "bad gateway"}))

    with pytest.raises(SourceError) as raised:
        client(server.url, attempts=3).chat([{"role": "user", "content": "hi"}])

    assert len(server.seen) == 3
    assert str(raised.value) == "HTTP 502: bad gateway (gave up after 3 attempts)"


def test_a_server_that_is_down_is_given_up_on_too(closed_port):
    down = client(f"http://127.0.0.1:{closed_port}/v1", attempts=2)

    with pytest.raises(SourceError) as raised:
        down.chat([{"role": "user", "content": "hi"}])

    assert raised.value.retryable and "Could not reach" in str(raised.value)
    assert SECRET not in str(raised.value) and SECRET not in repr(down)


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_source(scripted):
    elsewhere = scripted((200, COMPLETION))
    server = scripted((302, {}, {"Location": elsewhere.url + "/chat/completions"}))

    with pytest.raises(SourceError) as raised:
        client(server.url).chat([{"role": "user", "content": "hi"}])

    assert elsewhere.seen == [] and len(server.seen) == 1
    assert raised.value.status == 302 and not raised.value.retryable
    assert elsewhere.url in str(raised.value) and SECRET not in str(raised.value)


def test_retry_after_is_waited_for_and_kept_on_the_error_given_up_with(scripted, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sources.client.time.sleep", waits.append)
    server = scripted((429, {}, {"Retry-After": "3"}))

    with pytest.raises(SourceError) as raised:
        client(server.url, attempts=3).chat([{"role": "user", "content": "hi"}])

    assert waits == [3.0, 3.0]  # longer than the backoff of 0.01 s and 0.02 s
    assert raised.value.retry_after_s == 3.0 and raised.value.retryable


@pytest.mark.parametrize("value", ["²", "soon", "-1"])
def test_a_retry_after_that_is_not_plain_seconds_is_ignored(scripted, monkeypatch, value):
    waits: list[float] = []
    monkeypatch.setattr("sources.client.time.sleep", waits.append)
    server = scripted((429, {}, {"Retry-After": value}))

    with pytest.raises(SourceError) as raised:
        client(server.url, attempts=2).chat([{"role": "user", "content": "hi"}])

    assert waits == [0.01] and raised.value.retry_after_s == 0.0


def test_an_answer_that_breaks_off_is_tried_again(scripted, monkeypatch):
    monkeypatch.setattr("sources.client.time.sleep", lambda s: None)
    server = scripted((200, COMPLETION, {"Content-Length": "100000"}), (200, COMPLETION))

    completion = client(server.url).chat([{"role": "user", "content": "hi"}], n=2)

    assert completion.replies == ["one", "two"] and len(server.seen) == 2


def test_a_server_that_ignores_n_is_asked_again_for_the_rest(scripted):
    one = {**COMPLETION, "choices": COMPLETION["choices"][1:]}
    server = scripted((200, one))

    replies = client(server.url).replies([{"role": "user", "content": "hi"}], k=3, seed=10)

    assert replies == ["one", "one", "one"]
    assert [s["body"]["n"] for s in server.seen] == [3, 2, 1]
    assert [s["body"]["seed"] for s in server.seen] == [10, 11, 12]


def test_in_flight_keeps_at_most_so_many_calls_running_and_reports_each():
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(3)

    def work(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if item < 3:
            gate.wait(timeout=10)  # the first three are in flight together
        with lock:
            running -= 1
        if item == 4:
            raise ValueError("four")
        return item * 10

    outcomes = {
        item: (result, error) for item, result, error in in_flight(work, range(6), at_once=3)
    }

    assert most == 3
    assert outcomes[2] == (20, None) and outcomes[5] == (50, None)
    assert isinstance(outcomes[4][1], ValueError)
