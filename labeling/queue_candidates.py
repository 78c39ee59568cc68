"""The queue's hot query, in SQL: the next task a user may take.

Written out rather than built with the ORM because this runs on every "next task"
request and compiling the equivalent queryset cost several times more than running it.
PostgreSQL runs it inside the one statement that also takes the lease
(labeling/queue_lease.py); SQLite runs it alone, in a transaction that serializes writers.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

# Parameters by name: %(user)s, %(kind)s, %(now)s. `guideline_match` is a condition on
# t.guideline_id, `not_opted_out` one on t.prompt_id. Every check on other tables is a
# subquery on one task, so the planner walks the open-task index in queue order and stops
# at the first task that passes.
CANDIDATE_SQL = """
SELECT t.id, t.priority, t.started_at,
       (SELECT own.id FROM labeling_assignment own
        WHERE own.task_id = t.id AND own.user_id = %(user)s) AS own_id,
       t.submitted_count + t.leased_count < t.wanted AS free
FROM labeling_task t
WHERE {also} t.status = 'open' AND t.kind = %(kind)s AND {guideline_match}
  AND (t.excluded_user_id IS NULL OR t.excluded_user_id <> %(user)s)
  AND NOT EXISTS (
      SELECT 1 FROM labeling_taskexclusion x WHERE x.task_id = t.id AND x.user_id = %(user)s
  )
  -- Nothing the user holds, finished or skipped; a task whose lease of theirs lapsed may
  -- come back to them.
  AND NOT EXISTS (
      SELECT 1 FROM labeling_assignment held
      WHERE held.task_id = t.id AND held.user_id = %(user)s AND held.status <> 'lapsed'
  )
  -- A free slot, or a slot held by an expired lease, which the new lease takes over.
  AND (t.submitted_count + t.leased_count < t.wanted OR EXISTS (
      SELECT 1 FROM labeling_assignment gone
      WHERE gone.task_id = t.id AND gone.status = 'leased' AND gone.expires_at <= %(now)s
  ))
  AND {not_opted_out}
ORDER BY t.priority DESC, t.started_at ASC NULLS LAST, t.id
LIMIT 1
"""


@dataclass(frozen=True)
class Candidate:
    task_id: int
    # The user's lapsed assignment on the task, which a new lease reuses with its draft.
    own_id: int | None
    # False: every slot is taken, one of them by an expired lease.
    free: bool


def candidate_find(
    *, user_id: int, kind: str, guideline_ids: list[int], opt_outs: list[str], now: datetime
) -> Candidate | None:
    """The open task the user may take, highest priority first, then the oldest started.

    Without row locks: for SQLite, whose transactions serialize every writer.
    """
    if not guideline_ids:
        return None
    params: dict[str, object] = {"user": user_id, "kind": kind, "now": now}
    params.update({f"g{i}": g for i, g in enumerate(guideline_ids)})
    params.update({f"o{i}": o for i, o in enumerate(opt_outs)})
    not_opted_out = "1 = 1"
    if opt_outs:
        names = ", ".join(f"%(o{i})s" for i in range(len(opt_outs)))
        not_opted_out = (
            "NOT EXISTS (SELECT 1 FROM labeling_prompt p "
            f"WHERE p.id = t.prompt_id AND p.sensitive_category IN ({names}))"
        )
    guidelines = ", ".join(f"%(g{i})s" for i in range(len(guideline_ids)))
    sql = CANDIDATE_SQL.format(
        also="",
        guideline_match=f"t.guideline_id IN ({guidelines})",
        not_opted_out=not_opted_out,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return Candidate(row[0], row[3], bool(row[4])) if row else None
