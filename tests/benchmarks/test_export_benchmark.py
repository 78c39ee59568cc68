"""The export benchmark seeds its rows with SQL and runs end to end at a small size."""

import subprocess
import sys

import pytest

from tests.benchmarks.test_next_task import postgres_answers
from tests.conftest import REPO_ROOT


@pytest.mark.skipif(
    not postgres_answers(), reason="the benchmark needs PostgreSQL on 127.0.0.1:5432"
)
def test_the_export_benchmark_exports_every_seeded_row_beside_copy():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/export.py",
            "--rows",
            "2000",
            "--database",
            "bench_export_smoke",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    rows = [
        line.split()
        for line in result.stdout.splitlines()
        if line.split()[:1] in (["500"], ["2,000"])
    ]
    assert [row[0] for row in rows] == ["500", "2,000"]
    assert all(float(row[3]) > 0 for row in rows)  # the ratio to COPY
