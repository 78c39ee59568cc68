"""The stack `make run` starts, under a burst of jobs while a model trains: 300 job requests
from 8 clients, every job finished, no process restarted, /healthz answering 200 throughout.

It runs on whatever the suite runs on: the embedded default (SQLite, file broker) in one CI
pass and PostgreSQL + Redis in the other."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.config.test_runstack import Stack, children_of, stack_env, wait_for_health
from tests.conftest import PASSWORD
from tests.trainer.test_training_worker import wait_for

REQUESTS = 300
CLIENTS = 8
FINISHED = {"succeeded", "failed", "cancelled"}
# Generous on a busy 2-core machine: 300 small exports and imports take about a minute.
SETTLE_TIMEOUT_S = 420
# A run that outlasts the burst; it is cancelled when the burst has settled.
LONG_RUN = {"max_steps": 1_000_000, "batch_size": 4, "max_length": 96, "log_every": 5}


class Client:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = ""):
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def post_json(self, path: str, payload: dict):
        return self.call("POST", path, json.dumps(payload).encode(), "application/json")

    def post_file(self, path: str, fields: dict[str, str], name: str, content: bytes):
        boundary = "burst-boundary-7f3a"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            for key, value in fields.items()
        ]
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        body = (
            "".join(parts).encode() + head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.call("POST", path, body, f"multipart/form-data; boundary={boundary}")


def token_for(base: str, username: str) -> str:
    request = urllib.request.Request(
        base + "/api/auth/token/",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def one_job(client: Client, number: int) -> tuple[str, int]:
    """Request number `number`: mostly exports of each kind, every fourth an import."""
    if number % 4 == 3:
        lines = [
            json.dumps({"messages": [{"role": "user", "content": f"Burst prompt {number}-{i}"}]})
            for i in range(3)
        ]
        status, body = client.post_file(
            "/api/imports/",
            {"format": "prompts-jsonl", "guideline": "imported"},
            f"burst-{number}.jsonl",
            "\n".join(lines).encode(),
        )
        kind = "imports"
    else:
        export = ("sft", "preference", "rankings")[number % 3]
        status, body = client.post_json("/api/exports/", {"kind": export})
        kind = "exports"
    assert status == 202, (status, body)
    return kind, body["id"]


def watch_health(url: str, stop: threading.Event, answers: Counter) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                answers[response.status] += 1
        except urllib.error.HTTPError as error:
            answers[error.code] += 1
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            answers[type(error).__name__] += 1
        stop.wait(0.5)


def test_a_burst_of_jobs_while_a_model_trains_finishes_every_job(carol, oasst, child_env, tmp_path):
    # Two web processes, as `make run` has: one would serve 8 clients and the health
    # checks alone while training takes both cores.
    env = {**stack_env(child_env), "WEB_CONCURRENCY": "2"}
    base = f"http://127.0.0.1:{env['PORT']}"
    stack = Stack(env, tmp_path)
    stop_watching = threading.Event()
    health: Counter = Counter()
    try:
        wait_for_health(base + "/healthz", stack.process)
        client = Client(base, token_for(base, "carol"))
        status, run = client.post_json("/api/training-runs/", {"kind": "sft", "config": LONG_RUN})
        assert status == 202, run
        wait_for(
            lambda: client.call("GET", f"/api/training-runs/{run['id']}/")[1]["step"] > 0,
            timeout=180,
            what="the training run to take its first steps",
        )
        processes = sorted(children_of(stack.process.pid))
        watcher = threading.Thread(
            target=watch_health, args=(base + "/healthz", stop_watching, health), daemon=True
        )
        watcher.start()

        burst_started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            jobs = list(pool.map(lambda n: one_job(client, n), range(REQUESTS)))

        def unfinished() -> list[tuple[str, int, str]]:
            statuses = [
                (kind, pk, client.call("GET", f"/api/{kind}/{pk}/")[1]) for kind, pk in jobs
            ]
            return [
                (kind, pk, job["status"])
                for kind, pk, job in statuses
                if job["status"] not in FINISHED
            ]

        left: list = []
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            left = unfinished()
            if not left:
                break
            time.sleep(3)
        settled_s = time.monotonic() - burst_started
        training = client.call("GET", f"/api/training-runs/{run['id']}/")[1]
        client.post_json(f"/api/training-runs/{run['id']}/cancel/", {})
        stop_watching.set()
        watcher.join(timeout=15)
        after = sorted(children_of(stack.process.pid))
    finally:
        stop_watching.set()
        stack.kill()

    statuses = Counter(kind for kind, _ in jobs)
    print(
        f"burst: {REQUESTS} jobs ({dict(statuses)}) settled in {settled_s:.0f}s,"
        f" healthz {dict(health)}"
    )
    assert not left, f"{len(left)} jobs never finished, e.g. {left[:5]}"
    assert len(jobs) == REQUESTS
    # The run trained throughout the burst and was never handed to another worker.
    assert training["status"] == "running", training
    assert training["attempts"] == 1, training["logs"]
    # No process of the stack died and was restarted, and health never failed.
    assert after == processes, stack.output[-3000:]
    assert set(health) == {200}, health
    assert health[200] > 5
