"""Sending a Celery task from a web request: within seconds, whatever the broker does.

Every app sends through here, jobs and the apps below them alike (a refresh the rankings
app asks of a worker, say), so it lives on the ground floor.
"""

from django.conf import settings
from kombu.exceptions import OperationalError

from config.errors import Unavailable

# A web request waits this long at most for a broker that does not answer.
PUBLISH_TIMEOUT_S = 2.0
# One reconnect: a pooled connection the broker dropped is replaced once, a broker that
# is down is reported instead of waited for.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


class BrokerUnavailable(Unavailable):
    """The broker refused or did not answer in time: the job was not sent, and no row was
    left, so the client may simply send it again."""

    code = "broker_unavailable"


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def task_publish(
    name: str, *, args: list | None = None, ignore_result: bool = True, **options: object
) -> str:
    """Send task `name` now, over a connection of its own with a short timeout, and return
    its id; BrokerUnavailable when the broker refused or did not answer. For every message
    a web request sends: it must answer within seconds whatever the broker does.

    Jobs keep their outcome in their row, so by default nothing is asked of the result
    store: with Redis as both, a Redis that is down would otherwise fail the send in the
    result store's own reconnect loop (a RuntimeError after its retries) before the
    broker's short timeout is reached."""
    from config.celery import app

    try:
        # The URL in settings (which a test may override), with a connect timeout:
        # Redis's default is to wait for ever on an unreachable host.
        with app.connection_for_write(
            settings.CELERY_BROKER_URL,
            connect_timeout=PUBLISH_TIMEOUT_S,
            transport_options={
                "socket_connect_timeout": PUBLISH_TIMEOUT_S,
                "socket_timeout": PUBLISH_TIMEOUT_S,
            },
        ) as conn:
            sent = app.send_task(
                name,
                args=args or [],
                connection=conn,
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
                ignore_result=ignore_result,
                **options,
            )
    except (OperationalError, OSError, RuntimeError) as exc:
        # RuntimeError: the result store gave up reconnecting (a caller that wants a result).
        raise BrokerUnavailable(
            f"The job queue is not answering ({error_text(exc)}); try again shortly."
        ) from exc
    return sent.id
