"""Shared personas and helpers.

alice is a labeler, bob a reviewer, carol an admin, dave has an account and no role,
and root is a superuser.
"""

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import user_create
from config.processes import celery_worker_command

PASSWORD = "a-long-test-password-42"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def alice(db):
    return user_create(username="alice", password=PASSWORD, roles=["labeler"])


@pytest.fixture
def bob(db):
    return user_create(username="bob", password=PASSWORD, roles=["reviewer"])


@pytest.fixture
def carol(db):
    return user_create(username="carol", password=PASSWORD, roles=["admin"])


@pytest.fixture
def dave(db):
    return user_create(username="dave", password=PASSWORD, roles=[])


@pytest.fixture
def root(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def api():
    return APIClient()


def process_alive(pid: int) -> bool:
    """Whether `pid` runs; a killed process nobody has reaped yet (a zombie) does not."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def child_env(transactional_db):
    """Environment for a platform process started by a test (worker, web server).

    It points at the test database, committed to by `transactional_db`, so the child sees
    what the test wrote; broker and DATA_DIR are the test run's own.
    """
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db["USER"] or "postgres"
        host = db["HOST"] or "127.0.0.1"
        port = db["PORT"] or 5432
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    env["DATA_DIR"] = str(django_settings.DATA_DIR)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@contextmanager
def worker_process(env: dict[str, str], *, queue: str = "default") -> Iterator[subprocess.Popen]:
    """A real Celery worker consuming `queue`, on the broker and database `env` names."""
    process = subprocess.Popen(
        celery_worker_command(
            queues=[queue],
            hostname=f"tests-{uuid.uuid4().hex[:8]}@%h",
            solo=True,
            loglevel="WARNING",
            quiet_cluster=True,
        ),
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # A warm shutdown waits for the task it runs (a test that failed mid-job):
            # it must not outlive its test and take a later test's messages.
            process.kill()
            process.wait(timeout=30)


@pytest.fixture
def worker(child_env):
    """A worker for the jobs a test queues, the way the platform queues them."""
    with worker_process(child_env) as process:
        yield process


@pytest.fixture
def inference_process(live_server, settings):
    """The live server as the process that loads and runs the models, answering /v1 and
    the playground's model work over real HTTP: the platform's own calls (drafts,
    generation, the playground) go there."""
    settings.INFERENCE_URL = live_server.url
    return live_server


@pytest.fixture(autouse=True)
def _no_model_kept_loaded():
    """Model version ids start again in every test database: a model the inference
    process's engine (here, in this process) kept from another test would answer for the
    wrong weights."""
    from serving.engine import engine
    from serving.scoring import scorers

    engine.clear()
    scorers.clear()
    yield
    engine.clear()
    scorers.clear()
