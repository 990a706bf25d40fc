"""The house rules the code's structure keeps: the core is pure, and production code states its
runtime checks (an `assert` vanishes under `python -O`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
PRODUCTION = [
    ROOT / "function_app.py",
    *(ROOT / "detection").rglob("*.py"),
    *(ROOT / "adapters").rglob("*.py"),
    *(p for p in (ROOT / "pipeline").rglob("*.py") if "local" not in p.parts),
]
# What the core may not reach: services, the app's outer layers, the network.
NOT_IN_DETECTION = (
    "azure",
    "githubkit",
    "grpc",
    "durabletask",
    "adapters",
    "pipeline",
    "function_app",
    "httpx",
    "requests",
    "socket",
    "urllib.request",
    "http.client",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "detection").rglob("*.py")), ids=str)
def test_the_core_imports_no_service_and_no_outer_layer(path: Path) -> None:
    forbidden = {
        name
        for name in _imports(path)
        if any(name == banned or name.startswith(banned + ".") for banned in NOT_IN_DETECTION)
    }
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_production_code_raises_instead_of_asserting() -> None:
    asserting = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in PRODUCTION
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert not asserting, f"assert guards a runtime condition at {asserting}"
