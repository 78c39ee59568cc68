"""The command line every training method shares (`python -m trainer.ml.<method>`). Events
go to stdout as JSON lines, so a shell, a log collector or the worker that started the
process can all follow a run."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path

import torch.distributed as torch_dist

from trainer.ml.cpu_threads import threads_apply
from trainer.ml.data import conversations_read
from trainer.ml.loop import Processes, Suspended, TrainConfig, train
from trainer.ml.methods import TrainingData, TrainingMethod, training_method

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
    kind = {
        "int": int,
        "float": float,
        "bool": _boolean,
        "str": str,
        "tuple[str, ...]": _names,
    }.get(str(config_field.type))
    if kind is None:
        raise argparse.ArgumentTypeError(f"{config_field.name} cannot be set from the command line")
    return kind(raw)


def _names(raw: str) -> tuple[str, ...]:
    """Comma-separated: lora_target_modules=q_proj,v_proj."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _boolean(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def config_from_args(args: argparse.Namespace, config_type: type[TrainConfig]) -> TrainConfig:
    settings: dict[str, object] = json.loads(args.config) if args.config else {}
    by_name = {f.name: f for f in fields(config_type)}
    for assignment in args.set or []:
        name, _, raw = assignment.partition("=")
        if name not in by_name:
            raise SystemExit(f"Unknown setting {name!r}; known: {', '.join(sorted(by_name))}")
        settings[name] = _typed(by_name[name], raw)
    settings["output_dir"] = args.output_dir
    if args.base_model is not None:
        settings["base_model"] = args.base_model
    return config_type.from_dict(settings)


def arguments_parse(method: TrainingMethod, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {method.module}")
    parser.add_argument("--train", required=True, help="exported snapshot file (.jsonl[.gz])")
    parser.add_argument("--validation", help="held-out snapshot file")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--base-model", help="local Hugging Face model directory")
    parser.add_argument("--config", help="settings as a JSON object")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="one setting")
    if method.wants_demonstrations:
        parser.add_argument("--demonstrations", help="SFT snapshot file of approved replies")
    if method.wants_reward_model:
        parser.add_argument("--reward-model", required=True, help="saved reward model directory")
    return parser.parse_args(argv)


def data_from_args(args: argparse.Namespace) -> TrainingData:
    demonstrations = getattr(args, "demonstrations", None)
    reward_model = getattr(args, "reward_model", None)
    return TrainingData(
        train=Path(args.train),
        validation=Path(args.validation) if args.validation else None,
        demonstrations=conversations_read(demonstrations) if demonstrations else None,
        reward_model=Path(reward_model) if reward_model else None,
    )


def run_from_command_line(name: str, argv: list[str] | None) -> int:
    """Trains the registered method `name` (see trainer.ml.methods) as the arguments say."""
    method = training_method(name)
    args = arguments_parse(method, argv)
    die_with_parent()
    # Before anything slow: until then the signal would kill the process.
    suspend = suspend_requests()
    config = config_from_args(args, method.config_type())
    threads = threads_apply(config.threads)
    # To stderr, each process's own log: every process chooses its own count.
    print(f"CPU threads for training: {threads}", file=sys.stderr, flush=True)
    processes = Processes.from_env()
    trainee = method.build(config, data_from_args(args))

    def show(event: dict) -> None:
        print(json.dumps(event), flush=True)

    try:
        result = train(
            trainee, config, processes=processes, on_event=show, should_suspend=suspend.is_set
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
