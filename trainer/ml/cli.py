"""The command line both trainers share. Events go to stdout as JSON lines, so a shell,
a log collector or the worker that started the process can all follow a run."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import fields

import torch.distributed as torch_dist

from trainer.ml.loop import Method, Processes, Suspended, TrainConfig, train

# Set by a worker that starts trainers (trainer.processes) to its own process id.
PARENT_ENV = "TRAINER_PARENT_PID"
PR_SET_PDEATHSIG = 1
# Sent by that worker when it shuts down: checkpoint after the current step and exit.
SUSPEND_SIGNAL = signal.SIGUSR1


def die_with_parent() -> None:
    """Where PARENT_ENV is set, asks Linux to kill this process when the thread that
    started it dies, so a killed worker leaves no trainer running. Done here, after the
    exec, because a hook run between fork and exec is unsafe in a parent with threads.
    Elsewhere than Linux the children outlive their parent."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(parent):
        # The parent died before the request above took hold.
        os._exit(1)


def suspend_requests() -> threading.Event:
    """Set once SUSPEND_SIGNAL arrives. A worker's children also leave Ctrl-C to it: the
    terminal sends SIGINT to the whole process group, and the worker, not each child,
    decides how its run stops."""
    requested = threading.Event()
    signal.signal(SUSPEND_SIGNAL, lambda signum, frame: requested.set())
    if os.environ.get(PARENT_ENV):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return requested


def _typed(config_field, raw: str) -> object:
    kind = {"int": int, "float": float, "bool": _boolean, "str": str}.get(str(config_field.type))
    if kind is None:
        raise argparse.ArgumentTypeError(f"{config_field.name} cannot be set from the command line")
    return kind(raw)


def _boolean(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    settings: dict[str, object] = json.loads(args.config) if args.config else {}
    by_name = {f.name: f for f in fields(TrainConfig)}
    for assignment in args.set or []:
        name, _, raw = assignment.partition("=")
        if name not in by_name:
            raise SystemExit(f"Unknown setting {name!r}; known: {', '.join(sorted(by_name))}")
        settings[name] = _typed(by_name[name], raw)
    settings["output_dir"] = args.output_dir
    if args.base_model is not None:
        settings["base_model"] = args.base_model
    return TrainConfig.from_dict(settings)


def run_from_command_line(
    kind: str,
    argv: list[str] | None,
    *,
    build: Callable[[TrainConfig, str, str | None], Method],
) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m trainer.ml.{kind}")
    parser.add_argument("--train", required=True, help="exported snapshot file (.jsonl[.gz])")
    parser.add_argument("--validation", help="held-out snapshot file")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--base-model", help="local Hugging Face model directory")
    parser.add_argument("--config", help="settings as a JSON object")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="one setting")
    args = parser.parse_args(argv)
    die_with_parent()
    # Before anything slow: until then the signal would kill the process.
    suspend = suspend_requests()
    config = config_from_args(args)
    processes = Processes.from_env()
    method = build(config, args.train, args.validation)

    def show(event: dict) -> None:
        print(json.dumps(event), flush=True)

    try:
        result = train(
            method, config, processes=processes, on_event=show, should_suspend=suspend.is_set
        )
    except Suspended as stopped:
        if processes.main:
            show({"type": "suspended", "step": stopped.step})
    else:
        if processes.main:
            show({"type": "done", "model_dir": str(result.model_dir)})
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    return 0
