"""Submitting a demonstration on PostgreSQL in one statement.

The statement does what labeling.services._demonstration_submit does through the ORM, in
one round trip and one implicit transaction: it locks the task row and then the user's
lease on it (the order the queue's statement, skip and close take them in), reads the
guideline version the user last acknowledged, saves the demonstration, marks the lease
submitted, counts it on the task and opens the task that reviews it.

It does nothing, and returns no row, whenever the submission is not plainly valid: no
live lease, a task of another kind, no acknowledgement, or a unique constraint in the way
(the same Idempotency-Key again, a second demonstration for the task). The caller then
takes the ORM path, which says why or returns the earlier record.

The inserted rows' other columns are the models' own defaults, read from unsaved
instances, so a default changed in a model cannot drift from what this statement writes.
"""

from functools import cache

from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from config.raw_rows import columns_sql, instances_from, prepared_row
from guidelines.models import GuidelineVersion
from labeling.models import Demonstration, Task

# Columns the statement fills from the rows it read; every other column takes the value
# of an unsaved instance, passed as a parameter.
FROM_DEMONSTRATION_ROWS = {
    "prompt_id": "(SELECT prompt_id FROM task)",
    "task_id": "(SELECT id FROM task)",
    "author_id": "%(user)s",
    "guideline_version_id": "(SELECT id FROM version)",
}
FROM_REVIEW_ROWS = {
    "guideline_id": "task.guideline_id",
    "prompt_id": "task.prompt_id",
    "demonstration_id": "demo.id",
    "excluded_user_id": "demo.author_id",
}

SUBMIT_SQL = """
WITH task AS (
    SELECT t.id, t.guideline_id, t.prompt_id FROM labeling_task t
    WHERE t.id = %(task)s AND t.kind = 'demonstration'
    FOR UPDATE OF t
),
held AS (
    SELECT a.id FROM labeling_assignment a JOIN task ON task.id = a.task_id
    WHERE a.user_id = %(user)s AND a.status = 'leased' AND a.expires_at > %(now)s
    FOR UPDATE OF a
),
version AS (
    SELECT v.* FROM guidelines_guidelineversion v
    JOIN guidelines_acknowledgement ack ON ack.version_id = v.id AND ack.user_id = %(user)s
    WHERE v.guideline_id = (SELECT guideline_id FROM task)
    ORDER BY v.number DESC LIMIT 1
),
demo AS (
    INSERT INTO labeling_demonstration AS d ({demonstration_columns})
    SELECT {demonstration_values}
    WHERE EXISTS (SELECT 1 FROM held) AND EXISTS (SELECT 1 FROM version)
    ON CONFLICT DO NOTHING
    RETURNING {returned}
),
finished AS (
    UPDATE labeling_assignment a SET status = 'submitted', finished_at = %(now)s
    FROM held, demo WHERE a.id = held.id
),
counted AS (
    UPDATE labeling_task t SET
        submitted_count = t.submitted_count + 1,
        leased_count = t.leased_count - 1,
        status = CASE WHEN t.submitted_count >= t.wanted - 1 THEN 'done' ELSE t.status END
    FROM demo WHERE t.id = demo.task_id
),
review AS (
    INSERT INTO labeling_task ({review_columns})
    SELECT {review_values} FROM demo, task
)
SELECT demo.*, {version_columns} FROM demo, version
"""


def _insert_parts(model: type[Model], from_rows: dict[str, str], prefix: str) -> tuple[str, str]:
    """The column list and values of an INSERT into `model`'s table: the columns named in
    `from_rows` from the statement's rows, every other one a parameter `prefix_column`."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if not field.primary_key:
            columns.append(field.column)
            values.append(from_rows.get(field.attname, f"%({prefix}_{field.column})s"))
    return ", ".join(columns), ", ".join(values)


def _insert_params(instance: Model, from_rows: dict[str, str], prefix: str) -> dict[str, object]:
    """The parameters _insert_parts named: `instance`'s values as the ORM would save them
    (defaults, and the time for auto_now fields). A field given only a db_default would
    need leaving out of the INSERT instead: none of these models has one."""
    return {
        f"{prefix}_{field.column}": field.get_db_prep_save(
            field.pre_save(instance, True), connection
        )
        for field in instance._meta.concrete_fields
        if not field.primary_key and field.attname not in from_rows
    }


@cache
def _statement() -> str:
    """Built once per process: the text depends on nothing but the models, so the
    connection's prepared statement serves every submission."""
    demonstration_columns, demonstration_values = _insert_parts(
        Demonstration, FROM_DEMONSTRATION_ROWS, "d"
    )
    review_columns, review_values = _insert_parts(Task, FROM_REVIEW_ROWS, "r")
    return SUBMIT_SQL.format(
        demonstration_columns=demonstration_columns,
        demonstration_values=demonstration_values,
        returned=", ".join(columns_sql(Demonstration, "d")),
        review_columns=review_columns,
        review_values=review_values,
        version_columns=", ".join(columns_sql(GuidelineVersion, "version")),
    )


def demonstration_submit_in_one_statement(
    *, author_id: int, task_id: int, text: str, time_spent_s: int, idempotency_key: str
) -> Demonstration | None:
    """The demonstration saved, or None when the statement did nothing (see above)."""
    demonstration = Demonstration(
        content=text, time_spent_s=time_spent_s, idempotency_key=idempotency_key
    )
    review = Task(kind=Task.Kind.REVIEW, wanted=settings.LABELING_APPROVALS_REQUIRED)
    params = {
        **_insert_params(demonstration, FROM_DEMONSTRATION_ROWS, "d"),
        **_insert_params(review, FROM_REVIEW_ROWS, "r"),
        "user": author_id,
        "task": task_id,
        "now": timezone.now(),
    }
    row = prepared_row(_statement(), params)
    if row is None:
        return None
    saved, version = instances_from(row, [Demonstration, GuidelineVersion])
    saved.guideline_version = version
    return saved
