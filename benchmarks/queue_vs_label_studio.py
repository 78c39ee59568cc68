"""The labeling loop, "next task, then submit", against the platform as `runstack` serves it
and against Label Studio, on PostgreSQL, with the same tasks and clients.

Label Studio (pip package `label-studio`, 1.23 by default) pins its own Django, so it goes
into a virtualenv of its own (made on first use, with uwsgi). Each system gets a database
of its own on the same server with N open tasks, each wanting one answer, and one account
per client; Label Studio's organisation has legacy API tokens enabled so both take
`Authorization: Token`. Label Studio runs twice: under its default server (`label-studio
start`, Django's development server) and under uwsgi as its deploy folder sets it up
(2 processes per core, 1 thread each, request logging off). The platform runs
`config.processes.web_command` with the settings `runstack` uses.

At each level the systems take turns, round after round (the machine is shared and
noisy); each round, every client loops for `--seconds`. Printed per system: loops/s, the
p50/p99 of each request, errors, then the ratio of the platform's loops/s to the faster
Label Studio's, and finally every task answered more often than it asked.

    .venv/bin/python benchmarks/queue_vs_label_studio.py
    .venv/bin/python benchmarks/queue_vs_label_studio.py --tasks 1000000 --platform-only
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
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.next_task import (  # noqa: E402
    over_assigned,
    recreate_database,
    seed,
    threads_run,
    wait_for,
)
from config.processes import web_command  # noqa: E402

ANSWER = [
    {"from_name": "answer", "to_name": "question", "type": "textarea", "value": {"text": ["A."]}}
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--clients", default="1,16,64", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="per system, level and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--server",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument(
        "--databases", default="bench_queue", help="prefix of the two databases it makes"
    )
    parser.add_argument("--label-studio", default="label-studio==1.23.*", help="pip requirement")
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path.home() / ".cache" / "feedback-platform" / "label-studio-venv",
        help="Label Studio's virtualenv, made here when missing",
    )
    parser.add_argument("--platform-only", action="store_true", help="skip Label Studio")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class System:
    """One server under test: how to start it and what one loop of a client sends."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int):
        self.name, self.command, self.env, self.port = name, command, env, port
        self.process: subprocess.Popen | None = None
        self.next_task: Callable[[http.client.HTTPConnection, str], int | None]
        self.submit: Callable[[http.client.HTTPConnection, str, int], int]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def call(conn, method: str, path: str, token: str, body: object = None) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def platform_requests(system: System) -> None:
    def next_task(conn, token):  # type: ignore[no-untyped-def]
        status, body = call(conn, "POST", "/api/tasks/next/", token, {"kind": "demonstration"})
        # 204: nothing left to hand out.
        return json.loads(body)["id"] if status == 200 else 0 if status == 204 else -status

    def submit(conn, token, task_id):  # type: ignore[no-untyped-def]
        body = {"task": task_id, "content": "A."}
        return call(conn, "POST", "/api/demonstrations/", token, body)[0]

    system.next_task, system.submit = next_task, submit


def label_studio_requests(system: System, project: int) -> None:
    def next_task(conn, token):  # type: ignore[no-untyped-def]
        status, body = call(conn, "GET", f"/api/projects/{project}/next/", token)
        # 404: no task left for this annotator.
        return json.loads(body)["id"] if status == 200 else 0 if status == 404 else -status

    def submit(conn, token, task_id):  # type: ignore[no-untyped-def]
        body = {"result": ANSWER, "lead_time": 1.0}
        return call(conn, "POST", f"/api/tasks/{task_id}/annotations/", token, body)[0]

    system.next_task, system.submit = next_task, submit


class Client(threading.Thread):
    def __init__(self, system: System, token: str, deadline: float):
        super().__init__(daemon=True)
        self.system, self.token, self.deadline = system, token, deadline
        self.next_s: list[float] = []
        self.submit_s: list[float] = []
        self.loops = self.errors = self.empty = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.system.port, timeout=120)
        while time.monotonic() < self.deadline:
            started = time.perf_counter()
            task_id = self.system.next_task(conn, self.token)
            asked = time.perf_counter()
            self.next_s.append(asked - started)
            if task_id == 0:  # the pool ran dry: not an error, but worth saying
                self.empty += 1
                continue
            if task_id < 0:
                self.errors += 1
                continue
            status = self.system.submit(conn, self.token, task_id)
            self.submit_s.append(time.perf_counter() - asked)
            if status in (200, 201):
                self.loops += 1
            else:
                self.errors += 1
        conn.close()


def run_level(system: System, tokens: list[str], clients: int, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    threads = [Client(system, tokens[i], deadline) for i in range(clients)]
    elapsed = threads_run(threads)
    result = {"loops_s": sum(t.loops for t in threads) / elapsed}
    result["errors"] = sum(t.errors for t in threads)
    result["empty"] = sum(t.empty for t in threads)
    for name in ("next", "submit"):
        times = sorted(x for t in threads for x in getattr(t, f"{name}_s"))
        result[f"{name}_p50"] = statistics.median(times) * 1000 if times else float("nan")
        result[f"{name}_p99"] = (
            times[int(0.99 * (len(times) - 1))] * 1000 if times else float("nan")
        )
    return result


def label_studio_venv(venv: Path, requirement: str) -> Path:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "uwsgi").exists():
        print(f"installing {requirement} and uwsgi into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", requirement, "uwsgi"], check=True
        )
    return python


def label_studio_systems(args: argparse.Namespace, clients: int) -> tuple[list[System], str]:
    python = label_studio_venv(args.venv, args.label_studio)
    database = recreate_database(args.server, f"{args.databases}_label_studio")
    server = database.split("//", 1)[1]
    user_host, name = server.rsplit("/", 1)
    user, host_port = user_host.split("@")
    host, port = host_port.split(":")
    data_dir = args.venv.parent / "label-studio-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_DB": "default",
        "POSTGRE_NAME": name,
        "POSTGRE_USER": user,
        "POSTGRE_PASSWORD": "",
        "POSTGRE_HOST": host,
        "POSTGRE_PORT": port,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "core.settings.label_studio",
    }
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    setup = subprocess.run(
        [
            str(python),
            str(REPO_ROOT / "benchmarks" / "label_studio_setup.py"),
            *["--tasks", str(args.tasks), "--annotators", str(clients)],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(setup.stdout.strip().splitlines()[-1])
    print(f"Label Studio: seeded {args.tasks:,} tasks in {time.monotonic() - started:.0f}s")
    code = subprocess.run(
        [
            str(python),
            "-c",
            "import label_studio, os; print(os.path.dirname(label_studio.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dev_port, uwsgi_port = free_port(), free_port()
    dev = System(
        "LS dev server",
        [
            str(args.venv / "bin" / "label-studio"),
            *["start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(dev_port)],
        ],
        env,
        dev_port,
    )
    # The settings of Label Studio's deploy/uwsgi.ini that bear on speed; keep-alive, which
    # the nginx in front of it gives clients there, so that both systems serve one
    # connection per client.
    uwsgi = System(
        "LS uwsgi",
        [
            str(args.venv / "bin" / "uwsgi"),
            *["--http", f"127.0.0.1:{uwsgi_port}", "--http-keepalive"],
            *["--chdir", code, "--module", "core.wsgi:application", "--master", "--need-app"],
            *["--processes", str(2 * (os.cpu_count() or 1)), "--threads", "1"],
            *["--single-interpreter", "--enable-threads", "--lazy-apps", "--thunder-lock"],
            *["--disable-logging", "--buffer-size", "65535", "--post-buffering", "4096"],
        ],
        env,
        uwsgi_port,
    )
    for system in (dev, uwsgi):
        label_studio_requests(system, made["project"])
    return [dev, uwsgi], made["tokens"]


def platform_system(args: argparse.Namespace, clients: int) -> tuple[System, list[str]]:
    database = recreate_database(args.server, f"{args.databases}_platform")
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, check=True)
    import django

    django.setup()
    from django.conf import settings

    started = time.monotonic()
    tokens = seed(args.tasks, clients)
    print(f"platform: seeded {args.tasks:,} tasks in {time.monotonic() - started:.0f}s")
    port = free_port()
    command = web_command(
        bind=f"127.0.0.1:{port}",
        workers=settings.WEB_CONCURRENCY,
        threads=settings.WEB_THREADS,
        access_log=settings.WEB_ACCESS_LOG,
        loglevel="warning",
    )
    system = System("platform", command, env, port)
    platform_requests(system)
    return system, tokens


def over_answered(database: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(database) as conn:
        return conn.execute(sql).fetchone()[0]


LABEL_STUDIO_OVER = """
SELECT count(*) FROM (
    SELECT task_id FROM task_completion WHERE NOT was_cancelled
    GROUP BY task_id HAVING count(*) > 1
) over
"""


def main() -> None:
    args = parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    platform, platform_tokens = platform_system(args, max(levels))
    systems, tokens = [platform], {"platform": platform_tokens}
    if not args.platform_only:
        label_studio, ls_tokens = label_studio_systems(args, max(levels))
        systems += label_studio
        tokens.update({system.name: ls_tokens for system in label_studio})
    try:
        for system in systems:
            system.start()
            run_level(system, tokens[system.name], 1, 1.0)  # warm: imports, first queries
        print(
            f"{'clients':>7} {'system':<14} {'loops/s':>8} {'next p50':>9} {'p99':>7} "
            f"{'submit p50':>10} {'p99':>7} {'errors':>6}"
        )
        for clients in levels:
            runs: dict[str, list[dict]] = {system.name: [] for system in systems}
            for round_ in range(args.rounds):
                # Each round in the other order, so neither always runs on a warmer machine.
                for system in systems if round_ % 2 == 0 else systems[::-1]:
                    result = run_level(system, tokens[system.name], clients, args.seconds)
                    runs[system.name].append(result)
            for name, results in runs.items():
                median = {k: statistics.median(r[k] for r in results) for k in results[0]}
                by_round = ", ".join(f"{r['loops_s']:.1f}" for r in results)
                print(
                    f"{clients:>7} {name:<14} {median['loops_s']:>8.1f} "
                    f"{median['next_p50']:>9.1f} {median['next_p99']:>7.1f} "
                    f"{median['submit_p50']:>10.1f} {median['submit_p99']:>7.1f} "
                    f"{sum(r['errors'] for r in results):>6}"
                    + f"   (loops/s by round: {by_round}"
                    + f"; no task left: {sum(r['empty'] for r in results)})"
                )
            if len(systems) > 1:
                ours = statistics.median(r["loops_s"] for r in runs["platform"])
                best_ls = max(
                    statistics.median(r["loops_s"] for r in runs[s.name]) for s in systems[1:]
                )
                print(f"{clients:>7} ratio platform / faster Label Studio: {ours / best_ls:.1f}x")
    finally:
        for system in systems:
            system.stop()
    # The platform's database is this process's (django set up in platform_system).
    print(f"over-answered tasks: platform {over_assigned()}", end="")
    if not args.platform_only:
        ls_db = args.server.rsplit("/", 1)[0] + f"/{args.databases}_label_studio"
        print(f", Label Studio {over_answered(ls_db, LABEL_STUDIO_OVER)}", end="")
    print()


if __name__ == "__main__":
    main()
