"""Gunicorn's access log, written by a thread of its own.

Each worker thread would otherwise format and write its access line before taking the
next request; here it only queues the request's objects, and one writer thread per
process formats and writes them, in order.
"""

import contextlib
import os
import queue
import threading

from gunicorn.glogging import Logger

# Lines waiting beyond this are dropped rather than slowing requests down.
QUEUE_LIMIT = 10_000


class QueuedAccessLogger(Logger):
    def __init__(self, cfg) -> None:  # type: ignore[no-untyped-def]
        super().__init__(cfg)
        self._lines: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._writer_pid: int | None = None

    def access(self, resp, req, environ, request_time) -> None:  # type: ignore[no-untyped-def]
        # The writer starts in the worker that logs, after gunicorn forked it: threads do
        # not survive a fork.
        if self._writer_pid != os.getpid():
            self._writer_pid = os.getpid()
            threading.Thread(target=self._write, name="access-log", daemon=True).start()
        with contextlib.suppress(queue.Full):
            self._lines.put_nowait((resp, req, environ, request_time))

    def _write(self) -> None:
        while True:
            line = self._lines.get()
            try:
                super().access(*line)
            except Exception:  # one bad line must not end the writer
                self.exception("Could not write an access line")
