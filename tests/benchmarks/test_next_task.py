import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    not postgres_answers(), reason="the benchmark needs PostgreSQL on 127.0.0.1:5432"
)
def test_the_queue_benchmark_runs_and_finds_no_over_assignment():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/next_task.py",
            "--prompts",
            "300",
            "--clients",
            "1,4",
            "--seconds",
            "1",
            "--database",
            "bench_next_task_smoke",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert "ratio to the floor" in result.stdout
    assert (
        "SQL statements per request: /api/me/ 1, next task (a token new to the process) 2, "
        "submit 2, next task 1" in result.stdout
    )
    assert "over-assigned tasks: 0" in result.stdout
