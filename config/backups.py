"""Backing the platform up into a folder, and restoring it from one.

A backup folder holds the database (`database.dump`, PostgreSQL's custom format from
pg_dump, or `database.sqlite3`, a copy made with SQLite's online backup API, both safe
while the platform runs), the files under DATA_DIR that rows point at (dataset snapshots,
model weights, uploaded imports) in `files/`, and `manifest.json`: when it was made, the
sha256 and size of every file, and the rows of every table. Restore checks the hashes
before it touches anything and the row counts after."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.utils import timezone

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# Folders of DATA_DIR whose files rows point at (snapshots' files, model versions' paths,
# import jobs' uploads). Broker messages, results and static files are not data.
DATA_FOLDERS = ("exports", "runs", "models", "uploads")
# Apps whose rows are the platform's data: one of them with a row makes a database "in use".
DATA_APPS = ("accounts", "guidelines", "labeling", "rankings", "trainer")
DUMP_NAMES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Database:
    """The database a backup reads or a restore writes, as the client tools need it."""

    alias: str

    @property
    def settings(self) -> dict:
        return connections[self.alias].settings_dict

    @property
    def vendor(self) -> str:
        vendor = connections[self.alias].vendor
        if vendor not in DUMP_NAMES:
            raise BackupError(f"Backing up a {vendor} database is not supported.")
        return vendor

    def libpq_env(self) -> dict[str, str]:
        # Passed through the environment so that a password never shows in `ps`.
        db = self.settings
        env = dict(os.environ)
        for variable, key in (
            ("PGHOST", "HOST"),
            ("PGPORT", "PORT"),
            ("PGUSER", "USER"),
            ("PGPASSWORD", "PASSWORD"),
            ("PGDATABASE", "NAME"),
        ):
            if db.get(key):
                env[variable] = str(db[key])
        return env


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_counts(alias: str = "default") -> dict[str, int]:
    """Rows of every table in the database, by table name."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        names = connection.introspection.table_names(cursor)
        counts = {}
        for name in sorted(names):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
            counts[name] = cursor.fetchone()[0]
    return counts


def database_in_use(alias: str = "default") -> bool:
    """Whether the database holds users or any of the platform's rows. A freshly migrated
    one does not: `migrate` fills only content types, permissions and the like."""
    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    models = [get_user_model()]
    for label in DATA_APPS:
        models += apps.get_app_config(label).get_models()
    return any(
        model._meta.db_table in existing and model.objects.using(alias).exists() for model in models
    )


def _sqlite_copy(source: str | Path, target: str | Path) -> None:
    # SQLite's online backup: a consistent copy even while other processes write.
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _run(command: list[str], env: dict[str, str]) -> None:
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        raise BackupError(f"{command[0]} failed: {finished.stderr.strip()}")


def _sqlite_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {
            name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names
        }
    db.close()
    return dict(sorted(counts.items()))


def _database_dump(database: Database, target: Path) -> dict[str, int]:
    """Writes the dump and returns the rows of each table in it, counted in the very state
    the dump holds however much the platform writes meanwhile."""
    if database.vendor == "sqlite":
        _sqlite_copy(database.settings["NAME"], target)
        target.chmod(0o600)
        return _sqlite_counts(target)
    # pg_dump reads the snapshot this transaction exports, and the counts come from it.
    with transaction.atomic(using=database.alias):
        with connections[database.alias].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--snapshot={snapshot}",
                f"--file={target}",
            ],
            database.libpq_env(),
        )
        counts = table_counts(database.alias)
    target.chmod(0o600)
    return counts


def _files_copy(data_dir: Path, files_dir: Path) -> list[dict[str, object]]:
    listed = []
    for folder in DATA_FOLDERS:
        root = data_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(data_dir)
            copy = files_dir / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
            listed.append(
                {
                    "path": relative.as_posix(),
                    "size": copy.stat().st_size,
                    "sha256": sha256_of(copy),
                }
            )
    return listed


def backup_create(*, destination: Path, alias: str = "default") -> dict[str, object]:
    """Writes a backup into `destination`, a folder that must not exist yet or be empty,
    and returns its manifest."""
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty: back up into a new folder.")
    destination.mkdir(parents=True, exist_ok=True)
    destination.chmod(0o700)  # the dump holds password hashes and tokens
    database = Database(alias)
    dump = destination / DUMP_NAMES[database.vendor]
    counts = _database_dump(database, dump)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "database": {
            "vendor": database.vendor,
            "file": dump.name,
            "sha256": sha256_of(dump),
            "tables": counts,
        },
        "files": _files_copy(Path(settings.DATA_DIR), destination / "files"),
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _manifest_checked(source: Path) -> dict:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} has no readable {MANIFEST}: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{source} is a backup of format {manifest.get('format')!r}.")
    entries = [
        (manifest["database"]["file"], manifest["database"]["sha256"]),
        *((f"files/{f['path']}", f["sha256"]) for f in manifest["files"]),
    ]
    for name, expected in entries:
        path = source / name
        if not path.is_file() or sha256_of(path) != expected:
            raise BackupError(f"{path} is missing or does not match its sha256: not restored.")
    return manifest


def _database_load(database: Database, dump: Path, *, force: bool) -> None:
    # A migrated database without data has the tables already: they are replaced too.
    has_tables = bool(connections[database.alias].introspection.table_names())
    connections[database.alias].close()
    if database.vendor == "postgresql":
        command = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"]
        if force or has_tables:
            command += ["--clean", "--if-exists"]
        env = database.libpq_env()
        _run([*command, f"--dbname={env.get('PGDATABASE', '')}", str(dump)], env)
    else:
        _sqlite_copy(dump, database.settings["NAME"])


def backup_restore(*, source: Path, force: bool = False, alias: str = "default") -> dict:
    """Restores the backup in `source` into the database and DATA_DIR. Refuses a database
    that is in use unless `force`, which replaces what is there."""
    manifest = _manifest_checked(source)
    database = Database(alias)
    if manifest["database"]["vendor"] != database.vendor:
        raise BackupError(
            f"The backup holds a {manifest['database']['vendor']} database; "
            f"this one is {database.vendor}."
        )
    if not force and database_in_use(alias):
        raise BackupError(
            "The database already holds data: restore into an empty one, or pass --force "
            "to replace it."
        )
    _database_load(database, source / manifest["database"]["file"], force=force)
    data_dir = Path(settings.DATA_DIR)
    for entry in manifest["files"]:
        target = data_dir / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "files" / entry["path"], target)
    restored = table_counts(alias)
    differing = {
        table: (rows, restored.get(table))
        for table, rows in manifest["database"]["tables"].items()
        if restored.get(table) != rows
    }
    if differing:
        raise BackupError(f"Restored tables differ from the backup (backup, now): {differing}")
    return manifest
