"""Reward-model training: our K-wise `Reward` trainer against TRL's `RewardTrainer`.

Both train the same freshly initialised tiny Llama (one saved directory: weights, and the
tokenizer learned once from the training texts) on the same rankings, with the same
optimizer, schedule, learning rate and epochs, on the same threads, taking turns step by
step in this process (see benchmarks/training_peers.py). Reported: ranked pairs trained
on per second (every non-tied pair of a group counts; TRL's pairs are exactly those), and
the accuracy of each trained model on the same held-out pairs (prompts split by hash, so
no held-out prompt is trained on).

The OpenAssistant K=4 set is small: a fixed quarter held out gives a few dozen pairs,
too few to tell two trainers apart. So it is cross-validated: the prompts fall into four
folds by hash, each fold is held out once while both sides train on the other three, and
every ranked pair is scored once per data order. The table gives the accuracy over all
folds, its mean over the data orders (seeds) and their range.

Data sets, from ../shared/data, parsed by dataset_io.imports:
- oasst K=4: OpenAssistant prompts with at least four ranked replies, cut to their four
  best. We forward 4 groups (16 sequences) per step; TRL gets each group's C(4, 2) = 6
  pairs and forwards 8 pairs (16 sequences) per step: the same sequences per forward.
- hh K=2: Anthropic HH harmless pairs. 8 groups per step for us, 8 pairs for TRL.

TRL is given the token ids our encoder made (its documented pre-tokenized `chosen_ids` /
`rejected_ids` input): from a conversational dataset TRL would tokenize to the same ids
(checked below) but drop every pair longer than max_length, where ours keeps the end
of it, so the two would no longer train on the same data.

    .venv/bin/python benchmarks/reward_vs_trl.py            # about 9 minutes on 2 cores
    .venv/bin/python benchmarks/reward_vs_trl.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks.training_peers import (
    Timed,
    Turn,
    Turns,
    arguments_parser,
    benchmark_start,
    fold_of,
    held_out,
    our_config,
    our_turn_listener,
    pairs_counted,
    records_read,
    table_print,
    trl_arguments,
    trl_turn_attach,
)
from dataset_io.imports import hh_rlhf, oasst
from dataset_io.imports.records import PreferenceRecord
from trainer.ml.chat import conversation_texts, tokenizer_train
from trainer.ml.data import RankedGroup
from trainer.ml.loop import TrainConfig, train
from trainer.ml.modeling import model_save, reward_model_load
from trainer.ml.reward import Reward, sequences_encode

MAX_LENGTH = 256


def parse_args() -> argparse.Namespace:
    parser = arguments_parser(__doc__.splitlines()[0])
    parser.add_argument("--oasst-epochs", type=float, default=2.0)
    parser.add_argument("--hh-epochs", type=float, default=1.0)
    parser.add_argument("--hh-train", type=int, default=320, help="HH pairs trained on")
    parser.add_argument("--hh-held-out", type=int, default=300, help="HH pairs held out")
    parser.add_argument("--oasst-orders", type=int, default=3, help="data orders (seeds)")
    parser.add_argument("--oasst-folds", type=int, default=4, help="cross-validation folds")
    parser.add_argument("--hh-orders", type=int, default=1, help="data orders (seeds)")
    return parser.parse_args()


@dataclass
class Fold:
    train: list[RankedGroup]
    held_out: list[RankedGroup]


@dataclass
class DataSet:
    name: str
    k: int
    groups_per_step: int
    # One fold is a plain train / held-out split; several are a cross-validation whose
    # held-out parts together are every group once.
    folds: list[Fold]
    epochs: float
    # Data orders (seeds): each trains both sides once more from the same start, since
    # one order's held-out accuracy on a few hundred pairs still carries some luck.
    orders: int

    @property
    def groups(self) -> int:
        return len({id(g) for fold in self.folds for g in fold.train + fold.held_out})


def group_from(record: PreferenceRecord, k: int) -> RankedGroup:
    """The k best-ranked replies of a record, their tiers kept (ties stay ties)."""
    kept = [i for tier in record.ranking for i in tier][:k]
    position = {index: n for n, index in enumerate(kept)}
    ranking = [[position[i] for i in tier if i in position] for tier in record.ranking]
    return RankedGroup(
        prompt=record.messages,
        completions=[[{"role": "assistant", "content": record.replies[i]}] for i in kept],
        ranking=[tier for tier in ranking if tier],
    )


def oasst_k4(epochs: float, orders: int, folds: int) -> DataSet:
    records = records_read("oasst-en-100-trees.jsonl", oasst.parse_line)
    groups = [
        group_from(r, 4) for r in records if isinstance(r, PreferenceRecord) and len(r.replies) >= 4
    ]
    # Folds by the tree's first prompt: follow-up prompts of a held-out conversation are
    # held out with it.
    fold = [fold_of(g.prompt[0]["content"], folds) for g in groups]
    return DataSet(
        "oasst K=4",
        4,
        4,
        [
            Fold(
                train=[g for g, f in zip(groups, fold, strict=True) if f != n],
                held_out=[g for g, f in zip(groups, fold, strict=True) if f == n],
            )
            for n in range(folds)
        ],
        epochs,
        orders,
    )


def hh_k2(train_size: int, held_out_size: int, epochs: float, orders: int) -> DataSet:
    records = records_read("hh-rlhf-harmless-sample.jsonl", hh_rlhf.parse_line)
    groups = [group_from(r, 2) for r in records if isinstance(r, PreferenceRecord)]
    # The first prompt decides, as for OASST: HH repeats opening questions across pairs.
    test = [held_out(g.prompt[0]["content"], 30) for g in groups]
    train_groups = [g for g, out in zip(groups, test, strict=True) if not out]
    test_groups = [g for g, out in zip(groups, test, strict=True) if out]
    fold = Fold(train_groups[:train_size], test_groups[:held_out_size])
    return DataSet("hh K=2", 2, 8, [fold], epochs, orders)


def base_model_save(data_sets: list[DataSet], folder: Path) -> None:
    """The one starting point of every run: tokenizer learned once, weights drawn once.
    The tokenizer reads the texts of every group some fold trains on: with cross-validation
    that is every group, held out elsewhere or not. It learns no preference, and both
    trainers share it."""
    trained = {id(g): g for d in data_sets for fold in d.folds for g in fold.train}
    conversations = [g.prompt + [m for c in g.completions for m in c] for g in trained.values()]
    tokenizer = tokenizer_train(conversation_texts(conversations))
    torch.manual_seed(0)
    model_save(reward_model_load("", tokenizer, max_length=MAX_LENGTH), tokenizer, folder)


def encoded(tokenizer, group: RankedGroup) -> list[list[int]]:
    return [sequences_encode(tokenizer, group.prompt, c, MAX_LENGTH) for c in group.completions]


@torch.no_grad()
def pairs_right(model, tokenizer, groups: list[RankedGroup]) -> tuple[int, int]:
    """The same scoring for both trained models: each held-out sequence scored (right
    padding with a mask, so any model reads it right), then every non-tied pair checked."""
    model.eval()
    sequences = [s for g in groups for s in encoded(tokenizer, g)]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    scores = torch.empty(len(sequences))
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        width = max(len(sequences[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, : len(sequences[i])] = torch.tensor(sequences[i])
            mask[row, : len(sequences[i])] = 1
        scores[chunk] = model(input_ids=ids, attention_mask=mask).logits[:, 0].float()
    right, total, offset = 0, 0, 0
    for group in groups:
        for better, worse in group.pairs():
            right += int(scores[offset + better] > scores[offset + worse])
            total += 1
        offset += len(group.completions)
    return right, total


@dataclass
class Outcome:
    timed: Timed  # pairs trained on, and the time it took
    right: int  # held-out pairs ranked the right way round
    held_out_pairs: int

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.timed + other.timed,
            self.right + other.right,
            self.held_out_pairs + other.held_out_pairs,
        )

    @property
    def accuracy(self) -> float:
        return self.right / self.held_out_pairs


def ours_run(turn: Turn, data: DataSet, fold: Fold, seed: int, base: Path, work: Path, args):
    config = our_config(
        TrainConfig,
        args,
        output_dir=str(work / f"ours-{data.k}-{seed}-{id(fold)}"),
        base_model=str(base),
        max_length=MAX_LENGTH,
        batch_size=data.groups_per_step,
        epochs=data.epochs,
        seed=seed,
    )
    method = Reward(config, fold.train, fold.held_out)
    # What TRL is given (encoded here by the benchmark) is what we train on.
    expected = [encoded(method.tokenizer, g) for g in fold.train]
    assert [g.sequences for g in method.train_set] == expected
    train(method, config, on_event=our_turn_listener(turn, "pairs"))
    right, pairs = pairs_right(method.model, method.tokenizer, fold.held_out)
    return Outcome(turn.clock.timed(args.warmup_steps), right, pairs)


def trl_run(turn: Turn, data: DataSet, fold: Fold, seed: int, base: Path, work: Path, args):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    rows = []
    for group in fold.train:
        sequences = encoded(tokenizer, group)
        rows += [
            {"chosen_ids": sequences[a], "rejected_ids": sequences[b]} for a, b in group.pairs()
        ]
    # TRL tokenizes a conversational dataset with the chat template: the same ids.
    short = next(g for g in fold.train if max(map(len, encoded(tokenizer, g))) < MAX_LENGTH)
    rendered = tokenizer.apply_chat_template(short.prompt + short.completions[0], tokenize=True)
    assert rendered["input_ids"] == encoded(tokenizer, short)[0]

    # Same pairs per forward as our groups per forward: 2 sequences a pair.
    config = TrainConfig(
        output_dir="",
        batch_size=data.groups_per_step * data.k // 2,
        epochs=data.epochs,
        max_steps=args.max_steps,
        lr=args.lr,
        seed=seed,
    )
    trainer = pairs_counted(RewardTrainer)(
        model=str(base),
        args=RewardConfig(
            max_length=MAX_LENGTH,
            **trl_arguments(config, str(work / f"trl-{data.k}-{seed}-{id(fold)}")),
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trl_turn_attach(trainer, turn, lambda: trainer.pairs_trained)
    trainer.train()
    right, pairs = pairs_right(trainer.model, tokenizer, fold.held_out)
    return Outcome(turn.clock.timed(args.warmup_steps), right, pairs)


def accuracy_cell(outcomes: list[Outcome]) -> str:
    """The mean over data orders (each summed over its folds), the lowest and highest,
    and the pairs one order holds out."""
    found = [o.accuracy for o in outcomes]
    mean = sum(found) / len(found)
    spread = f" [{min(found):.3f}-{max(found):.3f}]" if len(found) > 1 else ""
    return f"{mean:.3f}{spread} ({outcomes[0].held_out_pairs} pairs)"


def data_set_rows(data: DataSet, work: Path, args) -> list[list[str]]:
    """Both trainers on one data set, once per data order and fold, and their table rows."""
    results: dict[str, list[Outcome]] = {"ours": [], "TRL": []}
    for seed in range(data.orders):
        by_order: dict[str, list[Outcome]] = {"ours": [], "TRL": []}
        for fold in data.folds:
            # Each fold of an order is one pair of runs from the same start, taking turns.
            common = {"data": data, "fold": fold, "seed": seed, "base": work / "base"}
            outcomes = Turns(args.threads).run(
                {
                    "ours": partial(ours_run, **common, work=work, args=args),
                    "TRL": partial(trl_run, **common, work=work, args=args),
                }
            )
            for name, outcome in outcomes.items():
                by_order[name].append(outcome)
        for name, found in by_order.items():
            results[name].append(sum(found[1:], found[0]))
    epochs = f"{data.epochs:g}" if not args.quick else f"{args.max_steps} steps"
    timed = {
        name: sum((o.timed for o in found[1:]), found[0].timed) for name, found in results.items()
    }
    mean = {name: sum(o.accuracy for o in found) / len(found) for name, found in results.items()}
    rows = [
        [
            data.name,
            f"{data.groups} groups" + (f", {len(data.folds)}-fold" if len(data.folds) > 1 else ""),
            epochs,
            str(data.orders),
            name,
            str(timed[name].steps),
            f"{timed[name].rate:.1f}",
            accuracy_cell(found),
        ]
        for name, found in results.items()
    ]
    ratio = f"{timed['ours'].rate / timed['TRL'].rate:.2f}x"
    difference = f"{mean['ours'] - mean['TRL']:+.3f}"
    if data.orders > 1:
        # Paired by order: both sides of an order trained on the same folds from one start.
        ahead = sum(
            o.right >= t.right for o, t in zip(results["ours"], results["TRL"], strict=True)
        )
        difference += f" (ours equal or ahead in {ahead} of {data.orders} orders)"
    rows.append([data.name, "", "", "", "ours/TRL", "", ratio, difference])
    return rows


def main() -> None:
    args = parse_args()
    benchmark_start(args)
    if args.quick:
        args.hh_train, args.hh_held_out = 48, 24
        args.oasst_orders = args.hh_orders = 1
        args.oasst_folds = 2
    data_sets = [
        oasst_k4(args.oasst_epochs, args.oasst_orders, args.oasst_folds),
        hh_k2(args.hh_train, args.hh_held_out, args.hh_epochs, args.hh_orders),
    ]
    if args.quick:
        for data in data_sets:
            for fold in data.folds:
                fold.held_out = fold.held_out[:8]
    print(
        f"threads: {args.threads} (torch.set_num_threads, both trainers); max length "
        f"{MAX_LENGTH}; lr {args.lr}; float32; first {args.warmup_steps} steps of a run untimed"
    )
    print(
        "per forward: oasst K=4, ours 4 groups x 4 = 16 sequences, TRL 8 pairs x 2 = 16; "
        "hh K=2, ours 8 groups x 2 = 16, TRL 8 pairs x 2 = 16"
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        base_model_save(data_sets, work / "base")
        for data in data_sets:
            rows += data_set_rows(data, work, args)
    print()
    table_print(
        [
            "data",
            "train",
            "epochs",
            "orders",
            "trainer",
            "timed steps",
            "pairs/s",
            "held-out accuracy, mean [range]",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
