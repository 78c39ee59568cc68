import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.trainer_ml.conftest import marker_groups
from tests.trainer_ml.test_local_checkpoints import bert_base

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.mark.skipif(
    not (SHARED_DATA / "hh-rlhf-harmless-sample.jsonl").exists(),
    reason=f"the benchmark data is not at {SHARED_DATA}",
)
def test_the_accuracy_benchmark_trains_both_bases_and_compares_them_with_the_heuristic(tmp_path):
    # A small BERT stands in for the packaged encoder: the same path, in seconds.
    encoder = bert_base(tmp_path / "bert", marker_groups(8, seed=1))

    result = subprocess.run(
        [sys.executable, "benchmarks/reward_accuracy.py", "--quick", "--encoder", encoder],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "train: first 16 HH harmless pairs; held out: last 8" in out
    for scorer in ("shorter reply", "default (from scratch)", "encoder bert"):
        assert scorer in out
    assert "95% Wilson" in out and "exact p" in out and "lr 5e-05" in out
