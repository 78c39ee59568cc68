"""The embedded broker (config/broker_files.py): whole messages, exactly once, bad files aside,
and a message deleted only once it is acknowledged."""

import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

from celery import Celery
from kombu import Connection
from kombu.transport.redis import Transport as RedisTransport

from config.broker_files import Transport, embedded_broker_options
from config.celery import app as celery_app
from tests.conftest import worker_process

PRODUCERS = 4
MESSAGES_PER_PRODUCER = 150
CONSUMERS = 3
QUEUE = "burst"


def connect(broker_dir: Path) -> Connection:
    return Connection("filesystem://", transport_options=embedded_broker_options(broker_dir))


def test_filesystem_urls_open_the_embedded_transport_and_redis_urls_stay_redis(tmp_path):
    with connect(tmp_path) as conn:
        opened = type(conn.transport)
    with celery_app.connection_for_write("redis://127.0.0.1:9/0") as other:
        other_transport = other.get_transport_cls()

    assert opened is Transport
    assert other_transport is RedisTransport


def produce(broker_dir: Path, producer: int) -> None:
    with connect(broker_dir) as conn:
        sent = conn.SimpleQueue(QUEUE)
        for number in range(MESSAGES_PER_PRODUCER):
            sent.put({"producer": producer, "number": number})
        sent.close()


def consume(broker_dir: Path, received: "multiprocessing.Queue[object]", idle_s: float) -> None:
    """Take messages until none came for `idle_s`; report each, or the error that stopped it."""
    try:
        with connect(broker_dir) as conn:
            inbox = conn.SimpleQueue(QUEUE)
            while True:
                try:
                    message = inbox.get(timeout=idle_s)
                except queue.Empty:
                    break
                received.put((message.payload["producer"], message.payload["number"]))
                message.ack()
            inbox.close()
    except Exception as exc:  # reported to the test, which fails on it
        received.put(f"{type(exc).__name__}: {exc}")


def test_every_message_of_concurrent_producers_arrives_exactly_once(tmp_path):
    broker_dir = tmp_path / "broker"
    context = multiprocessing.get_context("fork")
    received = context.Queue()
    consumers = [
        context.Process(target=consume, args=(broker_dir, received, 10.0)) for _ in range(CONSUMERS)
    ]
    producers = [
        context.Process(target=produce, args=(broker_dir, producer))
        for producer in range(PRODUCERS)
    ]
    for process in consumers + producers:
        process.start()

    expected = PRODUCERS * MESSAGES_PER_PRODUCER
    results: list[object] = []
    deadline = time.monotonic() + 120
    while len(results) < expected and time.monotonic() < deadline:
        try:
            results.append(received.get(timeout=1))
        except queue.Empty:
            if not any(process.is_alive() for process in consumers):
                break
    for process in producers + consumers:
        process.join(timeout=30)
    while True:  # anything a consumer reported after the expected count
        try:
            results.append(received.get_nowait())
        except queue.Empty:
            break

    errors = [result for result in results if isinstance(result, str)]
    messages = [result for result in results if isinstance(result, tuple)]
    assert errors == [], errors[:3]
    assert [process.exitcode for process in producers + consumers] == [0] * (PRODUCERS + CONSUMERS)
    assert len(messages) == expected
    assert set(messages) == {
        (producer, number)
        for producer in range(PRODUCERS)
        for number in range(MESSAGES_PER_PRODUCER)
    }
    assert os.listdir(broker_dir / "queue") == []
    assert os.listdir(broker_dir / "staging") == []
    assert os.listdir(broker_dir / "broken") == []


def test_a_consumer_moves_an_unreadable_file_aside_and_takes_the_next_message(tmp_path):
    broker_dir = tmp_path / "broker"
    with connect(broker_dir) as conn:
        inbox = conn.SimpleQueue(QUEUE)
        (broker_dir / "queue" / f"00000000000000000001_empty.{QUEUE}.msg").write_bytes(b"")
        (broker_dir / "queue" / f"00000000000000000002_list.{QUEUE}.msg").write_text("[1, 2]")
        inbox.put({"after": "the bad files"})

        message = inbox.get(timeout=5)
        message.ack()
        inbox.close()

    assert message.payload == {"after": "the bad files"}
    assert sorted(os.listdir(broker_dir / "broken")) == [
        f"00000000000000000001_empty.{QUEUE}.msg",
        f"00000000000000000002_list.{QUEUE}.msg",
    ]
    assert os.listdir(broker_dir / "queue") == []


def test_queues_bound_at_once_to_a_new_fanout_exchange_all_get_its_messages(tmp_path):
    """Workers starting together bind their queues to one exchange (Celery's remote control
    does): no reader ever sees a half-written exchange table, and no binding is lost."""
    # Names of its own: the transport remembers bindings for the life of the process.
    exchange = f"fan-{uuid.uuid4().hex[:8]}"
    queues = [f"{exchange}-listener-{number}" for number in range(8)]
    start = threading.Barrier(len(queues) + 1)
    errors: list[str] = []
    binding_done = threading.Event()

    def bind(queue_name: str) -> None:
        with connect(tmp_path) as conn:
            channel = conn.default_channel
            channel.exchange_declare(exchange=exchange, type="fanout")
            channel.queue_declare(queue=queue_name)
            start.wait()
            channel.queue_bind(queue=queue_name, exchange=exchange)

    def read_tables() -> None:
        with connect(tmp_path) as conn:
            channel = conn.default_channel
            start.wait()
            while not binding_done.is_set():
                try:
                    channel.get_table(exchange)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    binders = [threading.Thread(target=bind, args=(name,)) for name in queues]
    reader = threading.Thread(target=read_tables)
    for thread in [*binders, reader]:
        thread.start()
    for thread in binders:
        thread.join(timeout=30)
    binding_done.set()
    reader.join(timeout=30)

    with connect(tmp_path) as conn:
        channel = conn.default_channel
        channel.exchange_declare(exchange=exchange, type="fanout")
        channel.basic_publish(channel.prepare_message("to all"), exchange=exchange, routing_key="")
        delivered = sorted(name for name in queues if channel.basic_get(name, no_ack=True))

    assert errors == [], errors[:3]
    assert delivered == sorted(queues)


def test_a_real_worker_survives_stray_files_in_its_queue_folder(child_env, tmp_path, caplog):
    """An empty and a garbage file where the worker looks: it sets them aside and runs the task.

    Both configurations run this on the embedded broker, which is what it is about.
    """
    broker_dir = tmp_path / "broker"
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    # The worker reads settings, so the broker folder follows DATA_DIR; point both at one.
    env = {
        **child_env,
        "DATA_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_RESULT_BACKEND": f"file://{results_dir}",
    }
    # Celery prefers the CELERY_BROKER_URL variable to an app's own broker, so the sender
    # names its connection instead (the PostgreSQL + Redis run sets that variable).
    sender = Celery("broker-test", backend=f"file://{results_dir}")
    sender.conf.broker_transport_options = embedded_broker_options(broker_dir)
    embedded = sender.connection_for_write("filesystem://")
    task_queue = f"stray-{uuid.uuid4().hex[:8]}"
    queue_folder = broker_dir / "queue"
    stray_names = [f"00000000000000000001_{kind}.{task_queue}.msg" for kind in ("empty", "junk")]
    (queue_folder / stray_names[0]).write_bytes(b"")
    (queue_folder / stray_names[1]).write_bytes(b"\xff\xfe not json")

    with embedded, worker_process(env, queue=task_queue) as worker:
        answer = sender.send_task(
            "config.ping", kwargs={"payload": "still here"}, queue=task_queue, connection=embedded
        ).get(timeout=90)
        second = sender.send_task("config.ping", queue=task_queue, connection=embedded).get(
            timeout=30
        )
        still_running = worker.poll() is None

    assert answer["payload"] == "still here"
    assert second["payload"] == "pong"
    assert still_running
    assert sorted(os.listdir(broker_dir / "broken")) == sorted(stray_names)


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, as paths relative to it (folders left out)."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def queue_of_its_own() -> str:
    """A queue name no earlier test bound: the transport remembers bindings for the life of
    the process, and would not write a binding it knows into a new broker folder."""
    return f"acks-{uuid.uuid4().hex[:8]}"


def take_without_ack(
    broker_dir: Path, queue_name: str, taken: "multiprocessing.Queue[object]"
) -> None:
    """Take one message, report it, and hold it unacknowledged until killed."""
    with connect(broker_dir) as conn:
        inbox = conn.SimpleQueue(queue_name)
        message = inbox.get(timeout=30)
        taken.put(message.payload)
        time.sleep(120)


def test_a_message_held_by_a_consumer_killed_with_sigkill_goes_to_the_next_consumer(tmp_path):
    broker_dir = tmp_path / "broker"
    queue_name = queue_of_its_own()
    with connect(broker_dir) as conn:
        conn.SimpleQueue(queue_name).put({"task": "slow"})
    context = multiprocessing.get_context("fork")
    taken = context.Queue()
    consumer = context.Process(target=take_without_ack, args=(broker_dir, queue_name, taken))
    consumer.start()
    first_delivery = taken.get(timeout=30)
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join(timeout=30)
    held_by_the_dead = files_under(broker_dir / "claimed")

    with connect(broker_dir) as conn:  # the next consumer to start
        inbox = conn.SimpleQueue(queue_name)
        second_delivery = inbox.get(timeout=5)
        second_delivery.ack()
        inbox.close()

    assert first_delivery == {"task": "slow"}
    assert consumer.exitcode == -signal.SIGKILL
    assert len(held_by_the_dead) == 1
    assert held_by_the_dead[0].startswith(f"{socket.gethostname()}-{consumer.pid}/")
    assert second_delivery.payload == {"task": "slow"}
    assert files_under(broker_dir / "claimed") == []
    assert os.listdir(broker_dir / "queue") == []


def test_an_unacked_message_waits_in_its_claimed_file_and_an_acked_one_leaves_none(tmp_path):
    broker_dir = tmp_path / "broker"
    queue_name = queue_of_its_own()
    with connect(broker_dir) as conn:
        inbox = conn.SimpleQueue(queue_name)
        inbox.put({"number": 1})
        message = inbox.get(timeout=5)
        while_unacked = files_under(broker_dir / "claimed")
        message.ack()
        after_ack = files_under(broker_dir / "claimed")
        inbox.close()

    assert message.payload == {"number": 1}
    assert len(while_unacked) == 1
    assert while_unacked[0].startswith(f"{socket.gethostname()}-{os.getpid()}/")
    assert while_unacked[0].endswith(f".{queue_name}.msg")
    assert after_ack == []
    assert os.listdir(broker_dir / "queue") == []


def test_a_requeued_and_a_restored_message_return_to_the_queue_and_a_rejected_one_is_gone(
    tmp_path,
):
    broker_dir = tmp_path / "broker"
    queue_name = queue_of_its_own()
    with connect(broker_dir) as conn:
        inbox = conn.SimpleQueue(queue_name)
        inbox.put({"fate": "requeued"})
        published = os.listdir(broker_dir / "queue")
        inbox.get(timeout=5).requeue()
        after_requeue = os.listdir(broker_dir / "queue")
        requeued = inbox.get(timeout=5)
        requeued.reject()
        inbox.put({"fate": "left unacked at shutdown"})
        published_second = os.listdir(broker_dir / "queue")
        inbox.get(timeout=5)
        inbox.close()
    # Closing the connection restored the unacknowledged message into the queue.
    after_shutdown = os.listdir(broker_dir / "queue")
    with connect(broker_dir) as conn:
        inbox = conn.SimpleQueue(queue_name)
        restored = inbox.get(timeout=5)
        restored.ack()
        inbox.close()

    # Both went back as the very file that was published, keeping their place in the queue.
    assert after_requeue == published
    assert requeued.payload == {"fate": "requeued"}
    assert after_shutdown == published_second
    assert restored.payload == {"fate": "left unacked at shutdown"}
    assert files_under(broker_dir / "claimed") == []
    assert os.listdir(broker_dir / "queue") == []
