"""GET /healthz: is the database answering, is the broker answering, did the recovery of
stuck jobs run lately."""

import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

BROKER_TIMEOUT_S = 3.0
# Beat runs the recovery every minute: five missed runs mean nothing runs it.
RECOVERY_LATE_AFTER_S = 5 * 60


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not answering"
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    try:
        # The URL from settings, which the Celery app was configured from, so that a
        # settings override in a test reaches this check too.
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:  # kombu raises transport-specific errors
        return f"{type(exc).__name__}: {exc}"
    return None


def recovery_state() -> dict[str, object]:
    """Whether the once-a-minute recovery of stuck jobs (jobs.tasks.jobs_recover) ran
    lately. It runs from beat and when a worker starts, so a late one means no beat or no
    worker. A fresh install that never ran it is given RECOVERY_LATE_AFTER_S from its
    migration before that counts as late."""
    from jobs.models import JobsRecovery

    record = JobsRecovery.objects.filter(pk=1).first()
    now = timezone.now()
    if record is None or record.ran_at is None:
        since = (now - record.created_at).total_seconds() if record else None
        return {
            "ok": since is not None and since <= RECOVERY_LATE_AFTER_S,
            "last_run": None,
            "detail": "never run" + (f", installed {since:.0f} s ago" if since is not None else ""),
        }
    age = (now - record.ran_at).total_seconds()
    return {
        "ok": age <= RECOVERY_LATE_AFTER_S,
        "last_run": record.ran_at.isoformat(),
        "age_s": round(age),
    }


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, object]] = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        started = time.perf_counter()
        error = check()
        checks[name] = {
            "ok": error is None,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            **({"error": error} if error else {}),
        }
    # The web answers whatever the workers do: a late recovery is reported for monitoring
    # to alert on, but leaves the status, and so load balancers, alone.
    healthy = all(c["ok"] for c in checks.values())
    try:
        checks["recovery"] = recovery_state()
    except DatabaseError as exc:
        checks["recovery"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
