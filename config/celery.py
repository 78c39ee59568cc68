"""The one Celery app: web, worker and beat all load it from Django's settings."""

import os

from celery import Celery
from kombu import Queue

from config.broker_files import use_for_filesystem_urls

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Before any connection: the embedded broker's filesystem:// is our atomic transport.
use_for_filesystem_urls()

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Declared here, not in settings, because Queue objects are kombu's and settings stay
# plain values. Each queue has a worker of its own (README.md, "Processes"): `training`
# runs one long job at a time (on GPU hosts in a scaled-out deployment), and `drafts` asks
# models over HTTP, never behind a training run: for labelers' drafts, new candidates (and
# a reward model for their scores), an evaluation's replies and judgements, and AI
# raters'. Models that answer requests live in the inference process (serving.wsgi), not
# in a worker.
app.conf.task_queues = (Queue("default"), Queue("training"), Queue("drafts"))
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload: str = "pong") -> dict[str, object]:
    """Answer from inside a worker, saying which host and database it works on.

    Operators use it to see a worker take work; the tests use it to prove a real worker
    process ran the task against the same database they use.
    """
    import socket

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {
        "payload": payload,
        "worker_host": socket.gethostname(),
        "worker_pid": os.getpid(),
        "database": str(connection.settings_dict["NAME"]),
    }
