import json

from django.core.management.base import BaseCommand, CommandError

from dataset_io.exporting import snapshot_export
from dataset_io.models import DatasetSnapshot


class Command(BaseCommand):
    help = "Export a dataset snapshot (sft, preference, rankings) and print where it is."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--kind", required=True, choices=DatasetSnapshot.Kind.values)
        parser.add_argument("--filters", default="{}", help='JSON, e.g. {"sources": ["platform"]}')
        parser.add_argument("--gzip", action="store_true")
        parser.add_argument("--pairs", choices=["all", "consensus"], default="all")
        parser.add_argument("--validation-permille", type=int, default=50)

    def handle(self, *args, kind, filters, gzip, pairs, validation_permille, **options):  # type: ignore[no-untyped-def]
        try:
            parsed = json.loads(filters)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--filters is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise CommandError("--filters must be a JSON object")
        snapshot = DatasetSnapshot.objects.create(
            kind=kind,
            filters=parsed,
            options={"gzip": gzip, "pairs": pairs, "validation_permille": validation_permille},
        )
        snapshot = snapshot_export(snapshot_id=snapshot.pk)
        self.stdout.write(f"snapshot {snapshot.pk}: {snapshot.counts}")
        for split, path in snapshot.files.items():
            self.stdout.write(f"  {split}: DATA_DIR/{path}  {snapshot.sha256.get(split, '')}")
