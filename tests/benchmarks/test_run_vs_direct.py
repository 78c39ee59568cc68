import subprocess
import sys

import pytest

from tests.benchmarks.test_next_task import postgres_answers
from tests.conftest import REPO_ROOT


@pytest.mark.skipif(
    not postgres_answers(), reason="the benchmark needs PostgreSQL on 127.0.0.1:5432"
)
def test_the_run_benchmark_trains_directly_and_through_a_worker_and_prints_the_ratio():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/run_vs_direct.py",
            "--quick",
            "--database",
            "bench_run_vs_direct_smoke",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "16 HH pairs" in result.stdout
    assert "1      direct" in result.stdout and "1      run" in result.stdout
    assert "run/direct pairs/s ratio:" in result.stdout
