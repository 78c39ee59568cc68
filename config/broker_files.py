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
- a consumer claims a file by renaming it into a claimed folder of its own process,
  `claimed/<hostname>-<pid>/` (only one consumer can win that rename, where kombu's reader
  could copy a file across filesystems that another reader was copying too), then reads it;
- the claimed file stays until the message is settled: deleted on acknowledgement (and on
  a reject without requeue), renamed back into the queue folder on a reject with requeue
  and when kombu restores the unacknowledged messages of a channel that closes (a warm
  shutdown). kombu's filesystem transport deleted a message as soon as it read it, so
  Celery's `acks_late` and `task_reject_on_worker_lost` could not bring anything back;
- a consumer that dies without closing its channel (killed with -9, out of memory) leaves
  its claimed folder behind: every channel that opens moves back into the queue the files
  of the claimed folders of this host whose process no longer runs, so the next worker to
  start receives them again. A recycled pid makes a dead folder look alive until that pid
  exits too, and a message redelivered this way can run twice (at least once, not exactly
  once), as with any broker that redelivers unacknowledged messages;
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

The broker folder must be on a local disk. Every guarantee above rests on rename and link
being atomic and exclusive, which they are within one local filesystem and are not on NFS
(a client retrying a rename can report success to two consumers); and a dead consumer is
recognised by its pid on this host, which means nothing to the processes of another host.

`filesystem://` URLs open this transport because config/celery.py calls
`use_for_filesystem_urls()`, which points kombu's alias for the scheme here. Every process
of the platform imports config/celery.py before it connects to a broker (Django's settings
live in the `config` package, whose __init__ imports the Celery app; workers and beat load
it with `-A config`). Celery's `broker_transport` setting was the other way, and the wrong
one: it overrides the scheme of every URL the app connects to, so a connection to a Redis
URL from the same app (a health check of another broker) would open message files.
"""

import contextlib
import logging
import os
import socket
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


def _process_is_running(pid: int) -> bool:
    """Whether process `pid` of this host still runs (a zombie, killed and not yet reaped,
    does not: it will never acknowledge anything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, run by another user
        return True
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic publishing, deletion on acknowledgement and a
    reader that survives bad files."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Queues consumed without acknowledgement: their messages are settled on delivery.
        self._no_ack_queues: set[str] = set()
        super().__init__(*args, **kwargs)
        self._requeue_claims_of_dead_consumers()

    @property
    def _claimed_files(self) -> dict[str, Path]:
        # Shared by the connection's channels: kombu may settle a message on another
        # channel than the one that read it (it rejects a message for a queue nobody
        # consumes on the connection's first channel).
        return self.connection.claimed_files

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

    @property
    def own_claimed_folder(self) -> Path:
        """This process's claimed folder (looked up per call: a forked child gets its own)."""
        folder = self.claimed_folder / f"{socket.gethostname()}-{os.getpid()}"
        folder.mkdir(exist_ok=True)
        return folder

    def _get(self, queue: str) -> dict[str, Any]:
        wanted = f"{queue}{MESSAGE_SUFFIX}"
        folder = Path(self.data_folder_in)
        names = sorted(name for name in os.listdir(folder) if name.partition(".")[2] == wanted)
        if not names:
            raise Empty()
        claimed_folder = self.own_claimed_folder
        for name in names:
            claimed = claimed_folder / name
            try:
                os.rename(folder / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            payload = self._read_claimed(claimed)
            if payload is not None:
                # A tag of this delivery's own, as AMQP gives one per delivery: a fanout
                # message carries the same published tag in every queue it reached, and
                # the tag is what finds the claimed file again.
                tag = self._next_delivery_tag()
                payload["properties"]["delivery_tag"] = tag
                self._claimed_files[tag] = claimed
                return payload
        raise Empty()

    def _settle(self, delivery_tag: str) -> None:
        """Forget the claimed file of a finished message (kept aside if store_processed)."""
        claimed = self._claimed_files.pop(delivery_tag, None)
        if claimed is None:
            return
        try:
            if self.store_processed:
                os.rename(claimed, Path(self.processed_folder) / claimed.name)
            else:
                claimed.unlink()
        except FileNotFoundError:
            pass  # already moved back by a channel that took this process for dead

    def _get_and_deliver(self, queue: str, callback: Any) -> None:
        payload = self._get(queue)
        if queue in self._no_ack_queues:
            self._settle(payload["properties"]["delivery_tag"])
        callback(payload, queue)

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any
    ) -> None:
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> None:
        self._no_ack_queues.discard(self._tag_to_queue.get(consumer_tag, ""))
        super().basic_cancel(consumer_tag)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._settle(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple=multiple)
        self._settle(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        # With requeue, kombu's QoS calls _restore_at_beginning first, which moves the
        # file back; without, the message is done with and its file goes.
        super().basic_reject(delivery_tag, requeue=requeue)
        self._settle(delivery_tag)

    def _restore(self, message: Any) -> None:
        """Put an unacknowledged message back: its claimed file returns to the queue folder
        under its old name, so it keeps its place (kombu's own restore publishes a copy)."""
        claimed = self._claimed_files.pop(message.delivery_tag, None)
        if claimed is None:
            super()._restore(message)  # not read through this connection: publish a copy
            return
        # FileNotFoundError: already moved back by a channel that took this process for dead.
        with contextlib.suppress(FileNotFoundError):
            os.rename(claimed, Path(self.data_folder_in) / claimed.name)

    def _requeue_claims_of_dead_consumers(self) -> None:
        """Move back into the queue the messages claimed by consumers of this host that
        died before settling them."""
        host_prefix = f"{socket.gethostname()}-"
        queue_folder = Path(self.data_folder_in)
        for folder in self.claimed_folder.iterdir():
            pid = folder.name.removeprefix(host_prefix)
            if not folder.name.startswith(host_prefix) or not pid.isdigit():
                continue  # another host's consumer, or not a consumer's folder
            if _process_is_running(int(pid)):
                continue
            try:
                left_behind = list(folder.iterdir())
            except FileNotFoundError:
                continue  # another starting channel emptied and removed it
            for claimed in left_behind:
                try:
                    os.rename(claimed, queue_folder / claimed.name)
                except FileNotFoundError:
                    continue  # another starting channel moved it first
                logger.warning("Requeued %s, claimed by process %s that is gone", claimed.name, pid)
            # OSError: not empty yet, or already removed; a later start tries again.
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _read_claimed(self, claimed: Path) -> dict[str, Any] | None:
        """The message in `claimed`, or None once an unreadable file is moved aside."""
        try:
            payload = loads(claimed.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:  # ValueError covers JSON and UTF-8 errors
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if _is_message(payload):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Claimed file of each unsettled message, by the delivery tag it was given when read.
        # Acks may come from other threads (Celery's thread pool); single dict operations
        # are atomic, which is all this needs.
        self.claimed_files: dict[str, Path] = {}


def use_for_filesystem_urls() -> None:
    """Make `filesystem://` URLs open this transport in this process."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
