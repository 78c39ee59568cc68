"""Small planted datasets for the trainers: each test can tell whether a model learned."""

import json
import random
from pathlib import Path

import pytest

from trainer.ml.data import RankedGroup

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
