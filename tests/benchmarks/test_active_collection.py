import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_active_collection_simulation_prints_both_curves_and_the_labels_saved():
    result = subprocess.run(
        [sys.executable, "benchmarks/active_collection.py", "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    # One row per round, from the random seed rankings to the budget, for both strategies.
    rows = re.findall(r"^(\d+)\s+(0\.\d{3}) ± 0\.\d{3}\s+(0\.\d{3}) ± 0\.\d{3}", out, re.M)
    assert [int(labels) for labels, _, _ in rows] == [20, 40, 60, 80, 100]
    # The same random seed rankings start both strategies: the first round is the same.
    assert rows[0][1] == rows[0][2]
    # Then, per N after the seed, the labels the priority took to reach that accuracy.
    reached = re.findall(
        r"^(\d+)\s+0\.\d{3}\s+(\d+|not reached|\(not above the start\))", out, re.M
    )
    assert [int(n) for n, _ in reached] == [40, 60, 80, 100], out
