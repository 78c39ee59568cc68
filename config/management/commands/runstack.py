"""Run the platform's processes together in the foreground, restarting any that exits.

web (gunicorn), serving (the inference process answering /v1, gunicorn with threads), one
Celery worker per queue (`default`, `training`, `drafts`) and Celery
beat. A process that exits is started again after a pause that doubles from 1 s up to
60 s while it keeps failing, and goes back to 1 s once it stayed up a while, so a crash
loop neither spins nor leaves the platform half running for long. Ctrl-C (or SIGTERM)
stops them all: each is asked to stop, and killed if it has not stopped within its grace.

Each process writes to a log file of its own under DATA_DIR/logs (`--log-dir`), so the
terminal keeps what a person needs: where to open the platform, how to log in, where the
logs are, how to stop, and any process that exits and is restarted. `--verbose` leaves
every process's output on the terminal instead.
"""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand

from config.processes import (
    DRAFTS_WORKER_CONCURRENCY,
    celery_worker_command,
    serving_command,
    web_command,
)

STOP_GRACE_S = 20.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
# A process that ran this long before exiting counts as healthy: its restart waits only
# the first backoff again.
STABLE_AFTER_S = 60.0
POLL_INTERVAL_S = 0.2
LOG_KEPT_BYTES = 20 * 2**20


def exit_reason(returncode: int) -> str:
    """'exited with code 1' or 'was killed by SIGKILL', as Popen.returncode tells it."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class SupervisedProcess:
    """One child of runstack: started, watched, restarted with backoff, stopped."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        log: Callable[[str], None],
        stop_grace_s: float = STOP_GRACE_S,
        output: Path | None = None,
    ):
        self.name = name
        self.command = command
        # Where its stdout and stderr are appended; None: this process's own.
        self.output = output
        self.stop_grace_s = stop_grace_s
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.backoff_s = FIRST_BACKOFF_S
        self.restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        if self.output is None:
            self.process = subprocess.Popen(self.command)
        else:
            with self.output.open("ab") as output:
                self.process = subprocess.Popen(
                    self.command, stdout=output, stderr=subprocess.STDOUT
                )
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self) -> None:
        """Notice an exit and schedule the restart; restart once its time has come."""
        if self.restart_at is not None:
            if time.monotonic() >= self.restart_at:
                try:
                    self.start()
                except OSError as exc:  # out of processes or memory: try again later
                    self._schedule_restart(f"{self.name} could not start ({exc})", uptime=0.0)
                else:
                    self._log(f"{self.name} restarted (pid {self.pid}).")
            return
        if self.process is None or self.process.poll() is None:
            return
        uptime = time.monotonic() - self.started_at
        self._schedule_restart(
            f"{self.name} (pid {self.process.pid}) {exit_reason(self.process.returncode)} "
            f"after {uptime:.0f}s up",
            uptime=uptime,
        )

    def _schedule_restart(self, what: str, *, uptime: float) -> None:
        if uptime >= STABLE_AFTER_S:
            self.backoff_s = FIRST_BACKOFF_S
        delay = self.backoff_s
        self.backoff_s = min(delay * 2, MAX_BACKOFF_S)
        self.restart_at = time.monotonic() + delay
        restart_clock = (datetime.now() + timedelta(seconds=delay)).strftime("%H:%M:%S")
        self._log(f"{what}: restarting in {delay:g}s, at {restart_clock}.")

    def request_stop(self) -> None:
        self.restart_at = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the stop asked for, up to `deadline`; kill the process past it."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._log(f"{self.name} did not stop within {self.stop_grace_s:g}s: killing it.")
            self.process.kill()
            self.process.wait()


def stop_all(processes: list[SupervisedProcess]) -> None:
    """Ask every process to stop at once, then give each its own grace before killing it."""
    asked_at = time.monotonic()
    for supervised in processes:
        supervised.request_stop()
    for supervised in sorted(processes, key=lambda p: p.stop_grace_s):
        supervised.wait_or_kill(asked_at + supervised.stop_grace_s)


def stack_commands() -> dict[str, list[str]]:
    """Each process of the stack and its command line (README.md, "Processes")."""
    python = sys.executable
    return {
        "web": web_command(
            bind=f"{settings.HOST}:{settings.PORT}",
            workers=settings.WEB_CONCURRENCY,
            threads=settings.WEB_THREADS,
            access_log=settings.WEB_ACCESS_LOG,
            control_socket=settings.DATA_DIR / "run" / "web.ctl",
        ),
        # /v1, in a process of its own (config.processes.serving_command).
        "serving": [
            *serving_command(
                bind=f"{settings.HOST}:{settings.INFERENCE_PORT}",
                control_socket=settings.DATA_DIR / "run" / "serving.ctl",
            ),
            "--access-logfile",
            "-",
        ],
        # Imports, exports, rollups, beat's entries and the recovery check: never
        # behind a training run.
        "worker": celery_worker_command(
            queues=["default"],
            hostname="worker@%h",
            concurrency=settings.CELERY_WORKER_CONCURRENCY,
        ),
        # One run at a time, in the worker's own process, so the run sees the worker's
        # warm shutdown and checkpoints before it stops.
        "training": celery_worker_command(queues=["training"], hostname="training@%h", solo=True),
        # Drafts jobs: HTTP to a source or to the inference process, no model loaded here.
        "drafts": celery_worker_command(
            queues=["drafts"], hostname="drafts@%h", concurrency=DRAFTS_WORKER_CONCURRENCY
        ),
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--pidfile",
            str(settings.DATA_DIR / "celerybeat.pid"),
        ],
    }


def supervised_stack(
    *, log: Callable[[str], None], log_dir: Path | None = None
) -> list[SupervisedProcess]:
    """The stack's processes, not started; the training worker gets the longer grace. With
    `log_dir`, each writes to <name>.log there."""
    grace = {"training": float(settings.TRAINING_STOP_GRACE_S)}
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        for name in stack_commands():
            log_rotated(log_dir / f"{name}.log")
    return [
        SupervisedProcess(
            name,
            command,
            log=log,
            stop_grace_s=grace.get(name, STOP_GRACE_S),
            output=log_dir / f"{name}.log" if log_dir is not None else None,
        )
        for name, command in stack_commands().items()
    ]


def log_rotated(path: Path) -> None:
    """A log past LOG_KEPT_BYTES becomes <name>.log.1 (replacing the one before) when the
    stack starts: the web's access lines would otherwise fill DATA_DIR's disk in time."""
    if path.exists() and path.stat().st_size > LOG_KEPT_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def running_block(processes: list[SupervisedProcess], log_dir: Path | None) -> str:
    """What the terminal says once everything is started."""
    logins = settings.DATA_DIR / "demo-logins.json"
    if logins.exists():
        users = ", ".join(json.loads(logins.read_text()))
        how = f"{users}: passwords in {logins}"
    else:
        how = "a user made with `manage.py createsuperuser`"
    where = f"{log_dir}/ (<process>.log)" if log_dir else "on this terminal"
    return "\n".join(
        [
            "The platform is running.",
            f"  Open     http://{settings.HOST}:{settings.PORT}/",
            f"  Log in   {how}",
            f"  Logs     {where}: {', '.join(p.name for p in processes)}",
            "  Stop     Ctrl-C stops all.",
        ]
    )


class Command(BaseCommand):
    help = (
        "Run web, serving, the Celery workers and Celery beat in the foreground; Ctrl-C stops all."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="every process's output on this terminal, not in log files",
        )
        parser.add_argument("--log-dir", help="where the log files go (default DATA_DIR/logs)")

    def handle(self, *args: object, **options: object) -> None:
        self._stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        log_dir = None
        if not options["verbose"]:
            log_dir = Path(str(options["log_dir"] or settings.DATA_DIR / "logs"))
        processes = supervised_stack(log=self.stderr.write, log_dir=log_dir)
        # Written before anything starts: a block that failed would leave them orphaned.
        block = running_block(processes, log_dir)
        for supervised in processes:
            supervised.start()
        self.stdout.write(self.style.SUCCESS(block))

        while not self._stopping:
            for supervised in processes:
                if not self._stopping:
                    supervised.check()
            time.sleep(POLL_INTERVAL_S)

        stop_all(processes)
        self.stdout.write(f"Stopped {', '.join(p.name for p in processes)}.")
