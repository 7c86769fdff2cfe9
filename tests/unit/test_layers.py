"""Only repositories hold SQL: no view or handler of these services imports SQLAlchemy (issue 10 point 1).

A service joins the list once its views and handlers reach the database through repositories only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("services/contacts/api", "services/contacts/handlers", "services/campaigns/api.py",
          "services/campaigns/handlers", "services/scheduler/api.py", "services/scheduler/handlers.py")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_views_and_handlers_do_not_import_sqlalchemy(layer: str) -> None:
    path = REPO / layer
    modules = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    assert modules, f"{layer} has no modules: did it move?"
    offenders = [f"{path.relative_to(REPO)}: {name}" for path in modules for name in sorted(_imported_modules(path))
                 if name == "sqlalchemy" or name.startswith("sqlalchemy.")]
    assert offenders == []
