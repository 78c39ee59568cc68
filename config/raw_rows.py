"""Model instances from hand-written SQL, for the few hot queries written out by hand
(compiling their querysets cost more than running them).

`columns_sql(model, alias)` lists a model's columns for a SELECT; `instances_from(row,
models)` turns the values of such a row back into instances, converted as the ORM
converts what it reads (JSON text to Python, say).
"""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model


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
