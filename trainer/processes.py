"""A training run spread over several local processes: one per GPU, or CPU cores shared.

A Celery worker runs one task in one process, so a run that should use several GPUs is
handed to `python -m <module>` (the training method's, see trainer.ml.methods), started N
times with the environment `torchrun` would give it (RANK, WORLD_SIZE, MASTER_ADDR, ...),
which `trainer.ml.loop.Processes` joins. The worker starts them itself, not through torchrun,
so that each child is tied to it: a child asks Linux to kill it when the thread that
started it dies (see `trainer.ml.cli.die_with_parent`), so a killed worker leaves no
trainer behind writing into the run's folder while the next worker resumes the run.
Rank 0 prints its events as JSON lines; they reach `on_event` as in-process training
sends them. Training across hosts stays with torchrun on the command line."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from trainer.ml.cli import PARENT_ENV, SUSPEND_SIGNAL
from trainer.ml.cpu_threads import usable_cores
from trainer.ml.loop import Cancelled, Suspended

# A child asked to stop gets this long to exit before it is killed.
STOP_GRACE_S = 10
# Asked to suspend, the processes finish their step and checkpoint within the worker's
# stop grace less this margin, or are stopped without a new checkpoint. The margin is what
# the worker still needs after them: reaping the children (a checkpointed child exits at
# once), handing the run back and acknowledging its message.
SUSPEND_MARGIN_S = 15
# A grace set very low still leaves a step this long to end and checkpoint.
SUSPEND_WAIT_MIN_S = 5
# How often the parent looks at its children and the cancel flag between events.
POLL_S = 0.5
# The end of a failed child's log quoted in the run's error.
ERROR_TAIL_CHARS = 2000


class ProcessesFailed(RuntimeError):
    """A training process exited with an error; the message quotes its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(rank: int, world: int, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(world),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        PARENT_ENV: str(os.getpid()),
    }
    # Without this each of N CPU processes would start a thread per core: N times too many.
    # The cores this process may run on (a container or taskset may allow fewer than
    # the machine has), shared among the processes.
    env.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // world)))
    return env


def train_in_processes(
    *,
    module: str,
    argv: list[str],
    count: int,
    log_dir: Path,
    on_event: Callable[[dict], None],
    should_stop: Callable[[], bool],
    should_suspend: Callable[[], bool] = lambda: False,
) -> dict:
    """Runs `python -m module *argv` in `count` processes until they all exit, passing
    rank 0's events to `on_event`; returns its closing `done` event. Raises `Cancelled`
    once `should_stop()` turns true, `ProcessesFailed` when a process fails, and
    `Suspended` when the processes, told to once `should_suspend()` turned true, wrote a
    checkpoint and exited (or did not in time); every child is stopped first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    children: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for rank in range(count):
            logs.append(log_dir / f"rank-{rank}.log")
            # Written afresh by each attempt: a failure quotes its own log, not an older one.
            with logs[-1].open("wb") as log:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", module, *argv],
                        stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                        stderr=log,
                        env=child_env(rank, count, port),
                    )
                )
        on_event({"type": "started", "pids": [child.pid for child in children]})
        return _follow(children, logs, on_event, should_stop, should_suspend)
    finally:
        _stop(children)


def _follow(children, logs, on_event, should_stop, should_suspend) -> dict:
    lines: queue.Queue[bytes | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(children[0].stdout, lines), daemon=True)
    reader.start()
    done: dict | None = None
    exit_deadline: float | None = None
    suspending: Suspending | None = None
    # Until rank 0's output is read to its end and every process has exited, watching
    # for a cancel and for a failure all along.
    while reader.is_alive() or not lines.empty() or any(c.poll() is None for c in children):
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = b""
        if line is None:  # rank 0's output ended
            exit_deadline = exit_deadline or time.monotonic() + STOP_GRACE_S
        elif line:
            event = _event(line)
            if event and event.get("type") == "done":
                done = event
                # The model is saved: the processes only have to exit now.
                exit_deadline = time.monotonic() + STOP_GRACE_S
            elif event and event.get("type") == "suspended" and suspending:
                suspending.step = event["step"]
            elif event:
                on_event(event)
        if should_stop():
            raise Cancelled("cancelled while training")
        if suspending is None and done is None and should_suspend():
            suspending = Suspending(children)
        for rank, child in enumerate(children):
            code = child.poll()
            # After `done` every process has finished training (rank 0 reports it past a
            # barrier); a failure while exiting then loses nothing. Suspending, a process
            # may also die of the signal before it could take it.
            if code not in (None, 0) and done is None and suspending is None:
                raise ProcessesFailed(f"process {rank} exited with {code}: {_tail(logs[rank])}")
        if exit_deadline is not None and time.monotonic() > exit_deadline:
            # Rank 0 is done; one still running now hangs (`_stop` ends it).
            break
        if suspending and time.monotonic() > suspending.deadline:
            break
    if suspending and done is None:
        raise Suspended(suspending.step)
    if done is None:
        raise ProcessesFailed(f"process 0 ended without saving a model: {_tail(logs[0])}")
    return done


def suspend_wait_s() -> float:
    """How long suspending processes get to checkpoint: derived from TRAINING_STOP_GRACE_S,
    the time runstack and compose give the training worker between SIGTERM and SIGKILL, so
    that a grace set lower than the default still leaves the worker time to hand the run
    back instead of being killed while it waits."""
    from django.conf import settings

    return max(SUSPEND_WAIT_MIN_S, settings.TRAINING_STOP_GRACE_S - SUSPEND_MARGIN_S)


class Suspending:
    """The processes were told to checkpoint and exit; `step` is the checkpoint rank 0
    reported, if it did."""

    def __init__(self, children: list[subprocess.Popen]):
        for child in children:
            if child.poll() is None:
                child.send_signal(SUSPEND_SIGNAL)
        self.deadline = time.monotonic() + suspend_wait_s()
        self.step: int | None = None


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _event(line: bytes) -> dict | None:
    # Anything else a library prints to stdout is not an event.
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "type" in event else None


def _tail(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return text[-ERROR_TAIL_CHARS:].strip() or "(nothing logged)"


def _stop(children: list[subprocess.Popen]) -> None:
    alive = [child for child in children if child.poll() is None]
    for child in alive:
        child.send_signal(signal.SIGTERM)
    for child in alive:
        try:
            child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for child in children:
        if child.stdout:
            child.stdout.close()
