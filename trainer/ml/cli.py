"""The command line both trainers share. Events go to stdout as JSON lines, so a shell,
a log collector or the worker that started the process can all follow a run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import fields

from trainer.ml.loop import Method, Processes, TrainConfig, train


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
    config = config_from_args(args)
    processes = Processes.from_env()
    method = build(config, args.train, args.validation)

    def show(event: dict) -> None:
        print(json.dumps(event), flush=True)

    result = train(method, config, processes=processes, on_event=show)
    if processes.main:
        print(json.dumps({"type": "done", "model_dir": str(result.model_dir)}), file=sys.stdout)
    return 0
