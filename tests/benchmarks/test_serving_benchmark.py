import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_serving_benchmark_runs_against_a_real_inference_process():
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/serving.py",
            "--tiny",
            "--clients",
            "1,2",
            "--per-client",
            "1",
            "--max-tokens",
            "4",
            "--peer-requests",
            "2",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert "generate: one request after another" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["2"]]
    assert rows and rows[0][5] == "0"  # no request failed
