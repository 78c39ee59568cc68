"""Requests generated from /api/schema/ against a served platform on PostgreSQL.

Every operation gets valid and invalid input (schemathesis' positive and negative modes),
half of it aimed at objects that exist, so views get past their 404s. No answer may be a
5xx, and every answer must be one the schema documents, in the documented shape.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import user_create
from dataset_io.models import DatasetSnapshot, ImportJob
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_publish,
)
from jobs.models import JobStatus
from labeling.models import Task
from labeling.queue import task_next_for_user
from labeling.services import demonstration_submit, prompt_create
from rankings.services import comparison_create
from sources.models import ModelSource
from tests.conftest import PASSWORD, free_port
from trainer.models import DraftJob, GenerationJob, ModelVersion, TrainingRun

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the API fuzz runs on PostgreSQL, as CI does (DATABASE_URL=postgres://...)",
)

# About 1,000 requests in all over the ~50 operations: a few minutes at most.
POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Left out: the playground and /v1 ask the inference process for model work, which this
# server does not start (tests/trainer/test_playground_api.py and tests/serving send
# them real requests, through the openai client too).
EXCLUDED_PATHS = ["/api/models/{model_id}/chat/", "/v1/models", "/v1/chat/completions"]
REQUEST_TIMEOUT_S = 30


@dataclass
class KnownObjects:
    """Ids of objects that exist, by the path parameter names the schema uses."""

    slug: str
    number: int
    task_id: int
    demonstration_id: int
    comparison_id: int
    snapshot_id: int
    import_id: int
    generation_id: int
    drafts_id: int
    source_id: int
    run_id: int
    model_id: int
    schedule_id: int

    def path_parameters(self, path: str) -> dict[str, object]:
        job_ids = {"/api/imports/": self.import_id, "/api/drafts/": self.drafts_id}
        values: dict[str, object] = {
            "slug": self.slug,
            "number": self.number,
            "task_id": self.task_id,
            "demonstration_id": self.demonstration_id,
            "comparison_id": self.comparison_id,
            "snapshot_id": self.snapshot_id,
            # Imports, drafts and generations all name their id job_id.
            "job_id": next(
                (pk for prefix, pk in job_ids.items() if path.startswith(prefix)),
                self.generation_id,
            ),
            "source_id": self.source_id,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "schedule_id": self.schedule_id,
        }
        return {name: value for name, value in values.items() if "{" + name + "}" in path}


def _world(root) -> KnownObjects:  # type: ignore[no-untyped-def]
    """One of each kind of object, owned so that root (a superuser) can act on each."""
    alice = user_create(username="alice", password=PASSWORD, roles=["labeler"])
    user_create(username="bob", password=PASSWORD, roles=["reviewer"])
    # Nobody is offered a task on their own writing: carol writes, root and alice answer.
    carol = user_create(username="carol", password=PASSWORD, roles=["admin"])
    guideline = guideline_create(slug="style", title="House style")
    published = version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Be brief\n", summary="first", author=root
        )
    )
    version_draft_create(guideline=guideline, body="# Be briefer\n", summary="", author=root)
    for user in (root, alice):
        acknowledgement_create(user=user, version=published)
    prompts = [
        prompt_create(
            author=carol,
            guideline=guideline,
            messages=[{"role": "user", "content": f"Explain topic {i}."}],
            require_acknowledgement=False,
        )
        for i in range(3)
    ]
    written = task_next_for_user(user=alice, kind=Task.Kind.DEMONSTRATION)
    demonstration, _ = demonstration_submit(
        author=alice, task_id=written.task_id, content="A short, careful answer."
    )
    held = task_next_for_user(user=root, kind=Task.Kind.DEMONSTRATION)
    comparison = comparison_create(
        prompt=prompts[2],
        candidates=[{"content": f"Reply {i}", "model": "m"} for i in range(3)],
        overlap=2,
        created_by=root,
    )

    exports = Path(settings.DATA_DIR) / "exports" / "fuzz"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "train.jsonl").write_text('{"messages": []}\n')
    now = timezone.now()
    snapshot = DatasetSnapshot.objects.create(
        kind=DatasetSnapshot.Kind.SFT,
        status=JobStatus.SUCCEEDED,
        files={"train": "exports/fuzz/train.jsonl"},
        counts={"train": 1},
        started_at=now,
        finished_at=now,
        created_by=root,
    )
    import_job = ImportJob.objects.create(
        format=ImportJob.Format.PROMPTS, guideline=guideline, file="imports/none.jsonl"
    )
    run = TrainingRun.objects.create(
        kind="sft",
        status=JobStatus.SUCCEEDED,
        snapshot=snapshot,
        progress=1.0,
        started_at=now,
        finished_at=now,
    )
    model = ModelVersion.objects.create(
        kind="sft", run=run, snapshot=snapshot, path="runs/fuzz/model"
    )
    generation = GenerationJob.objects.create(model=model, prompts=[prompts[0].pk])
    # A source nothing answers for: its check is refused at once instead of waiting.
    source = ModelSource.objects.create(
        name="nobody", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m"
    )
    drafts = DraftJob.objects.create(model=model, origin_name=model.name, prompts=[prompts[0].pk])
    # The migrations' beat entries are there in a fresh database, gone after a flush.
    schedule = PeriodicTask.objects.order_by("pk").first() or PeriodicTask.objects.create(
        name="hourly export",
        task="trainer.tasks.export_scheduled",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS),
    )
    return KnownObjects(
        slug=guideline.slug,
        number=published.number,
        task_id=held.task_id,
        demonstration_id=demonstration.pk,
        comparison_id=comparison.pk,
        snapshot_id=snapshot.pk,
        import_id=import_job.pk,
        generation_id=generation.pk,
        drafts_id=drafts.pk,
        source_id=source.pk,
        run_id=run.pk,
        model_id=model.pk,
        schedule_id=schedule.pk,
    )


def _token(base_url: str, username: str) -> str:
    answer = requests.post(
        f"{base_url}/api/auth/token/",
        json={"username": username, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT_S,
    )
    answer.raise_for_status()
    return answer.json()["token"]


@dataclass
class FuzzRun:
    """Where the cases go, and what came back: status codes and failure reports."""

    base_url: str
    headers: dict[str, str]
    known: KnownObjects
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def send(self, case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(
            base_url=self.base_url, headers=self.headers, timeout=REQUEST_TIMEOUT_S
        )
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except FailureGroup as group:
            self.failures.append(f"{case.operation.label}: {group}")

    def fuzz(self, operation, mode: GenerationMode, examples: int) -> None:  # type: ignore[no-untyped-def]
        """Send `examples` cases of `operation`, half of them aimed at objects that exist;
        after the first 3 failures of an operation, the rest of its cases are not sent."""
        cases = operation.as_strategy(generation_mode=mode)
        aimed = self.known.path_parameters(operation.path)
        if aimed:
            cases = st.one_of(
                cases, operation.as_strategy(generation_mode=mode, path_parameters=aimed)
            )
        failures_before = len(self.failures)

        @hypothesis_settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def send(case) -> None:  # type: ignore[no-untyped-def]
            if len(self.failures) - failures_before < 3:
                self.send(case)

        try:
            send()
        except Unsatisfiable:
            # An operation with no parameters and no body has nothing to make invalid.
            assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no valid input"


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_generated_requests_get_no_server_error_and_documented_answers(live_server, root):
    known = _world(root)
    headers = {"Authorization": f"Token {_token(live_server.url, root.username)}"}
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json", headers=headers, timeout=REQUEST_TIMEOUT_S
    ).exclude(path=EXCLUDED_PATHS)

    # Revoking the token the requests are sent with goes last: after it, every answer is 401.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.label == "DELETE /api/auth/token/",
    )
    assert len(operations) > 40, "the schema lost most of its operations"

    run = FuzzRun(base_url=live_server.url, headers=headers, known=known)
    for operation in operations:
        run.fuzz(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
        run.fuzz(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
    assert not run.failures, "\n\n".join(run.failures)
    # The requests got past authentication and validation often enough to mean something.
    statuses = run.statuses
    print(f"{statuses.total()} requests, status codes: {dict(sorted(statuses.items()))}")
    assert statuses.total() > 700
    assert sum(n for code, n in statuses.items() if code < 300) > 150
