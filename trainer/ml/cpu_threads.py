"""How many CPU threads a training process gives torch.

Left alone, torch starts a thread per core in every process. Several training processes
on one machine (torchrun, TRAINING_PROCESSES), or a machine whose cores other work shares,
then run more threads than there are cores, and each step waits on the others: two
threads on a busy 2-core machine trained 6x slower than one."""

from __future__ import annotations

import os

import torch

THREADS_ENV = "OMP_NUM_THREADS"
# Set by torchrun (and trainer.processes) to the number of training processes on this machine.
LOCAL_PROCESSES_ENV = "LOCAL_WORLD_SIZE"


def threads_chosen(configured: int = 0) -> int:
    """`configured` when above 0 (TrainConfig.threads), else OMP_NUM_THREADS when the user
    set it, else this process's share of the cores it may run on: the cores divided
    among the training processes on this machine, at least one each."""
    if configured > 0:
        return configured
    explicit = _positive(os.environ.get(THREADS_ENV, "").split(",")[0])
    if explicit:
        return explicit
    processes = _positive(os.environ.get(LOCAL_PROCESSES_ENV, "")) or 1
    return max(1, usable_cores() // processes)


def threads_apply(configured: int = 0) -> int:
    """Sets torch's thread count as threads_chosen says; returns the count."""
    count = threads_chosen(configured)
    torch.set_num_threads(count)
    return count


def usable_cores() -> int:
    # The affinity mask, not os.cpu_count(): a container or taskset may allow fewer.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _positive(raw: str) -> int:
    """The whole number in `raw` when above 0, else 0 (unset or not a count)."""
    raw = raw.strip()
    # isascii: isdigit() holds for "²" too, which int() refuses.
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else 0
