"""PostgreSQL as Django has it, with the per-request connection health check skipped
while the connection is busy.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request
on a reused connection: a round trip as long as the queue's whole "next task" statement.
A connection that finished a request under a second ago is taken as alive. The cost: if
PostgreSQL restarts in that second, that connection's next request fails once, and Django
then closes it (it checks connections after an error), so the one after reconnects.
"""

import time

from django.db.backends.postgresql import base

# A connection used more recently than this is not checked again.
RECENTLY_USED_S = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _last_request_boundary = float("-inf")

    def close_if_unusable_or_obsolete(self) -> None:
        # Django calls this at the start and at the end of every request.
        super().close_if_unusable_or_obsolete()
        now = time.monotonic()
        if self.connection is not None and now - self._last_request_boundary < RECENTLY_USED_S:
            self.health_check_done = True
        self._last_request_boundary = now
