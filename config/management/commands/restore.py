from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a folder written by `manage.py backup` into this database and DATA_DIR, "
        "after checking every file's sha256. A database that holds data is refused unless "
        "--force, which replaces it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, help="a folder written by manage.py backup")
        parser.add_argument("--database", default="default")
        parser.add_argument(
            "--force", action="store_true", help="replace a database that holds data"
        )

    def handle(
        self, *args: object, source: Path, database: str, force: bool, **options: object
    ) -> None:
        try:
            manifest = backup_restore(source=source, force=force, alias=database)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest["database"]["tables"].values())
        self.stdout.write(
            f"Restored {rows} rows and {len(manifest['files'])} files from the backup of "
            f"{manifest['created_at']}; every table's row count matches it."
        )
