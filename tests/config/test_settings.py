"""Start-up with good and bad settings, checked in a fresh process each time."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def manage(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    child_env.update({"DATA_DIR": str(tmp_path)}, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("PORT", "eighty"),
        ("CELERY_WORKER_CONCURRENCY", "0"),
        ("DATABASE_URL", "mysql://root@127.0.0.1/test"),
        ("CELERY_BROKER_URL", "kafka://127.0.0.1:9092"),
        ("SECRET_KEY", "short"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_stops_startup_naming_the_variable(tmp_path, variable, value):
    result = manage("check", tmp_path=tmp_path, **{variable: value})

    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_good_settings_start(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="true", PORT="8123")

    assert result.returncode == 0, result.stderr


def test_the_deploy_check_is_clean_with_debug_off_and_a_real_secret_key(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_a_secret_key_one_is_generated_once_and_kept(tmp_path):
    first = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        tmp_path=tmp_path,
    )
    second = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        tmp_path=tmp_path,
    )

    assert first.returncode == 0, first.stderr
    assert len(first.stdout.split()[-1]) >= 50
    assert first.stdout == second.stdout
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_data_dir_holds_the_sqlite_database_and_the_embedded_broker(tmp_path):
    script = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['NAME']); print(settings.CELERY_BROKER_URL)"
    )
    result = manage("shell", "-c", script, tmp_path=tmp_path, DATABASE_URL="", CELERY_BROKER_URL="")

    assert result.returncode == 0, result.stderr
    database, broker = result.stdout.split()[-2:]
    assert database == str(tmp_path / "db.sqlite3")
    assert broker == "filesystem://"
    assert (tmp_path / "broker" / "queue").is_dir()
