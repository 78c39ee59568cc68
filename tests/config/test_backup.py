"""manage.py backup and restore: everything a backup took comes back, row for row and
byte for byte, into an empty database and a new DATA_DIR, on SQLite and on PostgreSQL.

carol imports real OpenAssistant trees (users, guideline versions, prompts, replies,
rankings, comparisons, the import job) and has a model version with weights on disk and
an exported dataset; the commands run as real processes, as an operator would run them."""

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from config.backups import sha256_of
from tests.conftest import REPO_ROOT
from tests.datasets.conftest import guideline, oasst, queue_import  # noqa: F401 (fixtures)
from trainer.models import ModelVersion, TrainingRun


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows_by_table(db, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of its rows in a stable order."""
    found = {}
    cursor = db.cursor()
    for table in tables:
        cursor.execute(f'SELECT * FROM "{table}"')
        rows = sorted(repr(row) for row in cursor.fetchall())
        found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return found


def files_by_path(data_dir: Path) -> dict[str, str]:
    return {
        path.relative_to(data_dir).as_posix(): sha256_of(path)
        for folder in ("exports", "runs")
        for path in (data_dir / folder).rglob("*")
        if path.is_file()
    }


@pytest.fixture
def source_data_dir(tmp_path, carol):
    """Dataset snapshot and model weights the way the platform lays them out."""
    data_dir = tmp_path / "source"
    run = TrainingRun.objects.create(kind="sft", status="succeeded", created_by=carol)
    version = ModelVersion.objects.create(kind="sft", run=run, path=f"runs/{run.pk}/model")
    weights = data_dir / version.path
    weights.mkdir(parents=True)
    (weights / "model.safetensors").write_bytes(os.urandom(300_000))
    (weights / "config.json").write_text('{"model_type": "llama"}')
    export = data_dir / "exports" / "sft-1"
    export.mkdir(parents=True)
    (export / "train.jsonl").write_text('{"messages": []}\n' * 50)
    return data_dir


@pytest.fixture
def empty_database(child_env, tmp_path):
    """The DATABASE_URL of a database with nothing in it, dropped afterwards."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"{connection.settings_dict['NAME']}_restored"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield child_env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connect(database_url: str):
    if database_url.startswith("sqlite:///"):
        return sqlite3.connect(database_url.removeprefix("sqlite:///"))
    import psycopg

    return psycopg.connect(database_url.replace("postgres://", "postgresql://", 1))


def test_a_backup_restores_every_row_and_file_into_an_empty_database(
    child_env,
    oasst,  # noqa: F811
    source_data_dir,
    empty_database,
    tmp_path,
):
    backup = tmp_path / "backup"
    backed_up = manage({**child_env, "DATA_DIR": str(source_data_dir)}, "backup", str(backup))
    assert backed_up.returncode == 0, backed_up.stderr
    assert (backup / "manifest.json").is_file()

    restored_dir = tmp_path / "restored"
    target = {**child_env, "DATA_DIR": str(restored_dir), "DATABASE_URL": empty_database}
    restored = manage(target, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr

    tables = connection.introspection.table_names()
    # Both read through the same plain driver, so values compare as stored.
    with connect(child_env["DATABASE_URL"]) as db:
        before = rows_by_table(db, tables)
    with connect(empty_database) as db:
        after = rows_by_table(db, tables)
    assert after == before
    # Rows of many kinds, not an empty database copied to an empty one.
    for table in ("auth_user", "labeling_prompt", "rankings_ranking", "trainer_modelversion"):
        assert before[table][0] > 0, table
    source_files = files_by_path(source_data_dir)
    assert len(source_files) == 3
    assert files_by_path(restored_dir) == source_files

    # The database now holds data: a second restore is refused unless forced.
    again = manage(target, "restore", str(backup))
    assert again.returncode != 0
    assert "--force" in again.stderr
    forced = manage(target, "restore", "--force", str(backup))
    assert forced.returncode == 0, forced.stderr
    with connect(empty_database) as db:
        assert rows_by_table(db, tables) == before


def test_a_backup_whose_file_changed_is_not_restored(
    child_env, source_data_dir, empty_database, tmp_path
):
    backup = tmp_path / "backup"
    backed_up = manage({**child_env, "DATA_DIR": str(source_data_dir)}, "backup", str(backup))
    assert backed_up.returncode == 0, backed_up.stderr
    weights = next((backup / "files" / "runs").rglob("model.safetensors"))
    weights.write_bytes(b"not the weights")

    target = {**child_env, "DATA_DIR": str(tmp_path / "restored"), "DATABASE_URL": empty_database}
    refused = manage(target, "restore", str(backup))

    assert refused.returncode != 0
    assert "sha256" in refused.stderr
    assert not (tmp_path / "restored" / "runs").exists()
