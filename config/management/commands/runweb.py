"""The web process alone, as runstack, compose and the image start it: gunicorn with the
settings' workers, threads and access log (config.processes.web_command)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.processes import web_command


class Command(BaseCommand):
    help = "Serve the web app with gunicorn as configured (WEB_CONCURRENCY, WEB_THREADS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=f"{settings.HOST}:{settings.PORT}")

    def handle(self, *args: object, bind: str, **options: object) -> None:
        command = web_command(
            bind=bind,
            workers=settings.WEB_CONCURRENCY,
            threads=settings.WEB_THREADS,
            access_log=settings.WEB_ACCESS_LOG,
            control_socket=settings.DATA_DIR / "run" / "web.ctl",
        )
        # Replaced, not wrapped: signals from compose or a supervisor reach gunicorn.
        os.execv(command[0], command)
