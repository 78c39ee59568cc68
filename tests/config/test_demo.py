import json
import stat

import pytest
from django.core.management import call_command

from guidelines.models import GuidelineVersion
from labeling.models import Prompt


@pytest.fixture(autouse=True)
def _own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def seed(capsys) -> str:
    call_command("seed_demo")
    return capsys.readouterr().out


def test_the_demo_has_a_published_guideline_one_user_per_role_and_prompts(
    db, client, settings, capsys
):
    output = seed(capsys)

    logins_file = settings.DATA_DIR / "demo-logins.json"
    passwords = json.loads(logins_file.read_text())
    assert set(passwords) == {"labeler", "reviewer", "admin"}
    for username, password in passwords.items():
        assert f"{username:<9} password {password}" in output
        assert client.login(username=username, password=password)
    assert str(logins_file) in output
    assert stat.S_IMODE(logins_file.stat().st_mode) == 0o600
    assert GuidelineVersion.objects.filter(status="published").count() == 1
    prompts = Prompt.objects.all()
    assert prompts.count() == 10
    assert all(p.guideline_version.status == "published" for p in prompts)


def test_seeding_again_changes_nothing_and_prints_where_the_logins_are_not_them(
    db, client, settings, capsys, django_user_model
):
    seed(capsys)
    passwords = json.loads((settings.DATA_DIR / "demo-logins.json").read_text())

    second = seed(capsys)

    assert "password" not in second
    assert not any(password in second for password in passwords.values())
    assert f"Demo logins are kept in {settings.DATA_DIR / 'demo-logins.json'}" in second
    assert json.loads((settings.DATA_DIR / "demo-logins.json").read_text()) == passwords
    assert client.login(username="admin", password=passwords["admin"])
    assert django_user_model.objects.count() == 3
    assert Prompt.objects.count() == 10
    assert GuidelineVersion.objects.count() == 1


def test_a_lost_password_file_gets_new_passwords_that_work_shown_once(db, client, settings, capsys):
    seed(capsys)
    logins_file = settings.DATA_DIR / "demo-logins.json"
    logins_file.unlink()

    output = seed(capsys)

    passwords = json.loads(logins_file.read_text())
    assert f"admin     password {passwords['admin']}" in output
    assert stat.S_IMODE(logins_file.stat().st_mode) == 0o600
    assert client.login(username="admin", password=passwords["admin"])
