"""The dashboard shows what the data and the people do; the training pages are the
trainer app's own. Nothing in the dashboard may import the trainer, so either can move
without the other."""

import ast

from tests.conftest import REPO_ROOT


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_dashboard_imports_no_trainer_module():
    modules = sorted((REPO_ROOT / "dashboard").rglob("*.py"))
    assert modules, "no dashboard modules found"
    for path in modules:
        trainer = {
            name
            for name in imported_modules(path.read_text())
            if name == "trainer" or name.startswith("trainer.")
        }
        assert not trainer, (path, trainer)


def test_the_check_sees_a_trainer_import():
    assert imported_modules("from trainer.models import TrainingRun\nimport trainer") == {
        "trainer.models",
        "trainer",
    }
