"""Training runs: queue one, run it in a worker, keep what it made as a model version.

A run is claimed atomically (queued, or running with a heartbeat gone quiet), so two
deliveries of the same task never train twice, and a run whose worker died is taken
over by the next one and resumes from its last checkpoint."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from config.errors import InputError
from labeling.models import Demonstration
from rankings.models import Ranking
from trainer.export_rows import sft_rows
from trainer.exporting import snapshot_exported
from trainer.jobs import (
    Heartbeat,
    JobCancelled,
    JobLost,
    JobStateError,
    held,
    job_cancel,
    job_claim,
    job_send,
)
from trainer.models import DatasetSnapshot, JobStatus, ModelVersion, TrainingRun
from trainer.training_config import (
    base_model_checked,
    base_model_path,
    config_checked,
)

logger = logging.getLogger(__name__)

# The snapshot kinds each run kind trains on, the first being what a fresh export makes.
SNAPSHOT_KINDS = {
    TrainingRun.Kind.SFT: [DatasetSnapshot.Kind.SFT],
    TrainingRun.Kind.REWARD: [DatasetSnapshot.Kind.RANKINGS, DatasetSnapshot.Kind.PREFERENCE],
}
LOG_LINES_KEPT = 500
# A thousand replies pin their mean score down well; scoring them all only costs time.
DEMONSTRATIONS_FOR_BIAS = 1000


def training_run_create(
    *,
    kind: str,
    snapshot: DatasetSnapshot | None = None,
    base_model: str = "",
    config: dict | None = None,
    created_by=None,
    enqueue: bool = True,
) -> TrainingRun:
    if kind not in TrainingRun.Kind.values:
        raise InputError("kind", "sft or reward.")
    if snapshot is not None:
        if snapshot.kind not in SNAPSHOT_KINDS[kind]:
            wanted = " or ".join(SNAPSHOT_KINDS[kind])
            raise InputError("snapshot", f"A {kind} run trains on a {wanted} snapshot.")
        if snapshot.status != JobStatus.SUCCEEDED:
            raise InputError("snapshot", f"Snapshot {snapshot.pk} is {snapshot.status}.")
    with transaction.atomic():
        run = TrainingRun.objects.create(
            kind=kind,
            snapshot=snapshot,
            base_model=base_model_checked(base_model),
            config=config_checked(config),
            created_by=created_by,
        )
        if enqueue:
            job_send(run)
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run stops at once; a running one at its next step, keeping its checkpoint."""
    try:
        return job_cancel(run)
    except JobStateError as exc:
        raise InputError("status", str(exc)) from exc


class RunReport:
    """Turns the trainer's events into the run's progress, metrics, history and logs."""

    def __init__(self, run: TrainingRun, attempt: int, echo: Callable[[dict], None] | None = None):
        self.run = run
        self.attempt = attempt
        self.echo = echo
        self.history: list[dict] = list(run.history)
        self.metrics: dict = dict(run.metrics)
        self.lines: list[str] = run.logs.splitlines()

    def rows(self):
        """The run's row while this attempt holds it."""
        return held(TrainingRun, self.run.pk, self.attempt)

    def lost(self) -> JobLost:
        return JobLost(f"training run {self.run.pk} is no longer held by attempt {self.attempt}")

    def log(self, line: str) -> None:
        self._write(logs=self.appended(line))

    def appended(self, line: str) -> str:
        """The logs with `line` added, for a write of one's own."""
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines = [*self.lines, f"{stamp} {line}"][-LOG_LINES_KEPT:]
        return "\n".join(self.lines)

    def _write(self, **update) -> int:
        """Rows written, or -1 when the database failed: that costs this write only, as
        history, metrics and logs are written whole each time and the next catches up."""
        try:
            return self.rows().update(**update)
        except DatabaseError:
            logger.warning("progress of training run %s not written", self.run.pk, exc_info=True)
            return -1

    def __call__(self, event: dict) -> None:
        if self.echo:
            self.echo(event)
        kind = event["type"]
        update: dict[str, object] = {}
        if kind == "resumed":
            # Steps logged after the checkpoint will be trained again: forget them.
            self.history = [h for h in self.history if h["step"] <= event["step"]]
            update.update(history=self.history, step=event["step"])
            self.log(f"resumed from the checkpoint at step {event['step']}")
        elif kind == "progress":
            record = finite(event["metrics"])
            self.history.append(record)
            self.metrics.update({k: v for k, v in record.items() if k != "elapsed_s"})
            update.update(
                progress=min(1.0, float(event["progress"])),
                step=event["step"],
                total_steps=event["total_steps"],
                eta_s=event["eta_s"],
                metrics=self.metrics,
                history=self.history,
            )
            raw = event["metrics"]  # a NaN loss shows as nan here
            self.log(
                f"step {event['step']}/{event['total_steps']} loss {raw['loss']:.4f} "
                f"lr {raw['lr']:.2e}"
            )
        elif kind == "eval":
            metrics = finite(event["metrics"])
            self.history.append({"step": event["step"], "eval": metrics})
            self.metrics.update(metrics)
            update.update(metrics=self.metrics, history=self.history)
            shown = ", ".join(f"{k} {v:.4g}" for k, v in event["metrics"].items())
            self.log(f"evaluation at step {event['step']}: {shown}")
        elif kind == "checkpoint":
            self.log(f"checkpoint at step {event['step']}")
        if update and not self._write(heartbeat_at=timezone.now(), **update):
            raise self.lost()


def finite(metrics: dict) -> dict:
    """NaN and infinities (a diverging run) as None: JSON, and so the database, has no
    such numbers."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()
    }


def run_execute(
    *,
    run_id: int,
    echo: Callable[[dict], None] | None = None,
    should_suspend: Callable[[], bool] = lambda: False,
) -> TrainingRun | None:
    """Train a claimed run to the end. None when another worker holds it. Once
    `should_suspend()` (the worker is shutting down) the run is checkpointed at its next
    step and handed back `queued`, for the caller to send again."""
    attempt = job_claim(TrainingRun, run_id)
    if attempt is None:
        return None
    run = TrainingRun.objects.get(pk=run_id)
    report = RunReport(run, attempt, echo)
    report.log(f"attempt {attempt} started")
    with Heartbeat(TrainingRun, run.pk, attempt) as heartbeat:
        try:
            _train(
                run, report, should_stop=heartbeat.cancelled.is_set, should_suspend=should_suspend
            )
        except Exception as exc:
            from trainer.ml.loop import Cancelled, Suspended

            if heartbeat.lost.is_set() or isinstance(exc, JobLost):
                # Whoever holds the run now writes its outcome.
                logger.warning("training run %s: attempt %s lost the run", run.pk, attempt)
            elif isinstance(exc, Suspended):
                _hand_back(report, exc.step)
            else:
                status = JobStatus.CANCELLED if isinstance(exc, Cancelled) else JobStatus.FAILED
                if status == JobStatus.FAILED:
                    logger.exception("training run %s failed", run.pk)
                report.log(f"{status}: {exc}")
                report.rows().update(
                    status=status,
                    error="" if status == JobStatus.CANCELLED else f"{type(exc).__name__}: {exc}",
                    finished_at=timezone.now(),
                )
    run.refresh_from_db()
    return run


def _hand_back(report: RunReport, step: int | None) -> None:
    """Queued again for the next worker, through this attempt's rows: an attempt that lost
    the run writes nothing. A run cancelled meanwhile is closed instead, as nobody would
    claim it again."""
    where = f"checkpointed at step {step}" if step is not None else "no new checkpoint"
    line = f"worker stopping: {where}, run handed back"
    rows = report.rows()
    if not rows.filter(cancel_requested=False).update(
        status=JobStatus.QUEUED, logs=report.appended(line)
    ):
        rows.update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            logs=report.appended("cancelled"),
        )


def _train(run: TrainingRun, report: RunReport, *, should_stop, should_suspend) -> ModelVersion:
    # Imported here: the web process never loads torch for pages that don't train.
    from trainer.ml.loop import TrainConfig

    snapshot = _snapshot_for(run, report, should_stop=should_stop, should_suspend=should_suspend)
    data_dir = Path(settings.DATA_DIR)
    train_file = data_dir / snapshot.files["train"]
    validation_file = (
        data_dir / snapshot.files["validation"]
        if snapshot.counts.get("validation") and "validation" in snapshot.files
        else None
    )
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig.from_dict(
        {
            **{k: v for k, v in run.config.items() if k in names},
            "output_dir": str(data_dir / run.output_dir),
            "base_model": base_model_path(run.base_model),
        }
    )
    report.log(f"training on snapshot {snapshot.pk} ({snapshot.counts.get('train', 0)} rows)")
    files = TrainingFiles(
        train_file,
        validation_file,
        approved_conversations() if run.kind == TrainingRun.Kind.REWARD else None,
    )
    if settings.TRAINING_PROCESSES > 1:
        model_dir = _train_in_processes(
            run, config, files, report, should_stop=should_stop, should_suspend=should_suspend
        )
    else:
        model_dir = _train_here(
            run, config, files, report, should_stop=should_stop, should_suspend=should_suspend
        )
    # The last evaluation event put the final metrics into the report.
    final = dict(report.metrics)
    with transaction.atomic():
        # The model version and the run's success are one commit: a worker dying between
        # them would leave a retried run that trains again and cannot save.
        if not report.rows().select_for_update().exists():
            raise report.lost()
        version = ModelVersion.objects.create(
            kind=run.kind,
            run=run,
            snapshot=snapshot,
            guideline_versions=snapshot.guideline_versions,
            base_model=run.base_model,
            config={k: v for k, v in vars(config).items() if k != "output_dir"},
            metrics=final,
            path=str(model_dir.relative_to(data_dir)),
        )
        # One write, no error swallowed: a failed statement inside a transaction would
        # leave PostgreSQL refusing the rest of it.
        if not report.rows().update(
            metrics=final,
            status=JobStatus.SUCCEEDED,
            progress=1.0,
            eta_s=0,
            finished_at=timezone.now(),
            logs=report.appended(f"saved as model version {version.pk}"),
        ):
            raise report.lost()
    return version


@dataclass(frozen=True)
class TrainingFiles:
    train: Path
    validation: Path | None
    # Reward runs only: what the trained scores are centred on.
    demonstrations: list[list[dict]] | None


def _train_here(
    run: TrainingRun, config, files: TrainingFiles, report, *, should_stop, should_suspend
) -> Path:
    """Training in this worker process."""
    from trainer.ml.data import conversations_read, groups_read
    from trainer.ml.loop import train
    from trainer.ml.reward import Reward
    from trainer.ml.sft import SFT

    validation = files.validation
    if run.kind == TrainingRun.Kind.SFT:
        method = SFT(
            config,
            conversations_read(files.train),
            conversations_read(validation) if validation else None,
        )
    else:
        method = Reward(
            config,
            groups_read(files.train),
            groups_read(validation) if validation else None,
            demonstrations=files.demonstrations,
        )
    trained = train(
        method, config, on_event=report, should_stop=should_stop, should_suspend=should_suspend
    )
    return trained.model_dir


def _train_in_processes(
    run: TrainingRun,
    config,
    files: TrainingFiles,
    report: RunReport,
    *,
    should_stop,
    should_suspend,
) -> Path:
    """Training in TRAINING_PROCESSES processes this worker starts (trainer.processes)."""
    from trainer.processes import ProcessesFailed, train_in_processes

    count = settings.TRAINING_PROCESSES
    if config.batch_size < count:
        # Each process needs a share of every batch.
        raise ProcessesFailed(
            f"batch_size {config.batch_size} is smaller than TRAINING_PROCESSES {count}"
        )
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    settings_json = {k: v for k, v in vars(config).items() if k not in ("output_dir", "base_model")}
    argv = ["--train", str(files.train), "--output-dir", str(output)]
    argv += ["--config", json.dumps(settings_json)]
    if files.validation:
        argv += ["--validation", str(files.validation)]
    if config.base_model:
        argv += ["--base-model", config.base_model]
    if files.demonstrations:
        demonstrations = output / "demonstrations.jsonl"
        with demonstrations.open("w", encoding="utf-8") as out:
            for messages in files.demonstrations:
                out.write(json.dumps({"messages": messages}) + "\n")
        argv += ["--demonstrations", str(demonstrations)]

    def on_event(event: dict) -> None:
        if event["type"] == "started":
            pids = ", ".join(map(str, event["pids"]))
            report.log(f"training in {len(event['pids'])} processes (pids {pids})")
        else:
            report(event)

    done = train_in_processes(
        module=f"trainer.ml.{'sft' if run.kind == TrainingRun.Kind.SFT else 'reward'}",
        argv=argv,
        count=count,
        log_dir=output / "processes",
        on_event=on_event,
        should_stop=should_stop,
        should_suspend=should_suspend,
    )
    return Path(done["model_dir"])


def _snapshot_for(
    run: TrainingRun, report: RunReport, *, should_stop, should_suspend
) -> DatasetSnapshot:
    """The run's snapshot; for a run queued without one, a fresh export made now and
    remembered before it is written, so a resumed attempt trains on the same data. An
    earlier attempt's export left unfinished is claimed through the job machinery like any
    export: written here if it is orphaned or failed, waited for if another worker (the
    recovery sends orphaned snapshots to the default worker too) is still writing it."""
    from trainer.ml.loop import Cancelled, Suspended

    if run.snapshot_id:
        snapshot = DatasetSnapshot.objects.get(pk=run.snapshot_id)
        if snapshot.status == JobStatus.SUCCEEDED:
            return snapshot
        # Runs are only queued on published snapshots: this is the run's own fresh export,
        # left unfinished by an earlier attempt.
        report.log(f"snapshot {snapshot.pk} left unfinished by an earlier attempt")
    else:
        kind = SNAPSHOT_KINDS[run.kind][0]
        with transaction.atomic():
            # Made and tied to the run together: a lost attempt leaves no stray snapshot.
            snapshot = DatasetSnapshot.objects.create(kind=kind, created_by=run.created_by)
            if not report.rows().update(snapshot=snapshot):
                raise report.lost()
        report.log(f"exporting a fresh {kind} snapshot ({snapshot.pk})")
    try:
        exported = snapshot_exported(
            snapshot_id=snapshot.pk,
            should_stop=lambda: should_stop() or should_suspend(),
            log=report.log,
        )
    except JobCancelled:
        # While waiting for another worker's export: a stopping worker hands the run back
        # (no checkpoint yet), a cancel ends it.
        raise Suspended(None) if should_suspend() else Cancelled() from None
    run.snapshot = exported
    return exported


def approved_conversations() -> list[list[dict]] | None:
    """Approved demonstrations, which the reward model's scores are centred on."""
    rows = islice(sft_rows({}, {}), DEMONSTRATIONS_FOR_BIAS)
    found = [row.data["messages"] for row in rows if isinstance(row.data, dict)]
    return found or None


def model_promote(*, version: ModelVersion) -> ModelVersion:
    with transaction.atomic():
        ModelVersion.objects.filter(kind=version.kind, promoted=True).exclude(pk=version.pk).update(
            promoted=False
        )
        ModelVersion.objects.filter(pk=version.pk).update(promoted=True, promoted_at=timezone.now())
    version.refresh_from_db()
    return version


def runs_start_when_enough_data() -> list[TrainingRun]:
    """The scheduled retraining: a run of each kind whose new data passed its threshold
    since that kind's last run, unless one is already queued or running."""
    started = []
    counts = {
        TrainingRun.Kind.SFT: (
            settings.TRAINING_RETRAIN_MIN_DEMONSTRATIONS,
            lambda since: Demonstration.objects.filter(
                status=Demonstration.Status.APPROVED, updated_at__gt=since
            ).count(),
        ),
        TrainingRun.Kind.REWARD: (
            settings.TRAINING_RETRAIN_MIN_RANKINGS,
            lambda since: Ranking.objects.filter(created_at__gt=since).count(),
        ),
    }
    for kind, (threshold, arrived) in counts.items():
        runs = TrainingRun.objects.filter(kind=kind)
        if runs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            continue
        last = runs.order_by("-created_at").first()
        since = last.created_at if last else datetime(1970, 1, 1, tzinfo=UTC)
        if arrived(since) >= threshold:
            started.append(training_run_create(kind=kind))
    return started
