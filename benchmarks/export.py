"""Preference export on PostgreSQL against PostgreSQL's own COPY of the same rows.

Seeds a database of its own with N two-reply comparisons, each ranked once (N preference
rows), then times `snapshot_export` (in a child process, whose peak memory is read too)
beside `COPY (SELECT json_build_object(...)) TO STDOUT` of the same rows, taking turns
(medians of `--repeats`): the floor no exporter in Python can beat. Run at a quarter of N
and at N, peak memory shows whether it stays flat as rows grow.

    .venv/bin/python benchmarks/export.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/export.py --rows 100000
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

COPY_SQL = """
COPY (
    SELECT json_build_object(
        'prompt', p.messages,
        'chosen', json_build_array(json_build_object('role', 'assistant', 'content', win.content)),
        'rejected',
        json_build_array(json_build_object('role', 'assistant', 'content', lose.content)))
    FROM rankings_ranking r
    JOIN rankings_comparison c ON c.id = r.comparison_id
    JOIN labeling_prompt p ON p.id = c.prompt_id
    JOIN rankings_candidate win ON win.id = (r.ranking -> 0 ->> 0)::bigint
    JOIN rankings_candidate lose ON lose.id = (r.ranking -> 1 ->> 0)::bigint
    ORDER BY r.id
) TO STDOUT
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="bench_export")
    parser.add_argument("--repeats", type=int, default=3, help="turns of each, medians kept")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


# Comparisons i = %(low)s..%(high)s, each on prompt i and task i, with candidates 2i - 1
# (the better) and 2i, ranked once (ranking i), written by the server itself: 1,000,000
# rows are ready in under a minute, where the ORM took over an hour.
SEED_SQL = """
INSERT INTO labeling_prompt (id, messages, category, language, tags, source,
    wanted_demonstrations, content_hash, created_at, guideline_id, guideline_version_id,
    sensitive_category, draft_model, draft_text, search_text)
SELECT i, jsonb_build_array(jsonb_build_object(
        'role', 'user', 'content', 'Benchmark question ' || i || ': which reply is better?')),
    '', 'en', '[]', 'imported', 1, encode(sha256(i::text::bytea), 'hex'), now(),
    %(guideline)s, %(version)s, '', '', '', ''
FROM generate_series(%(low)s, %(high)s) i;

INSERT INTO labeling_task (id, kind, status, guideline_id, prompt_id, wanted, submitted_count,
    created_at)
SELECT i, 'ranking', 'done', %(guideline)s, i, 1, 1, now()
FROM generate_series(%(low)s, %(high)s) i;

INSERT INTO rankings_comparison (id, gold_ranking, consensus_ranked_pairs,
    consensus_bradley_terry, agreement, ranking_count, created_at, prompt_id, task_id, source,
    evaluation)
SELECT i, '[]', '[]', '{}', '{}', 1, now(), i, i, 'bench', false
FROM generate_series(%(low)s, %(high)s) i;

INSERT INTO rankings_candidate (id, content, model_name, sampling, source, created_at,
    prompt_id)
SELECT 2 * i - 1 + side,
    (ARRAY['Good', 'Weak'])[side + 1] || ' reply to question ' || i
        || ', long enough to look like an answer.',
    '', '{}', 'imported', now(), i
FROM generate_series(%(low)s, %(high)s) i, generate_series(0, 1) side;

INSERT INTO rankings_comparison_candidates (comparison_id, candidate_id)
SELECT i, 2 * i - 1 + side FROM generate_series(%(low)s, %(high)s) i, generate_series(0, 1) side;

INSERT INTO rankings_ranking (id, ranking, shown_order, flags, likert, all_bad, rationale,
    time_spent_s, idempotency_key, created_at, comparison_id, guideline_version_id, rater_id,
    pairs)
SELECT i, jsonb_build_array(jsonb_build_array(2 * i - 1), jsonb_build_array(2 * i)), '[]',
    '{}', '{}', false, '', 0, '', now(), i, %(version)s, %(rater)s,
    jsonb_build_array(jsonb_build_array(2 * i - 1, 2 * i))
FROM generate_series(%(low)s, %(high)s) i;
"""

SEEDED_TABLES = (
    "labeling_prompt",
    "labeling_task",
    "rankings_comparison",
    "rankings_candidate",
    "rankings_comparison_candidates",
    "rankings_ranking",
)


def seed(start: int, stop: int) -> None:
    """Comparisons start..stop-1: a prompt, two candidates, one ranking each."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from guidelines.models import Guideline, GuidelineVersion

    guideline = Guideline.objects.get_or_create(slug="bench", defaults={"title": "Benchmark"})[0]
    version = GuidelineVersion.objects.filter(
        guideline=guideline
    ).first() or GuidelineVersion.objects.create(
        guideline=guideline,
        number=1,
        body="# Rules",
        html="",
        status="published",
        published_at="2026-01-01T00:00:00Z",
    )
    rater = get_user_model().objects.get_or_create(username="bench-rater")[0]
    names = {"guideline": guideline.pk, "version": version.pk, "rater": rater.pk}
    batch = 250_000
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows are consistent by construction: no foreign-key trigger per row (the
        # server's superuser, which the benchmark connects as, may skip them).
        cursor.execute("SET LOCAL session_replication_role = replica")
        for low in range(start + 1, stop + 1, batch):
            high = min(low + batch, stop + 1) - 1
            cursor.execute(SEED_SQL, {**names, "low": low, "high": high})
        for table in SEEDED_TABLES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        cursor.execute("ANALYZE")


def measure_export() -> None:
    """In a child process: one preference export, its rows/s and this process's peak RSS."""
    import django

    django.setup()
    from dataset_io.exporting import snapshot_export
    from dataset_io.models import DatasetSnapshot

    snapshot = DatasetSnapshot.objects.create(kind="preference")
    started = time.perf_counter()
    snapshot = snapshot_export(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - started
    rows = sum(snapshot.counts.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def measure_copy(database_url: str) -> dict[str, float]:
    import psycopg

    rows = 0
    started = time.perf_counter()
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor() as cursor,
        cursor.copy(COPY_SQL) as copy,
    ):
        for block in copy:
            rows += bytes(block).count(b"\n")
    return {"rows": rows, "seconds": time.perf_counter() - started}


def main() -> None:
    args = parse_args()
    if args.measure:
        measure_export()
        return
    from benchmarks.next_task import recreate_database

    database_url = recreate_database(args.server, args.database)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
    )
    import django

    django.setup()
    print(f"{'rows':>10} {'export rows/s':>14} {'COPY rows/s':>12} {'ratio':>6} {'peak MiB':>9}")
    seeded = 0
    for size in (args.rows // 4, args.rows):
        started = time.monotonic()
        seed(seeded, size)
        print(f"seeded rows {seeded + 1:,} to {size:,} in {time.monotonic() - started:.0f}s")
        seeded = size
        # Taking turns, several times: the machine is shared and noisy.
        ours_rates, floor_rates, peaks = [], [], []
        for _ in range(args.repeats):
            child = subprocess.run(
                [sys.executable, __file__, "--measure"],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            ours = json.loads(child.stdout.strip().splitlines()[-1])
            floor = measure_copy(database_url)
            assert ours["rows"] == floor["rows"] == size, (ours, floor)
            ours_rates.append(ours["rows"] / ours["seconds"])
            floor_rates.append(floor["rows"] / floor["seconds"])
            peaks.append(ours["peak_mib"])
        ours_rate, floor_rate = statistics.median(ours_rates), statistics.median(floor_rates)
        print(
            f"{size:>10,} {ours_rate:>14,.0f} {floor_rate:>12,.0f} {ours_rate / floor_rate:>6.2f} "
            f"{max(peaks):>9.0f}   (ratio by turn: "
            + ", ".join(f"{o / f:.2f}" for o, f in zip(ours_rates, floor_rates, strict=True))
            + ")"
        )


if __name__ == "__main__":
    main()
