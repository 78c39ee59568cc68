"""Model instances from hand-written SQL, for the few hot queries written out by hand
(compiling their querysets cost more than running them).

`columns_sql(model, alias)` lists a model's columns for a SELECT; `instances_from(row,
models)` turns the values of such a row back into instances, converted as the ORM
converts what it reads (JSON text to Python, say); `prepared_row(sql, params)` runs such
a statement prepared, on PostgreSQL.
"""

import time
from collections.abc import Sequence

import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import Field, Model
from psycopg.types.numeric import Int8


def columns_sql(model: type[Model], alias: str) -> list[str]:
    return [f"{alias}.{field.column}" for field in model._meta.concrete_fields]


def _converted(field: Field, value: object) -> object:
    for converter in field.get_db_converters(connection):
        value = converter(value, None, connection)
    return value


def instances_from(values: Sequence[object], models: Sequence[type[Model]]) -> list[Model]:
    """One instance per model, from consecutive runs of `values` laid out as
    columns_sql laid out the columns; whatever follows the last run is left out."""
    instances, at = [], 0
    for model in models:
        fields = model._meta.concrete_fields
        row = values[at : at + len(fields)]
        converted = [_converted(field, value) for field, value in zip(fields, row, strict=True)]
        names = [field.attname for field in fields]
        instances.append(model.from_db(connection.alias, names, converted))
        at += len(fields)
    return instances


# A threshold no query reaches by count: psycopg then prepares only what asks to be.
ONLY_WHEN_ASKED = 2**31


def _ints_as_bigint(params: dict[str, object]) -> dict[str, object]:
    """psycopg types an int by its value (smallint, integer, bigint) and keeps one prepared
    statement per set of types: ids crossing 32,767 would plan the statement again, per
    connection. As bigint whatever their size, they share one."""
    return {name: Int8(value) if type(value) is int else value for name, value in params.items()}


def prepared_row(sql: str, params: dict[str, object]) -> tuple | None:
    """Run a hot statement and return its first row, prepared on the connection on first
    use.

    Planning the queue's statements took longer than running them. Django binds
    parameters on the client and leaves psycopg's preparing off (for connection poolers in
    transaction mode); these statements are sent with server-side binding and prepared
    explicitly unless DATABASE_PREPARED_QUEUE is off (for a pooler that cannot keep
    prepared statements).
    """
    connection.ensure_connection()
    prepare = settings.DATABASE_PREPARED_QUEUE
    raw = connection.connection
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        # Django turns psycopg's preparing off for the whole connection (a threshold of
        # None), and psycopg then ignores prepare=True as well: the statement was planned
        # afresh every time. Allowed for these statements alone; Django's own queries are
        # still never prepared.
        django_threshold = raw.prepare_threshold
        if prepare:
            raw.prepare_threshold = ONLY_WHEN_ASKED
        try:
            cursor.execute(sql, _ints_as_bigint(params), prepare=prepare)
        finally:
            raw.prepare_threshold = django_threshold
        row = cursor.fetchone()
    if connection.queries_logged:
        # Counted as Django counts its own queries (tests, the benchmark's statements).
        duration = time.monotonic() - started
        connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})
    return row
