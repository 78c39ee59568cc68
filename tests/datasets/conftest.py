import shutil
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from dataset_io.models import ImportJob
from guidelines.services import guideline_create, version_draft_create, version_publish

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(
            f"{path} is not there: the real data lives in ../shared/data beside the checkout"
        )
    return path


@pytest.fixture
def guideline(carol):
    guideline = guideline_create(slug="imported", title="Imported data")
    version_publish(
        version=version_draft_create(
            guideline=guideline, body="# Imported\n", summary="", author=carol
        )
    )
    return guideline


@pytest.fixture
def queue_import(guideline, carol, tmp_path):
    """queue_import(path or text, format, strict=False): an ImportJob waiting to run."""

    def make(source, format: str, *, strict: bool = False) -> ImportJob:
        folder = Path(settings.DATA_DIR) / "uploads" / "imports"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{tmp_path.name}-{format}-{ImportJob.objects.count()}.jsonl"
        if isinstance(source, Path):
            shutil.copyfile(source, target)
        else:
            target.write_text(source)
        return ImportJob.objects.create(
            format=format,
            guideline=guideline,
            strict=strict,
            created_by=carol,
            file=str(target.relative_to(settings.DATA_DIR)),
        )

    return make


@pytest.fixture(autouse=True)
def _own_exports_dir(settings, tmp_path):
    # Snapshot ids start again at 1 in every test database; each test exports into a
    # folder of its own (inside DATA_DIR, where the workers and downloads look).
    settings.EXPORTS_DIR = Path(settings.DATA_DIR) / "exports" / uuid.uuid4().hex


@pytest.fixture
def oasst(queue_import):
    """The real OpenAssistant trees imported: prompts, approved replies, 212 rankings."""
    from dataset_io.importing import import_run

    job = import_run(job_id=queue_import(shared_file("oasst-en-100-trees.jsonl"), "oasst").pk)
    assert job.status == "succeeded"
    return job
