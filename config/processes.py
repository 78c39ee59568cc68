"""Command lines of the platform's processes, shared by runstack, tests and benchmarks."""

import sys
from pathlib import Path


def celery_worker_command(
    *,
    queues: list[str],
    hostname: str,
    concurrency: int | None = None,
    solo: bool = False,
    loglevel: str = "INFO",
    quiet_cluster: bool = False,
) -> list[str]:
    """`celery worker` for `queues`.

    `solo` runs tasks in the worker's own process; `quiet_cluster` skips the start-up
    handshake with other workers, which a private worker in a test has no use for.
    """
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--queues",
        ",".join(queues),
        "--hostname",
        hostname,
        "--loglevel",
        loglevel,
    ]
    if solo:
        command += ["--pool", "solo"]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    if quiet_cluster:
        command += ["--without-gossip", "--without-mingle"]
    return command


def web_command(
    *,
    bind: str,
    workers: int,
    threads: int,
    access_log: bool,
    control_socket: Path | None = None,
    loglevel: str = "info",
) -> list[str]:
    """The web process: gunicorn, `workers` processes of `threads` threads each. Threads
    because a request spends most of its time waiting on the database: with 2 sync workers
    a 2-core machine served under half the queue loops of 2 workers of 16 threads
    (benchmarks/next_task.py). The access log is written off the request's thread."""
    command = _gthread_gunicorn(
        "config.wsgi:application", bind, workers, threads, loglevel, control_socket
    )
    if access_log:
        command += ["--access-logfile", "-", "--logger-class", "config.web_log.QueuedAccessLogger"]
    return command


# Threads of the inference process: each request mostly waits for its model's next step.
# The platform's own jobs hold 20 at most: the drafts worker's two jobs (drafts,
# generations, evaluations, AI raters) 9 each (8 replies in flight, sources.own_server,
# and a best-of-n or reward judge's scoring request), the default worker's scoring passes
# 2. That leaves 28 to /v1 callers and the playground.
SERVING_THREADS = 48
# Jobs (drafts, generations, evaluations, AI raters) run at once by the drafts worker.
DRAFTS_WORKER_CONCURRENCY = 2


def serving_command(
    *,
    bind: str,
    threads: int = SERVING_THREADS,
    loglevel: str = "info",
    control_socket: Path | None = None,
) -> list[str]:
    """The inference process answering /v1: one gunicorn process, so each model is loaded
    once and every request for it shares its batches, with many threads. Gunicorn's control
    socket goes where `control_socket` says, else nowhere."""
    return _gthread_gunicorn("serving.wsgi:application", bind, 1, threads, loglevel, control_socket)


def _gthread_gunicorn(
    app: str, bind: str, workers: int, threads: int, loglevel: str, control_socket: Path | None
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        loglevel,
        "--graceful-timeout",
        "10",
        *gunicorn_control(control_socket),
    ]


def gunicorn_control(path: Path | None) -> list[str]:
    """Gunicorn's control socket at `path`, or none: by default every gunicorn would put
    it at the same place in the home directory, outside DATA_DIR."""
    if path is None:
        return ["--no-control-socket"]
    path.parent.mkdir(parents=True, exist_ok=True)
    return ["--control-socket", str(path)]
