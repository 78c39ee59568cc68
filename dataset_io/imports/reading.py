"""Reading an import file one line at a time, whatever it holds.

Uploads are JSON Lines in UTF-8, but people upload what they have: a UTF-16 export from a
Windows tool, a gzip they forgot to unpack, a file cut short by a failed copy. Each line that
cannot be read becomes an error with its number, so the job reports it like any other bad
line instead of the task crashing on the whole file, and nothing holds more than one line.
"""

import codecs
from collections.abc import Iterator
from pathlib import Path

# Longer than any record an importer takes; a "line" past this is a binary file's bytes.
MAX_LINE_BYTES = 8 * 2**20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

ImportLine = tuple[int, str, str | None]
"""(line number, text, why the line cannot be read or None); text is "" when unreadable."""


def _decoded(raw: bytes) -> tuple[str, str | None]:
    """A line's text, or why it has none. Decoding line by line is exact for UTF-8: the
    newline byte never occurs inside a multi-byte character."""
    if b"\x00" in raw:
        return "", "contains NUL bytes: a binary file, or text that is not UTF-8 (UTF-16?)"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return "", f"is not valid UTF-8 (byte {exc.start + 1} of the line): save the file as UTF-8"


def _raw_lines(file) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """The file's lines as bytes without their line ending; a line over MAX_LINE_BYTES is
    given as its first MAX_LINE_BYTES + 1 bytes, the rest skipped unread into memory."""
    while raw := file.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := file.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield raw.rstrip(b"\r\n")


def import_lines(path: Path) -> Iterator[ImportLine]:
    """Each non-blank line of `path`, numbered from 1, with the reason it cannot be
    imported where it cannot be read."""
    with path.open("rb") as file:
        start = file.read(3)
        if start.startswith(_UTF16_BOMS):
            yield 1, "", "the file is UTF-16 (it starts with a byte order mark): save it as UTF-8"
            return
        if start != codecs.BOM_UTF8:  # a UTF-8 mark says nothing more: skip it
            file.seek(0)
        for number, raw in enumerate(_raw_lines(file), start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, "", f"is longer than {MAX_LINE_BYTES // 2**20} MiB"
            elif raw.strip():
                yield (number, *_decoded(raw))


def import_lines_counted(path: Path) -> int:
    """How many lines `import_lines` will give: a first pass, for the job's progress."""
    return sum(1 for _ in import_lines(path))
