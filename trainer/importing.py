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

from config.parsers import unstorable_text_found
from guidelines.services import GuidelineError
from labeling.models import Prompt
from labeling.services import demonstration_import, prompt_create, prompt_for_import
from labeling.validation import LabelingInputError
from rankings.services import comparison_create, comparison_import
from trainer.imports import alpaca, hh_rlhf, jsonl, oasst
from trainer.imports.reading import import_lines, import_lines_counted
from trainer.imports.records import (
    CandidatesRecord,
    DemonstrationRecord,
    LineError,
    PreferenceRecord,
    PromptRecord,
    Record,
)
from trainer.models import ImportedLine, ImportJob, JobStatus

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
    if ImportedLine.objects.filter(key=key).exists():
        counts["duplicate_lines"] += 1
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
    except LabelingInputError as exc:
        return f"{exc.field}: {exc}"
    except GuidelineError as exc:
        return str(exc)
    counts["lines_imported"] += 1
    return None


def import_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job; None if another worker already claimed it."""
    claimed = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("guideline").get(pk=job_id)
    path = Path(settings.DATA_DIR) / job.file
    job.lines_total = import_lines_counted(path)
    job.save(update_fields=["lines_total"])
    author = source_user(job.format)
    counts: Counter = Counter()
    errors: list[dict[str, object]] = []
    try:
        with transaction.atomic() if job.strict else nullcontext():
            for number, line, unreadable in import_lines(path):
                reason = unreadable or _import_line(job, number, line, author, counts)
                if reason is not None:
                    errors.append({"line": number, "reason": reason})
                job.lines_done += 1
                if job.lines_done % PROGRESS_EVERY == 0 and not job.strict:
                    ImportJob.objects.filter(pk=job.pk).update(
                        lines_done=job.lines_done, counts=dict(counts)
                    )
            if job.strict and errors:
                raise _StrictRollback
    except _StrictRollback:
        counts = Counter({"lines_rolled_back": counts["lines_imported"]})
    job.counts = dict(counts)
    job.errors = errors[:MAX_REPORTED_ERRORS]
    job.error_count = len(errors)
    # A file of which not one line could be imported (binary, UTF-16) failed as a whole.
    job.status = (
        JobStatus.FAILED
        if errors and (job.strict or not counts["lines_imported"] + counts["duplicate_lines"])
        else JobStatus.SUCCEEDED
    )
    job.finished_at = timezone.now()
    job.save(
        update_fields=["lines_done", "counts", "errors", "error_count", "status", "finished_at"]
    )
    return job
