"""What the two trainer benchmarks (`reward_vs_trl.py`, `sft_vs_trl.py`) share: the real data
under ../shared/data read by our own importers, the way both trainers are timed, and TRL's
settings matched to our `TrainConfig`.

The runs being compared take turns, one optimizer step at a time, each in a thread of this
process (see `Turns`), so that a neighbour loading the machine for a minute slows all of
them alike instead of whichever happened to be running. A step is timed from the moment its
run gets the turn to the end of the step, data fetching included; the first steps, which
allocate everything, are left out, and so are tokenizer training, data loading,
tokenization, model loading and the final evaluation."""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dataset_io.imports import hh_rlhf
from dataset_io.imports.records import PreferenceRecord, Record
from trainer.ml.data import RankedGroup
from trainer.ml.loop import TrainConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def arguments_parser(description: str) -> argparse.ArgumentParser:
    """The options both benchmarks take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few steps: a smoke test")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads, for all")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=3, help="steps left out of timing")
    return parser


def benchmark_start(args: argparse.Namespace) -> None:
    """Stops at once without TRL, fixes the threads, and sets the step limit: none, or a
    few steps (two of them untimed) with --quick."""
    missing = trl_missing()
    if missing:
        raise SystemExit(missing)
    threads_fix(args.threads)
    args.max_steps = 0
    if args.quick:
        args.warmup_steps, args.max_steps = 2, 4


def threads_fix(count: int) -> None:
    """One thread count for both trainers, set once, before either builds anything."""
    torch.set_num_threads(count)
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def records_read(name: str, parse_line: Callable[[str], list[Record]]) -> list[Record]:
    with (SHARED_DATA / name).open(encoding="utf-8") as lines:
        return [record for line in lines if line.strip() for record in parse_line(line)]


def hh_harmless_split(percent: int) -> tuple[list[RankedGroup], list[RankedGroup]]:
    """The Anthropic HH harmless pairs as (train, held out), `percent` held out by a hash of
    the conversation's first prompt: HH repeats opening questions across pairs."""
    groups = [
        RankedGroup(
            prompt=r.messages,
            completions=[[{"role": "assistant", "content": reply}] for reply in r.replies],
            ranking=r.ranking,
        )
        for r in records_read("hh-rlhf-harmless-sample.jsonl", hh_rlhf.parse_line)
        if isinstance(r, PreferenceRecord)
    ]
    test = [held_out(g.prompt[0]["content"], percent) for g in groups]
    return (
        [g for g, out in zip(groups, test, strict=True) if not out],
        [g for g, out in zip(groups, test, strict=True) if out],
    )


def sft_started(
    blank: Path, groups: list[RankedGroup], held_out: list[RankedGroup], steps: int, **settings
) -> Path:
    """A starting policy for the third stage: the saved `blank` model fine-tuned by our SFT
    on the groups' best replies for `steps` steps (setup, never timed), so that it answers
    in words and ends its turns. A few held-out groups keep its final evaluation short."""
    from trainer.ml.loop import train
    from trainer.ml.sft import SFT, SFTConfig

    def best(group: RankedGroup) -> list:
        return group.prompt + group.completions[group.ranking[0][0]]

    config = SFTConfig(
        output_dir=str(blank.parent / f"{blank.name}-sft"),
        base_model=str(blank),
        max_steps=steps,
        log_every=50,
        checkpoint_every=0,
        **settings,
    )
    method = SFT(config, [best(g) for g in groups], [best(g) for g in held_out[:16]])
    return train(method, config).model_dir


def text_hash(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def held_out(key: str, percent: int) -> bool:
    """A stable split by a prompt's text: the same prompt always lands on the same side."""
    return text_hash(key) % 100 < percent


def fold_of(key: str, folds: int) -> int:
    """A stable fold for cross-validation by a prompt's text, as `held_out` splits."""
    return text_hash(key) % folds


@dataclass
class StepClock:
    """The duration of every step of one run, and a running count (pairs, tokens) after it."""

    threads: int
    durations: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    started: float = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def tick(self, count: float) -> None:
        # Checked on every step: a library that changed the thread count would make the
        # comparison meaningless.
        assert torch.get_num_threads() == self.threads, torch.get_num_threads()
        self.durations.append(time.perf_counter() - self.started)
        self.counts.append(count)

    def timed(self, warmup: int) -> Timed:
        """What the steps after the first `warmup` counted, and how long they took."""
        if warmup < 1:
            raise ValueError("At least one warm-up step: the first step allocates everything.")
        if len(self.durations) <= warmup:
            raise ValueError(f"Only {len(self.durations)} steps: too few to time after {warmup}.")
        return Timed(
            count=self.counts[-1] - self.counts[warmup - 1],
            seconds=sum(self.durations[warmup:]),
            steps=len(self.durations) - warmup,
        )


@dataclass
class Timed:
    count: float
    seconds: float
    steps: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def __add__(self, other: Timed) -> Timed:
        return Timed(
            self.count + other.count, self.seconds + other.seconds, self.steps + other.steps
        )


class Turn:
    """One run's side of `Turns`: it holds the turn from its start (setup included) and
    passes it on after each step but the last, so its final evaluation runs alone too."""

    def __init__(self, turns: Turns, name: str, clock: StepClock):
        self.turns, self.name, self.clock = turns, name, clock

    def step_done(self, count: float, progress: float) -> None:
        self.clock.tick(count)
        if progress < 1.0:
            self.turns.pass_on(self.name, progress)
        self.clock.start()


class Turns:
    """Runs training jobs in threads, one step at a time: the next step always goes to the
    run that is furthest behind in its own progress (steps done / its total), so runs of
    different lengths stay interleaved from start to finish. Only one thread computes at a
    time, so they never compete for the cores, only share whatever the machine gives."""

    def __init__(self, threads: int):
        self.threads = threads
        self.condition = threading.Condition()
        self.progress: dict[str, float] = {}
        self.holder: str | None = None

    def run(self, jobs: dict[str, Callable[[Turn], object]]) -> dict[str, object]:
        self.progress = dict.fromkeys(jobs, 0.0)
        self.holder = next(iter(jobs))
        results: dict[str, object] = {}
        failures: list[BaseException] = []

        def body(name: str, job: Callable[[Turn], object]) -> None:
            turn = Turn(self, name, StepClock(self.threads))
            try:
                self._wait(name)
                turn.clock.start()
                results[name] = job(turn)
            except BaseException as exc:
                failures.append(exc)
            finally:
                self._finish(name)

        workers = [threading.Thread(target=body, args=item) for item in jobs.items()]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise failures[0]
        return results

    def pass_on(self, name: str, progress: float) -> None:
        with self.condition:
            self.progress[name] = progress
            self.holder = min(self.progress, key=self.progress.__getitem__)
            self.condition.notify_all()
        self._wait(name)

    def _wait(self, name: str) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.holder == name)

    def _finish(self, name: str) -> None:
        with self.condition:
            self.progress.pop(name, None)
            self.holder = min(self.progress, key=self.progress.__getitem__, default=None)
            self.condition.notify_all()


def our_config(config_class: type, args: argparse.Namespace, **settings) -> TrainConfig:
    """Our trainer's settings for a timed run: the shared lr and step limit, every step
    logged (each closes a turn) and no checkpoints, which TRL's runs do not write either."""
    return config_class(
        max_steps=args.max_steps, lr=args.lr, log_every=1, checkpoint_every=0, **settings
    )


def trl_arguments(config: TrainConfig, output_dir: str) -> dict:
    """TRL's TrainingArguments equal to our TrainConfig: the same optimizer (AdamW, betas
    0.9/0.95, decay on matrices only), warmup then cosine down to a tenth of lr, clipping,
    seed and float32 on the CPU. Gradient checkpointing, which TRL turns on by default,
    is off: it trades speed for memory, and these models fit many times over."""
    return {
        "output_dir": output_dir,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "learning_rate": config.lr,
        "lr_scheduler_type": "cosine_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": config.min_lr_ratio},
        "warmup_steps": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "adam_beta1": 0.9,
        "adam_beta2": 0.95,
        "adam_epsilon": 1e-8,
        "max_grad_norm": config.max_grad_norm,
        "seed": config.seed,
        "bf16": False,
        "gradient_checkpointing": False,
        "use_cpu": True,
        "dataloader_num_workers": 0,
        "report_to": "none",
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
    }


def trl_turn_attach(trainer, turn: Turn, count: Callable[[], float]) -> None:
    """Makes a TRL trainer take turns and time its steps, and keeps its end-of-training
    summary off stdout (the table is the script's output)."""
    from transformers import PrinterCallback, TrainerCallback

    class Ticks(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            turn.step_done(count(), state.global_step / state.max_steps)

    trainer.add_callback(Ticks())
    trainer.remove_callback(PrinterCallback)


def pairs_counted(trainer_class: type) -> type:
    """A TRL pairwise trainer (reward, DPO) that counts the pairs it trains on: each of its
    batches is the chosen rows, then the rejected rows, so half the rows are pairs."""

    class Counted(trainer_class):
        pairs_trained = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                self.pairs_trained += inputs["input_ids"].shape[0] // 2
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return Counted


def our_turn_listener(turn: Turn, counter: str) -> Callable[[dict], None]:
    """An `on_event` for our loop run with log_every=1: each progress event closes a step
    and carries that step's counters."""
    total = 0.0

    def listen(event: dict) -> None:
        nonlocal total
        if event["type"] == "progress":
            total += event["metrics"][counter]
            turn.step_done(total, event["step"] / event["total_steps"])

    return listen


def trl_missing() -> str | None:
    try:
        import trl  # noqa: F401
    except ImportError:
        return "TRL is not installed: .venv/bin/pip install -e '.[bench]'"
    return None


def table_print(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
