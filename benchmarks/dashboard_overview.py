"""The dashboard's overview and People pages on PostgreSQL with 1,000,000 rankings,
against a 300 ms limit.

Seeds a database of its own in bulk (INSERT ... SELECT over generate_series): a year of
work by 40 raters and 20 labelers, N rankings of N/3 four-candidate comparisons (with
their prompts, candidates, tasks and leases) and N/20 reviewed demonstrations. Then it
counts the overview's figures once from scratch, adds a day of new rankings and counts
again incrementally, as beat does every minute, and renders /dashboard/, the People page
and one rater's page (30 days and a year) through Django's test client as an admin R
times each. It prints the median and p95 server time of a render against the limit, as
a ratio (below 1 is within it), and what the refreshes cost.

    .venv/bin/python benchmarks/dashboard_overview.py                  # 1,000,000 rankings
    .venv/bin/python benchmarks/dashboard_overview.py --rankings 2000  # a smoke run
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

LIMIT_MS = 300.0
RATERS, LABELERS = 40, 20
OVERLAP, K = 3, 4
DAYS = 365


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rankings", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=30, help="timed renders of each page")
    parser.add_argument(
        "--server",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument("--database", default="bench_dashboard_overview")
    parser.add_argument("--keep", action="store_true", help="leave the database for a look")
    return parser.parse_args()


def admin_database(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


# Every id is given explicitly (comparison g has prompt g, task g, candidates 4g-3..4g,
# rankings 3g-2..3g), so the statements need no lookups; the sequences are moved past
# them afterwards. Comparison g is made at a point spread evenly over the last DAYS days.
SEED_COMPARISONS = """
CREATE TEMP TABLE people AS SELECT %(raters)s::bigint[] AS raters,
    %(labelers)s::bigint[] AS labelers, %(versions)s::bigint[] AS versions;
CREATE TEMP TABLE spread AS
SELECT g, now() - make_interval(secs => %(seconds)s * (1 - g::float8 / %(c)s)) AS at,
       (SELECT versions[1 + (3 * (g - 1)) / %(c)s] FROM people) AS version
FROM generate_series(1, %(c)s) g;

INSERT INTO labeling_prompt (id, guideline_id, guideline_version_id, messages, category,
    language, tags, source, sensitive_category, wanted_demonstrations, content_hash,
    search_text, draft_model, draft_text, created_at)
SELECT g, %(guideline)s, version,
    jsonb_build_array(jsonb_build_object('role', 'user', 'content',
        'Benchmark question ' || g || ': which reply is better?')),
    'open_qa', 'en', '[]', CASE WHEN g %% 4 = 0 THEN 'generated' ELSE 'imported' END, '', 1,
    md5(g::text), '', '', '', at
FROM spread;

INSERT INTO labeling_task (id, kind, status, guideline_id, prompt_id, wanted, submitted_count,
    created_at, started_at)
SELECT g, 'ranking', 'done', %(guideline)s, g, 3, 3, at, at FROM spread;

INSERT INTO rankings_candidate (id, prompt_id, content, model_name, sampling, source, created_at)
SELECT 4 * (g - 1) + j, g, 'Reply ' || j || ' to question ' || g || ', long enough to read.',
    'model-' || j, '{}', 'generated', at
FROM spread, generate_series(1, 4) j;

-- Raters 3g, 3g+1, 3g+2 (mod 40) rank it; the first of them to meet (g + j) %% 5 = 0
-- swaps the middle two: agreement 16/18 on those comparisons, 1 on the others.
INSERT INTO rankings_comparison (id, task_id, prompt_id, gold_ranking, source,
    consensus_ranked_pairs, consensus_bradley_terry, agreement, ranking_count, created_at)
SELECT g, g, g, '[]', 'platform',
    jsonb_build_array(jsonb_build_array(4*g-3), jsonb_build_array(4*g-2),
                      jsonb_build_array(4*g-1), jsonb_build_array(4*g)),
    '{}',
    jsonb_build_object(
        'pairwise_agreement', CASE WHEN g %% 5 IN (0, 3, 4) THEN 16.0 / 18 ELSE 1 END,
        'krippendorff_alpha', NULL, 'raters', 3, 'complete', true),
    3, at
FROM spread;

INSERT INTO rankings_comparison_candidates (comparison_id, candidate_id)
SELECT g, 4 * (g - 1) + j FROM spread, generate_series(1, 4) j;

INSERT INTO rankings_ranking (id, comparison_id, rater_id, guideline_version_id, ranking,
    shown_order, flags, likert, all_bad, rationale, time_spent_s, idempotency_key, created_at,
    pairs)
SELECT 3 * (g - 1) + j + 1, g, raters[1 + (3 * g + j) %% 40], version,
    format('[[%%s], [%%s], [%%s], [%%s]]', o[1], o[2], o[3], o[4])::jsonb,
    jsonb_build_array(4*g-3, 4*g-2, 4*g-1, 4*g), '{}', '{}', false, '', 30 + (g * 7 + j) %% 90,
    '', at + make_interval(mins => 10 * j),
    format('[[%%1$s, %%2$s], [%%1$s, %%3$s], [%%1$s, %%4$s], [%%2$s, %%3$s], '
                    '[%%2$s, %%4$s], [%%3$s, %%4$s]]', o[1], o[2], o[3], o[4])::jsonb
FROM spread, people, generate_series(0, 2) j,
    LATERAL (SELECT CASE WHEN (g + j) %% 5 = 0 THEN ARRAY[4*g-3, 4*g-1, 4*g-2, 4*g]
                         ELSE ARRAY[4*g-3, 4*g-2, 4*g-1, 4*g] END AS o) orders;

INSERT INTO labeling_assignment (task_id, user_id, kind, status, leased_at, expires_at,
    finished_at, draft, time_spent_s)
SELECT g, raters[1 + (3 * g + j) %% 40], 'ranking', 'submitted', at, at + interval '20 minutes',
    at, '', 30 + (g * 7 + j) %% 90
FROM spread, people, generate_series(0, 2) j;
"""

# Demonstrations d = 1..D on prompts and tasks after the comparisons', each reviewed once
# (review task D + d): 70%% approved, 10%% rejected, the rest still submitted, in review.
SEED_DEMONSTRATIONS = """
CREATE TEMP TABLE written AS
SELECT d, %(c)s + d AS prompt, now() - make_interval(secs => %(seconds)s * (1 - d::float8 / %(d)s))
    AS at, (SELECT versions[1 + (3 * (d - 1)) / %(d)s] FROM people) AS version,
    (SELECT labelers[1 + d %% 20] FROM people) AS author,
    (SELECT raters[1 + d %% 40] FROM people) AS reviewer,
    CASE WHEN d %% 10 < 7 THEN 'approved' WHEN d %% 10 = 7 THEN 'rejected' ELSE 'submitted' END
    AS status
FROM generate_series(1, %(d)s) d;

INSERT INTO labeling_prompt (id, guideline_id, guideline_version_id, messages, category,
    language, tags, source, sensitive_category, wanted_demonstrations, content_hash,
    search_text, draft_model, draft_text, created_at)
SELECT prompt, %(guideline)s, version,
    jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Write about ' || d)),
    'generation', 'en', '[]', 'written', '', 1, md5('w' || d), '', '', '', at
FROM written;

INSERT INTO labeling_task (id, kind, status, guideline_id, prompt_id, wanted, submitted_count,
    created_at, started_at)
SELECT prompt, 'demonstration', 'done', %(guideline)s, prompt, 1, 1, at, at FROM written;

INSERT INTO labeling_demonstration (id, prompt_id, task_id, author_id, guideline_version_id,
    content, status, revision, time_spent_s, draft_model, draft_text, idempotency_key, source,
    created_at, updated_at)
SELECT d, prompt, prompt, author, version, 'The ideal reply number ' || d || '.', status, 1,
    120 + (d * 13) %% 600, '', '', '', 'platform', at, at + interval '1 hour'
FROM written;

INSERT INTO labeling_task (id, kind, status, guideline_id, prompt_id, demonstration_id,
    excluded_user_id, wanted, submitted_count, created_at, started_at)
SELECT %(c)s + %(d)s + d, 'review', CASE status WHEN 'approved' THEN 'done'
    WHEN 'rejected' THEN 'closed' ELSE 'open' END, %(guideline)s, prompt, d, author, 1,
    CASE WHEN status = 'submitted' THEN 0 ELSE 1 END, at, at
FROM written;

INSERT INTO labeling_review (demonstration_id, task_id, reviewer_id, guideline_version_id,
    revision, verdict, reasons, comment, time_spent_s, reviewed_content, created_at)
SELECT d, %(c)s + %(d)s + d, reviewer, version, 1,
    CASE status WHEN 'approved' THEN 'approve' ELSE 'reject' END,
    CASE status WHEN 'approved' THEN '[]'::jsonb ELSE '["incomplete"]'::jsonb END, '',
    40 + d %% 100, 'The ideal reply number ' || d || '.', at + interval '1 hour'
FROM written WHERE status <> 'submitted';

-- The newest fortieth of the reviews still open, at most one per reviewer (one lease per
-- person and kind), is leased right now.
INSERT INTO labeling_assignment (task_id, user_id, kind, status, leased_at, expires_at, draft,
    time_spent_s)
SELECT %(c)s + %(d)s + d, reviewer, 'review', 'leased', now(), now() + interval '20 minutes',
    '', 0
FROM written WHERE status = 'submitted' AND d > %(d)s - least(40, %(d)s / 40);
UPDATE labeling_task SET leased_count = 1
WHERE id IN (SELECT task_id FROM labeling_assignment WHERE status = 'leased');
"""

TABLES = [
    "labeling_prompt",
    "labeling_task",
    "labeling_assignment",
    "labeling_demonstration",
    "labeling_review",
    "rankings_candidate",
    "rankings_comparison",
    "rankings_ranking",
]

# A new day's rankings after the figures were counted: `n` more two-candidate comparisons
# made in the last hours, ids after the last ones, each ranked three times (one dissent).
ADD_TODAY = """
CREATE TEMP TABLE today AS
SELECT %(first)s + i - 1 AS g, now() - make_interval(secs => 60 * (%(n)s - i)) AS at,
       %(version)s::bigint AS version, %(raters)s::bigint[] AS raters
FROM generate_series(1, %(n)s) i;
INSERT INTO labeling_prompt (id, guideline_id, guideline_version_id, messages, category,
    language, tags, source, sensitive_category, wanted_demonstrations, content_hash,
    search_text, draft_model, draft_text, created_at)
SELECT 10000000 + g, %(guideline)s, version, '[{"role": "user", "content": "New"}]', 'open_qa',
    'en', '[]', 'generated', '', 1, md5('n' || g), '', '', '', at FROM today;
INSERT INTO labeling_task (id, kind, status, guideline_id, prompt_id, wanted, submitted_count,
    created_at)
SELECT 10000000 + g, 'ranking', 'done', %(guideline)s, 10000000 + g, 3, 3, at FROM today;
INSERT INTO rankings_comparison (id, task_id, prompt_id, gold_ranking, source,
    consensus_ranked_pairs, consensus_bradley_terry, agreement, ranking_count, created_at)
SELECT g, 10000000 + g, 10000000 + g, '[]', 'platform', '[]', '{}',
    '{"pairwise_agreement": 0.75}', 3, at FROM today;
INSERT INTO rankings_candidate (id, prompt_id, content, model_name, sampling, source, created_at)
SELECT 4 * (g - 1) + j, 10000000 + g, 'New reply ' || j, 'model', '{}', 'generated', at
FROM today, generate_series(1, 2) j;
INSERT INTO rankings_comparison_candidates (comparison_id, candidate_id)
SELECT g, 4 * (g - 1) + j FROM today, generate_series(1, 2) j;
INSERT INTO rankings_ranking (id, comparison_id, rater_id, guideline_version_id, ranking,
    shown_order, flags, likert, all_bad, rationale, time_spent_s, idempotency_key, created_at,
    pairs)
SELECT 3 * (g - 1) + j + 1, g, raters[1 + (3 * g + j) %% 40], version,
    format('[[%%s], [%%s]]', o[1], o[2])::jsonb, '[]', '{}', '{}', false, '', 45, '', at,
    format('[[%%s, %%s]]', o[1], o[2])::jsonb
FROM today, generate_series(0, 2) j,
    LATERAL (SELECT CASE WHEN j = 2 THEN ARRAY[4*g-2, 4*g-3] ELSE ARRAY[4*g-3, 4*g-2] END AS o) o;
"""


def seed(rankings: int) -> dict[str, object]:
    """The people and guideline through the ORM, the bulk in SQL; returns the ids used
    and the admin."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from accounts.services import user_create
    from guidelines.models import Guideline, GuidelineVersion

    User = get_user_model()
    admin = user_create(username="bench-admin", password="bench-admin-password-42", roles=["admin"])
    raters = User.objects.bulk_create(
        [User(username=f"rater-{i}", password="!") for i in range(RATERS)]
    )
    labelers = User.objects.bulk_create(
        [User(username=f"labeler-{i}", password="!") for i in range(LABELERS)]
    )
    Group.objects.get(name="reviewer").user_set.add(*raters)
    Group.objects.get(name="labeler").user_set.add(*labelers)
    guideline = Guideline.objects.create(slug="bench", title="Benchmark")
    versions = [
        GuidelineVersion.objects.create(
            guideline=guideline,
            number=n,
            body=f"# Rules, version {n}",
            status="published",
            published_at="2026-01-01T00:00:00Z",
        )
        for n in (1, 2, 3)
    ]
    comparisons = -(-rankings // OVERLAP)
    params = {
        "raters": [u.pk for u in raters],
        "labelers": [u.pk for u in labelers],
        "versions": [v.pk for v in versions],
        "guideline": guideline.pk,
        "seconds": DAYS * 86400,
        "c": comparisons,
        "d": max(rankings // 20, 10),
    }
    with connection.cursor() as cursor:
        cursor.execute(SEED_COMPARISONS, params)
        # A ranking too many when N is not a multiple of three: the last ones go.
        cursor.execute("DELETE FROM rankings_ranking WHERE id > %s", [rankings])
        cursor.execute(SEED_DEMONSTRATIONS, params)
        sync_sequences(cursor)
    return {**params, "admin": admin, "comparisons": comparisons}


def sync_sequences(cursor) -> None:  # type: ignore[no-untyped-def]
    for table in TABLES:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )


def vacuum(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def render_timed(client, connection, page: str, renders: int) -> None:  # type: ignore[no-untyped-def]
    """Render `page` once to count its queries, then `renders` times; print the median and
    p95 server time against the limit."""
    queries = []
    with connection.execute_wrapper(lambda run, sql, *rest: queries.append(sql) or run(sql, *rest)):
        response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    times = sorted(timed(lambda: client.get(page)) for _ in range(renders))
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"GET {page} x{renders} ({len(queries)} queries): median {median:.1f} ms, "
        f"p95 {p95:.1f} ms; ratio to the {LIMIT_MS:.0f} ms limit: "
        f"median {median / LIMIT_MS:.3f}, p95 {p95 / LIMIT_MS:.3f}"
    )


def main() -> None:
    args = parse_args()
    admin_database(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    admin_database(args.server, f'CREATE DATABASE "{args.database}"')
    database_url = args.server.rsplit("/", 1)[0] + f"/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
        )
        import django

        django.setup()
        from django.db import connection
        from django.test import Client

        from dashboard.rollup import rollup_refresh
        from rankings.models import Ranking

        started = time.perf_counter()
        seeded = seed(args.rankings)
        vacuum(database_url)
        print(
            f"seeded {Ranking.objects.count():,} rankings of {seeded['comparisons']:,} "
            f"comparisons in {time.perf_counter() - started:.0f} s"
        )

        full_ms = timed(lambda: rollup_refresh(full=True))
        print(f"overview figures counted from scratch in {full_ms:,.0f} ms")

        client = Client()
        client.force_login(seeded["admin"])
        rater = seeded["raters"][0]
        pages = [
            "/dashboard/",
            "/dashboard/people/?days=30",
            "/dashboard/people/?days=365",
            f"/dashboard/people/{rater}/?days=30",
            f"/dashboard/people/{rater}/?days=365",
        ]
        for page in pages:
            render_timed(client, connection, page, args.renders)

        new = max(args.rankings // DAYS // OVERLAP, 1)  # a day's comparisons
        with connection.cursor() as cursor:
            cursor.execute(
                ADD_TODAY,
                {
                    "n": new,
                    "first": seeded["comparisons"] + 1,
                    "guideline": seeded["guideline"],
                    "raters": seeded["raters"],
                    "version": seeded["versions"][-1],
                },
            )
            sync_sequences(cursor)
        incremental_ms = timed(rollup_refresh)
        print(
            f"then {new * OVERLAP:,} new rankings: the refresh beat runs every minute took "
            f"{incremental_ms:,.0f} ms"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin_database(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
