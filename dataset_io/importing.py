"""Running an import job: parse each line, apply its records, report each bad line.

Each line is its own savepoint, so a bad line rolls back alone and good lines are kept;
with `strict` the whole file is one transaction that is rolled back if any line is bad.
A line's content hash is recorded once applied, so importing the same file again adds
nothing (and a job retried after its worker died skips what it had already done).
"""

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.errors import InputError
from config.parsers import unstorable_text_found
from dataset_io.imports import alpaca, hh_rlhf, jsonl, oasst
from dataset_io.imports.reading import import_lines, import_lines_counted
from dataset_io.imports.records import (
    CandidatesRecord,
    DemonstrationRecord,
    LineError,
    PreferenceRecord,
    PromptRecord,
    Record,
)
from dataset_io.models import ImportedLine, ImportJob
from guidelines.services import GuidelineError
from jobs.models import JobStatus
from jobs.services import Attempt, JobCancelled, job_execute
from labeling.models import Prompt
from labeling.services import demonstration_import, prompt_create, prompt_for_import
from rankings.services import comparison_create, comparison_import

PARSERS: dict[str, Callable[[str], list[Record]]] = {
    ImportJob.Format.HH_RLHF: hh_rlhf.parse_line,
    ImportJob.Format.OASST: oasst.parse_line,
    ImportJob.Format.ALPACA: alpaca.parse_line,
    ImportJob.Format.PROMPTS: jsonl.parse_prompt_line,
    ImportJob.Format.CANDIDATES: jsonl.parse_candidates_line,
}
MAX_REPORTED_ERRORS = 1000
PROGRESS_EVERY = 100


class _StrictRollback(Exception):
    pass


def source_user(format: str) -> AbstractBaseUser:
    """The account imported labels are attributed to: one per source, never able to log in."""
    user, created = get_user_model().objects.get_or_create(
        username=f"source:{format}", defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def line_key(format: str, line: str) -> str:
    return hashlib.sha256(f"{format}\n{line.strip()}".encode()).hexdigest()


def _apply(record: Record, *, job: ImportJob, author: AbstractBaseUser, counts: Counter) -> None:
    guideline = job.guideline
    if isinstance(record, PromptRecord):
        if record.category not in Prompt.Category.values:
            raise LineError(f"unknown category {record.category!r}")
        prompt_create(
            author=None,
            guideline=guideline,
            messages=record.messages,
            category=record.category,
            language=record.language,
            source=Prompt.Source.IMPORTED,
            require_acknowledgement=False,
            flag_near_duplicates=False,
        )
        counts["prompts"] += 1
    elif isinstance(record, DemonstrationRecord):
        prompt = prompt_for_import(
            guideline=guideline, messages=record.messages, language=record.language
        )
        demonstration_import(
            prompt=prompt, author=author, content=record.content, source=job.format
        )
        counts["demonstrations"] += 1
    elif isinstance(record, PreferenceRecord):
        prompt = prompt_for_import(
            guideline=guideline, messages=record.messages, language=record.language
        )
        comparison_import(
            prompt=prompt,
            replies=record.replies,
            models=record.models,
            ranking=record.ranking,
            rater=author,
            source=job.format,
        )
        counts["rankings"] += 1
    elif isinstance(record, CandidatesRecord):
        prompt = prompt_for_import(guideline=guideline, messages=record.messages)
        comparison_create(
            prompt=prompt,
            overlap=record.overlap,
            created_by=job.created_by,
            candidates=[
                {"content": r, "model": m}
                for r, m in zip(record.replies, record.models, strict=True)
            ],
        )
        counts["comparisons"] += 1


def _import_line(job: ImportJob, number: int, line: str, author, counts: Counter) -> str | None:  # type: ignore[no-untyped-def]
    """Apply one line; the reason it was refused, or None."""
    key = line_key(job.format, line)
    imported_by = ImportedLine.objects.filter(key=key).values_list("job_id", flat=True)[:1]
    if imported_by:
        # Imported by an earlier attempt of this very job (its worker died): skipped, but
        # counted as this job's.
        counts["lines_imported" if imported_by[0] == job.pk else "duplicate_lines"] += 1
        return None
    try:
        with transaction.atomic():
            for record in PARSERS[job.format](line):
                if found := unstorable_text_found(dataclasses.asdict(record)):
                    raise LineError("{}: contains {}".format(*found))
                _apply(record, job=job, author=author, counts=counts)
            ImportedLine.objects.create(key=key, job=job)
    except LineError as exc:
        return str(exc)
    except InputError as exc:
        return f"{exc.field}: {exc}"
    except GuidelineError as exc:
        return str(exc)
    counts["lines_imported"] += 1
    return None


def import_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job, or take over one whose worker died (the lines it imported are
    skipped); None if another worker holds it."""
    return job_execute(ImportJob, job_id, _import)


def _import(attempt: Attempt) -> None:
    job = ImportJob.objects.select_related("guideline").get(pk=attempt.pk)
    job.lines_done = 0  # a taken-over job counts again from the first line
    path = Path(settings.DATA_DIR) / job.file
    job.lines_total = import_lines_counted(path)
    if not attempt.rows().update(lines_total=job.lines_total):
        raise attempt.lost()
    author = source_user(job.format)
    counts: Counter = Counter()
    errors: list[dict[str, object]] = []
    try:
        with transaction.atomic() if job.strict else nullcontext():
            for number, line, unreadable in import_lines(path):
                if attempt.should_stop():
                    raise JobCancelled  # in strict mode, rolls back what it imported
                reason = unreadable or _import_line(job, number, line, author, counts)
                if reason is not None:
                    errors.append({"line": number, "reason": reason})
                job.lines_done += 1
                if job.lines_done % PROGRESS_EVERY == 0 and not job.strict:
                    progress = {"lines_done": job.lines_done, "counts": dict(counts)}
                    if not attempt.rows().update(heartbeat_at=timezone.now(), **progress):
                        raise attempt.lost()
            if job.strict and errors:
                raise _StrictRollback
    except _StrictRollback:
        counts = Counter({"lines_rolled_back": counts["lines_imported"]})
    attempt.finish(
        lines_done=job.lines_done,
        counts=dict(counts),
        errors=errors[:MAX_REPORTED_ERRORS],
        error_count=len(errors),
        # A file of which not one line could be imported (binary, UTF-16) failed as a whole.
        status=JobStatus.FAILED
        if errors and (job.strict or not counts["lines_imported"] + counts["duplicate_lines"])
        else JobStatus.SUCCEEDED,
    )
