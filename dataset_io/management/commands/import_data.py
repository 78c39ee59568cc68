import shutil
import sys
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dataset_io.importing import import_run
from dataset_io.models import ImportJob
from guidelines.models import Guideline


class Command(BaseCommand):
    help = "Import a file (hh-rlhf, oasst, alpaca, prompts-jsonl, candidates-jsonl), with progress."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", required=True, choices=ImportJob.Format.values)
        parser.add_argument("--guideline", required=True, help="slug of a published guideline")
        parser.add_argument("--strict", action="store_true", help="all lines or none")

    def handle(self, *args, path: Path, format: str, guideline: str, strict: bool, **options):  # type: ignore[no-untyped-def]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        target_guideline = Guideline.objects.filter(
            slug=guideline, versions__status="published"
        ).first()
        if target_guideline is None:
            raise CommandError(f"no published guideline {guideline!r}")
        folder = Path(settings.DATA_DIR) / "uploads" / "imports"
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{uuid.uuid4().hex}.jsonl"
        shutil.copyfile(path, copy)
        job = ImportJob.objects.create(
            format=format,
            guideline=target_guideline,
            strict=strict,
            original_name=path.name,
            file=str(copy.relative_to(settings.DATA_DIR)),
        )
        # The import runs here, in this process; a thread shows its progress from the
        # counters the job writes as it goes.
        done = threading.Event()
        watcher = threading.Thread(target=self._progress, args=(job.pk, done), daemon=True)
        watcher.start()
        try:
            job = import_run(job_id=job.pk)
        finally:
            done.set()
            watcher.join()
        sys.stderr.write("\n")
        self.stdout.write(f"{job.status}: {job.counts}; {job.error_count} bad line(s)")
        for error in job.errors[:20]:
            self.stdout.write(f"  line {error['line']}: {error['reason']}")
        if job.status != "succeeded":
            raise CommandError("import failed")

    def _progress(self, job_id: int, done: threading.Event) -> None:
        from django.db import connection

        while not done.wait(0.5):
            job = ImportJob.objects.filter(pk=job_id).values("lines_done", "lines_total").first()
            if job and job["lines_total"]:
                fraction = job["lines_done"] / job["lines_total"]
                bar = "#" * int(30 * fraction)
                sys.stderr.write(f"\r[{bar:<30}] {job['lines_done']}/{job['lines_total']} lines")
                sys.stderr.flush()
        connection.close()
