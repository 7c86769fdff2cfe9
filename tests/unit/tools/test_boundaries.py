"""tools/ is a client of the services: neither a service nor the shared library may import it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_services_and_shared_never_import_tools():
    offenders = [f"{path.relative_to(REPO)}: {name}"
                 for top in ("services", "shared") for path in sorted((REPO / top).rglob("*.py"))
                 for name in sorted(_imported_modules(path)) if name == "tools" or name.startswith("tools.")]
    assert offenders == []
