"""The one Celery app: web, worker and beat all load it from Django's settings."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Declared here, not in settings, because Queue objects are kombu's and settings stay
# plain values. `training` is served by GPU hosts in a scaled-out deployment.
app.conf.task_queues = (Queue("default"), Queue("training"))
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload: str = "pong") -> dict[str, object]:
    """Answer from inside a worker: used by tests and operators to see a worker run work."""
    import socket

    return {"payload": payload, "worker_host": socket.gethostname(), "worker_pid": os.getpid()}
