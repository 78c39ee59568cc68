"""Reading exported snapshot files (plain or gzipped JSONL) into training examples.

SFT reads `{"messages": [...]}` lines. The reward model reads K-wise ranking lines
(`{"prompt", "completions", "ranking"}`) and preference lines (`{"prompt", "chosen",
"rejected"}`), a preference pair being a ranking of two."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from trainer.ml.chat import Message


def jsonl_read(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc


def conversations_read(path: str | Path) -> list[list[Message]]:
    conversations = []
    for row in jsonl_read(path):
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"{path}: an SFT line needs a non-empty 'messages' list")
        conversations.append(messages)
    return conversations


@dataclass(frozen=True)
class RankedGroup:
    """One prompt, its completions, and the order a person put them in: `ranking` lists
    tiers of completion indices, best first; completions in one tier are tied."""

    prompt: list[Message]
    completions: list[list[Message]]
    ranking: list[list[int]]

    def pairs(self) -> list[tuple[int, int]]:
        """(better, worse) for every two completions in different tiers: C(K, 2) pairs
        when nothing is tied, fewer when something is."""
        found = []
        for i, upper in enumerate(self.ranking):
            for lower in self.ranking[i + 1 :]:
                found += [(a, b) for a in upper for b in lower]
        return found


def groups_read(path: str | Path) -> list[RankedGroup]:
    groups = []
    for row in jsonl_read(path):
        if "completions" in row:
            group = RankedGroup(row["prompt"], row["completions"], row["ranking"])
        elif "chosen" in row:
            group = RankedGroup(row["prompt"], [row["chosen"], row["rejected"]], [[0], [1]])
        else:
            raise ValueError(f"{path}: a reward line is a ranking or a preference pair")
        if group.pairs():
            groups.append(group)
    return groups
