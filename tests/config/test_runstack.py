"""`manage.py runstack` (what `make run` ends in): web + worker + beat, stopped together."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT, free_port

START_TIMEOUT_S = 90


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


class Stack:
    """`manage.py runstack` in a session of its own, its output collected as it comes.

    A session of its own lets the test send Ctrl-C to the whole group, as a terminal does.
    """

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=REPO_ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, *markers: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(marker in self.output for marker in markers):
            assert self.process.poll() is None, f"runstack exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"never saw {markers}:\n{self.output}"
            time.sleep(0.2)

    def wait(self) -> int:
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_for_health(url: str, stack: subprocess.Popen) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert stack.poll() is None, "runstack exited before serving"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return {"http_status": response.status, **json.load(response)}
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {START_TIMEOUT_S}s")


def stack_env(child_env: dict[str, str]) -> dict[str, str]:
    return {
        **child_env,
        "PORT": str(free_port()),
        "DEBUG": "true",
        "WEB_CONCURRENCY": "1",
        "CELERY_WORKER_CONCURRENCY": "1",
    }


def test_it_serves_health_and_ctrl_c_stops_web_worker_and_beat(child_env):
    env = stack_env(child_env)
    stack = Stack(env)
    try:
        health = wait_for_health(f"http://127.0.0.1:{env['PORT']}/healthz", stack.process)
        stack.wait_for_output("beat: Starting", "ready.")
        children = children_of(stack.process.pid)
        os.killpg(stack.process.pid, signal.SIGINT)
        code = stack.wait()
    finally:
        stack.kill()

    assert health["http_status"] == 200
    assert health["status"] == "ok"
    assert len(children) == 3
    assert code == 0, stack.output
    assert "Ctrl-C stops all three" in stack.output
    assert "Stopped web, worker and beat." in stack.output
    assert not [pid for pid in children if is_alive(pid)]


def test_when_one_process_dies_the_others_are_stopped(child_env):
    env = stack_env(child_env)
    stack = Stack(env)
    try:
        wait_for_health(f"http://127.0.0.1:{env['PORT']}/healthz", stack.process)
        children = children_of(stack.process.pid)
        web = next(
            pid for pid in children if "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text()
        )
        os.kill(web, signal.SIGKILL)
        code = stack.wait()
    finally:
        stack.kill()

    assert code != 0
    assert "web exited" in stack.output
    assert not [pid for pid in children if is_alive(pid)]
