import pytest
from django.core.management import CommandError, call_command

from dataset_io.models import DatasetSnapshot
from tests.datasets.conftest import FIXTURES


def test_import_then_export_from_the_command_line(guideline, capsys):
    call_command(
        "import_data", str(FIXTURES / "alpaca-three.jsonl"), format="alpaca", guideline="imported"
    )
    imported = capsys.readouterr().out

    call_command("export_dataset", kind="sft", validation_permille=0)
    exported = capsys.readouterr().out

    snapshot = DatasetSnapshot.objects.get()
    assert "succeeded: {'demonstrations': 3, 'lines_imported': 3}; 0 bad line(s)" in imported
    assert snapshot.counts == {"train": 3, "validation": 0}
    assert f"train: DATA_DIR/{snapshot.files['train']}  {snapshot.sha256['train']}" in exported


def test_the_import_command_reports_bad_lines(guideline, capsys):
    call_command(
        "import_data",
        str(FIXTURES / "mixed-prompts.jsonl"),
        format="prompts-jsonl",
        guideline="imported",
    )

    assert "line 2: not JSON" in capsys.readouterr().out


def test_the_import_command_refuses_an_unknown_guideline(guideline):
    with pytest.raises(CommandError, match="no published guideline"):
        call_command(
            "import_data",
            str(FIXTURES / "mixed-prompts.jsonl"),
            format="prompts-jsonl",
            guideline="nope",
        )


def test_the_export_command_refuses_bad_filters(guideline):
    with pytest.raises(CommandError, match="not JSON"):
        call_command("export_dataset", kind="sft", filters="{nope")
