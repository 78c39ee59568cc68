"""OpenAssistant message trees, one tree per line: a prompter message whose replies are
assistant messages with a `rank` (0 = best) among their siblings, each of which may have
prompter replies, and so on."""

import json

from dataset_io.imports.records import DemonstrationRecord, LineError, PreferenceRecord, Record

_ROLE = {"prompter": "user", "assistant": "assistant"}


def parse_line(line: str) -> list[Record]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc.msg}") from None
    root = row.get("prompt") if isinstance(row, dict) else None
    if not isinstance(root, dict) or root.get("role") != "prompter":
        raise LineError('needs a "prompt" message with role "prompter"')
    records: list[Record] = []
    _walk(root, [], records)
    if not records:
        raise LineError("no ranked or answered prompt in this tree")
    return records


def _usable(message: dict) -> bool:
    return (
        not message.get("deleted")
        and isinstance(message.get("text"), str)
        and message["text"].strip() != ""
    )


def _walk(message: dict, context: list[dict[str, str]], records: list[Record]) -> None:
    if not _usable(message) or message.get("role") not in _ROLE:
        return
    path = [*context, {"role": _ROLE[message["role"]], "content": message["text"].strip()}]
    replies = [r for r in message.get("replies") or [] if isinstance(r, dict) and _usable(r)]
    if message["role"] == "prompter":
        ranked = [
            r for r in replies if r.get("role") == "assistant" and isinstance(r.get("rank"), int)
        ]
        language = message.get("lang") or "en"
        if ranked:
            best = min(r["rank"] for r in ranked)
            # Demonstrations: the best-ranked reply (several if tied for best).
            for reply in ranked:
                if reply["rank"] == best:
                    records.append(DemonstrationRecord(path, reply["text"].strip(), language))
        if len(ranked) >= 2:
            by_rank: dict[int, list[int]] = {}
            for index, reply in enumerate(ranked):
                by_rank.setdefault(reply["rank"], []).append(index)
            records.append(
                PreferenceRecord(
                    messages=path,
                    replies=[r["text"].strip() for r in ranked],
                    ranking=[by_rank[rank] for rank in sorted(by_rank)],
                    models=[r.get("model_name") or "" for r in ranked],
                    language=language,
                )
            )
    for reply in replies:
        _walk(reply, path, records)
