"""Training runs: queue one, run it in a worker, keep what it made as a model version.

A run is claimed atomically (queued, or running with a heartbeat gone quiet), so two
deliveries of the same task never train twice, and a run whose worker died is taken
over by the next one and resumes from its last checkpoint."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import fields
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from config.errors import InputError
from dataset_io.export_rows import sft_rows
from dataset_io.exporting import snapshot_exported
from dataset_io.fingerprints import snapshot_reusable
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from jobs.services import (
    Heartbeat,
    JobCancelled,
    JobLost,
    JobStateError,
    held,
    job_cancel,
    job_claim,
    job_send,
)
from trainer.ml.methods import (
    REWARD,
    TrainingData,
    TrainingMethod,
    UnknownMethod,
    method_kinds_producing,
    training_method,
    training_methods,
)
from trainer.models import ModelVersion, TrainingRun
from trainer.priorities import scoring_send
from trainer.training_config import (
    REWARD_MODEL_KEY,
    base_model_checked,
    base_model_fits,
    base_model_path,
    config_checked,
    promoted_reward_model,
)

logger = logging.getLogger(__name__)

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
    try:
        method = training_method(kind)
    except UnknownMethod:
        raise InputError("kind", " or ".join(m.name for m in training_methods()) + ".") from None
    if snapshot is not None:
        if snapshot.kind not in method.snapshot_kinds:
            wanted = " or ".join(method.snapshot_kinds)
            raise InputError("snapshot", f"A {kind} run trains on a {wanted} snapshot.")
        if snapshot.status != JobStatus.SUCCEEDED:
            raise InputError("snapshot", f"Snapshot {snapshot.pk} is {snapshot.status}.")
        if snapshot.counts.get("train") == 0:
            # Refused now rather than failed later: a DPO or reward run needs ranked pairs.
            raise InputError("snapshot", f"Snapshot {snapshot.pk} has no training rows.")
    checked = config_checked(config, method)
    base_model = base_model_fits(base_model_checked(base_model), method)
    if method.wants_reward_model:
        # Chosen now, so every attempt of the run scores with the same model.
        checked[REWARD_MODEL_KEY] = promoted_reward_model().pk
    with transaction.atomic():
        run = TrainingRun.objects.create(
            kind=kind,
            snapshot=snapshot,
            base_model=base_model,
            config=checked,
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
    method = training_method(run.kind)
    snapshot = _snapshot_for(run, report, should_stop=should_stop, should_suspend=should_suspend)
    data_dir = Path(settings.DATA_DIR)
    train_file = data_dir / snapshot.files["train"]
    validation_file = (
        data_dir / snapshot.files["validation"]
        if snapshot.counts.get("validation") and "validation" in snapshot.files
        else None
    )
    # The method's module, and with it torch, is imported only here, where a run trains.
    config_type = method.config_type()
    names = {f.name for f in fields(config_type)}
    config = config_type.from_dict(
        {
            **{k: v for k, v in run.config.items() if k in names},
            "output_dir": str(data_dir / run.output_dir),
            "base_model": base_model_path(run.base_model),
        }
    )
    report.log(f"training on snapshot {snapshot.pk} ({snapshot.counts.get('train', 0)} rows)")
    data = TrainingData(
        train_file,
        validation_file,
        approved_conversations() if method.wants_demonstrations else None,
        reward_model_path(run) if method.wants_reward_model else None,
    )
    train_with = _train_in_processes if settings.TRAINING_PROCESSES > 1 else _train_here
    model_dir = train_with(
        method, config, data, report, should_stop=should_stop, should_suspend=should_suspend
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
            config={
                **{k: v for k, v in vars(config).items() if k != "output_dir"},
                **{k: v for k, v in run.config.items() if k == REWARD_MODEL_KEY},
            },
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


def _train_here(
    method: TrainingMethod,
    config,
    data: TrainingData,
    report: RunReport,
    *,
    should_stop,
    should_suspend,
) -> Path:
    """Training in this worker process."""
    from trainer.ml.cpu_threads import threads_apply
    from trainer.ml.loop import train

    report.log(f"CPU threads for training: {threads_apply(config.threads)}")
    trained = train(
        method.build(config, data),
        config,
        on_event=report,
        should_stop=should_stop,
        should_suspend=should_suspend,
    )
    return trained.model_dir


def _train_in_processes(
    method: TrainingMethod,
    config,
    data: TrainingData,
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
    argv = ["--train", str(data.train), "--output-dir", str(output)]
    argv += ["--config", json.dumps(settings_json)]
    if data.validation:
        argv += ["--validation", str(data.validation)]
    if config.base_model:
        argv += ["--base-model", config.base_model]
    if data.reward_model:
        argv += ["--reward-model", str(data.reward_model)]
    if data.demonstrations:
        demonstrations = output / "demonstrations.jsonl"
        with demonstrations.open("w", encoding="utf-8") as out:
            for messages in data.demonstrations:
                out.write(json.dumps({"messages": messages}) + "\n")
        argv += ["--demonstrations", str(demonstrations)]

    def on_event(event: dict) -> None:
        if event["type"] == "started":
            pids = ", ".join(map(str, event["pids"]))
            report.log(f"training in {len(event['pids'])} processes (pids {pids})")
        else:
            report(event)

    done = train_in_processes(
        module=method.module,
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
    """The run's snapshot; for a run queued without one, a published snapshot of the same
    data if there is one, else a fresh export made now and remembered before it is
    written, so a resumed attempt trains on the same data. An
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
        kind = training_method(run.kind).snapshot_kinds[0]
        reused = snapshot_reusable(kind, {}, {})
        if reused is not None:
            if not report.rows().update(snapshot=reused):
                raise report.lost()
            report.log(f"snapshot {reused.pk} holds the same data: training on it")
            run.snapshot = reused
            return reused
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


def reward_model_path(run: TrainingRun) -> Path:
    """The saved reward model the run was given when it was queued."""
    version = ModelVersion.objects.get(pk=run.config[REWARD_MODEL_KEY])
    return Path(settings.DATA_DIR) / version.path


def approved_conversations() -> list[list[dict]] | None:
    """Approved demonstrations, which the reward model's scores are centred on."""
    rows = islice(sft_rows({}, {}), DEMONSTRATIONS_FOR_BIAS)
    found = [row.data["messages"] for row in rows if isinstance(row.data, dict)]
    return found or None


def model_promote(*, version: ModelVersion) -> ModelVersion:
    """The one promoted model of what it produces: promoting a DPO policy unpromotes the SFT
    model that was promoted, as generation, drafts and serving use one policy. Kinds no
    method is registered for any more are only exclusive with their own kind."""
    kinds = method_kinds_producing(version.produces) if version.produces else [version.kind]
    with transaction.atomic():
        # Every version of the product locked first: two promotions at once, of an SFT and
        # a DPO model say, take turns, and the second unpromotes the first.
        rivals = ModelVersion.objects.select_for_update().filter(kind__in=kinds)
        list(rivals.values_list("pk", flat=True))
        rivals.filter(promoted=True).exclude(pk=version.pk).update(promoted=False)
        ModelVersion.objects.filter(pk=version.pk).update(promoted=True, promoted_at=timezone.now())
    version.refresh_from_db()
    if version.produces == REWARD:
        # Every open comparison is due for the new model's scores, and the queue's order.
        scoring_send()
    return version
