"""A reward run started through the platform against the same training called directly.

Both train the default reward model with the run's default settings (TrainConfig.from_dict)
on the same Anthropic HH harmless pairs from ../shared/data, written once as a preference
snapshot file:

- direct: `Reward` and `trainer.ml.loop.train` in this process, as
  benchmarks/reward_vs_trl.py drives the trainer;
- run: a TrainingRun created by the service the API calls (training_run_create, queued on
  the broker after commit) and trained by a real Celery training worker (a subprocess, solo
  pool, as the platform starts it), which reports progress to the database as it goes.

They take turns, direct then run, --rounds times, so load from other work on a shared
machine falls on both. Reported for each: pairs trained per second over the training
steps (pairs counted by the trainer divided by its own elapsed time at the last step, the
same numbers the run's history keeps), and the whole wall time: for the direct side from
building the model to the saved model, for the run from the worker claiming it to its
model version, export-free since the snapshot is given.

    .venv/bin/python benchmarks/run_vs_direct.py            # 2 rounds on 1,812 pairs
    .venv/bin/python benchmarks/run_vs_direct.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

SNAPSHOT_FILE = "exports/hh-harmless-pairs.jsonl"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 pairs, 2 steps: a smoke test")
    parser.add_argument("--pairs", type=int, default=1812, help="first HH pairs trained on")
    parser.add_argument("--rounds", type=int, default=2, help="direct-then-run turns")
    parser.add_argument(
        "--server",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument("--database", default="bench_run_vs_direct")
    return parser.parse_args()


def snapshot_write(data_dir: Path, pairs: int) -> Path:
    """The first `pairs` HH pairs as preference lines, the format an export writes."""
    from benchmarks.training_peers import records_read
    from dataset_io.imports import hh_rlhf
    from dataset_io.imports.records import PreferenceRecord

    records = records_read("hh-rlhf-harmless-sample.jsonl", hh_rlhf.parse_line)
    path = data_dir / SNAPSHOT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in [r for r in records if isinstance(r, PreferenceRecord)][:pairs]:
            better, worse = record.ranking[0][0], record.ranking[1][0]
            out.write(
                json.dumps(
                    {
                        "prompt": record.messages,
                        "chosen": [{"role": "assistant", "content": record.replies[better]}],
                        "rejected": [{"role": "assistant", "content": record.replies[worse]}],
                    }
                )
                + "\n"
            )
    return path


def step_rate(history: list[dict]) -> float:
    """Pairs per second over the training steps, from the progress records."""
    steps = [h for h in history if "pairs" in h]
    return sum(h["pairs"] for h in steps) / steps[-1]["elapsed_s"]


def direct_run(train_file: Path, output: Path, settings: dict) -> tuple[float, float]:
    from trainer.ml.cpu_threads import threads_apply
    from trainer.ml.data import groups_read
    from trainer.ml.loop import TrainConfig, train
    from trainer.ml.reward import Reward

    started = time.monotonic()
    config = TrainConfig.from_dict({**settings, "output_dir": str(output)})
    threads_apply(config.threads)
    history: list[dict] = []

    def kept(event: dict) -> None:
        if event["type"] == "progress":
            history.append(event["metrics"])

    train(Reward(config, groups_read(train_file)), config, on_event=kept)
    return step_rate(history), time.monotonic() - started


def platform_run(snapshot, settings: dict, timeout: float) -> tuple[float, float]:
    from jobs.models import JobStatus
    from trainer.models import TrainingRun
    from trainer.training import training_run_create

    run = training_run_create(kind="reward", snapshot=snapshot, config=settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            break
        time.sleep(0.5)
    if run.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"run {run.pk} ended {run.status}: {run.error}\n{run.logs}")
    assert isinstance(run, TrainingRun) and run.started_at and run.finished_at
    return step_rate(run.history), (run.finished_at - run.started_at).total_seconds()


def worker_start(env: dict) -> subprocess.Popen:
    """A training worker as the platform runs one: solo pool, the run in its own process."""
    from config.processes import celery_worker_command

    name = f"bench-{uuid.uuid4().hex[:8]}@%h"
    command = celery_worker_command(
        queues=["default", "training"],
        hostname=name,
        solo=True,
        loglevel="WARNING",
        quiet_cluster=True,
    )
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env)


def django_ready(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    """A fresh database migrated, Django set up on it; the environment the worker gets."""
    from benchmarks.next_task import recreate_database

    env = dict(
        os.environ,
        DATA_DIR=str(data_dir),
        DATABASE_URL=recreate_database(args.server, args.database),
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    os.environ.update(env)
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(migrate, cwd=REPO_ROOT, env=env, check=True)
    import django

    django.setup()
    return env


def main() -> None:
    args = parse_args()
    settings: dict[str, object] = {}
    if args.quick:
        args.pairs, args.rounds, settings = 16, 1, {"max_steps": 2}
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        env = django_ready(args, data_dir)
        from benchmarks.training_peers import table_print
        from dataset_io.models import DatasetSnapshot
        from jobs.models import JobStatus

        train_file = snapshot_write(data_dir, args.pairs)
        snapshot = DatasetSnapshot.objects.create(
            kind=DatasetSnapshot.Kind.PREFERENCE,
            status=JobStatus.SUCCEEDED,
            files={"train": SNAPSHOT_FILE},
            counts={"train": args.pairs},
        )
        load = os.getloadavg()
        print(
            f"{args.pairs} HH pairs, run defaults {settings or '(all)'}, {args.rounds} rounds; "
            f"load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        rows, rates = [], {"direct": [], "run": []}
        worker = worker_start(env)
        try:
            for n in range(args.rounds):
                found = {
                    "direct": direct_run(train_file, data_dir / f"direct-{n}", settings),
                    "run": platform_run(snapshot, settings, timeout=3600),
                }
                for side, (rate, wall) in found.items():
                    rates[side].append(rate)
                    rows.append([str(n + 1), side, f"{rate:.1f}", f"{wall:.0f}"])
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    print()
    table_print(["round", "trained", "pairs/s (steps)", "wall s"], rows)
    direct = sum(rates["direct"]) / len(rates["direct"])
    run = sum(rates["run"]) / len(rates["run"])
    load = os.getloadavg()
    print(f"\nrun/direct pairs/s ratio: {run / direct:.2f}")
    print(f"load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
