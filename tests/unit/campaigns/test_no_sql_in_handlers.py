"""The campaigns layer order, checked on the source: views and handlers hold no SQL.

(The SQLAlchemy-import check for every service is tests/unit/test_layers.py; this adds campaigns'
stricter one: no table import and no raw connection either.)

Only `services/campaigns/repository/` (and the migrations) may build queries; the use-case
handlers and the HTTP views import no SQLAlchemy and never reach for a raw connection, so every
query has one home and the handlers run against the fakes in `fakes.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.source import imported_modules, parse

SERVICE = Path(__file__).resolve().parents[3] / "services" / "campaigns"
NO_SQL = sorted([*(SERVICE / "handlers").glob("*.py"), SERVICE / "api.py"])


def test_the_checked_modules_exist() -> None:
    assert {p.name for p in NO_SQL} >= {"api.py", "broadcasts.py", "definitions.py", "events.py", "projections.py",
                                        "reports.py", "templates.py", "context.py", "enrollment.py"}


@pytest.mark.parametrize("path", NO_SQL, ids=lambda p: str(p.relative_to(SERVICE)))
def test_no_table_import_and_no_raw_connection(path: Path) -> None:
    tree = parse(path)
    tables = {name for name in imported_modules(tree) if name.startswith("services.campaigns.repository.tables")}
    from_package = [alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module == "services.campaigns.repository"
                    for alias in node.names if alias.name[:1].islower()]  # tables are lower case, stores are not
    raw = [node.lineno for node in ast.walk(tree)
           if isinstance(node, ast.Attribute) and node.attr in ("conn", "execute")]
    assert (tables, from_package, raw) == (set(), [], [])
