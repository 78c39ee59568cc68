"""Web processes never load torch or transformers: importing them takes seconds and
hundreds of megabytes per gunicorn process, and a request that waited for it ran past
gunicorn's timeout. Model work belongs to the training worker and the inference process.

Checked in a fresh interpreter, since the test process itself trains models."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from trainer.models import ModelVersion, TrainingRun

MODEL_LIBRARIES = ("torch", "transformers")

# Imports what a web process serves (every view the URL resolver reaches, every
# api/views/urls module of the project, the WSGI application), then answers the requests
# that check sampling settings or ask the inference process for model work, and says which
# model libraries got loaded.
WEB_PROCESS = r"""
import importlib, json, sys
from pathlib import Path

import django

django.setup()

from django.urls import URLResolver, get_resolver

modules = {"config.wsgi"}


def walk(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            modules.add(getattr(pattern.urlconf_module, "__name__", ""))
            walk(pattern.url_patterns)
        else:
            view = pattern.callback
            modules.add(getattr(view, "view_class", view).__module__)


walk(get_resolver().url_patterns)
for glob in ("*/api*.py", "*/views*.py", "*/urls*.py"):
    for path in Path(".").glob(glob):
        if not path.parts[0].startswith((".", "tests")):
            modules.add(".".join(path.with_suffix("").parts))
modules.discard("")
for name in sorted(modules):
    importlib.import_module(name)
imported = [name for name in MODEL_LIBRARIES if name in sys.modules]

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

settings.INFERENCE_URL = "http://127.0.0.1:9"  # no inference process here
client = APIClient(HTTP_HOST="localhost")
client.force_authenticate(get_user_model().objects.get(username="carol"))
answers = {
    "generation": client.post(
        "/api/generations/",
        {"model": MODEL_ID, "prompts": [1], "temperature": 7},
        format="json",
    ).status_code,
    "playground": client.post(
        f"/api/models/{MODEL_ID}/chat/",
        {"messages": [{"role": "user", "content": "Hi"}], "max_new_tokens": 4},
        format="json",
    ).status_code,
}
print(json.dumps({
    "modules": sorted(modules),
    "imported": imported,
    "answers": answers,
    "after_requests": [name for name in MODEL_LIBRARIES if name in sys.modules],
}))
"""


@pytest.fixture
def sft_version(carol):
    # No weights: nothing in the web process may try to load them anyway.
    run = TrainingRun.objects.create(kind="sft", status="succeeded")
    return ModelVersion.objects.create(kind="sft", run=run, path="runs/none")


def test_web_modules_and_model_requests_load_no_model_library(child_env, sft_version):
    script = f"MODEL_LIBRARIES = {MODEL_LIBRARIES!r}\nMODEL_ID = {sft_version.pk}\n"
    finished = subprocess.run(
        [sys.executable, "-c", script + WEB_PROCESS],
        cwd=REPO_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout.strip().splitlines()[-1])

    # The walk found the modules a web process serves, not an empty list.
    for served in ("config.wsgi", "trainer.api_playground", "trainer.views_training_playground"):
        assert served in report["modules"]
    assert report["imported"] == []
    # Sampling checked without torch; the playground's model work asked of an inference
    # process that is not running.
    assert report["answers"] == {"generation": 400, "playground": 503}
    assert report["after_requests"] == []
