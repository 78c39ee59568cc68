"""A trainer started by a worker dies with it (trainer.ml.cli.die_with_parent): checked
on its own, with a child that only sleeps, so nothing else (a broken pipe, a peer gone
from the process group) can be what ends it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT, process_alive
from trainer.ml.cli import PARENT_ENV

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

# Starts a child that calls die_with_parent (when told the parent's pid) and sleeps,
# prints the child's pid once the child is ready, then sleeps itself.
PARENT = """
import os, subprocess, sys
env = dict(os.environ)
if sys.argv[1] == "tied":
    env[{key!r}] = str(os.getpid())
child = subprocess.Popen(
    [sys.executable, "-c",
     "from trainer.ml.cli import die_with_parent; die_with_parent(); "
     "print('ready', flush=True); import time; time.sleep(120)"],
    env=env, stdout=subprocess.PIPE, text=True,
)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
import time; time.sleep(120)
"""


def child_after_parent_killed(mode: str) -> tuple[int, bool]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(key=PARENT_ENV), mode],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    assert process_alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, process_alive(child)


def test_a_child_told_its_parent_dies_when_the_parent_is_killed():
    _, survived = child_after_parent_killed("tied")
    assert not survived


def test_a_child_not_told_outlives_its_parent():
    # The control: without the request, the same child lives on.
    child, survived = child_after_parent_killed("free")
    try:
        assert survived
    finally:
        if process_alive(child):
            os.kill(child, signal.SIGKILL)
