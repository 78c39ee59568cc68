"""Line diffs between two guideline versions: unified text, and rows for a side-by-side table."""

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

RowKind = Literal["same", "changed", "added", "removed"]


@dataclass(frozen=True)
class DiffRow:
    kind: RowKind
    left_number: int | None
    left: str
    right_number: int | None
    right: str


def unified_diff(old: str, new: str, *, old_label: str, new_label: str, context: int = 3) -> str:
    lines = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=old_label,
        tofile=new_label,
        n=context,
        lineterm="",
    )
    return "\n".join(lines) + "\n" if old != new else ""


def side_by_side(old: str, new: str) -> list[DiffRow]:
    """Every line of both texts, paired: replaced blocks line up row by row."""
    left, right = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                DiffRow("same", i + 1, left[i], j + 1, right[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            kind: RowKind = (
                "changed" if has_left and has_right else ("removed" if has_left else "added")
            )
            rows.append(
                DiffRow(
                    kind,
                    i + 1 if has_left else None,
                    left[i] if has_left else "",
                    j + 1 if has_right else None,
                    right[j] if has_right else "",
                )
            )
    return rows


def version_pair_from_query(params: Mapping[str, str]) -> tuple[int, int] | None:
    """?from=n&to=m as two version numbers, or None when either is missing or not one."""
    raw = (params.get("from", ""), params.get("to", ""))
    if not all(re.fullmatch(r"[0-9]{1,9}", value) for value in raw):
        return None
    return int(raw[0]), int(raw[1])
