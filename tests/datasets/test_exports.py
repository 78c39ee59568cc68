"""Exports of each kind on imported real data: counts, split, TRL's formats, atomicity."""

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from dataset_io import exporting
from dataset_io.exporting import snapshot_export, snapshot_exported
from dataset_io.importing import import_run
from dataset_io.models import DatasetSnapshot
from jobs.services import JobCancelled, job_claim
from rankings.consensus import ranking_pairs
from rankings.models import Comparison, Ranking
from rankings.services import consensus_refresh
from tests.datasets.conftest import shared_file

ROLES = {"system", "user", "assistant"}


def export(kind: str, **options) -> DatasetSnapshot:
    snapshot = DatasetSnapshot.objects.create(kind=kind, options=options)
    return snapshot_export(snapshot_id=snapshot.pk)


def lines(snapshot: DatasetSnapshot, split: str) -> list[dict]:
    path = Path(settings.DATA_DIR) / snapshot.files[split]
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in raw.decode().splitlines()]


def assert_conversation(messages: list, *, ends_with: str) -> None:
    assert isinstance(messages, list) and messages
    assert all(
        set(m) == {"role", "content"} and m["role"] in ROLES and isinstance(m["content"], str)
        for m in messages
    )
    assert messages[-1]["role"] == ends_with


def assert_prompt_disjoint(snapshot: DatasetSnapshot, key: str) -> None:
    seen = {
        split: {json.dumps(row[key]) for row in lines(snapshot, split)}
        for split in ("train", "validation")
    }
    assert seen["train"] and seen["validation"]
    assert not seen["train"] & seen["validation"]


# The sample's first pairs: every one is exported, and importing the whole sample (which
# test_imports does) cost each test here half a minute more.
HH_PAIRS = 300


@pytest.fixture
def hh(queue_import):
    with shared_file("hh-rlhf-harmless-sample.jsonl").open() as sample:
        first = "".join(line for _, line in zip(range(HH_PAIRS), sample, strict=False))
    return import_run(job_id=queue_import(first, "hh-rlhf").pk)


@pytest.fixture
def oasst(queue_import):
    return import_run(job_id=queue_import(shared_file("oasst-en-100-trees.jsonl"), "oasst").pk)


def test_preference_pairs_from_hh_follow_trls_conversational_format(hh):
    snapshot = export("preference", validation_permille=100)

    rows = lines(snapshot, "train") + lines(snapshot, "validation")
    assert snapshot.status == "succeeded"
    assert len(rows) == HH_PAIRS
    assert snapshot.counts["train"] + snapshot.counts["validation"] == HH_PAIRS
    for row in rows:
        assert set(row) == {"prompt", "chosen", "rejected"}
        assert_conversation(row["prompt"], ends_with="user")
        assert_conversation(row["chosen"], ends_with="assistant")
        assert_conversation(row["rejected"], ends_with="assistant")
        assert len(row["chosen"]) == len(row["rejected"]) == 1
    assert_prompt_disjoint(snapshot, "prompt")


def test_oasst_rankings_export_k_wise_with_ties_and_all_their_pairs(oasst):
    rankings = export("rankings", validation_permille=200)
    pairs = export("preference", validation_permille=200)

    ranked = lines(rankings, "train") + lines(rankings, "validation")
    assert len(ranked) == 212
    expected_pairs = 0
    for row in ranked:
        assert set(row) == {"prompt", "completions", "ranking"}
        k = len(row["completions"])
        assert 2 <= k <= 9
        assert sorted(i for group in row["ranking"] for i in group) == list(range(k))
        sizes = [len(group) for group in row["ranking"]]
        expected_pairs += (k * (k - 1) - sum(s * (s - 1) for s in sizes)) // 2  # C(K,2) less ties
    assert pairs.counts["train"] + pairs.counts["validation"] == expected_pairs
    assert_prompt_disjoint(rankings, "prompt")


def test_sft_rows_are_whole_conversations_ending_on_the_ideal_reply(queue_import):
    import_run(job_id=queue_import(shared_file("alpaca-seed-tasks.jsonl"), "alpaca").pk)

    snapshot = export("sft", validation_permille=200)

    rows = lines(snapshot, "train") + lines(snapshot, "validation")
    assert len(rows) == 175
    for row in rows:
        assert set(row) == {"messages"}
        assert_conversation(row["messages"], ends_with="assistant")
    assert_prompt_disjoint(snapshot, "messages")
    counts = snapshot.counts
    assert f"Rows: {counts['train']:,} train, {counts['validation']:,} validation" in snapshot.card
    assert "| other | 175 |" in snapshot.card
    assert "imported v1" in snapshot.card
    assert (Path(settings.DATA_DIR) / snapshot.files["card"]).read_text() == snapshot.card


def test_consensus_only_gives_one_set_of_pairs_per_comparison(oasst):
    snapshot = export("preference", pairs="consensus")

    assert snapshot.counts["train"] + snapshot.counts["validation"] > 0
    assert all(len(row["chosen"]) == 1 for row in lines(snapshot, "train"))


def test_two_exports_of_unchanged_data_are_byte_identical(oasst):
    first = export("rankings", gzip=True)
    second = export("rankings", gzip=True)

    assert first.sha256 == second.sha256
    for split in ("train", "validation"):
        a = (Path(settings.DATA_DIR) / first.files[split]).read_bytes()
        b = (Path(settings.DATA_DIR) / second.files[split]).read_bytes()
        assert a == b
        assert a[:2] == b"\x1f\x8b"  # gzip


def test_an_export_that_dies_half_way_leaves_nothing_visible_and_can_be_rerun(oasst, monkeypatch):
    real_rows = exporting.ROWS["rankings"]

    def dying(filters, options):
        for n, row in enumerate(real_rows(filters, options)):
            if n == 50:
                raise MemoryError("worker killed")
            yield row

    monkeypatch.setitem(exporting.ROWS, "rankings", dying)
    snapshot = DatasetSnapshot.objects.create(kind="rankings")
    snapshot = snapshot_export(snapshot_id=snapshot.pk)
    exports = Path(settings.EXPORTS_DIR)

    assert snapshot.status == "failed"
    assert snapshot.error == "MemoryError: worker killed"
    assert not [p for p in exports.iterdir() if p.name.startswith(f"{snapshot.pk}-")]
    assert not list(exports.glob(f".tmp-{snapshot.pk}-*"))

    monkeypatch.setitem(exporting.ROWS, "rankings", real_rows)
    logged: list[str] = []
    rerun = snapshot_exported(snapshot_id=snapshot.pk, should_stop=lambda: False, log=logged.append)
    assert rerun.status == "succeeded" and rerun.attempts == 2
    assert logged == [f"snapshot {snapshot.pk} was failed: exporting it again"]
    assert rerun.sha256 == export("rankings").sha256


def test_a_killed_worker_leaves_a_hidden_folder_that_the_takeover_clears(oasst):
    snapshot = DatasetSnapshot.objects.create(kind="sft")
    assert job_claim(DatasetSnapshot, snapshot.pk) == 1
    dead_since = timezone.now() - timedelta(days=1)
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(heartbeat_at=dead_since)
    leftover = Path(settings.EXPORTS_DIR) / f".tmp-{snapshot.pk}-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "train.jsonl").write_text('{"messages": [')

    done = snapshot_export(snapshot_id=snapshot.pk)

    assert not leftover.exists()
    assert done.status == "succeeded" and done.attempts == 2


def test_a_snapshot_held_by_a_live_export_is_waited_for_never_taken(oasst):
    snapshot = DatasetSnapshot.objects.create(kind="sft")
    assert job_claim(DatasetSnapshot, snapshot.pk) == 1
    live = Path(settings.EXPORTS_DIR) / f".tmp-{snapshot.pk}-live"
    live.mkdir(parents=True)
    logged: list[str] = []

    with pytest.raises(RuntimeError, match="still exported by another worker"):
        snapshot_exported(
            snapshot_id=snapshot.pk, should_stop=lambda: False, log=logged.append, wait_s=0
        )
    with pytest.raises(JobCancelled):
        snapshot_exported(snapshot_id=snapshot.pk, should_stop=lambda: True, log=logged.append)

    held = DatasetSnapshot.objects.get(pk=snapshot.pk)
    assert held.status == "running" and held.attempts == 1
    assert live.exists()
    assert logged[0].endswith("is being exported by another worker: waiting for it")


def test_a_published_snapshot_is_returned_as_it_is(oasst):
    published = export("sft")

    logged: list[str] = []
    again = snapshot_exported(
        snapshot_id=published.pk, should_stop=lambda: False, log=logged.append
    )

    assert again.sha256 == published.sha256 and again.attempts == published.attempts == 1
    assert logged == []


def test_filters_narrow_the_rows(queue_import, oasst):
    import_run(job_id=queue_import(shared_file("alpaca-seed-tasks.jsonl"), "alpaca").pk)

    everything = export("sft")
    only_oasst = DatasetSnapshot.objects.create(kind="sft", filters={"sources": ["oasst"]})
    only_oasst = snapshot_export(snapshot_id=only_oasst.pk)

    total = sum(everything.counts.values())
    assert sum(only_oasst.counts.values()) == total - 175


# Skipped before its fixtures import the real data: on SQLite that cost 40 s for nothing.
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="the fast path is PostgreSQL's; SQLite always takes the Python one",
)
def test_the_postgresql_fast_path_writes_the_same_bytes_as_the_python_one(oasst, hh, monkeypatch):
    fast = export("preference")
    monkeypatch.setattr(exporting, "postgres_fast_path", lambda: False)
    monkeypatch.setattr(exporting, "preference_copy_postgres", None)  # would fail if taken
    slow = export("preference")

    assert fast.counts == slow.counts
    assert fast.sha256 == slow.sha256


def three_hh_comparisons(queue_import) -> list:
    """Three imported pairs, each ranked by its one import rater."""
    rows = [
        {
            "chosen": f"\n\nHuman: Q{i}\n\nAssistant: good {i}",
            "rejected": f"\n\nHuman: Q{i}\n\nAssistant: bad {i}",
        }
        for i in range(3)
    ]
    job = import_run(job_id=queue_import("".join(json.dumps(r) + "\n" for r in rows), "hh-rlhf").pk)
    assert job.status == "succeeded"
    return list(Comparison.objects.order_by("id"))


def test_a_card_of_single_rater_comparisons_reports_no_agreement(queue_import):
    three_hh_comparisons(queue_import)

    card = export("preference").card

    assert "No comparison has two raters yet, so there is no agreement to report." in card
    assert "Mean pairwise agreement" not in card


def test_the_cards_agreement_averages_only_comparisons_with_two_raters(queue_import, alice):

    agreed, disagreed, _alone = three_hh_comparisons(queue_import)
    for comparison, same in ((agreed, True), (disagreed, False)):
        first = comparison.rankings.get()
        ranking = first.ranking if same else first.ranking[::-1]
        Ranking.objects.create(
            comparison=comparison,
            rater=alice,
            guideline_version=first.guideline_version,
            ranking=ranking,
            pairs=ranking_pairs(ranking),
            shown_order=[],
        )
        consensus_refresh(comparison=comparison)

    card = export("preference").card

    # 1 and 0 averaged; the one-rater comparison left out (counted as 0 it gave 0.333).
    assert "Mean pairwise agreement of raters over its comparisons: 0.500." in card
    assert "No comparison has two raters" not in card
