import importlib.util
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# TRL, the peer, is a benchmark-only dependency (the `bench` extra) that the test
# environment (`.[dev]`) leaves out; the data sets live beside the checkout.
pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("trl") is None,
        reason="the benchmarks' peer, TRL, is not installed (pip install -e '.[bench]')",
    ),
    pytest.mark.skipif(
        not (SHARED_DATA / "oasst-en-100-trees.jsonl").exists(),
        reason=f"the benchmark data is not at {SHARED_DATA}",
    ),
]

RATIO = r"\d+\.\d\dx"


def quick_run(script: str) -> str:
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_reward_benchmark_prints_both_trainers_and_their_ratio_per_data_set():
    out = quick_run("reward_vs_trl.py")

    assert "pairs/s" in out and "held-out accuracy" in out
    for data in ("oasst K=4", "hh K=2"):
        assert re.search(rf"{data} .* ours .* \d+\.\d +0\.\d{{3}} .*\(\d+ pairs\)", out), out
        assert re.search(rf"{data} .* TRL .* \d+\.\d +0\.\d{{3}} .*\(\d+ pairs\)", out), out
        assert re.search(rf"{data} .* ours/TRL +{RATIO} +[+-]\d\.\d+", out), out


def test_the_sft_benchmark_prints_ours_against_trl_packed_and_unpacked():
    out = quick_run("sft_vs_trl.py")

    assert "tokens/s" in out and "padding" in out
    assert re.search(r"^ours +length-bucketed", out, re.MULTILINE), out
    assert re.search(r"^TRL +packing", out, re.MULTILINE), out
    assert re.search(r"^TRL +no packing", out, re.MULTILINE), out
    assert re.search(rf"^ours/TRL +packing +{RATIO}", out, re.MULTILINE), out
    assert re.search(rf"^ours/TRL +no packing +{RATIO}", out, re.MULTILINE), out


def test_the_dpo_benchmark_prints_ours_against_trl_with_and_without_a_precomputed_reference():
    out = quick_run("dpo_vs_trl.py")

    assert "pairs/s" in out and "held-out accuracy" in out
    row = r" +\d+ +\d+\.\d +0\.\d{3} \(\d+ pairs\) +[+-]\d\.\d{3}"
    assert re.search(rf"^1 +ours +reference precomputed{row}", out, re.MULTILINE), out
    assert re.search(rf"^1 +TRL +precompute_ref_log_probs{row}", out, re.MULTILINE), out
    assert re.search(rf"^1 +TRL +reference forwarded each step{row}", out, re.MULTILINE), out
    for setting in ("precompute_ref_log_probs", "reference forwarded each step"):
        assert re.search(rf"^all +ours/TRL +{setting} +{RATIO} +[+-]\d\.\d{{3}}", out, re.M), out


def test_the_rl_benchmark_prints_ours_against_trls_rloo_with_held_out_figures():
    out = quick_run("rl_vs_trl.py")

    assert "replies/s" in out and "starting policy's held-out mean reward" in out
    # timed steps, replies/s, then held-out reward, gain, gain/min, KL and length share
    row = r" +\d+ +\d+\.\d" + r" +[+-]\d+\.\d{3}" * 3 + r" +\d+\.\d\d +[+-]\d+\.\d\d"
    for trainer in ("ours", "TRL"):
        assert re.search(rf"^1 +{trainer}{row}", out, re.MULTILINE), out
    assert re.search(rf"^all +ours/TRL +{RATIO} +[+-]\d\.\d{{3}}", out, re.MULTILINE), out
