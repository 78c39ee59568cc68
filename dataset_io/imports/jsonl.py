"""The platform's own JSONL formats.

prompts-jsonl:    {"messages": [...]} or {"prompt": "text"}, with optional "category", "language"
candidates-jsonl: {"prompt": "text" or [...messages], "candidates": [{"content", "model"?}, ...],
                   "overlap"?: n} -- replies for our raters to rank
"""

import json

from dataset_io.imports.records import CandidatesRecord, LineError, PromptRecord, Record


def _row(line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc.msg}") from None
    if not isinstance(row, dict):
        raise LineError("each line must be a JSON object")
    return row


def _messages(value: object, field: str) -> list[dict[str, str]]:
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value.strip()}]
    if isinstance(value, list) and value:
        return value  # checked as a conversation when applied
    raise LineError(f'"{field}" must be text or a list of messages')


def parse_prompt_line(line: str) -> list[Record]:
    row = _row(line)
    messages = _messages(row.get("messages", row.get("prompt")), "messages")
    return [
        PromptRecord(
            messages, str(row.get("category") or "other"), str(row.get("language") or "en")
        )
    ]


def parse_candidates_line(line: str) -> list[Record]:
    row = _row(line)
    messages = _messages(row.get("prompt", row.get("messages")), "prompt")
    candidates = row.get("candidates")
    if not isinstance(candidates, list) or not 2 <= len(candidates) <= 9:
        raise LineError('"candidates" must be a list of 2 to 9 replies')
    replies, models = [], []
    for index, candidate in enumerate(candidates):
        content = candidate.get("content") if isinstance(candidate, dict) else candidate
        if not isinstance(content, str) or not content.strip():
            raise LineError(f"candidate {index + 1} has no text")
        replies.append(content)
        models.append(str(candidate.get("model") or "") if isinstance(candidate, dict) else "")
    overlap = row.get("overlap", 3)
    if type(overlap) is not int or not 1 <= overlap <= 20:
        raise LineError('"overlap" must be a whole number from 1 to 20')
    return [CandidatesRecord(messages, replies, models, overlap)]
