import subprocess
import sys

import pytest

from tests.benchmarks.test_next_task import postgres_answers
from tests.conftest import REPO_ROOT


@pytest.mark.skipif(
    not postgres_answers(), reason="the benchmark needs PostgreSQL on 127.0.0.1:5432"
)
def test_the_dashboard_benchmark_runs_and_prints_each_pages_ratio_to_the_limit():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/dashboard_overview.py",
            "--rankings",
            "2000",
            "--renders",
            "3",
            "--database",
            "bench_dashboard_overview_smoke",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert "seeded 2,000 rankings of 667 comparisons" in result.stdout
    assert "ratio to the 300 ms limit: median" in result.stdout
    assert "GET /dashboard/people/?days=365 x3" in result.stdout
    assert "new rankings: the refresh beat runs every minute took" in result.stdout
