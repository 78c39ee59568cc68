"""Run the web server, a Celery worker and Celery beat together in the foreground.

Ctrl-C (or SIGTERM) stops all three; if any one of them dies, the others are stopped
too, so a half-running platform never looks healthy.
"""

import signal
import subprocess
import sys
import time
from types import FrameType

from django.conf import settings
from django.core.management.base import BaseCommand

from config.processes import celery_worker_command

STOP_GRACE_S = 20.0


def stack_commands() -> dict[str, list[str]]:
    python = sys.executable
    data_dir = settings.DATA_DIR
    return {
        "web": [
            python,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"{settings.HOST}:{settings.PORT}",
            "--workers",
            str(settings.WEB_CONCURRENCY),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "10",
        ],
        "worker": celery_worker_command(
            queues=["default", "training"],
            hostname="worker@%h",
            concurrency=settings.CELERY_WORKER_CONCURRENCY,
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
            str(data_dir / "celerybeat.pid"),
        ],
    }


class Command(BaseCommand):
    help = "Run web server, Celery worker and Celery beat in the foreground; Ctrl-C stops all."

    def handle(self, *args: object, **options: object) -> None:
        self._stopping = False
        children: dict[str, subprocess.Popen[bytes]] = {}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        for name, command in stack_commands().items():
            children[name] = subprocess.Popen(command)
        self.stdout.write(
            self.style.SUCCESS(
                f"Serving on http://{settings.HOST}:{settings.PORT}/ "
                f"(web pid {children['web'].pid}, worker pid {children['worker'].pid}, "
                f"beat pid {children['beat'].pid}). Ctrl-C stops all three."
            )
        )

        exit_code = 0
        while not self._stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    self.stderr.write(f"{name} exited with code {code}: stopping the others.")
                    exit_code = code or 1
                    self._stopping = True
                    break
            time.sleep(0.5)

        self._stop_all(children)
        if exit_code:
            sys.exit(exit_code)

    def _stop_all(self, children: dict[str, "subprocess.Popen[bytes]"]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_S:.0f}s: killing it.")
                child.kill()
                child.wait()
        self.stdout.write("Stopped web, worker and beat.")
