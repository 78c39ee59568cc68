"""The secret key and the SQLite database are readable by their owner only."""

import os
import stat
import subprocess
import sys

from tests.conftest import REPO_ROOT

OPEN_DATABASE = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('CREATE TABLE probe (x)'); "
    "cursor.execute('INSERT INTO probe VALUES (1)')"
)


def start_platform(data_dir, code: str = OPEN_DATABASE) -> None:
    """Run `code` (by default: write to the database) in a fresh process with umask 022."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_dir_gets_a_private_secret_key_and_database(tmp_path):
    start_platform(tmp_path)

    assert mode(tmp_path / "secret_key") == 0o600
    assert len((tmp_path / "secret_key").read_text()) >= 50
    assert mode(tmp_path / "db.sqlite3") == 0o600
    assert (tmp_path / "db.sqlite3").stat().st_size > 0
    for companion in tmp_path.glob("db.sqlite3-*"):
        assert mode(companion) == 0o600, companion.name


def test_a_second_start_keeps_the_key_and_leaves_the_files_mode_alone(tmp_path):
    start_platform(tmp_path)
    key = (tmp_path / "secret_key").read_text()
    (tmp_path / "db.sqlite3").chmod(0o640)  # loosened by its owner on purpose

    start_platform(tmp_path, "import django; django.setup()")

    assert (tmp_path / "secret_key").read_text() == key
    assert mode(tmp_path / "db.sqlite3") == 0o640
