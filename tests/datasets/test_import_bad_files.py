"""Files that are not clean UTF-8 JSON Lines: each bad line is reported with its number, a
file with no readable line fails, and the worker goes on to the next job."""

import gzip
import time

from django.core.files.uploadedfile import SimpleUploadedFile

from dataset_io.imports.reading import MAX_LINE_BYTES, import_lines, import_lines_counted
from labeling.models import Prompt

GOOD = '{"prompt": "Name a prime.", "category": "open_qa"}\n'
PROMPTS = GOOD + '{"prompt": "Name a colour.", "category": "open_qa"}\n'


def _jobs_finished(api, ids: dict[str, int], timeout_s: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {name: api.get(f"/api/imports/{pk}/").json() for name, pk in ids.items()}
        if all(j["status"] in ("succeeded", "failed") for j in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, {n: j["status"] for n, j in jobs.items()}
        time.sleep(0.3)


def test_bad_files_end_with_numbered_line_errors(api, carol, guideline, worker):
    files = {
        "utf16-with-bom": PROMPTS.encode("utf-16"),
        "utf16-without-bom": PROMPTS.encode("utf-16-le"),
        "gzip": gzip.compress(PROMPTS.encode() * 50),
        "mixed": (
            GOOD.encode()
            + b'{"prompt": "caf\xe9", "category": "open_qa"}\n'  # Latin-1, not UTF-8
            + b'{"prompt": "Tab\\u0000NUL", "category": "open_qa"}\n'
            + b'{"prompt": "Half \\ud800 a pair", "category": "open_qa"}\n'
            + b"\n"
            + b'{"prompt": "Name a colour.", "category": "open_qa"}\n'
            + b'{"prompt": "Cut sh'  # the copy stopped here: no newline, no closing brace
        ),
    }
    api.force_authenticate(carol)
    ids = {}
    for name, content in files.items():
        upload = SimpleUploadedFile(f"{name}.jsonl", content)
        accepted = api.post(
            "/api/imports/", {"file": upload, "format": "prompts-jsonl"}, format="multipart"
        )
        assert accepted.status_code == 202, accepted.content
        ids[name] = accepted.json()["id"]

    jobs = _jobs_finished(api, ids)

    bom = jobs["utf16-with-bom"]
    assert (bom["status"], bom["progress"]) == ("failed", 1.0)
    assert [e["line"] for e in bom["errors"]] == [1]
    assert "UTF-16" in bom["errors"][0]["reason"]
    no_bom = jobs["utf16-without-bom"]
    assert no_bom["status"] == "failed"
    # UTF-16 newlines are "\n\0": the NUL after the last one makes a third line.
    assert [e["line"] for e in no_bom["errors"]] == [1, 2, 3]
    assert all("NUL bytes" in e["reason"] for e in no_bom["errors"])
    assert jobs["gzip"]["status"] == "failed"
    assert jobs["gzip"]["error_count"] >= 1
    mixed = jobs["mixed"]
    assert mixed["status"] == "succeeded"
    assert mixed["counts"]["prompts"] == 2
    assert [e["line"] for e in mixed["errors"]] == [2, 3, 4, 7]
    assert "not valid UTF-8" in mixed["errors"][0]["reason"]
    assert "NUL" in mixed["errors"][1]["reason"]
    assert "lone surrogate" in mixed["errors"][2]["reason"]
    assert (mixed["lines_total"], mixed["progress"]) == (6, 1.0)
    assert sorted(Prompt.objects.values_list("messages__0__content", flat=True)) == [
        "Name a colour.",
        "Name a prime.",
    ]


def test_a_utf8_byte_order_mark_is_skipped(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + PROMPTS.encode() + b"\r\n  \n")

    lines = list(import_lines(path))

    assert lines == [(1, GOOD.strip(), None), (2, PROMPTS.splitlines()[1], None)]
    assert import_lines_counted(path) == 2


def test_an_overlong_line_is_an_error_and_the_next_line_is_read(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"x" * (MAX_LINE_BYTES * 2 + 5) + b"\n" + GOOD.encode())

    lines = list(import_lines(path))

    assert [(n, reason is None) for n, _, reason in lines] == [(1, False), (2, True)]
    assert "longer than 8 MiB" in lines[0][2]
    assert lines[1][1] == GOOD.strip()
