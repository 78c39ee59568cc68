"""Several clients sending at the same moment, each on its own database connection."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

Answer = TypeVar("Answer")


def sent_at_once(count: int, send: Callable[[], Answer]) -> list[Answer]:
    """`send()` from `count` threads released together; their answers in thread order.

    The test must commit what the threads read (transactional_db): each thread has its
    own connection, closed when it is done so the test database can be dropped.
    """
    start = threading.Barrier(count)

    def one(_: int) -> Answer:
        start.wait(timeout=30)
        try:
            return send()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))
