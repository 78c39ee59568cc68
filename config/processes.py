"""Command lines of the platform's processes, shared by runstack, tests and benchmarks."""

import sys


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
