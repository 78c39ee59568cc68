from django_celery_beat.models import PeriodicTask

from dataset_io.exporting import snapshot_export
from dataset_io.importing import import_run
from dataset_io.models import DatasetSnapshot
from dataset_io.tasks import export_when_changed
from tests.datasets.conftest import FIXTURES


def test_the_schedule_is_an_editable_beat_entry(db):
    entry = PeriodicTask.objects.get(task="dataset_io.tasks.export_when_changed")

    assert entry.enabled
    assert (entry.interval.every, entry.interval.period) == (1, "hours")


def test_a_scheduled_export_runs_only_when_the_data_changed(queue_import, settings):
    settings.EXPORT_SCHEDULED_KINDS = ["sft"]
    import_run(job_id=queue_import(FIXTURES / "alpaca-three.jsonl", "alpaca").pk)

    first = export_when_changed()
    unchanged = export_when_changed()
    import_run(
        job_id=queue_import('{"instruction": "Count to two.", "output": "1, 2"}', "alpaca").pk
    )
    changed = export_when_changed()

    assert len(first) == 1 and unchanged == [] and len(changed) == 1
    counts = [sum(s.counts.values()) for s in DatasetSnapshot.objects.order_by("id")]
    assert counts == [3, 4]


def test_the_schedule_reuses_any_published_snapshot_of_the_same_data(queue_import, settings):
    settings.EXPORT_SCHEDULED_KINDS = ["sft"]
    import_run(job_id=queue_import(FIXTURES / "alpaca-three.jsonl", "alpaca").pk)
    # Exported by hand, with the options the API spells out.
    by_hand = DatasetSnapshot.objects.create(
        kind="sft", options={"gzip": False, "pairs": "all", "validation_permille": 50}
    )
    snapshot_export(snapshot_id=by_hand.pk)
    gzipped = DatasetSnapshot.objects.create(kind="sft", options={"gzip": True})
    snapshot_export(snapshot_id=gzipped.pk)

    assert export_when_changed() == []
    assert DatasetSnapshot.objects.count() == 2
    by_hand.refresh_from_db()
    assert by_hand.fingerprint != DatasetSnapshot.objects.get(pk=gzipped.pk).fingerprint
