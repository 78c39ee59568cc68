"""Gunicorn's access log, written by a thread of its own.

Each worker thread would otherwise format and write its access line before taking the
next request; here it only takes the line's fields (the time included) and queues them,
and one writer thread per process formats and writes them, in order.
"""

import atexit
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
        self._writer_starting = threading.Lock()

    def access(self, resp, req, environ, request_time) -> None:  # type: ignore[no-untyped-def]
        if not self.access_log_enabled:
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        self._writer_ensure()
        with contextlib.suppress(queue.Full):
            self._lines.put_nowait(atoms)

    def _writer_ensure(self) -> None:
        # One writer per worker process, started after gunicorn forked it (threads do not
        # survive a fork), by whichever request thread logs first.
        if self._writer_pid == os.getpid():
            return
        with self._writer_starting:
            if self._writer_pid == os.getpid():
                return
            threading.Thread(target=self._write, name="access-log", daemon=True).start()
            atexit.register(self._drain)
            self._writer_pid = os.getpid()

    def _write(self) -> None:
        while True:
            self._emit(self._lines.get())

    def _drain(self) -> None:
        """What is still queued when the worker exits."""
        while True:
            try:
                atoms = self._lines.get_nowait()
            except queue.Empty:
                return
            self._emit(atoms)

    def _emit(self, atoms) -> None:  # type: ignore[no-untyped-def]
        try:
            self.access_log.info(self.cfg.access_log_format, atoms)
        except Exception:  # one bad line must not end the writer
            self.exception("Could not write an access line")
