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


def trained_token_batch(
    sequences: list[tuple[list[int], list[bool]]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, trained) sequences as right-padded ids and mask, with the (row, column) of
    every position whose next token is trained on: where a method projects to the
    vocabulary (SFT's loss, DPO's log-probabilities), so prompts and padding never reach
    the output layer."""
    ids = right_padded([s for s, _ in sequences], pad_id, device)
    mask = right_padded([[1] * len(s) for s, _ in sequences], 0, device)
    rows, cols = [], []
    for row, (sequence, trained) in enumerate(sequences):
        for col in range(len(sequence) - 1):
            if trained[col + 1]:
                rows.append(row)
                cols.append(col)
    return ids, mask, torch.tensor(rows, device=device), torch.tensor(cols, device=device)


def pair_indices(groups, device: torch.device):
    """(better, worse) indices into the `sequences` of ranked groups laid end to end, and
    each pair's weight, 1 / its group's pairs: a group weighs the same whatever its K."""
    better, worse, weight = [], [], []
    offset = 0
    for group in groups:
        for a, b in group.pairs:
            better.append(offset + a)
            worse.append(offset + b)
            weight.append(1.0 / len(group.pairs))
        offset += len(group.sequences)
    return (
        torch.tensor(better, dtype=torch.long, device=device),
        torch.tensor(worse, dtype=torch.long, device=device),
        torch.tensor(weight, device=device),
    )
