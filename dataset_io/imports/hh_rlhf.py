"""Anthropic's HH-RLHF pairs: {"chosen": transcript, "rejected": transcript}, where a
transcript is "\n\nHuman: ...\n\nAssistant: ..." turns and both sides share everything up
to the final Assistant turn."""

import json
import re

from dataset_io.imports.records import LineError, PreferenceRecord, Record

_TURN = re.compile(r"\n\n(Human|Assistant): ?")
_ROLE = {"Human": "user", "Assistant": "assistant"}


def transcript_turns(text: str) -> list[dict[str, str]]:
    parts = _TURN.split(text)
    if parts[0].strip():
        raise LineError("text before the first \\n\\nHuman: turn")
    turns: list[dict[str, str]] = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = _ROLE[speaker]
        if turns and turns[-1]["role"] == role:
            # A few transcripts have two Human (or Assistant) turns in a row; one turn
            # holding both keeps every word and the alternation every conversation needs.
            turns[-1]["content"] = f"{turns[-1]['content']}\n\n{content.strip()}".strip()
        else:
            turns.append({"role": role, "content": content.strip()})
    if not turns:
        raise LineError("no \\n\\nHuman: / \\n\\nAssistant: turns")
    return turns


def parse_line(line: str) -> list[Record]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc.msg}") from None
    if not isinstance(row, dict) or not all(
        isinstance(row.get(k), str) for k in ("chosen", "rejected")
    ):
        raise LineError('needs "chosen" and "rejected" transcripts')
    chosen, rejected = transcript_turns(row["chosen"]), transcript_turns(row["rejected"])
    for name, turns in (("chosen", chosen), ("rejected", rejected)):
        if turns[-1]["role"] != "assistant":
            raise LineError(f"{name} does not end on an Assistant turn")
    prompt = chosen[:-1]
    if rejected[:-1] != prompt:
        raise LineError("chosen and rejected differ before the final Assistant turn")
    if not prompt or prompt[-1]["role"] != "user" or prompt[0]["role"] != "user":
        raise LineError("no Human turn before the final replies")
    if any(not turn["content"] for turn in prompt):
        raise LineError("an empty turn in the conversation")
    # An empty final reply is kept: in HH a rater preferring silence to a harmful answer
    # is a real judgement.
    good, bad = chosen[-1]["content"], rejected[-1]["content"]
    if good == bad:
        raise LineError("chosen and rejected final replies are the same text")
    return [PreferenceRecord(messages=prompt, replies=[good, bad], ranking=[[0], [1]])]
