"""The training loop every method (trainer.ml.methods) shares: AdamW with warmup and cosine decay,
gradient accumulation and clipping, bf16 autocast on a GPU, checkpoints and resume,
and data parallelism over several processes (`torchrun`, gloo on CPU, NCCL on GPUs).

A method (SFT, reward) supplies the data plan and the loss; the loop owns everything
about steps. Losses are sums divided by the units (tokens, ranked groups) of the whole
optimizer step across every process, so one process with batch B and N processes with
B/N each take the same step."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import clip_grad_norm_

from trainer.ml.checkpoints import CheckpointClock, checkpoint_resumed, checkpoint_save
from trainer.ml.defaults import FROM_SCRATCH_LR, settings_with_base_defaults


@dataclass
class TrainConfig:
    """The loop's settings, which every method shares; a method's own config dataclass
    (its module's `CONFIG`, see trainer.ml.methods) subclasses this one."""

    output_dir: str
    # "" builds the tiny default model; otherwise a local Hugging Face model directory.
    base_model: str = ""
    # Tokens per example, longer ones cut: a chat turn or two fits, and the cost of
    # attention stays small on a CPU.
    max_length: int = 256
    # Examples (SFT conversations, reward ranked groups) per micro-batch, summed over all
    # processes: the same setting gives the same steps whatever the process count.
    batch_size: int = 8
    # Micro-batches per optimizer step: 1, as a batch of 8 fits in memory; raise it for a
    # larger step than memory holds.
    grad_accum: int = 1
    # One pass: a small labelled set overfits quickly when seen again and again.
    epochs: float = 1.0
    # When set, overrides epochs.
    max_steps: int = 0
    # High, as the tiny default model starts from nothing. from_dict gives a pretrained
    # base its own, lower default (trainer.ml.defaults).
    lr: float = FROM_SCRATCH_LR
    # Cosine decay ends at this fraction of lr rather than 0, so late steps still learn.
    min_lr_ratio: float = 0.1
    # A short warmup keeps Adam's first, badly estimated steps small.
    warmup_ratio: float = 0.05
    # Light: the runs are short, and decay only guards against weights growing unchecked.
    weight_decay: float = 0.01
    # Clipping at 1 stops one bad batch from undoing the steps before it.
    max_grad_norm: float = 1.0
    # Fixed, so the same data and settings train the same model.
    seed: int = 0
    # Steps between checkpoints: what a crash loses at most, against the time writing
    # one costs.
    checkpoint_every: int = 50
    # A checkpoint at least this often, whatever the step count: with a large model or
    # slow steps, 50 steps can be an hour, all of it lost to a crash. 0: steps only.
    checkpoint_every_s: float = 300.0
    # Steps per progress record: often enough for a curve, rarely enough that writing
    # the run's progress costs nothing next to training.
    log_every: int = 5
    # 0: evaluate once, at the end.
    eval_every: int = 0
    # Autocast to bf16 where the GPU supports it; CPUs train in fp32.
    bf16: bool = True
    # CPU threads per training process; 0 is automatic: the process's share of the cores
    # (trainer.ml.cpu_threads), as torch's default of a thread per core in every process
    # oversubscribes a machine that runs several, or other work. OMP_NUM_THREADS, when
    # set, also wins over automatic.
    threads: int = 0
    # LoRA (trainer.ml.lora): the adapters' rank; 0 fine-tunes every weight.
    lora_r: int = 0
    # The adapters' scale is alpha / r; 0 means 2r, the usual choice, which keeps the
    # scale the same whatever the rank.
    lora_alpha: float = 0.0
    # Light: the runs are short and the adapters small.
    lora_dropout: float = 0.05
    # Names of the layers to adapt; empty: those of the base's architecture.
    lora_target_modules: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config of a run: the worker's and the command line's both come through here,
        so both fill the defaults that follow the base model (a value given wins)."""
        data = settings_with_base_defaults(data)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training settings: {', '.join(unknown)}")
        return cls(**data)


class Cancelled(Exception):
    """The run was asked to stop; its last checkpoint is kept."""


class Suspended(Exception):
    """The run was asked to stop for now and continue elsewhere (its worker is shutting
    down): `step` is the checkpoint written on the way out, where a resume starts, or
    None when none could be written and a resume starts from the last one."""

    def __init__(self, step: int | None):
        self.step = step
        where = f"checkpointed at step {step}" if step is not None else "no new checkpoint"
        super().__init__(f"Suspended: {where}.")


Event = dict[str, object]


class Method(Protocol):
    """What a training method supplies to the loop."""

    module: nn.Module

    def epoch_plan(self, epoch: int, rng: random.Random) -> list[list[int]]:
        """The micro-batches of one epoch, as example indices, all processes together."""

    def units(self, batch: list[int]) -> int:
        """What a loss sum over `batch` is divided by (trained tokens, ranked groups)."""

    def loss_sum(self, module: nn.Module, shard: list[int]) -> tuple[torch.Tensor, dict]:
        """The summed loss of this process's part of a micro-batch, and counters to log."""

    def finish(self, processes: Processes) -> None:
        """Called on every process once after the last step, before the final evaluation:
        work here may be shared out by `processes.rank` and combined with `processes.sum`
        (on the method's own module, not the wrapped one: no other collective may run)."""

    def evaluate(self) -> dict[str, float]: ...

    def save(self, folder: Path) -> None: ...

    # Optional: counters a progress record reports as a mean, each divided by the total of
    # the counter named beside it ({"reward": "samples"}), rather than as a total.
    # averaged: dict[str, str]


COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Processes:
        """Joins the process group `torchrun` describes through its environment."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not torch_dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            # The other processes wait in a barrier while the main one evaluates and saves,
            # which on a large validation set or slow storage outlasts the 10-minute default.
            torch_dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        return cls(torch_dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        torch_dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Linear warmup, then cosine decay from lr to lr * min_lr_ratio."""
    warmup = max(1, round(total * config.warmup_ratio)) if config.warmup_ratio else 0
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def optimizer_create(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    # Weight decay on matrices only: decaying norms' gains and biases only hurts.
    decayed = [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
    plain = [p for p in module.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    # The fused kernel updates every parameter in one pass; on a CPU the default updates
    # them one tensor at a time, which costs a tenth of a small model's step. Same update,
    # same state (a checkpoint from either loads into the other).
    fused = all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


@dataclass
class TrainResult:
    steps: int
    metrics: dict[str, float]
    history: list[dict]
    model_dir: Path


def train(
    method: Method,
    config: TrainConfig,
    *,
    processes: Processes | None = None,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    should_suspend: Callable[[], bool] | None = None,
) -> TrainResult:
    """Trains to the end, resuming from the newest checkpoint in `output_dir` if there
    is one. `on_event` receives progress, evaluation and checkpoint events (on the main
    process only); `should_stop` is asked before every step (true: `Cancelled`), and
    `should_suspend` after every step (true on any process: a checkpoint at that step,
    then `Suspended`)."""
    processes = processes or Processes()
    emit = on_event if (on_event and processes.main) else (lambda event: None)
    output = Path(config.output_dir)
    device = processes.device()
    module = method.module.to(device)
    optimizer = optimizer_create(module, config)
    plans = EpochPlans(method, config.seed, processes.world)
    steps_per_epoch = _steps_per_epoch(plans, config)
    total = config.max_steps or math.ceil(config.epochs * steps_per_epoch)

    step, history = checkpoint_resumed(output, module, optimizer, device)
    if step:
        emit({"type": "resumed", "step": step, "total_steps": total})
    autocast = autocast_for(config, device)
    steps = OptimizerSteps(method, config, processes, module, optimizer, autocast)
    progress = ProgressLog(config, total, first_step=step, averaged=_averaged(method))
    clock = CheckpointClock(every=config.checkpoint_every, every_s=config.checkpoint_every_s)
    while step < total:
        if should_stop and should_stop():
            raise Cancelled(f"Stopped at step {step} of {total}.")
        epoch, offset = divmod(step, steps_per_epoch)
        micro = plans.epoch(epoch)[offset * config.grad_accum : (offset + 1) * config.grad_accum]
        lr = lr_at(step, total, config)
        done = steps.take(
            micro,
            lr,
            asked=lambda: {
                "suspend": bool(should_suspend and should_suspend()),
                "time": clock.time_due(),
            },
        )
        step += 1

        record = progress.record(step, done, lr=lr)
        if record is not None:
            history.append(record)
            emit(progress.event(step, record))
        if config.eval_every and step % config.eval_every == 0 and step < total:
            history.append(_evaluated(method, processes, step, emit, autocast))
        # A run asked to suspend at its last step finishes instead: only saving is left.
        if step < total and (done.votes["suspend"] or done.votes["time"] or clock.step_due(step)):
            _checkpoint(steps, output, step, history, clock, emit)
            if done.votes["suspend"]:
                raise Suspended(step)
    return _finished(method, config, processes, step, history, emit, autocast)


def _averaged(method: Method) -> dict[str, str]:
    return dict(getattr(method, "averaged", {}))


class EpochPlans:
    """The micro-batches of each epoch, planned once from a seed of the epoch's own (so a
    resumed run plans its epoch as the first attempt did) and kept while it lasts."""

    def __init__(self, method: Method, seed: int, world: int):
        self.method, self.seed, self.world = method, seed, world
        self.plans: dict[int, list[list[int]]] = {}

    def epoch(self, epoch: int) -> list[list[int]]:
        if epoch not in self.plans:
            batches = self.method.epoch_plan(epoch, random.Random(self.seed * 100_003 + epoch))
            # Every process needs at least one example of every micro-batch.
            self.plans.clear()
            self.plans[epoch] = [b for b in batches if len(b) >= self.world]
        return self.plans[epoch]


def _steps_per_epoch(plans: EpochPlans, config: TrainConfig) -> int:
    steps = len(plans.epoch(0)) // config.grad_accum
    if steps == 0:
        raise ValueError(
            f"Too little data: not one step of {config.batch_size} x {config.grad_accum}."
        )
    return steps


def autocast_for(config: TrainConfig, device: torch.device) -> AbstractContextManager:
    """bf16 autocast on a GPU that has it when the config asks, else nothing. Training steps
    run under it, and so do evaluations and DPO's reference pass, so that each compares
    log-probabilities computed at the same precision as the steps'."""
    if config.bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@dataclass
class StepDone:
    loss: float  # the step's mean loss over every process
    counters: dict[str, float]  # the method's, summed over every process
    votes: dict[str, bool]  # each question asked after the step: true on any process
    grad_norm: float


class OptimizerSteps:
    """One optimizer step at a time over a step's micro-batches, on every process."""

    def __init__(
        self,
        method: Method,
        config: TrainConfig,
        processes: Processes,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        autocast: AbstractContextManager,
    ):
        self.method, self.config, self.processes = method, config, processes
        self.module, self.optimizer, self.autocast = module, optimizer, autocast
        # Wrapped after a resume has loaded the checkpoint: DDP starts every process
        # from the main one's weights.
        self.trained = DistributedDataParallel(module) if processes.world > 1 else module

    def take(
        self, micro: list[list[int]], lr: float, *, asked: Callable[[], dict[str, bool]]
    ) -> StepDone:
        units = sum(self.method.units(batch) for batch in micro)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.module.train()
        counters = _accumulated(
            self.method, self.trained, micro, units, self.processes, self.autocast
        )
        # Whether to stop or to checkpoint rides on the sum every step makes anyway, so
        # every process takes the same decision at the same step.
        counters, votes = _summed(counters, asked(), self.processes)
        grad_norm = clip_grad_norm_(self.module.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = counters.pop("loss_sum") / units
        return StepDone(loss=loss, counters=counters, votes=votes, grad_norm=float(grad_norm))


class ProgressLog:
    """A record every `log_every` steps and at the last: the mean loss and the counters'
    totals over the steps since the record before, with the progress event it goes in."""

    def __init__(
        self, config: TrainConfig, total: int, *, first_step: int, averaged: dict[str, str]
    ):
        self.every, self.total, self.first_step = config.log_every, total, first_step
        self.averaged = averaged
        self.started = time.monotonic()
        self.elapsed = 0.0
        self.window: dict[str, float] = {}

    def record(self, step: int, done: StepDone, *, lr: float) -> dict | None:
        window = self.window
        window["loss"] = window.get("loss", 0.0) + done.loss
        window["steps"] = window.get("steps", 0) + 1
        for key, value in done.counters.items():
            window[key] = window.get(key, 0.0) + value
        if step % self.every != 0 and step != self.total:
            return None
        self.elapsed = time.monotonic() - self.started
        self.window = {}
        for name, divisor in self.averaged.items():
            if name in window:
                window[name] = window[name] / window[divisor] if window.get(divisor) else 0.0
        return _record(window, step=step, lr=lr, grad_norm=done.grad_norm, elapsed=self.elapsed)

    def event(self, step: int, record: dict) -> Event:
        per_step = self.elapsed / max(1, step - self.first_step)
        return {
            "type": "progress",
            "step": step,
            "total_steps": self.total,
            "progress": step / self.total,
            "eta_s": round(per_step * (self.total - step), 1),
            "metrics": record,
        }


def _checkpoint(
    steps: OptimizerSteps, output: Path, step: int, history: list, clock: CheckpointClock, emit
) -> None:
    if steps.processes.main:
        path = checkpoint_save(output, step, steps.module, steps.optimizer, history)
        emit({"type": "checkpoint", "step": step, "path": str(path)})
    clock.written()
    steps.processes.barrier()


def _finished(
    method: Method,
    config: TrainConfig,
    processes: Processes,
    step: int,
    history: list,
    emit,
    autocast: AbstractContextManager,
) -> TrainResult:
    """The final evaluation, and the model saved with its config and history."""
    method.finish(processes)
    final = _evaluated(method, processes, step, emit, autocast)
    history.append(final)
    model_dir = Path(config.output_dir) / "model"
    if processes.main:
        method.save(model_dir)
        (model_dir / "training.json").write_text(
            json.dumps({"config": asdict(config), "history": history}, indent=1)
        )
    processes.barrier()
    return TrainResult(steps=step, metrics=final, history=history, model_dir=model_dir)


def _accumulated(method, trained, micro, units, processes, autocast) -> dict[str, float]:
    """Backward passes over this process's share of one step's micro-batches; the loss
    sum and the method's counters, for this process alone."""
    counters: dict[str, float] = {"loss_sum": 0.0}
    for index, batch in enumerate(micro):
        shard = batch[processes.rank :: processes.world]
        last = index == len(micro) - 1
        sync = nullcontext() if last or processes.world == 1 else trained.no_sync()
        with sync:
            with autocast:
                loss_sum, stats = method.loss_sum(trained, shard)
            (loss_sum.float() / units * processes.world).backward()
        counters["loss_sum"] += float(loss_sum.detach())
        for key, value in stats.items():
            counters[key] = counters.get(key, 0.0) + value
    return counters


def _summed(
    counters: dict[str, float], asked: dict[str, bool], processes: Processes
) -> tuple[dict[str, float], dict[str, bool]]:
    """Counters summed over the processes, and each question true where any process
    said yes."""
    names, questions = sorted(counters), sorted(asked)
    values = processes.sum([counters[n] for n in names] + [float(asked[q]) for q in questions])
    summed = dict(zip(names, values[: len(names)], strict=True))
    votes = {q: v > 0 for q, v in zip(questions, values[len(names) :], strict=True)}
    return summed, votes


def _record(window: dict[str, float], *, step: int, lr: float, grad_norm: float, elapsed: float):
    steps = window.pop("steps")
    record = {"step": step, "loss": window.pop("loss") / steps, "lr": lr, "grad_norm": grad_norm}
    # Counters (tokens, pairs) stay totals over the steps since the last record, not rates:
    # a reader divides them by the time between records for a rate.
    for key, value in window.items():
        record[key] = value
    record["elapsed_s"] = round(elapsed, 3)
    return record


def _evaluated(method: Method, processes: Processes, step: int, emit, autocast) -> dict:
    metrics: dict = {}
    if processes.main:
        with autocast:
            metrics = method.evaluate()
        emit({"type": "eval", "step": step, "metrics": metrics})
    processes.barrier()
    return {"step": step, "eval": metrics}
