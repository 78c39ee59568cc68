"""The task queue through the real HTTP stack on PostgreSQL, against the same server's floor.

Seeds a database of its own with N open prompts (each a demonstration task wanting one
reply), starts gunicorn on it, then at each concurrency level runs clients that each
loop "POST /api/tasks/next/, then submit the demonstration", timing the next-task call.
The peer is GET /api/me/ on the same server with the same clients: token auth plus a
trivial DRF view, the framework's floor. The two take turns, two rounds each by default,
and each one's figures pool its rounds. Afterwards every task is checked for
over-assignment (more non-skipped assignments than it wants).

    .venv/bin/python benchmarks/next_task.py                       # 100,000 prompts
    .venv/bin/python benchmarks/next_task.py --prompts 1000000
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from config.processes import web_command  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--clients", default="1,16,64", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round, level and endpoint")
    parser.add_argument("--rounds", type=int, default=2, help="turns each endpoint takes per level")
    parser.add_argument(
        "--server",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument("--database", default="bench_next_task")
    # Defaults: what runstack, compose and the image run (settings WEB_CONCURRENCY and
    # WEB_THREADS, access log on).
    parser.add_argument("--web-workers", type=int, default=None)
    parser.add_argument("--web-threads", type=int, default=None)
    parser.add_argument("--no-access-log", action="store_true")
    return parser.parse_args()


def recreate_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def seed(prompts: int, users: int) -> list[str]:
    """N prompts with their tasks and `users` labelers who read the guideline; their tokens."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from accounts.tokens import token_issue
    from guidelines.models import Acknowledgement
    from guidelines.services import guideline_create, version_draft_create, version_publish
    from labeling.models import Prompt, Task

    guideline = guideline_create(slug="bench", title="Benchmark")
    version = version_publish(
        version=version_draft_create(guideline=guideline, body="# Rules\n", summary="", author=None)
    )
    batch = 10_000
    for start in range(0, prompts, batch):
        rows = []
        for i in range(start, min(start + batch, prompts)):
            messages = [{"role": "user", "content": f"Benchmark question number {i}?"}]
            rows.append(
                Prompt(
                    guideline=guideline,
                    guideline_version=version,
                    messages=messages,
                    source=Prompt.Source.IMPORTED,
                    content_hash=hashlib.sha256(messages[0]["content"].encode()).hexdigest(),
                )
            )
        created = Prompt.objects.bulk_create(rows)
        Task.objects.bulk_create(
            [
                Task(kind=Task.Kind.DEMONSTRATION, guideline=guideline, prompt=p, wanted=1)
                for p in created
            ]
        )
    User = get_user_model()
    people = User.objects.bulk_create(
        [User(username=f"bench-{i}", password="!") for i in range(users)]
    )
    Group.objects.get_or_create(name="labeler")[0].user_set.add(*people)
    Acknowledgement.objects.bulk_create([Acknowledgement(user=u, version=version) for u in people])
    tokens = [token_issue(user=u)[1] for u in people]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tokens


class Client(threading.Thread):
    def __init__(self, port: int, token: str, mode: str, deadline: float):
        super().__init__(daemon=True)
        self.port, self.token, self.mode, self.deadline = port, token, mode, deadline
        self.latencies: list[float] = []
        self.errors = 0
        self.empty = 0

    def request(self, conn, method: str, path: str, body: dict | None = None):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        conn.request(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        return response.status, response.read()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while time.monotonic() < self.deadline:
            started = time.perf_counter()
            if self.mode == "floor":
                status, _ = self.request(conn, "GET", "/api/me/")
                self.latencies.append(time.perf_counter() - started)
                self.errors += status != 200
                continue
            status, body = self.request(conn, "POST", "/api/tasks/next/", {"kind": "demonstration"})
            self.latencies.append(time.perf_counter() - started)
            if status == 204:
                self.empty += 1
                continue
            if status != 200:
                self.errors += 1
                continue
            task_id = json.loads(body)["id"]
            status, _ = self.request(
                conn, "POST", "/api/demonstrations/", {"task": task_id, "content": "Answer."}
            )
            self.errors += status != 201
        conn.close()


def threads_run(threads: list[threading.Thread]) -> float:
    """Start the clients together and wait for all; the seconds that took."""
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def run_level(port: int, tokens: list[str], clients: int, mode: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    threads = [Client(port, tokens[i], mode, deadline) for i in range(clients)]
    elapsed = threads_run(threads)
    return {
        "latencies": [x for t in threads for x in t.latencies],
        "seconds": elapsed,
        "errors": sum(t.errors for t in threads),
        "empty": sum(t.empty for t in threads),
    }


def pooled(rounds: list[dict]) -> dict[str, float]:
    """One endpoint's figures over all its rounds at one level."""
    latencies = sorted(x for r in rounds for x in r["latencies"])
    return {
        "requests": len(latencies),
        "per_s": len(latencies) / sum(r["seconds"] for r in rounds),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else float("nan"),
        "errors": sum(r["errors"] for r in rounds),
        "empty": sum(r["empty"] for r in rounds),
    }


def over_assigned() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FROM (
                SELECT t.id FROM labeling_task t JOIN labeling_assignment a ON a.task_id = t.id
                WHERE a.status IN ('leased', 'submitted')
                GROUP BY t.id, t.wanted HAVING count(*) > t.wanted
            ) over
        """)
        return cursor.fetchone()[0]


def print_statements(token: str) -> None:
    """SQL statements per request, counted in this process through the same middleware,
    authentication and views the server runs (a request on a connection used in the last
    second adds no health check: config/postgresql)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    client.get("/api/me/")  # the token's last_used_at, written once a minute
    counts = {}
    with CaptureQueriesContext(connection) as floor:
        client.get("/api/me/")
    counts["/api/me/"] = len(floor.captured_queries)
    with CaptureQueriesContext(connection) as leasing:
        task = client.post("/api/tasks/next/", {"kind": "demonstration"}, "application/json")
    counts["next task (a token new to the process)"] = len(leasing.captured_queries)
    with CaptureQueriesContext(connection) as submitting:
        client.post(
            "/api/demonstrations/",
            {"task": task.json()["id"], "content": "Answer."},
            "application/json",
        )
    counts["submit"] = len(submitting.captured_queries)
    # Then the token is one the process checked lately: the lease statement confirms it.
    with CaptureQueriesContext(connection) as leasing:
        client.post("/api/tasks/next/", {"kind": "demonstration"}, "application/json")
    counts["next task"] = len(leasing.captured_queries)
    print("SQL statements per request: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def wait_for(port: int, server: subprocess.Popen) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def main() -> None:
    args = parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    database_url = recreate_database(args.server, args.database)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
    )
    import django

    django.setup()
    started = time.monotonic()
    tokens = seed(args.prompts, max(levels))
    print(f"seeded {args.prompts:,} open prompts in {time.monotonic() - started:.0f}s")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from django.conf import settings

    print_statements(tokens[0])
    command = web_command(
        bind=f"127.0.0.1:{port}",
        workers=args.web_workers or settings.WEB_CONCURRENCY,
        threads=args.web_threads or settings.WEB_THREADS,
        access_log=not args.no_access_log,
        loglevel="warning",
    )
    print("server:", " ".join(command[2:]))
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for(port, server)
        header = ("clients", "endpoint", "req/s", "p50 ms", "p99 ms", "errors")
        print("{:>7} {:<10} {:>8} {:>8} {:>8} {:>6}".format(*header))
        for clients in levels:
            # The endpoints take turns, so a busy spell of the machine falls on both.
            rounds: dict[str, list[dict]] = {"floor": [], "next": []}
            for _ in range(args.rounds):
                for mode, taken in rounds.items():
                    taken.append(run_level(port, tokens, clients, mode, args.seconds))
            floor, queue = pooled(rounds["floor"]), pooled(rounds["next"])
            for name, r in (("/api/me/", floor), ("next task", queue)):
                print(
                    f"{clients:>7} {name:<10} {r['per_s']:>8.1f} {r['p50_ms']:>8.1f} "
                    f"{r['p99_ms']:>8.1f} {r['errors']:>6}"
                )
            print(
                f"{clients:>7} ratio to the floor: latency p50 "
                f"{floor['p50_ms'] / queue['p50_ms']:.2f}, "
                f"p99 {floor['p99_ms'] / queue['p99_ms']:.2f}, "
                f"loops (next + submit) per floor request {queue['per_s'] / floor['per_s']:.2f}"
                f"; leases {queue['requests'] - queue['empty']:,}, empty answers {queue['empty']}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"over-assigned tasks: {over_assigned()}")


if __name__ == "__main__":
    main()
