"""The embedded Celery broker: message files that are never seen half-written.

kombu's filesystem transport creates a message file in the queue folder empty, then locks
and writes it, while consumers list that folder and move away whatever they find. A
consumer that lists the file between creation and write reads nothing, fails to decode it
and the Celery worker stops with "Unrecoverable error: JSONDecodeError". This transport
keeps kombu's layout (one file per message, named `<time>_<uuid>.<queue>.msg`) and changes
how files move:

- a producer writes the message into a staging folder, fsyncs it and renames it into the
  queue folder; a rename within one filesystem is atomic, so a consumer sees either no file
  or the whole message;
- a consumer claims a file by renaming it into a claimed folder (only one consumer can win
  that rename, where kombu's reader could copy a file across filesystems that another
  reader was copying too), then reads it;
- a file that still does not decode to a message (a stray file dropped into the folder, a
  disk that filled up) is moved into a broken folder with a log line, and the consumer goes
  on with the next message instead of crashing;
- a new exchange table (which queues a fanout exchange such as Celery's remote control
  reaches) appears whole, where kombu created it empty and then filled it.

Why this design and not the alternatives: kombu's SQLAlchemy transport on SQLite would add
a second writer to the database file the platform already writes to (SQLite serializes
writers, so every poll would contend with requests and jobs), and a Redis server that the
platform starts itself would be one more process to install, supervise and keep in step
with DATA_DIR. Message files need no server and no extra process; Redis remains the broker
for production deployments (CELERY_BROKER_URL=redis://...).

`filesystem://` URLs open this transport because config/celery.py calls
`use_for_filesystem_urls()`, which points kombu's alias for the scheme here. Every process
of the platform imports config/celery.py before it connects to a broker (Django's settings
live in the `config` package, whose __init__ imports the Celery app; workers and beat load
it with `-A config`). Celery's `broker_transport` setting was the other way, and the wrong
one: it overrides the scheme of every URL the app connects to, so a connection to a Redis
URL from the same app (a health check of another broker) would open message files.
"""

import logging
import os
import time
import uuid
from functools import cached_property
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem, virtual
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

MESSAGE_SUFFIX = ".msg"


def embedded_broker_options(broker_dir: Path) -> dict[str, Any]:
    """Transport options for a broker kept in `broker_dir`, its folders created.

    Every folder sits under `broker_dir`, so the renames between them stay on one
    filesystem and remain atomic.
    """
    folders = {
        "data_folder_in": "queue",
        "data_folder_out": "queue",
        "staging_folder": "staging",
        "claimed_folder": "claimed",
        "broken_folder": "broken",
        "processed_folder": "processed",
        "control_folder": "control",
    }
    options: dict[str, Any] = {}
    for option, name in folders.items():
        folder = broker_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        options[option] = str(folder)
    options["store_processed"] = False
    # Kombu's default of one poll a second puts a second on every task's latency; listing
    # a nearly empty folder ten times a second costs next to nothing.
    options["polling_interval"] = 0.1
    return options


def _is_message(payload: object) -> bool:
    """Whether `payload` has what kombu needs to build a message from it."""
    if not isinstance(payload, dict):
        return False
    properties = payload.get("properties")
    return isinstance(properties, dict) and "delivery_tag" in properties


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic publishing and a reader that survives bad files."""

    def _option_folder(self, option: str, default_name: str) -> Path:
        # Without the option, a hidden folder inside the queue folder: the same
        # filesystem, and its name never matches a queue's message files.
        folder = Path(
            self.transport_options.get(option) or Path(self.data_folder_out) / default_name
        )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @cached_property
    def staging_folder(self) -> Path:
        return self._option_folder("staging_folder", ".staging")

    @cached_property
    def claimed_folder(self) -> Path:
        return self._option_folder("claimed_folder", ".claimed")

    @cached_property
    def broken_folder(self) -> Path:
        return self._option_folder("broken_folder", ".broken")

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        # Wall-clock nanoseconds, zero-padded: names sort in publishing order across
        # processes (and hosts sharing DATA_DIR), which keeps the queue first in, first out.
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}{MESSAGE_SUFFIX}"
        staged = self.staging_folder / name
        try:
            with open(staged, "xb") as file:
                file.write(dumps(payload).encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            os.rename(staged, Path(self.data_folder_out) / name)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise filesystem.ChannelError(f"Cannot add message {name!r} to the queue") from exc

    def _get(self, queue: str) -> dict[str, Any]:
        wanted = f"{queue}{MESSAGE_SUFFIX}"
        folder = Path(self.data_folder_in)
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = self.claimed_folder / name
            try:
                os.rename(folder / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            payload = self._read_claimed(claimed)
            if payload is not None:
                return payload
        raise Empty()

    def _read_claimed(self, claimed: Path) -> dict[str, Any] | None:
        """The message in `claimed`, or None once an unreadable file is moved aside."""
        try:
            payload = loads(claimed.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:  # ValueError covers JSON and UTF-8 errors
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if _is_message(payload):
                if self.store_processed:
                    os.rename(claimed, Path(self.processed_folder) / claimed.name)
                else:
                    claimed.unlink()
                return payload
            problem = "not a kombu message"
        broken = self.broken_folder / claimed.name
        try:
            os.rename(claimed, broken)
        except OSError as exc:
            problem += f"; could not move it aside either ({exc})"
        logger.error("Skipped an unreadable message file, moved to %s (%s)", broken, problem)
        return None

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        # kombu creates a new exchange table empty and fills it afterwards, so a publisher
        # reading it in between fails to decode it. Publish a new table whole instead: link
        # a complete temporary file to the table's name, which fails if the table exists.
        table = self._exchange_file(exchange)
        if not table.exists():
            entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            self.control_folder.mkdir(parents=True, exist_ok=True)
            draft = self.staging_folder / f"{uuid.uuid4().hex}.exchange"
            draft.write_text(dumps([entry]), encoding="utf-8")
            try:
                os.link(draft, table)
                return
            except FileExistsError:
                pass  # another process created it: add the entry to that one below
            finally:
                draft.unlink()
        # The table exists: kombu updates it in place under an exclusive lock, which
        # readers wait for, and never empties it first.
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    """The embedded broker's transport (see the module's docstring)."""

    Channel = Channel
    # State of its own, so that it never mixes with kombu's filesystem transport.
    global_state = virtual.BrokerState()


def use_for_filesystem_urls() -> None:
    """Make `filesystem://` URLs open this transport in this process."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
