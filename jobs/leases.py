"""One process at a time for work that may be asked for from several at once (a scoring
pass sent by beat every minute, by itself when it ran out of time, and after every
promotion). A row per name, taken by one conditional UPDATE, so it holds across worker
processes and hosts on PostgreSQL and SQLite alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.utils import timezone

from jobs.models import Lease


@contextmanager
def leased(name: str, seconds: float) -> Iterator[bool]:
    """True inside when this process took `name` (for `seconds` at most, given back on
    leaving), False when another holds it."""
    holder = uuid.uuid4().hex
    now = timezone.now()
    Lease.objects.get_or_create(name=name, defaults={"until": now})
    taken = Lease.objects.filter(name=name, until__lte=now).update(
        holder=holder, until=now + timedelta(seconds=seconds)
    )
    try:
        yield bool(taken)
    finally:
        if taken:
            Lease.objects.filter(name=name, holder=holder).update(until=timezone.now())
