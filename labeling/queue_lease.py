"""Next task on PostgreSQL in one statement: one round trip, one implicit transaction.

The statement renews the lease the user holds, or picks a task (`FOR UPDATE SKIP LOCKED`)
and leases it, and returns the lease with its task, prompt, guideline and newest model
draft. Exactness comes from the rows each part changes, not from a count taken earlier:

- a task's slots are its `submitted_count + leased_count`, kept on the task row; the
  UPDATE that takes a slot checks them again on the newest row version it has locked,
  and a CHECK constraint refuses any over-assignment;
- a slot held by an expired lease is taken over by an UPDATE that checks again that the
  lease is still leased and expired, so its owner renewing it at the same moment wins or
  loses cleanly;
- a partial unique index allows one lease per person and kind, so two requests of one
  person (a double click, two tabs) cannot both lease: the second fails and, asked again,
  finds the first one's lease.

A lease the user holds but may no longer work on is lapsed by the caller, apart.

The guideline versions the user acknowledged and their sensitive opt-outs are read in
the same statement, so they are never stale. So is the request's token, when the request
took it on trust from the tokens its process checked lately (accounts.token_trust.TokenCheck):
then the request is this one statement.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Model

from accounts.roles import ALL_ROLES
from accounts.token_trust import TokenCheck
from accounts.tokens import LAST_USED_RESOLUTION
from config.raw_rows import columns_sql, instances_from, prepared_row
from guidelines.models import Guideline
from labeling.drafts import OfferedDraft, draft_offered_given
from labeling.models import Assignment, Prompt, Task
from labeling.queue_candidates import CANDIDATE_SQL

# Guidelines whose newest published version the user acknowledged; {only} narrows them to
# one guideline when the request names it.
ALLOWED_SQL = """
SELECT v.guideline_id FROM guidelines_guidelineversion v
WHERE v.status = 'published' {only}
  AND v.number = (
      SELECT max(newer.number) FROM guidelines_guidelineversion newer
      WHERE newer.guideline_id = v.guideline_id AND newer.status = 'published'
  )
  AND EXISTS (
      SELECT 1 FROM guidelines_acknowledgement ack
      WHERE ack.user_id = %(user)s AND ack.version_id = v.id
  )
  AND EXISTS (SELECT 1 FROM auth)
"""

# Who asks: the user, taken as checked when the request checked the token itself.
AUTH_GIVEN = "SELECT %(user)s::bigint AS user_id"

# Or confirmed here, when the request took its token on trust (accounts.token_trust.TokenCheck):
# the token exists and has not expired, its user is active and has the same roles. Every
# part of the statement reads `allowed`, which is empty without `auth`: nothing is leased
# or renewed, and the first column says why.
AUTH_CONFIRMED = """
SELECT tok.user_id FROM accounts_apitoken tok JOIN {users} u ON u.id = tok.user_id
WHERE tok.key_hash = %(token)s AND tok.user_id = %(user)s AND tok.expires_at > %(now)s
  AND u.is_active AND u.is_superuser = %(superuser)s
  AND ARRAY(
      SELECT g.name::text FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
      WHERE ug.user_id = tok.user_id AND g.name = ANY(%(roles)s::text[]) ORDER BY 1
  ) = %(role_groups)s::text[]
"""

# As the token check does, at most once a minute (accounts.tokens.LAST_USED_RESOLUTION).
TOKEN_USED = """,
token_used AS (
    UPDATE accounts_apitoken tok SET last_used_at = %(now)s
    WHERE tok.key_hash = %(token)s AND EXISTS (SELECT 1 FROM auth)
      AND (tok.last_used_at IS NULL OR tok.last_used_at < %(used_before)s)
    RETURNING 1
)"""

ONLY_GUIDELINE = "AND v.guideline_id = %(guideline)s"

# A lease held but not renewed is one the user may no longer work on (its guideline
# changed, or they asked for another guideline's task). The caller lapses it and asks
# again: lapsing it here would clash with the new lease on the unique index, which
# PostgreSQL checks row by row within a statement.
HOLDS_NO_LEASE = """NOT EXISTS (SELECT 1 FROM renewed) AND NOT EXISTS (
    SELECT 1 FROM labeling_assignment mine
    WHERE mine.user_id = %(user)s AND mine.kind = %(kind)s AND mine.status = 'leased'
) AND"""

# The prompt is read only for someone who opted out of anything.
NOT_OPTED_OUT = """((SELECT categories FROM opted_out) = '[]'::jsonb OR NOT EXISTS (
    SELECT 1 FROM labeling_prompt p
    WHERE p.id = t.prompt_id
      AND (SELECT categories FROM opted_out) @> to_jsonb(p.sensitive_category)
))"""

# The best task of each allowed guideline, each found by walking that guideline's part of
# the open-task index in order, then the best of those. With `IN (allowed)` the planner,
# not knowing how many guidelines there are, sorted every open task instead.
PER_GUIDELINE_SQL = """
SELECT pick.id, pick.own_id, pick.free
FROM allowed a CROSS JOIN LATERAL ({candidate} {lock}) pick
ORDER BY pick.priority DESC, pick.started_at ASC NULLS LAST, pick.id
LIMIT 1
"""

LEASE_SQL = """
WITH auth AS ({auth}){token_used},
allowed AS ({allowed}),
opted_out AS (
    SELECT coalesce(
        (SELECT sensitive_opt_outs FROM labeling_labelerprofile WHERE user_id = %(user)s),
        '[]'::jsonb
    ) AS categories
),
-- The lease the user holds, live or expired, if they may still work on its task.
renewed AS (
    UPDATE labeling_assignment a
    SET expires_at = %(expires)s,
        leased_at = CASE WHEN a.expires_at <= %(now)s THEN %(now)s ELSE a.leased_at END
    WHERE a.status = 'leased' AND a.id = (
        SELECT held.id FROM labeling_assignment held
        JOIN labeling_task t ON t.id = held.task_id
        WHERE held.user_id = %(user)s AND held.kind = %(kind)s AND held.status = 'leased'
          AND t.status = 'open' AND t.guideline_id IN (SELECT guideline_id FROM allowed)
          AND {not_opted_out}
        LIMIT 1
    )
    RETURNING a.*
),
candidate AS ({candidate}),
reclaimed AS (
    UPDATE labeling_assignment gone SET status = 'lapsed'
    WHERE gone.status = 'leased' AND gone.expires_at <= %(now)s AND gone.id = (
        SELECT e.id FROM labeling_assignment e JOIN candidate c ON e.task_id = c.id
        WHERE NOT c.free AND e.status = 'leased' AND e.expires_at <= %(now)s
        ORDER BY e.expires_at LIMIT 1
        -- Never wait on a lease: its owner may hold it while waiting for this task's
        -- row (a submit), which this statement holds.
        FOR UPDATE OF e SKIP LOCKED
    )
    RETURNING gone.task_id
),
taken AS (
    UPDATE labeling_task t
    SET leased_count = t.leased_count + 1, started_at = coalesce(t.started_at, %(now)s)
    FROM candidate c
    WHERE t.id = c.id AND c.free AND t.submitted_count + t.leased_count < t.wanted
    RETURNING t.id AS task_id
),
slot AS (SELECT task_id FROM taken UNION ALL SELECT task_id FROM reclaimed),
inserted AS (
    INSERT INTO labeling_assignment
        (task_id, user_id, kind, status, leased_at, expires_at, draft, time_spent_s)
    SELECT s.task_id, %(user)s, %(kind)s, 'leased', %(now)s, %(expires)s, '', 0
    FROM slot s JOIN candidate c ON c.id = s.task_id
    WHERE c.own_id IS NULL
    RETURNING *
),
retaken AS (
    UPDATE labeling_assignment a
    SET status = 'leased', leased_at = %(now)s, expires_at = %(expires)s
    FROM slot s JOIN candidate c ON c.id = s.task_id
    WHERE a.id = c.own_id AND a.status = 'lapsed'
    RETURNING a.*
),
lease AS (
    SELECT * FROM renewed UNION ALL SELECT * FROM inserted UNION ALL SELECT * FROM retaken
)
SELECT EXISTS (SELECT 1 FROM auth),
       (SELECT count(*) FROM candidate),
       -- Nothing unlocked: is a task free that other requests hold locked this moment?
       -- Read only then. Waiting for their locks instead would hold this one's.
       CASE WHEN NOT EXISTS (SELECT 1 FROM candidate) THEN EXISTS ({unlocked}) END,
       -- A slot taken must become a lease. Only a lapsed assignment changed by another
       -- request of the same person can fail to, and then this divides by zero: the whole
       -- statement, slot included, is undone and the caller asks again.
       1 / (1 + (SELECT count(*) FROM lease) - (SELECT count(*) FROM renewed)
              - (SELECT count(*) FROM slot)),
       {columns}
FROM (SELECT 1) one
LEFT JOIN lease a ON true
LEFT JOIN labeling_task t ON t.id = a.task_id
LEFT JOIN labeling_prompt p ON p.id = t.prompt_id
LEFT JOIN guidelines_guideline g ON g.id = t.guideline_id
LEFT JOIN LATERAL (
    SELECT d.id, d.origin_name, d.text FROM labeling_draft d
    WHERE d.prompt_id = p.id ORDER BY d.created_at DESC, d.id DESC LIMIT 1
) d ON true
"""

# The rows the statement returns, in this order, each with every concrete column.
RETURNED: tuple[tuple[type[Model], str], ...] = (
    (Assignment, "a"),
    (Task, "t"),
    (Prompt, "p"),
    (Guideline, "g"),
)
DRAFT_COLUMNS = ("d.id", "d.origin_name", "d.text")


def _per_guideline(*, also: str, lock: str) -> str:
    candidate = CANDIDATE_SQL.format(
        also=also, guideline_match="t.guideline_id = a.guideline_id", not_opted_out=NOT_OPTED_OUT
    )
    return PER_GUIDELINE_SQL.format(candidate=candidate, lock=lock)


def _statement(only_guideline: bool, confirm_token: bool) -> str:
    columns = [column for model, alias in RETURNED for column in columns_sql(model, alias)]
    users = get_user_model()._meta.db_table
    return LEASE_SQL.format(
        auth=AUTH_CONFIRMED.format(users=users) if confirm_token else AUTH_GIVEN,
        token_used=TOKEN_USED if confirm_token else "",
        allowed=ALLOWED_SQL.format(
            only="AND v.guideline_id = %(guideline)s" if only_guideline else ""
        ),
        not_opted_out=NOT_OPTED_OUT,
        candidate=_per_guideline(also=HOLDS_NO_LEASE, lock="FOR UPDATE OF t SKIP LOCKED"),
        unlocked=_per_guideline(also=HOLDS_NO_LEASE, lock=""),
        columns=", ".join(columns + list(DRAFT_COLUMNS)),
    )


# Built once per process, per (one guideline named, token to confirm): the text depends
# on nothing but the models.
STATEMENTS: dict[tuple[bool, bool], str] = {}


@dataclass(frozen=True)
class Outcome:
    # None when nothing was leased. Then `candidates` says whether a task was there but
    # its slot was gone (asking again may find another), `busy` whether free tasks were
    # all locked by other requests (asking again in a moment may get one), and
    # `authenticated` False that the token taken on trust did not hold.
    assignment: Assignment | None
    candidates: int
    busy: bool
    authenticated: bool = True


def lease_in_one_statement(
    *,
    user_id: int,
    kind: str,
    guideline_id: int | None,
    now: datetime,
    expires: datetime,
    token_check: TokenCheck | None = None,
) -> Outcome:
    """Run the statement in autocommit (its own transaction); IntegrityError and
    DataError mean another request of this user's won a race: ask again. With
    `token_check`, the statement also confirms the token the request took on trust."""
    variant = (guideline_id is not None, token_check is not None)
    if variant not in STATEMENTS:
        STATEMENTS[variant] = _statement(*variant)
    params: dict[str, object] = {"user": user_id, "kind": kind, "now": now, "expires": expires}
    if guideline_id is not None:
        params["guideline"] = guideline_id
    if token_check is not None:
        params.update(
            token=token_check.key_hash,
            superuser=token_check.is_superuser,
            roles=list(ALL_ROLES),
            role_groups=list(token_check.role_groups),
            used_before=now - LAST_USED_RESOLUTION,
        )
    row = prepared_row(STATEMENTS[variant], params)
    authenticated, candidates, busy, values = row[0], row[1], bool(row[2]), row[4:]
    if not authenticated:
        return Outcome(None, 0, False, authenticated=False)
    if values[0] is None:
        return Outcome(None, candidates, busy)
    models = [model for model, _alias in RETURNED]
    instances = instances_from(values, models)
    width = sum(len(model._meta.concrete_fields) for model in models)
    assignment, task, prompt, guideline = instances
    task.prompt, task.guideline, assignment.task = prompt, guideline, task
    draft_id, origin_name, text = values[width:]
    newest = OfferedDraft(draft_id, origin_name, text) if draft_id is not None else None
    # Read by lease_draft_offered, which otherwise reads it with a query of its own.
    assignment.draft_offer = draft_offered_given(prompt=prompt, newest=newest)
    return Outcome(assignment, candidates, busy)
