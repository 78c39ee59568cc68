"""RL against a reward model: our `RL` trainer against TRL's `RLOOTrainer`.

Both optimize one starting policy against one reward model on the same Anthropic HH harmless
prompts, with the same algorithm and settings: K replies sampled per prompt at temperature 1,
each reply's return its reward minus beta times its KL to the starting policy (summed over
its tokens), the leave-one-out baseline of the other K - 1 replies, one update per batch;
the same optimizer, schedule, learning rate, prompts per step, K, reply length and threads,
taking turns step by step in this process (see benchmarks/training_peers.py).

The starting policy and the reward model are made first, untimed, by our own trainers from
one tokenizer learned on the training texts: a tiny Llama fine-tuned on the chosen replies
(so that it answers in words and ends its turns), and a tiny Llama reward model trained on
the pairs. TRL is given the reward model as a reward function that calls the same batched
scorer ours calls, so scoring costs both the same.

Reported for each run: replies per second (sampled, scored and trained on, over the timed
steps); and, measured by one function for both after training, on held-out prompts: the
mean reward of K replies to each, sampled with the same seeds from each trained policy and
from the starting one; the gain over the start, and that gain per minute of the run's steps
(all of them, the untimed first ones too); the mean KL of a reply to the starting policy;
and the share of the gain that reply length explains (see trainer.ml.rl.length_share).

    .venv/bin/python benchmarks/rl_vs_trl.py            # about ten minutes on 2 cores
    .venv/bin/python benchmarks/rl_vs_trl.py --quick    # a smoke test
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

from benchmarks import training_peers as peers
from trainer.ml.chat import Message, conversation_encode, conversation_texts, tokenizer_train
from trainer.ml.data import RankedGroup
from trainer.ml.loop import TrainConfig, train
from trainer.ml.modeling import causal_lm_load, model_save, reward_model_load
from trainer.ml.reward import Reward, RewardConfig, RewardScorer
from trainer.ml.rl import RL, RLConfig

MAX_LENGTH = 256  # the setup's SFT and reward model
PROMPT_TOKENS = 128  # prompts longer than this are left out: neither trainer cuts one
BATCH = 8  # prompts per step: 32 replies with K = 4


def parse_args() -> argparse.Namespace:
    parser = peers.arguments_parser(__doc__.splitlines()[0])
    parser.set_defaults(lr=1e-4)
    parser.add_argument("--steps", type=int, default=40, help="RL steps of each run")
    parser.add_argument("--k", type=int, default=4, help="replies per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--beta", type=float, default=0.05, help="the KL coefficient")
    parser.add_argument("--held-out-prompts", type=int, default=64)
    parser.add_argument("--setup-steps", type=int, default=200, help="SFT and reward steps")
    parser.add_argument("--rounds", type=int, default=2, help="ours and TRL, turn about")
    return parser.parse_args()


def short_prompts(tokenizer, groups: list[RankedGroup]) -> list[list[Message]]:
    """Each prompt once, of those that fit in PROMPT_TOKENS with the reply's header."""
    found, seen = [], set()
    for group in groups:
        key = repr(group.prompt)
        ids = conversation_encode(tokenizer, group.prompt, generation_prompt=True)[0]
        if key not in seen and len(ids) <= PROMPT_TOKENS:
            seen.add(key)
            found.append(group.prompt)
    return found


def setup_models(train_groups, test_groups, work: Path, args) -> tuple[Path, Path]:
    """The starting policy and the reward model, trained by our own trainers, untimed.
    A few held-out groups keep each one's final evaluation short."""
    conversations = [g.prompt + [m for c in g.completions for m in c] for g in train_groups]
    tokenizer = tokenizer_train(conversation_texts(conversations))
    torch.manual_seed(0)
    blank_policy, blank_reward = work / "blank-policy", work / "blank-reward"
    model_save(causal_lm_load("", tokenizer, max_length=MAX_LENGTH), tokenizer, blank_policy)
    model_save(reward_model_load("", tokenizer, max_length=MAX_LENGTH), tokenizer, blank_reward)
    common = {"max_length": MAX_LENGTH, "batch_size": BATCH, "lr": 5e-4}
    start = peers.sft_started(blank_policy, train_groups, test_groups, args.setup_steps, **common)
    reward_config = RewardConfig(
        output_dir=str(work / "reward"),
        base_model=str(blank_reward),
        max_steps=args.setup_steps,
        log_every=50,
        checkpoint_every=0,
        **common,
    )
    method = Reward(reward_config, train_groups, test_groups[:16])
    reward = train(method, reward_config).model_dir
    return start, reward


@dataclass
class Outcome:
    timed: peers.Timed  # replies trained on, and the time it took
    minutes: float  # every step of the run, the untimed first ones too
    held_out: dict[str, float]  # Evaluator's figures

    @property
    def gain_per_minute(self) -> float:
        return self.held_out["validation_reward_gain"] / self.minutes


class Evaluator:
    """One judge of every trained policy: the RL method's own evaluation, built once on the
    starting policy (its reference, whose held-out replies it samples once) and given each
    trained policy's weights in turn."""

    def __init__(self, start: Path, scorer: RewardScorer, held_out, work: Path, args):
        config = RLConfig(
            output_dir=str(work / "evaluator"),
            base_model=str(start),
            samples_per_prompt=args.k,
            max_new_tokens=args.max_new_tokens,
            eval_prompts=len(held_out),
            lora_r=0,
        )
        self.method = RL(config, held_out, scorer, held_out)

    def __call__(self, model) -> dict[str, float]:
        self.method.model.load_state_dict(model.state_dict())
        return self.method.evaluate()


def rl_config(args, seed: int, output_dir: Path, start: Path) -> RLConfig:
    return peers.our_config(
        RLConfig,
        args,
        output_dir=str(output_dir),
        base_model=str(start),
        batch_size=BATCH,
        samples_per_prompt=args.k,
        max_new_tokens=args.max_new_tokens,
        kl_coef=args.beta,
        eval_prompts=2,
        seed=seed,
        lora_r=0,
    )


def minutes(turn: peers.Turn) -> float:
    return sum(turn.clock.durations) / 60


def ours_run(turn: peers.Turn, prompts, scorer, evaluator, seed: int, start, work, args):
    config = rl_config(args, seed, work / f"ours-{seed}", start)
    # Two held-out prompts keep the loop's own final evaluation short; the figures
    # reported are the evaluator's.
    method = RL(config, prompts, scorer, prompts[:2])
    train(method, config, on_event=peers.our_turn_listener(turn, "samples"))
    timed = turn.clock.timed(args.warmup_steps)
    return Outcome(timed, minutes(turn), evaluator(method.model))


def trl_run(turn: peers.Turn, prompts, scorer, evaluator, seed: int, start, work, args):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RLOOConfig, RLOOTrainer

    tokenizer = AutoTokenizer.from_pretrained(start)
    # TRL renders each prompt with the chat template: the ids ours samples after.
    for prompt in prompts[:50]:
        rendered = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
        rendered = rendered["input_ids"] if hasattr(rendered, "keys") else rendered
        assert list(rendered) == conversation_encode(tokenizer, prompt, generation_prompt=True)[0]

    def reward_model(prompts, completions, **_) -> list[float]:
        texts = [(p, c[0]["content"].strip()) for p, c in zip(prompts, completions, strict=True)]
        return scorer.scores(texts).tolist()

    replies = BATCH * args.k
    # Ours, only to be translated into TRL's arguments: the same schedule and optimizer.
    config = TrainConfig(
        output_dir="", batch_size=replies, max_steps=args.max_steps, lr=args.lr, seed=seed
    )
    trainer = RLOOTrainer(
        model=str(start),
        reward_funcs=reward_model,
        args=RLOOConfig(
            num_generations=args.k,
            max_completion_length=args.max_new_tokens,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            beta=args.beta,
            normalize_advantages=False,
            disable_dropout=True,
            log_completions=False,
            **peers.trl_arguments(config, str(work / f"trl-{seed}")),
        ),
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        processing_class=tokenizer,
    )
    peers.trl_turn_attach(trainer, turn, lambda: trainer.state.global_step * replies)
    trainer.train()
    timed = turn.clock.timed(args.warmup_steps)
    return Outcome(timed, minutes(turn), evaluator(trainer.model))


def main() -> None:
    args = parse_args()
    peers.benchmark_start(args)
    os.environ["TQDM_DISABLE"] = "1"
    if args.quick:
        args.held_out_prompts, args.rounds, args.setup_steps = 8, 1, 4
    else:
        args.max_steps = args.steps
    train_groups, test_groups = peers.hh_harmless_split(20)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        start, reward = setup_models(train_groups, test_groups, work, args)
        scorer = RewardScorer(reward)
        prompts = short_prompts(scorer.tokenizer, train_groups)
        held_out = short_prompts(scorer.tokenizer, test_groups)[: args.held_out_prompts]
        print(
            f"threads: {args.threads} (torch.set_num_threads, all runs); {args.max_steps} steps "
            f"of {BATCH} prompts x {args.k} replies of up to {args.max_new_tokens} tokens; "
            f"lr {args.lr}; beta {args.beta}; float32; first {args.warmup_steps} steps untimed\n"
            f"HH harmless: {len(prompts)} training prompts, {len(held_out)} held out, "
            f"each of at most {PROMPT_TOKENS} tokens"
        )
        evaluator = Evaluator(start, scorer, held_out, work, args)
        common = {"prompts": prompts, "scorer": scorer, "evaluator": evaluator}
        common |= {"start": start, "work": work, "args": args}
        runs: dict[str, list[Outcome]] = {"ours": [], "TRL": []}
        for seed in range(args.rounds):
            outcomes = peers.Turns(args.threads).run(
                {
                    "ours": partial(ours_run, seed=seed, **common),
                    "TRL": partial(trl_run, seed=seed, **common),
                }
            )
            for name, outcome in outcomes.items():
                runs[name].append(outcome)
        start_reward = evaluator.method.reference_samples.scores.mean()
    print(f"\nstarting policy's held-out mean reward: {float(start_reward):+.3f}")
    peers.table_print(*result_table(runs))


def result_table(runs: dict[str, list[Outcome]]) -> tuple[list, list]:
    rows = []
    for name, found in runs.items():
        for seed, outcome in enumerate(found):
            figures = outcome.held_out
            rows.append(
                [
                    str(seed + 1),
                    name,
                    str(outcome.timed.steps),
                    f"{outcome.timed.rate:.1f}",
                    f"{figures['validation_reward']:+.3f}",
                    f"{figures['validation_reward_gain']:+.3f}",
                    f"{outcome.gain_per_minute:+.3f}",
                    f"{figures['validation_kl']:.2f}",
                    f"{figures['validation_length_share']:+.2f}",
                ]
            )
    total = {
        name: sum((o.timed for o in found[1:]), found[0].timed) for name, found in runs.items()
    }

    def mean(name: str, figure) -> float:
        return sum(figure(o) for o in runs[name]) / len(runs[name])

    gain = {n: mean(n, lambda o: o.held_out["validation_reward_gain"]) for n in runs}
    per_minute = {n: mean(n, lambda o: o.gain_per_minute) for n in runs}
    kl = {n: mean(n, lambda o: o.held_out["validation_kl"]) for n in runs}
    rows.append(
        [
            "all",
            "ours/TRL",
            "",
            f"{total['ours'].rate / total['TRL'].rate:.2f}x",
            "",
            f"{gain['ours'] - gain['TRL']:+.3f}",
            f"{per_minute['ours'] / per_minute['TRL']:.2f}x" if per_minute["TRL"] > 0 else "-",
            f"{kl['ours'] - kl['TRL']:+.2f}",
            "",
        ]
    )
    header = [
        "round",
        "trainer",
        "timed steps",
        "replies/s",
        "held-out reward",
        "gain",
        "gain/min",
        "KL",
        "length share",
    ]
    return header, rows


if __name__ == "__main__":
    main()
