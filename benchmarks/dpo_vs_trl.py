"""DPO training: our `DPO` trainer against TRL's `DPOTrainer`.

Both train the same tiny Llama (one saved directory: weights, and the tokenizer learned
once from the training texts), first fine-tuned by our SFT on the training pairs' chosen
replies as DPO's users start from an SFT model (setup, untimed; `--sft-steps 0` starts
from random weights instead), on the same Anthropic HH harmless pairs,
with the same optimizer, schedule, learning rate, beta, batch size and epochs, on the same
threads, taking turns step by step in this process (see benchmarks/training_peers.py).
Reported: preference pairs trained on per second, and the held-out preference accuracy of
each trained model, scored by one function for both: the share of held-out pairs whose
chosen reply gets the higher implicit reward, beta * (log pi - log pi_ref) summed over the
final reply's tokens, against the saved starting weights as the reference.

Our trainer computes the reference's log-probabilities once, before its first step. TRL
does the same with `precompute_ref_log_probs=True`, its like-for-like setting here; by
default it instead forwards a second, frozen copy of the model at every step, which is also
run. Neither side's reference pass is timed (it runs in each trainer's constructor).

TRL is given the conversations in its conversational format and tokenizes them with the
chat template to the ids ours trains on (asserted). TRL cuts a pair longer than max length
from the end (`keep_end` is deprecated there) where ours cuts the prompt from the start,
so only pairs whose longer sequence fits in MAX_LENGTH are used, and the two train on the
same tokens. On a multi-turn prompt ours also sums the earlier assistant turns' tokens;
they are the same in both replies, so they cancel in the loss and in the accuracy, and
only cost ours the extra vocabulary projections.

    .venv/bin/python benchmarks/dpo_vs_trl.py            # a few minutes on 2 cores
    .venv/bin/python benchmarks/dpo_vs_trl.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from benchmarks import training_peers as peers
from trainer.ml.chat import conversation_encode, conversation_texts, tokenizer_train
from trainer.ml.data import RankedGroup
from trainer.ml.dpo import DPO, DPOConfig
from trainer.ml.loop import train
from trainer.ml.modeling import causal_lm_load, model_save

MAX_LENGTH = 256
BATCH = 8  # pairs per step: 16 sequences per forward for both


def parse_args() -> argparse.Namespace:
    parser = peers.arguments_parser(__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--train-pairs", type=int, default=400, help="HH pairs trained on")
    parser.add_argument("--held-out-pairs", type=int, default=300, help="HH pairs held out")
    parser.add_argument("--rounds", type=int, default=2, help="ours and TRL, turn about")
    parser.add_argument(
        "--sft-steps",
        type=int,
        default=200,
        help="SFT steps on the chosen replies before DPO (0: DPO from random weights)",
    )
    return parser.parse_args()


@dataclass(frozen=True)
class Pair:
    group: RankedGroup  # the prompt, then the chosen and the rejected reply
    prompt_length: int  # tokens of the prompt and the assistant header that opens the reply
    sequences: tuple[list[int], list[int]]  # chosen, rejected: the whole conversation's ids


def pair_encode(tokenizer, group: RankedGroup) -> Pair:
    prompt = conversation_encode(tokenizer, group.prompt, generation_prompt=True)[0]
    chosen, rejected = (
        conversation_encode(tokenizer, [*group.prompt, *c])[0] for c in group.completions
    )
    return Pair(group, len(prompt), (chosen, rejected))


def hh_pairs(train_size: int, held_out_size: int) -> tuple[list[RankedGroup], list[RankedGroup]]:
    train_groups, test_groups = peers.hh_harmless_split(30)
    return train_groups[:train_size], test_groups[:held_out_size]


def fitting(tokenizer, groups: list[RankedGroup]) -> list[Pair]:
    """The pairs both of whose sequences fit in MAX_LENGTH: no trainer cuts them."""
    pairs = [pair_encode(tokenizer, g) for g in groups]
    return [p for p in pairs if max(map(len, p.sequences)) <= MAX_LENGTH]


@torch.no_grad()
def reply_log_probs(model, pairs: list[Pair]) -> torch.Tensor:
    """(P, 2): each pair's summed log-probability of the chosen and of the rejected final
    reply (its words and the `<|im_end|>` closing it), right-padded batches, causal."""
    model.eval()
    rows = [(s, p.prompt_length) for p in pairs for s in p.sequences]
    found = torch.empty(len(rows))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        width = max(len(rows[i][0]) for i in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        trained = torch.zeros((len(chunk), width), dtype=torch.bool)
        for row, i in enumerate(chunk):
            sequence, prompt_length = rows[i]
            ids[row, : len(sequence)] = torch.tensor(sequence)
            trained[row, prompt_length : len(sequence)] = True
        logits = model(input_ids=ids).logits[:, :-1].float()
        picked = -F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        found[chunk] = (picked * trained[:, 1:]).sum(dim=1)
    return found.view(len(pairs), 2)


@dataclass
class Outcome:
    timed: peers.Timed  # pairs trained on, and the time it took
    right: int  # held-out pairs whose chosen reply got the higher implicit reward
    margin: float  # the mean implicit reward margin, chosen minus rejected

    def accuracy(self, pairs: int) -> float:
        return self.right / pairs


def scored(model, reference: torch.Tensor, test: list[Pair], beta: float) -> tuple[int, float]:
    rewards = beta * (reply_log_probs(model, test) - reference)  # (P, 2)
    margins = rewards[:, 0] - rewards[:, 1]
    return int((margins > 0).sum()), float(margins.mean())


def ours_run(turn: peers.Turn, train_set, test, reference, seed: int, base: Path, work: Path, args):
    config = peers.our_config(
        DPOConfig,
        args,
        output_dir=str(work / f"ours-{seed}"),
        base_model=str(base),
        max_length=MAX_LENGTH,
        batch_size=BATCH,
        epochs=args.epochs,
        beta=args.beta,
        seed=seed,
    )
    # Two held-out pairs keep the loop's own final evaluation short; the accuracy
    # reported is `scored` on all of them.
    method = DPO(config, [p.group for p in train_set], [p.group for p in test[:2]])
    assert [[s.ids for s in g.sequences] for g in method.train_set] == [
        list(p.sequences) for p in train_set
    ]
    train(method, config, on_event=peers.our_turn_listener(turn, "pairs"))
    right, margin = scored(method.model, reference, test, args.beta)
    return Outcome(turn.clock.timed(args.warmup_steps), right, margin)


def trl_run(
    turn: peers.Turn, train_set, test, reference, precompute: bool, seed: int, base, work, args
):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    rows = [
        {
            "prompt": p.group.prompt,
            "chosen": p.group.completions[0],
            "rejected": p.group.completions[1],
        }
        for p in train_set
    ]

    # Ours, only to be translated into TRL's arguments: the same schedule and optimizer.
    config = DPOConfig(
        output_dir="",
        batch_size=BATCH,
        epochs=args.epochs,
        max_steps=args.max_steps,
        lr=args.lr,
        seed=seed,
    )
    trainer = peers.pairs_counted(DPOTrainer)(
        model=str(base),
        args=TRLDPOConfig(
            max_length=MAX_LENGTH,
            beta=args.beta,
            precompute_ref_log_probs=precompute,
            **peers.trl_arguments(config, str(work / f"trl-{precompute}-{seed}")),
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    # TRL's tokenization is ours: the same ids, and the completion is the final reply.
    prepared = trainer.train_dataset
    for pair, prompt, chosen, rejected in zip(
        train_set,
        prepared["prompt_ids"],
        prepared["chosen_ids"],
        prepared["rejected_ids"],
        strict=True,
    ):
        assert len(prompt) == pair.prompt_length
        assert (prompt + chosen, prompt + rejected) == pair.sequences
    peers.trl_turn_attach(trainer, turn, lambda: trainer.pairs_trained)
    trainer.train()
    right, margin = scored(trainer.model, reference, test, args.beta)
    return Outcome(turn.clock.timed(args.warmup_steps), right, margin)


def main() -> None:
    args = parse_args()
    peers.benchmark_start(args)
    # TRL's reference pass draws a progress bar of its own.
    os.environ["TQDM_DISABLE"] = "1"
    if args.quick:
        args.train_pairs, args.held_out_pairs, args.rounds = 48, 16, 1
        args.sft_steps = min(args.sft_steps, 4)
    train_groups, test_groups = hh_pairs(args.train_pairs, args.held_out_pairs)
    print(
        f"threads: {args.threads} (torch.set_num_threads, all runs); max length {MAX_LENGTH}; "
        f"batch {BATCH} pairs (16 sequences); lr {args.lr}; beta {args.beta}; float32; "
        f"first {args.warmup_steps} steps of a run untimed; "
        f"{args.sft_steps} SFT steps on the chosen replies first (untimed)"
    )
    runs = {"ours": [], "TRL precomputed": [], "TRL live": []}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        conversations = [g.prompt + [m for c in g.completions for m in c] for g in train_groups]
        tokenizer = tokenizer_train(conversation_texts(conversations))
        torch.manual_seed(0)
        model = causal_lm_load("", tokenizer, max_length=MAX_LENGTH)
        base = work / "base"
        model_save(model, tokenizer, base)
        if args.sft_steps:
            settings = {"max_length": MAX_LENGTH, "batch_size": BATCH, "lr": 5e-4}
            base = peers.sft_started(base, train_groups, test_groups, args.sft_steps, **settings)
            model = AutoModelForCausalLM.from_pretrained(base)
        train_set, test = fitting(tokenizer, train_groups), fitting(tokenizer, test_groups)
        reference = reply_log_probs(model, test)
        print(
            f"HH harmless: {len(train_set)} of the first {len(train_groups)} training pairs "
            f"fit in {MAX_LENGTH} tokens, {len(test)} of {len(test_groups)} held out"
        )
        common = {"train_set": train_set, "test": test, "reference": reference}
        common |= {"base": base, "work": work, "args": args}
        for seed in range(args.rounds):
            outcomes = peers.Turns(args.threads).run(
                {
                    "ours": partial(ours_run, seed=seed, **common),
                    "TRL precomputed": partial(trl_run, precompute=True, seed=seed, **common),
                    "TRL live": partial(trl_run, precompute=False, seed=seed, **common),
                }
            )
            for name, outcome in outcomes.items():
                runs[name].append(outcome)
    print()
    peers.table_print(*result_table(runs, len(test)))


def result_table(runs: dict[str, list[Outcome]], pairs: int) -> tuple[list, list]:
    """A row per run and round, then ours against each TRL setting: the ratio of the
    pairs/s over all rounds, and the difference in held-out accuracy over all rounds."""
    rows = []
    settings = {
        "ours": "reference precomputed",
        "TRL precomputed": "precompute_ref_log_probs",
        "TRL live": "reference forwarded each step",
    }
    for name, found in runs.items():
        for seed, outcome in enumerate(found):
            rows.append(
                [
                    str(seed + 1),
                    name.split()[0],
                    settings[name],
                    str(outcome.timed.steps),
                    f"{outcome.timed.rate:.1f}",
                    f"{outcome.accuracy(pairs):.3f} ({pairs} pairs)",
                    f"{outcome.margin:+.3f}",
                ]
            )
    total = {
        name: sum((o.timed for o in found[1:]), found[0].timed) for name, found in runs.items()
    }
    accuracy = {
        name: sum(o.right for o in found) / (pairs * len(found)) for name, found in runs.items()
    }
    for name in ("TRL precomputed", "TRL live"):
        rows.append(
            [
                "all",
                "ours/TRL",
                settings[name],
                "",
                f"{total['ours'].rate / total[name].rate:.2f}x",
                f"{accuracy['ours'] - accuracy[name]:+.3f}",
                "",
            ]
        )
    header = [
        "round",
        "trainer",
        "setting",
        "timed steps",
        "pairs/s",
        "held-out accuracy",
        "margin",
    ]
    return header, rows


if __name__ == "__main__":
    main()
