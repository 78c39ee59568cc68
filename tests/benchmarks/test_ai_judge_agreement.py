import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_ai_judge_benchmark_asks_our_own_v1_and_counts_every_pair():
    result = subprocess.run(
        [sys.executable, "benchmarks/ai_judge_agreement.py", "--serve-tiny", "--held-out", "3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    counts = next(line for line in lines if line.startswith("agree "))
    numbers = [int(word.strip(",")) for word in counts.split() if word.strip(",").isdigit()]
    assert sum(numbers) == 3, counts  # every pair is agree, disagree, tie, unreadable or failed
    assert any(line.startswith("shorter final reply") and line.endswith("of 3") for line in lines)
