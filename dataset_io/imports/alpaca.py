"""Alpaca-style instruction data: {"instruction", "input"?, "output"} per line, or the
Self-Instruct seed form {"instruction", "instances": [{"input", "output"}, ...]}."""

import json

from dataset_io.imports.records import DemonstrationRecord, LineError, Record


def _prompt(instruction: str, extra: str) -> list[dict[str, str]]:
    text = instruction.strip() if not extra.strip() else f"{instruction.strip()}\n\n{extra.strip()}"
    return [{"role": "user", "content": text}]


def parse_line(line: str) -> list[Record]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc.msg}") from None
    if (
        not isinstance(row, dict)
        or not isinstance(row.get("instruction"), str)
        or not row["instruction"].strip()
    ):
        raise LineError('needs a non-empty "instruction"')
    instances = row.get("instances")
    if instances is None:
        instances = [{"input": row.get("input", ""), "output": row.get("output")}]
    if not isinstance(instances, list) or not instances:
        raise LineError('"instances" must be a non-empty list')
    records: list[Record] = []
    for index, instance in enumerate(instances):
        output = instance.get("output") if isinstance(instance, dict) else None
        extra = instance.get("input") or "" if isinstance(instance, dict) else ""
        if not isinstance(output, str) or not output.strip() or not isinstance(extra, str):
            raise LineError(f'instance {index + 1} needs a non-empty "output"')
        records.append(DemonstrationRecord(_prompt(row["instruction"], extra), output.strip()))
    return records
