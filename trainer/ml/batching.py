"""Cutting a method's examples into batches and tensors: shared by every method, so a new
one batches by length and pads the way SFT and the reward model do."""

from __future__ import annotations

import math
import random

import torch


def length_buckets(
    lengths: list[int], batch_size: int, rng: random.Random, *, pool: int = 64
) -> list[list[int]]:
    """Batches of similar lengths in a random order.

    Examples are shuffled, then sorted by length within pools of `pool` batches and cut
    into batches there, so each batch pads little while which examples meet in a batch
    still changes from epoch to epoch."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def right_padded(rows: list[list[int]], pad_id: int, device: torch.device) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [pad_id] * (width - len(row)) for row in rows], device=device)


def length_runs(lengths: list[int], *, forward_cost: int) -> list[list[int]]:
    """Indices of `lengths`, shortest first, cut into runs that are forwarded apart, each
    padded only to its own longest row: the cut with the fewest padded positions plus
    `forward_cost` per run, found by dynamic programming over the sorted lengths.

    A step's rows (a reward step's: its groups' K completions each) vary in length even
    after length bucketing, so one batch would pad every row to the longest."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    ordered = [lengths[i] for i in order]
    best = [0] + [math.inf] * len(order)  # best[j]: cost of the j shortest rows
    start = [0] * (len(order) + 1)  # start[j]: where the last run of that cost begins
    for j in range(1, len(order) + 1):
        for i in range(j):
            cost = best[i] + (j - i) * ordered[j - 1] + forward_cost
            if cost < best[j]:
                best[j], start[j] = cost, i
    runs, j = [], len(order)
    while j > 0:
        runs.append(order[start[j] : j])
        j = start[j]
    return runs[::-1]
