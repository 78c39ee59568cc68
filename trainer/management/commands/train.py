import json

from django.core.management.base import BaseCommand, CommandError

from config.errors import InputError
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from trainer.ml.methods import training_methods
from trainer.training import run_execute, training_run_create

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Train a model here, in the foreground, with a progress bar."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        methods = [method.name for method in training_methods()]
        parser.add_argument("--kind", required=True, choices=methods, help="training method")
        parser.add_argument("--snapshot", type=int, help="snapshot id; default: a fresh export")
        parser.add_argument("--base-model", default="", help="model directory or model:<id>")
        parser.add_argument(
            "--set", action="append", default=[], metavar="NAME=VALUE", help="e.g. max_steps=200"
        )

    def handle(self, *args, kind, snapshot, base_model, set, **options):  # type: ignore[no-untyped-def]
        config = {}
        for assignment in set:
            name, _, raw = assignment.partition("=")
            try:
                config[name] = json.loads(raw)
            except json.JSONDecodeError:
                raise CommandError(
                    f"--set {assignment}: the value is not a number or bool"
                ) from None
        chosen = None
        if snapshot is not None:
            chosen = DatasetSnapshot.objects.filter(pk=snapshot).first()
            if chosen is None:
                raise CommandError(f"No snapshot {snapshot}.")
        try:
            run = training_run_create(
                kind=kind, snapshot=chosen, base_model=base_model, config=config, enqueue=False
            )
        except InputError as exc:
            raise CommandError(f"{exc.field}: {exc}") from None
        self.stdout.write(f"training run {run.pk} ({kind})")
        run = run_execute(run_id=run.pk, echo=self._show)
        self.stdout.write("")
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")
        shown = ", ".join(f"{k} {v:.4g}" for k, v in run.metrics.items() if isinstance(v, float))
        self.stdout.write(f"run {run.pk} succeeded: model version {run.model.pk}; {shown}")

    def _show(self, event: dict) -> None:
        if event["type"] != "progress":
            return
        done = round(event["progress"] * BAR_WIDTH)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        loss = event["metrics"]["loss"]
        line = (
            f"\r[{bar}] {event['step']}/{event['total_steps']} loss {loss:.4f} "
            f"eta {event['eta_s']:.0f}s"
        )
        self.stdout.write(line, ending="")
        self.stdout.flush()
