"""Supervised fine-tuning: our `SFT` trainer against TRL's `SFTTrainer`, packed and not.

All three runs train the same freshly initialised tiny Llama (one saved directory: weights,
and the tokenizer learned once from the training texts) on the same conversations, with
the loss on the assistant's reply only, the same optimizer, schedule, learning rate and
epochs, on the same threads, taking turns step by step in this process (see
benchmarks/training_peers.py). Reported: tokens fed to the model that are not padding,
per second (for each side, the real tokens of the input rows; packing and length
bucketing are each trainer's way of wasting less on padding), the padding fraction of
what was fed, and each trained model's loss on the same held-out conversations, as a
check that both learned alike.

Conversations, from ../shared/data, parsed by dataset_io.imports: the best-ranked replies to
the OpenAssistant first prompts, and the Self-Instruct (alpaca) seed tasks; all
single-turn, so TRL's prompt-completion format trains on exactly the tokens ours does
(checked below). TRL's best setting is packing (best-fit decreasing into rows of the max
length, padding-free); it is also run without packing. Batches are 8 rows for all three.

    .venv/bin/python benchmarks/sft_vs_trl.py            # a minute or two on 2 cores
    .venv/bin/python benchmarks/sft_vs_trl.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F

from benchmarks.training_peers import (
    Timed,
    Turn,
    Turns,
    arguments_parser,
    benchmark_start,
    held_out,
    our_config,
    our_turn_listener,
    records_read,
    table_print,
    trl_arguments,
    trl_turn_attach,
)
from dataset_io.imports import alpaca, oasst
from dataset_io.imports.records import DemonstrationRecord
from trainer.ml.chat import Message, conversation_encode, conversation_texts, tokenizer_train
from trainer.ml.loop import TrainConfig, train
from trainer.ml.modeling import causal_lm_load, model_save
from trainer.ml.sft import SFT

MAX_LENGTH = 256
BATCH = 8


def parse_args() -> argparse.Namespace:
    parser = arguments_parser(__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    return parser.parse_args()


def conversations() -> tuple[list[list[Message]], list[list[Message]]]:
    """(train, held out), split by the prompt's text."""
    records = records_read("oasst-en-100-trees.jsonl", oasst.parse_line)
    records += records_read("alpaca-seed-tasks.jsonl", alpaca.parse_line)
    found = [
        [*r.messages, {"role": "assistant", "content": r.content}]
        for r in records
        if isinstance(r, DemonstrationRecord) and len(r.messages) == 1
    ]
    test = [held_out(c[0]["content"], 10) for c in found]
    return (
        [c for c, out in zip(found, test, strict=True) if not out],
        [c for c, out in zip(found, test, strict=True) if out],
    )


@torch.no_grad()
def held_out_loss(model, tokenizer, test: list[list[Message]]) -> float:
    """Mean cross-entropy of the trained (assistant) tokens, the same for every model."""
    model.eval()
    total, count = 0.0, 0
    for messages in test:
        ids, trained = conversation_encode(tokenizer, messages)
        ids, trained = ids[:MAX_LENGTH], trained[:MAX_LENGTH]
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()  # (T-1, V)
        keep = torch.tensor(trained[1:])
        total += float(F.cross_entropy(logits[keep], torch.tensor(ids[1:])[keep], reduction="sum"))
        count += int(keep.sum())
    return total / count


@dataclass
class Outcome:
    timed: Timed  # non-padding tokens fed, and the time it took
    padding: float
    loss: float


def encoded_all(tokenizer, train_set: list[list[Message]]) -> list[tuple[list[int], list[bool]]]:
    """(ids, trained) of every conversation, cut to MAX_LENGTH, as both trainers must see them."""
    found = []
    for messages in train_set:
        ids, trained = conversation_encode(tokenizer, messages)
        found.append((ids[:MAX_LENGTH], trained[:MAX_LENGTH]))
    return found


def ours_run(turn: Turn, train_set, test, base: Path, work: Path, args) -> Outcome:
    config = our_config(
        TrainConfig,
        args,
        output_dir=str(work / "ours"),
        base_model=str(base),
        max_length=MAX_LENGTH,
        batch_size=BATCH,
        epochs=args.epochs,
    )
    fed = {"positions": 0}

    class CountedSFT(SFT):
        def loss_sum(self, module, shard):
            # Rows are right-padded to the longest one of the batch.
            rows = [len(self.train_set[i].ids) for i in shard]
            fed["positions"] += len(rows) * max(rows)
            return super().loss_sum(module, shard)

    # Two held-out conversations keep the loop's own final evaluation short; the loss
    # reported is held_out_loss on all of them.
    method = CountedSFT(config, train_set, test[:2])
    expected = encoded_all(method.tokenizer, train_set)
    assert [(item.ids, item.trained) for item in method.train_set] == expected
    train(method, config, on_event=our_turn_listener(turn, "tokens"))
    clock = turn.clock
    return Outcome(
        clock.timed(args.warmup_steps),
        1 - clock.counts[-1] / fed["positions"],
        held_out_loss(method.model, method.tokenizer, test),
    )


def trl_run(turn: Turn, train_set, test, packing: bool, base: Path, work: Path, args) -> Outcome:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    rows = [{"prompt": c[:-1], "completion": c[-1:]} for c in train_set]
    fed = {"tokens": 0, "positions": 0}

    class CountedSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                positions = inputs["input_ids"].numel()
                # Padding-free (packed) batches are one row with no padding and no mask.
                mask = inputs.get("attention_mask")
                fed["tokens"] += int(mask.sum()) if mask is not None else positions
                fed["positions"] += positions
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    config = TrainConfig(
        output_dir="", batch_size=BATCH, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr
    )
    trainer = CountedSFTTrainer(
        model=str(base),
        args=SFTConfig(
            max_length=MAX_LENGTH,
            packing=packing,
            **trl_arguments(config, str(work / f"trl-{packing}")),
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    prepared = trainer.train_dataset
    expected = encoded_all(tokenizer, train_set)
    if packing:
        # Packing keeps every token and only moves them into rows of MAX_LENGTH.
        assert sum(map(len, prepared["input_ids"])) == sum(len(ids) for ids, _ in expected)
    else:
        theirs = [
            (ids, [label != -100 for label in labels])
            for ids, labels in zip(prepared["input_ids"], prepared["labels"], strict=True)
        ]
        assert theirs == expected, "TRL would not train on the tokens we train on"
    trl_turn_attach(trainer, turn, lambda: fed["tokens"])
    trainer.train()
    return Outcome(
        turn.clock.timed(args.warmup_steps),
        1 - fed["tokens"] / fed["positions"],
        held_out_loss(trainer.model, tokenizer, test),
    )


def main() -> None:
    args = parse_args()
    benchmark_start(args)
    train_set, test = conversations()
    if args.quick:
        test = test[:4]
    print(
        f"threads: {args.threads} (torch.set_num_threads, all runs); max length {MAX_LENGTH}; "
        f"batch {BATCH} rows; lr {args.lr}; float32; first {args.warmup_steps} steps untimed"
    )
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        tokenizer = tokenizer_train(conversation_texts(train_set))
        torch.manual_seed(0)
        model = causal_lm_load("", tokenizer, max_length=MAX_LENGTH)
        model_save(model, tokenizer, work / "base")
        base = work / "base"
        # A conversation whose reply starts past MAX_LENGTH trains nothing; ours and TRL
        # without packing leave it out, TRL with packing would feed its prompt anyway.
        train_set = [
            c for c in train_set if any(conversation_encode(tokenizer, c)[1][1:MAX_LENGTH])
        ]
        outcomes = Turns(args.threads).run(
            {
                "ours": lambda turn: ours_run(turn, train_set, test, base, work, args),
                "packed": lambda turn: trl_run(turn, train_set, test, True, base, work, args),
                "padded": lambda turn: trl_run(turn, train_set, test, False, base, work, args),
            }
        )
        ours, packed, padded = outcomes["ours"], outcomes["packed"], outcomes["padded"]
    print(f"{len(train_set)} conversations trained on, {len(test)} held out")
    rows = [
        [
            name,
            setting,
            str(o.timed.steps),
            f"{o.timed.rate:,.0f}",
            f"{o.padding:.1%}",
            f"{o.loss:.3f}",
        ]
        for name, setting, o in (
            ("ours", "length-bucketed batches", ours),
            ("TRL", "packing (bfd, padding-free)", packed),
            ("TRL", "no packing", padded),
        )
    ]
    for setting, peer in (("packing", packed), ("no packing", padded)):
        rows.append(["ours/TRL", setting, "", f"{ours.timed.rate / peer.timed.rate:.2f}x", "", ""])
    print()
    table_print(["trainer", "setting", "timed steps", "tokens/s", "padding", "held-out loss"], rows)


if __name__ == "__main__":
    main()
