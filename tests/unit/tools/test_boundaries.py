"""tools/ is a client of the services: neither a service nor the shared library may import it."""

from __future__ import annotations

from tests.source import REPO, imported_modules, parse


def test_services_and_shared_never_import_tools():
    offenders = [f"{path.relative_to(REPO)}: {name}"
                 for top in ("services", "shared") for path in sorted((REPO / top).rglob("*.py"))
                 for name in sorted(imported_modules(parse(path))) if name == "tools" or name.startswith("tools.")]
    assert offenders == []
