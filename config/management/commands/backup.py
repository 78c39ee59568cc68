from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back the platform up into a new folder: the database (pg_dump, or SQLite's online "
        "backup; safe while the platform runs), DATA_DIR's datasets, models and uploads, and "
        "a manifest of sha256 hashes and row counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("destination", type=Path, help="a folder that does not exist yet")
        parser.add_argument("--database", default="default")

    def handle(self, *args: object, destination: Path, database: str, **options: object) -> None:
        try:
            manifest = backup_create(destination=destination, alias=database)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest["database"]["tables"].values())
        self.stdout.write(
            f"Backed up {rows} rows in {len(manifest['database']['tables'])} tables and "
            f"{len(manifest['files'])} files into {destination}."
        )
