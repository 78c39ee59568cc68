"""The queue's hot query, in SQL: pick and lock the next task a user may take.

Written out rather than built with the ORM because this runs on every "next task"
request and compiling the equivalent queryset cost several times more than running it.
The same text runs on PostgreSQL and SQLite (3.30+ for NULLS LAST); only PostgreSQL gets
the row lock, SQLite's IMMEDIATE transactions already serialize writers.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

CANDIDATE_SQL = """
SELECT t.id,
       EXISTS (
           SELECT 1 FROM labeling_assignment own
           WHERE own.task_id = t.id AND own.user_id = %s AND own.status = 'leased'
       ) AS has_own_expired_lease
FROM labeling_task t
{join}
WHERE t.status = 'open' AND t.kind = %s AND t.guideline_id IN ({guidelines})
  AND (t.excluded_user_id IS NULL OR t.excluded_user_id <> %s)
  AND NOT EXISTS (
      SELECT 1 FROM labeling_taskexclusion x WHERE x.task_id = t.id AND x.user_id = %s
  )
  -- Any hold of the user's but an expired lease: done, skipped or being worked on.
  AND NOT EXISTS (
      SELECT 1 FROM labeling_assignment held
      WHERE held.task_id = t.id AND held.user_id = %s
        AND NOT (held.status = 'leased' AND held.expires_at <= %s)
  )
  AND t.submitted_count + (
      SELECT count(*) FROM labeling_assignment live
      WHERE live.task_id = t.id AND live.status = 'leased' AND live.expires_at > %s
  ) < t.wanted
  {opt_outs}
ORDER BY t.priority DESC, t.started_at ASC NULLS LAST, t.id
LIMIT 1
{lock}
"""


@dataclass(frozen=True)
class Candidate:
    task_id: int
    # Left after the NOT EXISTS above, a lease of the user's own can only be an expired one.
    has_own_expired_lease: bool


def candidate_lock(
    *,
    user_id: int,
    kind: str,
    guideline_ids: list[int],
    opt_outs: list[str],
    now: datetime,
    skip_locked: bool,
) -> Candidate | None:
    """The open task with a free slot for the user, highest priority first, then the
    oldest started, locked on PostgreSQL.

    Must run inside a transaction; the caller re-counts live leases under the lock.
    """
    if not guideline_ids:
        return None
    lock = ""
    if connection.vendor == "postgresql":
        lock = "FOR UPDATE OF t SKIP LOCKED" if skip_locked else "FOR UPDATE OF t"
    join, opt_out_clause = "", ""
    if opt_outs:
        join = "JOIN labeling_prompt p ON p.id = t.prompt_id"
        opt_out_clause = f"AND p.sensitive_category NOT IN ({', '.join(['%s'] * len(opt_outs))})"
    sql = CANDIDATE_SQL.format(
        join=join,
        guidelines=", ".join(["%s"] * len(guideline_ids)),
        opt_outs=opt_out_clause,
        lock=lock,
    )
    params = [user_id, kind, *guideline_ids, user_id, user_id, user_id, now, now, *opt_outs]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return Candidate(row[0], bool(row[1])) if row else None
