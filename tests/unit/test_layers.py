"""The layer order of every service, checked on the source (issue 10 points 1 and 4).

Only repositories hold SQL: no view or handler imports SQLAlchemy. Handlers take the time from
their caller or their unit of work's clock (`shared.clock`), never from the wall clock, so a test
can run them at any instant.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.source import REPO, imported_modules, parse

HANDLERS = ("services/contacts/handlers", "services/campaigns/handlers", "services/channels/handlers",
            "services/scheduler/handlers.py")
VIEWS = ("services/contacts/api", "services/campaigns/api.py", "services/channels/api.py",
         "services/channels/agents.py", "services/channels/webhooks.py", "services/scheduler/api.py")
LAYERS = (*VIEWS, *HANDLERS)


def _modules(layer: str) -> list[Path]:
    path = REPO / layer
    modules = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    assert modules, f"{layer} has no modules: did it move?"
    return modules


@pytest.mark.parametrize("layer", LAYERS)
def test_views_and_handlers_do_not_import_sqlalchemy(layer: str) -> None:
    modules = _modules(layer)
    offenders = [f"{path.relative_to(REPO)}: {name}" for path in modules for name in sorted(imported_modules(parse(path)))
                 if name == "sqlalchemy" or name.startswith("sqlalchemy.")]
    assert offenders == []


def _wall_clock_reads(path: Path) -> list[int]:
    """Lines calling datetime.now(), datetime.utcnow() or time.time()."""
    wall_clock = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time")}
    return [node.lineno for node in ast.walk(parse(path))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in wall_clock]


@pytest.mark.parametrize("layer", HANDLERS)
def test_handlers_do_not_read_the_wall_clock(layer: str) -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}" for path in _modules(layer) for line in _wall_clock_reads(path)]
    assert offenders == []
