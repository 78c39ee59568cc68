import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_answers(), reason="the benchmark's peer, Redis, is not running")
def test_the_broker_benchmark_runs_and_prints_its_ratio():
    result = subprocess.run(
        [sys.executable, "benchmarks/broker_roundtrip.py", "--tasks", "3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert "embedded/redis median round-trip ratio:" in result.stdout
