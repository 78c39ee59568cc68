"""Preference export on PostgreSQL against PostgreSQL's own COPY of the same rows.

Seeds a database of its own with N two-reply comparisons, each ranked once (N preference
rows), then times `snapshot_export` (in a child process, whose peak memory is read too)
beside `COPY (SELECT json_build_object(...)) TO STDOUT` of the same rows: the floor no
exporter in Python can beat. Run at a quarter of N and at N, peak memory shows whether
it stays flat as rows grow.

    .venv/bin/python benchmarks/export.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/export.py --rows 100000
"""

import argparse
import json
import os
import resource
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
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def seed(start: int, stop: int) -> None:
    """Comparisons start..stop-1: a prompt, two candidates, one ranking each."""
    import hashlib

    from django.contrib.auth import get_user_model

    from guidelines.models import Guideline, GuidelineVersion
    from labeling.models import Prompt, Task
    from rankings.models import Candidate, Comparison, Ranking

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
    batch = 5000
    for low in range(start, stop, batch):
        high = min(low + batch, stop)
        prompts = Prompt.objects.bulk_create(
            [
                Prompt(
                    guideline=guideline,
                    guideline_version=version,
                    source="imported",
                    messages=[
                        {
                            "role": "user",
                            "content": f"Benchmark question {i}: which reply is better?",
                        }
                    ],
                    content_hash=hashlib.sha256(str(i).encode()).hexdigest(),
                )
                for i in range(low, high)
            ]
        )
        tasks = Task.objects.bulk_create(
            [
                Task(
                    kind="ranking",
                    guideline=guideline,
                    prompt=p,
                    wanted=1,
                    submitted_count=1,
                    status="done",
                )
                for p in prompts
            ]
        )
        comparisons = Comparison.objects.bulk_create(
            [
                Comparison(task=t, prompt=p, source="bench", ranking_count=1)
                for t, p in zip(tasks, prompts, strict=True)
            ]
        )
        candidates = Candidate.objects.bulk_create(
            [
                Candidate(
                    prompt=p,
                    content=f"{side} reply to question {i}, long enough to look like an answer.",
                    source="imported",
                )
                for i, p in zip(range(low, high), prompts, strict=True)
                for side in ("Good", "Weak")
            ]
        )
        through = Comparison.candidates.through
        through.objects.bulk_create(
            [
                through(comparison_id=c.pk, candidate_id=candidates[2 * n + side].pk)
                for n, c in enumerate(comparisons)
                for side in (0, 1)
            ]
        )
        Ranking.objects.bulk_create(
            [
                Ranking(
                    comparison=c,
                    rater=rater,
                    guideline_version=version,
                    shown_order=[],
                    ranking=[[candidates[2 * n].pk], [candidates[2 * n + 1].pk]],
                    pairs=[[candidates[2 * n].pk, candidates[2 * n + 1].pk]],
                )
                for n, c in enumerate(comparisons)
            ]
        )


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
    import psycopg

    with psycopg.connect(args.server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    database_url = args.server.rsplit("/", 1)[0] + f"/{args.database}"
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
        seed(seeded, size)
        seeded = size
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
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
        ours_rate, floor_rate = ours["rows"] / ours["seconds"], floor["rows"] / floor["seconds"]
        print(
            f"{size:>10,} {ours_rate:>14,.0f} {floor_rate:>12,.0f} {ours_rate / floor_rate:>6.2f} "
            f"{ours['peak_mib']:>9.0f}"
        )


if __name__ == "__main__":
    main()
