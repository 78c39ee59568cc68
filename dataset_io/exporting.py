"""Writing dataset snapshots in TRL's formats, streamed from the database.

Rows are read in id order in chunks, so memory stays flat and two exports of unchanged
data are byte-identical. Files are written into a hidden temporary folder and the folder
is renamed into place only when everything is written: a reader sees a whole snapshot or
none. The train/validation split is by a hash of the prompt, so no prompt is in both.

Formats (one JSON object per line):
  sft         {"messages": [..., {"role": "assistant", "content": reply}]}
  preference  {"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}
  rankings    {"prompt": [messages], "completions": [[assistant message], ...],
               "ranking": [[indices], ...]}
"""

import gzip
import hashlib
import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from dataset_io.export_rows import (
    AI,
    AI_ROWS,
    ALL,
    HUMAN,
    ROWS,
    Row,
    Stats,
    comparisons_filtered,
    label_source,
    split_of,
    version_label,
)
from dataset_io.fingerprints import snapshot_fingerprint, snapshot_reusable
from dataset_io.models import DatasetSnapshot
from guidelines.models import GuidelineVersion
from jobs.models import JobStatus
from jobs.services import (
    FINISHED,
    Attempt,
    JobCancelled,
    JobStateError,
    job_execute,
    job_requeue,
)

SPLITS = ("train", "validation")
# A training run whose snapshot another worker is exporting waits this long at most for it,
# looking every SNAPSHOT_POLL_S: longer than the largest export takes, short of for ever.
SNAPSHOT_WAIT_S = 60 * 60
SNAPSHOT_POLL_S = 1.0


PREFERENCE_COPY_SQL = """
COPY (
SELECT CASE WHEN ('x' || substr(p.content_hash, 1, 8))::bit(32)::bigint %% 1000 < %s
            THEN 'validation' ELSE 'train' END,
       p.category, r.guideline_version_id, r.rater_id,
       '{{"prompt": ' || p.messages::text
       || ', "chosen": [{{"role": "assistant", "content": ' || to_jsonb(win.content)::text
       || '}}], "rejected": [{{"role": "assistant", "content": ' || to_jsonb(lose.content)::text
       || '}}]}}'
FROM rankings_ranking r
JOIN rankings_comparison c ON c.id = r.comparison_id
JOIN labeling_prompt p ON p.id = c.prompt_id
CROSS JOIN LATERAL jsonb_array_elements(r.pairs) WITH ORDINALITY AS pair(wl, n)
JOIN rankings_candidate win ON win.id = (pair.wl ->> 0)::bigint
JOIN rankings_candidate lose ON lose.id = (pair.wl ->> 1)::bigint
WHERE c.ranking_count > 0 {where}
ORDER BY c.id, r.id, pair.n
) TO STDOUT
"""


# Index lookups in comparison order, each row sent as soon as it is built: this process
# writes while PostgreSQL reads. Left to itself the planner hashed whole tables (over
# 600 MB at 1,000,000 rows) and sorted everything before sending the first row.
STREAMING_PLAN = {
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_memoize": "off",
    "max_parallel_workers_per_gather": "0",
}


def postgres_fast_path() -> bool:
    return connection.vendor == "postgresql"


def _preference_where(filters: dict) -> tuple[str, list[object]]:
    """The shared filters as SQL over the query's tables (r, c, p). Guidelines and their
    versions are matched by id, found once, rather than joined to every row."""
    clauses, params = [], []
    if filters.get("guideline"):
        clauses.append("p.guideline_id = (SELECT id FROM guidelines_guideline WHERE slug = %s)")
        params.append(filters["guideline"])
    if filters.get("guideline_versions"):
        clauses.append(
            "r.guideline_version_id IN "
            "(SELECT id FROM guidelines_guidelineversion WHERE number = ANY(%s))"
        )
        params.append(list(filters["guideline_versions"]))
    for key, column in (
        ("categories", "p.category"),
        ("languages", "p.language"),
        ("sources", "c.source"),
    ):
        if filters.get(key):
            clauses.append(f"{column} = ANY(%s)")
            params.append(list(filters[key]))
    if not filters.get("include_evaluations"):
        clauses.append("NOT c.evaluation")
    if filters.get("created_after"):
        clauses.append("c.created_at >= %s")
        params.append(filters["created_after"])
    if filters.get("created_before"):
        clauses.append("c.created_at < %s")
        params.append(filters["created_before"])
    if filters.get("min_agreement") is not None:
        clauses.append("(c.agreement ->> 'pairwise_agreement')::float >= %s")
        params.append(filters["min_agreement"])
    return "".join(f" AND {clause}" for clause in clauses), params


def preference_copy_postgres(
    filters: dict, permille: int, writers: dict[str, "_HashingWriter"], stats: Stats
) -> None:
    """All pairs of all rankings through COPY: PostgreSQL builds the lines while this
    process writes them, so the two work at once instead of taking turns as they do
    with a cursor. Python touches each line only to route it to its split's file."""
    where, params = _preference_where(filters)
    # Lines counted by their first four fields (split, category, version, rater) as
    # they come, decoded once per distinct value after.
    seen: Counter[bytes] = Counter()
    writes = {name.encode(): writer.bytes_writer() for name, writer in writers.items()}
    pending = b""
    labels = {
        str(version.pk).encode(): version_label(version)
        for version in GuidelineVersion.objects.select_related("guideline")
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # Compiling this one query costs more than running it at 100,000 rows.
        cursor.execute("SET LOCAL jit = off")
        for setting, value in STREAMING_PLAN.items():
            cursor.execute(f"SET LOCAL {setting} = {value}")
        sql = PREFERENCE_COPY_SQL.format(where=where)
        with cursor.cursor.copy(sql, [permille, *params]) as copy:
            for block in copy:
                lines = (pending + bytes(block)).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    # The JSON, last, holds no raw tab: COPY escapes them.
                    head, _, text = line.rpartition(b"\t")
                    seen[head] += 1
                    # COPY doubles each backslash; a JSON line holds no other character
                    # COPY escapes (no raw tab, newline or carriage return).
                    writes[head[: head.index(b"\t")]](text.replace(b"\\\\", b"\\") + b"\n")
    for head, n in seen.items():
        split, category, version, rater = head.split(b"\t")
        stats.counts[split.decode()] += n
        stats.categories[category.decode()] += n
        stats.versions.add(labels[version])
        if rater != b"\\N":
            stats.people.add(int(rater))


class _HashingWriter:
    def __init__(self, path: Path, compress: bool):
        self.path = path
        self._raw: IO[bytes] = path.open("wb")
        # mtime=0: a gzip header without a timestamp, so equal data gives equal bytes.
        self._out: IO[bytes] = (
            gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0) if compress else self._raw
        )

    def write(self, data: dict[str, object] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        self._out.write(text.encode() + b"\n")

    def bytes_writer(self) -> Callable[[bytes], object]:
        """The file's own write, for lines already encoded and ending in a newline."""
        return self._out.write

    def close(self) -> str:
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()
        digest = hashlib.sha256()
        with self.path.open("rb") as done:
            for block in iter(lambda: done.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def dataset_card(snapshot: DatasetSnapshot, stats: Stats) -> str:
    lines = [
        f"# Dataset snapshot {snapshot.pk}: {snapshot.get_kind_display()}",
        "",
        f"Rows: {stats.counts['train']:,} train, {stats.counts['validation']:,} validation "
        "(split by prompt: no prompt is in both).",
        _sources_sentence(snapshot, stats),
        f"People whose labels it holds: {len(stats.people)}.",
        f"Guideline versions: {', '.join(sorted(stats.versions)) or 'none'}.",
        f"Filters: {json.dumps(snapshot.filters, sort_keys=True)}; "
        f"options: {json.dumps(snapshot.options, sort_keys=True)}.",
        "",
        "| category | rows |",
        "|---|---|",
        *(f"| {category} | {n:,} |" for category, n in sorted(stats.categories.items())),
    ]
    if snapshot.kind != DatasetSnapshot.Kind.SFT:
        lines += ["", _agreement_sentence(snapshot)]
    return "\n".join(lines) + "\n"


def _sources_sentence(snapshot: DatasetSnapshot, stats: Stats) -> str:
    raters = ", ".join(sorted(stats.ai_raters)) or "none"
    return {
        HUMAN: "Labels: people's only; no AI feedback.",
        AI: f"Labels: AI feedback only, from these AI raters: {raters}.",
        ALL: f"Labels: people's and AI feedback, from these AI raters: {raters}.",
    }[label_source(snapshot.filters)]


def _agreement_sentence(snapshot: DatasetSnapshot) -> str:
    if label_source(snapshot.filters) == AI:
        return (
            "People's agreement does not describe AI labels: the agreement page gives each "
            "AI rater's agreement with people."
        )
    agreement = _mean_agreement(snapshot)
    if agreement is None:
        return "No comparison has two raters yet, so there is no agreement to report."
    return f"Mean pairwise agreement of raters over its comparisons: {agreement:.3f}."


def _mean_agreement(snapshot: DatasetSnapshot) -> float | None:
    """The mean over the comparisons with two raters or more; None when there are none.
    A comparison with one rater (every imported one) has no agreement to average: its
    stored value is null, which SQLite's cast read as 0."""
    # Averaged by the database: reading every comparison's JSON into Python cost more than
    # writing the whole export.
    agreement = Cast(KT("agreement__pairwise_agreement"), FloatField())
    rated_twice = comparisons_filtered(snapshot.filters).filter(ranking_count__gte=2)
    return rated_twice.aggregate(mean=Avg(agreement))["mean"]


def snapshot_export(*, snapshot_id: int) -> DatasetSnapshot | None:
    """Write and publish a queued snapshot, or take over one whose worker died; None if
    another worker holds it. A failure ends it `failed` with the error's text."""
    return job_execute(DatasetSnapshot, snapshot_id, _export)


def _export(attempt: Attempt) -> None:
    snapshot = DatasetSnapshot.objects.get(pk=attempt.pk)
    # Taken before a row is read: rows added while it writes make the next digest differ.
    fingerprint = snapshot_fingerprint(snapshot.kind, snapshot.filters, snapshot.options)
    exports = Path(settings.EXPORTS_DIR)
    exports.mkdir(parents=True, exist_ok=True)
    # The id and the creation time: a database restored or reset reuses ids, and an old
    # snapshot's files must never be taken for a new one's.
    final = exports / f"{snapshot.pk}-{snapshot.created_at:%Y%m%dT%H%M%S%f}"
    # An earlier attempt that died left its temporary folder, or even renamed it into
    # place without living to record it: neither was ever published, so start over.
    _leftovers_remove(snapshot.pk)
    shutil.rmtree(final, ignore_errors=True)
    temporary = exports / f".tmp-{snapshot.pk}-{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        published = _write(snapshot, temporary, should_stop=attempt.should_stop)
        temporary.rename(final)  # atomic: the snapshot appears whole
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    relative = {
        name: str((final / path.name).relative_to(settings.DATA_DIR))
        for name, path in published["paths"].items()
    }
    attempt.finish(
        status=JobStatus.SUCCEEDED,
        files=relative,
        counts=published["counts"],
        sha256=published["sha256"],
        guideline_versions=published["versions"],
        card=published["card"],
        fingerprint=fingerprint,
    )


def _leftovers_remove(snapshot_id: int) -> None:
    for leftover in Path(settings.EXPORTS_DIR).glob(f".tmp-{snapshot_id}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _write(
    snapshot: DatasetSnapshot, folder: Path, *, should_stop: Callable[[], bool]
) -> dict[str, object]:
    compress = bool(snapshot.options.get("gzip"))
    permille = int(snapshot.options.get("validation_permille", 50))
    suffix = ".jsonl.gz" if compress else ".jsonl"
    writers = {split: _HashingWriter(folder / f"{split}{suffix}", compress) for split in SPLITS}
    stats = Stats()
    source = label_source(snapshot.filters)
    if source in (HUMAN, ALL):
        if (
            snapshot.kind == DatasetSnapshot.Kind.PREFERENCE
            and snapshot.options.get("pairs") != "consensus"
            and postgres_fast_path()
        ):
            preference_copy_postgres(snapshot.filters, permille, writers, stats)
        else:
            rows = ROWS[snapshot.kind](snapshot.filters, snapshot.options)
            _rows_write(rows, writers, stats, permille, should_stop)
    if source in (AI, ALL) and snapshot.kind in AI_ROWS:
        rows = AI_ROWS[snapshot.kind](snapshot.filters, snapshot.options)
        _rows_write(rows, writers, stats, permille, should_stop)
    digests = {split: writer.close() for split, writer in writers.items()}
    card = dataset_card(snapshot, stats)
    (folder / "README.md").write_text(card)
    paths = {split: writer.path for split, writer in writers.items()} | {
        "card": folder / "README.md"
    }
    return {
        "paths": paths,
        "sha256": digests,
        "counts": {split: stats.counts[split] for split in SPLITS},
        "versions": sorted(stats.versions),
        "card": card,
    }


def _rows_write(
    rows: Iterator[Row],
    writers: dict[str, "_HashingWriter"],
    stats: Stats,
    permille: int,
    should_stop: Callable[[], bool],
) -> None:
    for row in rows:
        if should_stop():
            raise JobCancelled
        split = split_of(row.prompt_hash, permille)
        writers[split].write(row.data)
        stats.counts[split] += 1
        stats.categories[row.category] += 1
        stats.versions.add(row.version)
        if row.person is not None:
            stats.people.add(row.person)
        if row.ai_rater:
            stats.ai_raters.add(row.ai_rater)


def snapshot_exported(
    *,
    snapshot_id: int,
    should_stop: Callable[[], bool],
    log: Callable[[str], None],
    wait_s: float = SNAPSHOT_WAIT_S,
) -> DatasetSnapshot:
    """The snapshot, published: exported here when it can be claimed (queued, or orphaned),
    else waited for while another live attempt exports it. One that another attempt failed
    or cancelled is queued again under `job_requeue`'s rules and exported here. Nothing is
    ever taken from, or deleted under, an attempt that still holds the snapshot.

    RuntimeError when the export failed (here, or again elsewhere after its requeue) or
    still runs after `wait_s`; JobCancelled once `should_stop()` while waiting."""
    deadline = time.monotonic() + wait_s
    requeued = waiting = False
    while True:
        exported = snapshot_export(snapshot_id=snapshot_id)
        snapshot = exported or DatasetSnapshot.objects.get(pk=snapshot_id)
        if snapshot.status == JobStatus.SUCCEEDED:
            return snapshot
        if exported is not None or (requeued and snapshot.status in FINISHED):
            raise RuntimeError(f"snapshot {snapshot.pk} {snapshot.status}: {snapshot.error}")
        if not requeued and snapshot.status != JobStatus.QUEUED:
            was = snapshot.status
            try:
                job_requeue(snapshot)
            except JobStateError:
                pass  # running under a live attempt: wait for it below
            else:
                requeued = True
                log(f"snapshot {snapshot.pk} was {was}: exporting it again")
                continue
        if not waiting:
            waiting = True
            log(f"snapshot {snapshot.pk} is being exported by another worker: waiting for it")
        if should_stop():
            raise JobCancelled
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"snapshot {snapshot.pk} still exported by another worker after {wait_s:.0f} s"
            )
        time.sleep(SNAPSHOT_POLL_S)


def snapshots_export_if_changed(*, kinds: list[str]) -> list[DatasetSnapshot]:
    """The scheduled export: a new snapshot of each kind, written now, unless a published
    one (scheduled or not) already holds the same data."""
    made = []
    for kind in kinds:
        if snapshot_reusable(kind, {}, {}) is not None:
            continue
        snapshot = DatasetSnapshot.objects.create(kind=kind)
        made.append(snapshot_export(snapshot_id=snapshot.pk))
    return made
