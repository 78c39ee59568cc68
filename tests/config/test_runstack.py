"""`manage.py runstack` (what `make run` ends in): every process up, restarted, stopped together."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from config.celery import ping
from config.management.commands import runstack
from config.management.commands.runstack import SupervisedProcess, exit_reason, stop_all
from config.processes import DRAFTS_WORKER_CONCURRENCY
from tests.conftest import REPO_ROOT, free_port, process_alive

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


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


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

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.log_dir = log_dir
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--log-dir", str(log_dir)],
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

    @property
    def logs(self) -> str:
        """What the processes wrote to their log files."""
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log"))
        )

    def wait_for_output(self, *markers: str) -> None:
        """Until runstack's terminal or the processes' logs show every marker."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(marker in self.output + self.logs for marker in markers):
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


def first_answer(url: str, stack: subprocess.Popen, *, ready: Callable[[int], bool]) -> dict:
    """The first answer from `url` whose status is `ready`, with its JSON body."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert stack.poll() is None, "runstack exited before serving"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as refused:
            status, body = refused.code, refused.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status, body = None, b""
        if status is not None and ready(status):
            return {"http_status": status, **json.loads(body)}
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {START_TIMEOUT_S}s")


def wait_for_health(url: str, stack: subprocess.Popen) -> dict:
    return first_answer(url, stack, ready=lambda status: status < 400)


def v1_answer(url: str, stack: subprocess.Popen) -> dict:
    """/v1 on the web port answers 503 while the serving process is still starting."""
    return first_answer(url, stack, ready=lambda status: status != 503)


def stack_env(child_env: dict[str, str]) -> dict[str, str]:
    return {
        **child_env,
        "PORT": str(free_port()),
        "INFERENCE_PORT": str(free_port()),
        "DEBUG": "true",
        "WEB_CONCURRENCY": "1",
        "CELERY_WORKER_CONCURRENCY": "1",
    }


STACK = ("web", "serving", "worker", "training", "drafts", "beat")
READY = ("beat: Starting", "worker@", "training@", "drafts@", "ready.")


def stack_children(stack_pid: int) -> dict[str, int]:
    """runstack's children by the name runstack gives them, told apart by command line."""
    found = {}
    for pid in children_of(stack_pid):
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        if "serving.wsgi:application" in argv:
            found["serving"] = pid
        elif "gunicorn" in argv:
            found["web"] = pid
        elif "beat" in argv:
            found["beat"] = pid
        elif "--queues" in argv:
            queue = argv[argv.index("--queues") + 1]
            found["worker" if queue == "default" else queue] = pid
    return found


def test_it_serves_health_and_ctrl_c_stops_every_process(child_env, tmp_path):
    env = stack_env(child_env)
    stack = Stack(env, tmp_path)
    try:
        health = wait_for_health(f"http://127.0.0.1:{env['PORT']}/healthz", stack.process)
        stack.wait_for_output(*READY)
        v1 = v1_answer(f"http://127.0.0.1:{env['PORT']}/v1/models", stack.process)
        children = stack_children(stack.process.pid)
        sockets = sorted(path.name for path in (Path(env["DATA_DIR"]) / "run").glob("*.ctl"))
        os.killpg(stack.process.pid, signal.SIGINT)
        code = stack.wait()
    finally:
        stack.kill()

    assert health["http_status"] == 200
    assert health["status"] == "ok"
    # Through the web port, answered by the serving process: it asks for a token.
    assert v1["http_status"] == 401
    assert v1["error"]["code"] == "invalid_api_key"
    assert sorted(children) == sorted(STACK)
    assert code == 0, stack.output
    # The terminal holds the short block and the stop, the processes' chatter their logs.
    assert f"Open     http://127.0.0.1:{env['PORT']}/" in stack.output
    assert "Ctrl-C stops all." in stack.output
    assert "Stopped web, serving, worker, training, drafts, beat." in stack.output
    assert "celery@" not in stack.output and "Booting worker" not in stack.output
    assert {path.name for path in tmp_path.glob("*.log")} == {f"{name}.log" for name in STACK}
    web_log = (tmp_path / "web.log").read_text()
    assert "Booting worker" in web_log
    # The health check's access line, written by the web's own writer thread.
    assert '"GET /healthz HTTP/1.1" 200' in web_log
    # Gunicorn's control sockets were under DATA_DIR, not in the home directory.
    assert sockets == ["serving.ctl", "web.ctl"]
    assert not [pid for pid in children.values() if is_alive(pid)]


def test_a_killed_worker_is_restarted_the_others_stay_up_and_sigterm_stops_all(child_env, tmp_path):
    env = stack_env(child_env)
    stack = Stack(env, tmp_path)
    try:
        url = f"http://127.0.0.1:{env['PORT']}/healthz"
        wait_for_health(url, stack.process)
        stack.wait_for_output(*READY)
        before = stack_children(stack.process.pid)
        os.kill(before["worker"], signal.SIGKILL)
        stack.wait_for_output(f"worker (pid {before['worker']}) was killed by SIGKILL")
        with urllib.request.urlopen(url, timeout=30) as response:  # one try: no retries
            health_while_down = {"http_status": response.status}
        stack.wait_for_output("worker restarted (pid ")
        # The new worker takes work from the default queue again.
        answer = ping.apply_async(queue="default").get(timeout=90)
        after = stack_children(stack.process.pid)
        answered_under = parent_of(answer["worker_pid"])
        health_after = wait_for_health(url, stack.process)
        stack.process.send_signal(signal.SIGTERM)  # to runstack alone, as a service manager
        code = stack.wait()
    finally:
        stack.kill()

    assert "restarting in 1s" in stack.output
    assert after["worker"] != before["worker"]
    assert answered_under == after["worker"]
    assert {name: after[name] for name in STACK if name != "worker"} == {
        name: before[name] for name in STACK if name != "worker"
    }
    assert health_while_down["http_status"] == health_after["http_status"] == 200
    assert code == 0, stack.output
    assert not [pid for pid in after.values() if is_alive(pid)]


def test_each_worker_serves_one_queue_and_training_gets_the_longer_stop_grace(settings):
    settings.TRAINING_STOP_GRACE_S = 7
    stack = {supervised.name: supervised for supervised in runstack.supervised_stack(log=print)}

    def option(name: str, flag: str) -> str | None:
        command = stack[name].command
        return command[command.index(flag) + 1] if flag in command else None

    assert list(stack) == list(STACK)
    assert {name: option(name, "--queues") for name in STACK} == {
        "web": None,
        "serving": None,
        "worker": "default",
        "training": "training",
        "drafts": "drafts",
        "beat": None,
    }
    assert option("training", "--pool") == "solo"
    assert option("serving", "--workers") == "1"
    assert option("serving", "--worker-class") == "gthread"
    assert option("serving", "--bind") == f"{settings.HOST}:{settings.INFERENCE_PORT}"
    assert option("worker", "--concurrency") == str(settings.CELERY_WORKER_CONCURRENCY)
    assert option("drafts", "--concurrency") == str(DRAFTS_WORKER_CONCURRENCY)
    assert {name: supervised.stop_grace_s for name, supervised in stack.items()} == {
        "web": 20,
        "serving": 20,
        "worker": 20,
        "training": 7,
        "drafts": 20,
        "beat": 20,
    }


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def restarts_logged(log: list[str]) -> list[str]:
    return [line for line in log if "restarting in" in line]


def supervise_until_restarted(
    supervised: SupervisedProcess, log: list[str], times: int, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while len(restarts_logged(log)) < times:
        assert time.monotonic() < deadline, f"not restarted {times} times: {log}"
        supervised.check()
        time.sleep(0.02)


@pytest.fixture
def crashing(monkeypatch):
    """A process that exits with code 3 as soon as it starts, supervised with short pauses."""
    monkeypatch.setattr(runstack, "FIRST_BACKOFF_S", 0.1)
    log: list[str] = []
    supervised = SupervisedProcess("crasher", python_command("raise SystemExit(3)"), log=log.append)
    supervised.start()
    yield supervised, log
    stop_all([supervised])


def test_a_crashing_process_is_restarted_after_a_doubling_pause(crashing, monkeypatch):
    monkeypatch.setattr(runstack, "MAX_BACKOFF_S", 0.4)
    crasher, log = crashing

    supervise_until_restarted(crasher, log, times=4)

    pauses = [line.split("restarting in ")[1].split("s,")[0] for line in restarts_logged(log)]
    assert pauses == ["0.1", "0.2", "0.4", "0.4"]
    assert all("crasher (pid " in line and "exited with code 3" in line for line in log[::2])
    assert sum("crasher restarted" in line for line in log) == 3


def test_the_pause_starts_again_from_the_first_after_a_process_stayed_up(crashing, monkeypatch):
    # Well above an interpreter's start on a busy machine, so a crash is never "stable".
    monkeypatch.setattr(runstack, "STABLE_AFTER_S", 3.0)
    crasher, log = crashing

    supervise_until_restarted(crasher, log, times=2)
    crasher.command = python_command("import time; time.sleep(4)")  # up longer than stable
    supervise_until_restarted(crasher, log, times=3)

    restarts = restarts_logged(log)
    assert "restarting in 0.2s" in restarts[1]
    assert "restarting in 0.1s" in restarts[2]


def test_a_process_that_cannot_be_started_again_is_tried_later(crashing):
    crasher, log = crashing

    supervise_until_restarted(crasher, log, times=1)
    crasher.command = [str(REPO_ROOT / "no-such-program")]
    supervise_until_restarted(crasher, log, times=3)

    assert "crasher could not start" in restarts_logged(log)[1]
    assert "restarting in 0.4s" in restarts_logged(log)[2]


@pytest.mark.parametrize(
    "returncode, reason", [(2, "exited with code 2"), (-9, "was killed by SIGKILL")]
)
def test_the_exit_reason_names_the_code_or_the_signal(returncode, reason):
    assert exit_reason(returncode) == reason


def test_stopping_kills_what_ignores_the_request_and_waits_out_a_longer_grace(tmp_path):
    log: list[str] = []
    ready = [tmp_path / "stubborn", tmp_path / "checkpointing"]
    # Ignores SIGTERM, as a process stuck in a call would.
    stubborn = SupervisedProcess(
        "stubborn",
        python_command(
            "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"pathlib.Path({str(ready[0])!r}).touch(); time.sleep(60)"
        ),
        log=log.append,
        stop_grace_s=0.5,
    )
    # Takes 1.5 s to wind down after SIGTERM, as a training run writing its checkpoint.
    checkpointing = SupervisedProcess(
        "checkpointing",
        python_command(
            "import pathlib, signal, sys, time\n"
            "def stop(*_): time.sleep(1.5); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            f"pathlib.Path({str(ready[1])!r}).touch(); time.sleep(60)"
        ),
        log=log.append,
        stop_grace_s=10,
    )
    for supervised in (stubborn, checkpointing):
        supervised.start()
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in ready):  # both have installed their handlers
        assert time.monotonic() < deadline, "the processes never got ready"
        time.sleep(0.05)

    started = time.monotonic()
    stop_all([stubborn, checkpointing])
    took = time.monotonic() - started

    assert stubborn.process.returncode == -signal.SIGKILL
    assert checkpointing.process.returncode == 0
    assert log == ["stubborn did not stop within 0.5s: killing it."]
    assert 1.4 < took < 8
    assert not process_alive(stubborn.pid) and not process_alive(checkpointing.pid)


def test_a_log_past_its_size_is_kept_once_and_started_afresh(tmp_path, monkeypatch):
    monkeypatch.setattr(runstack, "LOG_KEPT_BYTES", 10)
    big, small = tmp_path / "web.log", tmp_path / "beat.log"
    big.write_text("x" * 11)
    small.write_text("y" * 10)
    (tmp_path / "web.log.1").write_text("older")

    for path in (big, small):
        runstack.log_rotated(path)

    assert not big.exists() and (tmp_path / "web.log.1").read_text() == "x" * 11
    assert small.read_text() == "y" * 10
