"""The shape of the house, checked on the source: imports run one way, no module grows
past what a reader can hold, and trainer/ml stays plain Python and PyTorch.

Imports are read with `ast`, both at module level and inside functions (a lazy import
that closes a circle is still a circle); imports under `if TYPE_CHECKING:` are left out,
as they never run."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first: an app may import the apps before it, never one after it.
APPS = [
    "accounts",
    "guidelines",
    "labeling",
    "rankings",
    "jobs",
    "sources",
    "dataset_io",
    "trainer",
    "ai_feedback",
    "serving",
    "dashboard",
]
# config is the ground floor (settings, errors, parsers, the broker), except these
# modules, which put the apps together and so sit above all of them.
CONFIG_ROOF = ("config.urls", "config.views", "config.demo", "config.health", "config.management")
MAX_LINES = 500


def _project_modules() -> dict[str, Path]:
    modules = {}
    for top in ["config", *APPS]:
        for path in (ROOT / top).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


MODULES = _project_modules()


def _owner(imported: str) -> str | None:
    """The project module an import statement loads (`a.b.c` names `a.b` when c is a
    function of it), or None for a library."""
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


def _imported_names(node: ast.AST) -> list[str]:
    names: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            names += [name for other in child.orelse for name in _imported_names(other)]
        elif isinstance(child, ast.Import):
            names += [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            names += [child.module] + [f"{child.module}.{alias.name}" for alias in child.names]
        else:
            names += _imported_names(child)
    return names


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for imported in _imported_names(ast.parse(path.read_text())):
            owner = _owner(imported)
            if owner and owner != name:
                graph[name].add(owner)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                found.append(sorted([module, *group]))

    for module in list(graph):
        if module not in order:
            visit(module)
    return found


def _layer(module: str) -> int:
    top = module.split(".")[0]
    if top == "config":
        return len(APPS) if module.startswith(CONFIG_ROOF) else -1
    return APPS.index(top)


def test_no_import_circle_among_the_project_modules():
    assert _circles(_import_graph()) == []


def test_apps_import_only_the_apps_below_them():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        for target in targets
        if _layer(target) > _layer(module) and target.split(".")[0] != module.split(".")[0]
    )
    assert upward == []


def test_no_module_is_longer_than_500_lines():
    roots = [ROOT / top for top in ["config", *APPS, "benchmarks"]]
    long = {
        str(path.relative_to(ROOT)): lines
        for root in roots
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_trainer_ml_imports_neither_django_nor_the_apps():
    below = {name: path for name, path in MODULES.items() if name.startswith("trainer.ml")}
    assert "trainer.ml.loop" in below
    wrong = sorted(
        f"{name} imports {imported}"
        for name, path in below.items()
        for imported in _imported_names(ast.parse(path.read_text()))
        if imported.split(".")[0] == "django"
        or ((owner := _owner(imported)) and not owner.startswith("trainer.ml"))
    )
    assert wrong == []


def test_importing_every_trainer_ml_module_loads_no_django():
    # The import statements are not the whole story: a library could pull Django in.
    modules = sorted(name for name in MODULES if name.startswith("trainer.ml."))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
