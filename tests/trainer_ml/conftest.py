"""Small planted datasets for the trainers: each test can tell whether a model learned."""

import json
import random
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from trainer.ml.chat import tokenizer_train
from trainer.ml.data import RankedGroup
from trainer.ml.loop import TrainConfig

WORDS = [
    "the",
    "a",
    "river",
    "stone",
    "cloud",
    "runs",
    "quickly",
    "slowly",
    "blue",
    "green",
    "mountain",
    "light",
    "dark",
    "tree",
    "bird",
    "sings",
    "under",
    "over",
    "bright",
    "quiet",
]
MARKER = "banana"


def sentence(rng: random.Random, *, marker: bool = False) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 16))]
    if marker:
        words.insert(rng.randint(0, len(words)), MARKER)
    return " ".join(words)


def marker_groups(count: int, *, seed: int, k: int = 4) -> list[RankedGroup]:
    """K-wise rankings in which the one reply containing the marker word wins and the
    others tie for last: a preference a reward model can learn, with ties to skip."""
    rng = random.Random(seed)
    groups = []
    for _ in range(count):
        winner = rng.randrange(k)
        completions = [
            [{"role": "assistant", "content": sentence(rng, marker=i == winner)}] for i in range(k)
        ]
        losers = [i for i in range(k) if i != winner]
        prompt = [{"role": "user", "content": sentence(rng)}]
        groups.append(RankedGroup(prompt, completions, [[winner], losers]))
    return groups


THINGS = [
    "river",
    "stone",
    "cloud",
    "mountain",
    "tree",
    "bird",
    "lamp",
    "window",
    "garden",
    "bridge",
    "ship",
    "clock",
]
COLOURS = [
    "blue",
    "grey",
    "white",
    "green",
    "brown",
    "red",
    "yellow",
    "black",
    "orange",
    "silver",
    "purple",
    "gold",
]


def colour_conversations(count: int) -> list[list[dict[str, str]]]:
    """Each thing has a colour that can only be learned, not guessed from the prompt."""
    return [
        [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": f"What colour is the {thing}?"},
            {"role": "assistant", "content": f"The {thing} is {colour}."},
        ]
        for thing, colour in zip(THINGS[:count], COLOURS[:count], strict=True)
    ]


def jsonl_write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def groups_as_rows(groups: list[RankedGroup]) -> list[dict]:
    return [
        {"prompt": g.prompt, "completions": g.completions, "ranking": g.ranking} for g in groups
    ]


@pytest.fixture
def small_threads():
    """Two threads at most, whatever the machine: the tests compare runs bit for bit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


# Small pretrained-looking checkpoints for LoRA runs (here and in the serving tests).
SHAPE = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)


def small_checkpoint(folder, architecture: str) -> str:
    """A Llama or Qwen2 of a few thousand weights, untied output layer, with a tokenizer
    of the test data's words."""
    texts = [" ".join(WORDS)] * 3 + [m["content"] for c in colour_conversations(12) for m in c]
    tokenizer = tokenizer_train(texts, vocab_size=300)
    config_type, model_type = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    }[architecture]
    config = config_type(
        # A spare row, as real checkpoints round their vocabularies up: Qwen2's tokenizer
        # class adds a token of its own when it loads ours.
        vocab_size=len(tokenizer) + 1,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **SHAPE,
    )
    torch.manual_seed(0)
    model_type(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def lora_config(tmp_path, base: str, **overrides) -> TrainConfig:
    settings = dict(
        output_dir=str(tmp_path / "run"),
        base_model=base,
        batch_size=4,
        max_steps=6,
        lr=1e-2,
        checkpoint_every=0,
        log_every=3,
        lora_r=4,
    )
    return TrainConfig(**{**settings, **overrides})
