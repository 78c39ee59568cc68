"""Moving imports and snapshots from the trainer app to the datasets app keeps every row:
the tables are renamed, the foreign keys that point at them follow, and so do their content
types and the scheduled export's beat entry. Runs on SQLite and on PostgreSQL
(DATABASE_URL=postgres://...)."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import PeriodicTask

from dataset_io.models import DatasetSnapshot, ImportedLine, ImportJob
from jobs.models import JobsRecovery
from trainer.models import ModelVersion, TrainingRun

# The last state before the move: the job machinery already in its own app.
BEFORE_THE_MOVE = [
    ("trainer", "0010_jobs_recovery_moved"),
    ("jobs", "0002_recovery_task_renamed"),
    ("datasets", None),
]
MOVED = ["importjob", "importedline", "datasetsnapshot"]
RECOVERY_RAN_AT = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)


def migrate(targets=None):
    """Migrate to `targets` (every app's latest when None); the apps of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    # A fresh loader: the one that migrated caches the graph as it was applied. A target
    # of (app, None) is no node: that app's migrations are simply not in the state.
    nodes = [target for target in targets if target[1] is not None]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def before_the_move():
    apps = migrate(BEFORE_THE_MOVE)
    yield apps
    # Whatever the test found, the next tests get the latest schema.
    migrate()


def rows_written_before_the_move(apps) -> dict[str, int]:
    """Through the historical models, as an install at trainer 0010 holds them."""
    user = apps.get_model("auth", "User").objects.create(username="carol")
    guideline = apps.get_model("guidelines", "Guideline").objects.create(
        slug="imported", title="Imported"
    )
    job = apps.get_model("trainer", "ImportJob").objects.create(
        format="alpaca",
        guideline=guideline,
        file="uploads/imports/three.jsonl",
        status="succeeded",
        lines_total=3,
        lines_done=3,
        counts={"demonstrations": 3},
        created_by=user,
    )
    line = apps.get_model("trainer", "ImportedLine").objects.create(key="a" * 64, job=job)
    snapshot = apps.get_model("trainer", "DatasetSnapshot").objects.create(
        kind="sft",
        status="succeeded",
        counts={"train": 3, "validation": 0},
        files={"train": "exports/1/train.jsonl"},
        fingerprint="f" * 64,
        created_by=user,
    )
    run = apps.get_model("trainer", "TrainingRun").objects.create(
        kind="sft", status="succeeded", progress=1.0, snapshot=snapshot
    )
    version = apps.get_model("trainer", "ModelVersion").objects.create(
        kind="sft", run=run, snapshot=snapshot, path=f"runs/{run.pk}/model"
    )
    apps.get_model("jobs", "JobsRecovery").objects.update_or_create(
        pk=1, defaults={"ran_at": RECOVERY_RAN_AT, "resent": 7}
    )
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MOVED:
        content_types.get_or_create(app_label="trainer", model=model)
    # A flush between tests may have emptied the table the migrations filled.
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name="Export datasets when the data changed (hourly)",
        defaults={
            "task": "trainer.tasks.export_when_changed",
            "interval": apps.get_model(
                "django_celery_beat", "IntervalSchedule"
            ).objects.get_or_create(every=1, period="hours")[0],
        },
    )
    return {
        "job": job.pk,
        "line": line.pk,
        "snapshot": snapshot.pk,
        "run": run.pk,
        "version": version.pk,
        "user": user.pk,
        "guideline": guideline.pk,
    }


@pytest.mark.django_db(transaction=True)
def test_imports_snapshots_and_what_points_at_them_survive_the_move(before_the_move):
    ids = rows_written_before_the_move(before_the_move)

    migrate()

    job = ImportJob.objects.get(pk=ids["job"])
    assert (job.format, job.status, job.counts) == ("alpaca", "succeeded", {"demonstrations": 3})
    assert (job.guideline_id, job.created_by_id) == (ids["guideline"], ids["user"])
    assert ImportedLine.objects.get(pk=ids["line"]).job == job
    snapshot = DatasetSnapshot.objects.get(pk=ids["snapshot"])
    assert (snapshot.counts, snapshot.fingerprint) == ({"train": 3, "validation": 0}, "f" * 64)
    assert TrainingRun.objects.get(pk=ids["run"]).snapshot == snapshot
    assert ModelVersion.objects.get(pk=ids["version"]).snapshot == snapshot
    assert list(snapshot.training_runs.values_list("pk", flat=True)) == [ids["run"]]
    recovery = JobsRecovery.objects.get(pk=1)
    assert (recovery.ran_at, recovery.resent) == (RECOVERY_RAN_AT, 7)
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", "model")) == {
        ("datasets", model) for model in MOVED
    }
    entry = PeriodicTask.objects.get(name="Export datasets when the data changed (hourly)")
    assert entry.task == "dataset_io.tasks.export_when_changed"


@pytest.mark.django_db(transaction=True)
def test_the_database_still_guards_the_foreign_keys_into_the_renamed_tables(before_the_move):
    ids = rows_written_before_the_move(before_the_move)

    migrate()

    # Raw SQL, past Django's on_delete: only the database's own constraints can refuse.
    for table, pk in [
        ("datasets_datasetsnapshot", ids["snapshot"]),
        ("datasets_importjob", ids["job"]),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
    # New rows get ids after the old ones: the id sequences came along with the tables.
    assert DatasetSnapshot.objects.create(kind="sft").pk > ids["snapshot"]
    assert (
        ImportJob.objects.create(format="alpaca", guideline_id=ids["guideline"], file="x").pk
        > ids["job"]
    )
