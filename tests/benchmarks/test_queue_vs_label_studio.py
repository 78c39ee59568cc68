"""The side-by-side queue benchmark runs end to end at a small size: against the platform
always, and against Label Studio where its virtualenv is at hand (LABEL_STUDIO_VENV; the
benchmark makes one itself, from PyPI, which a test run should not wait for)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.test_next_task import postgres_answers
from tests.conftest import REPO_ROOT

needs_postgres = pytest.mark.skipif(
    not postgres_answers(), reason="the benchmark needs PostgreSQL on 127.0.0.1:5432"
)


def run(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "benchmarks/queue_vs_label_studio.py",
            *["--tasks", "5000", "--clients", "1,4", "--seconds", "1", "--rounds", "2"],
            *["--databases", "bench_queue_smoke", *extra],
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@needs_postgres
def test_the_platform_side_runs_and_answers_no_task_twice():
    result = run("--platform-only")

    assert result.returncode == 0, result.stderr
    rows = [
        line.split() for line in result.stdout.splitlines() if line.split()[1:2] == ["platform"]
    ]
    assert [row[0] for row in rows] == ["1", "4"]
    assert all(float(row[2]) > 0 and row[7] == "0" for row in rows), (
        result.stdout
    )  # loops/s, errors
    assert "over-answered tasks: platform 0" in result.stdout


@needs_postgres
@pytest.mark.skipif(
    not os.environ.get("LABEL_STUDIO_VENV"), reason="LABEL_STUDIO_VENV names no virtualenv"
)
def test_label_studio_runs_beside_it_under_both_its_servers():
    result = run("--venv", str(Path(os.environ["LABEL_STUDIO_VENV"])))

    assert result.returncode == 0, result.stderr
    assert "ratio platform / faster Label Studio" in result.stdout
    assert "LS dev server" in result.stdout and "LS uwsgi" in result.stdout
    assert "over-answered tasks: platform 0, Label Studio 0" in result.stdout
