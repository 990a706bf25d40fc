"""The house rules the code's structure keeps. From the top: the triggers and the wiring
(`function_app.py`, `workflow_functions.py`, `bootstrap.py`, and `local_host/`, which drives
them on one machine); the use cases in `pipeline/`, written against its ports; the pure core in
`detection/`; the adapters at the edges, pointing inward to the ports. No import runs back up, and
production code states its runtime checks (an `assert` vanishes under `python -O`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
TOP = ["function_app", "workflow_functions", "bootstrap", "local_host"]
PRODUCTION = [
    *(ROOT / f"{module}.py" for module in TOP if (ROOT / f"{module}.py").exists()),
    *(ROOT / "local_host").rglob("*.py"),
    *(ROOT / "detection").rglob("*.py"),
    *(ROOT / "adapters").rglob("*.py"),
    *(ROOT / "pipeline").rglob("*.py"),
]
# What the core may not reach: services, the app's outer layers, the network.
NOT_IN_DETECTION = (
    "azure",
    "githubkit",
    "grpc",
    "durabletask",
    "adapters",
    "pipeline",
    *TOP,
    "httpx",
    "requests",
    "socket",
    "urllib.request",
    "http.client",
)


# What the use cases may not reach: the adapters, the services' SDKs, the layers above. The
# orchestrator is written against durabletask's orchestration API (`durabletask.task`), and
# nothing else of it.
NOT_IN_PIPELINE = (
    "azure",
    "githubkit",
    "grpc",
    "durabletask.client",
    "durabletask.internal",
    "durabletask.worker",
    "adapters",
    *TOP,
    "httpx",
    "requests",
    "socket",
    "urllib.request",
    "http.client",
)
# What adapters may take from the use-case layer: the ports they implement and the settings.
ADAPTERS_MAY_IMPORT = {"pipeline.ports", "pipeline.settings"}


def _banned(names: set[str], banned: tuple[str, ...]) -> set[str]:
    return {
        name
        for name in names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in banned)
    }


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
    forbidden = _banned(_imports(path), NOT_IN_DETECTION)
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", sorted((ROOT / "pipeline").rglob("*.py")), ids=str)
def test_the_use_cases_see_only_ports(path: Path) -> None:
    forbidden = _banned(_imports(path), NOT_IN_PIPELINE)
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", sorted((ROOT / "adapters").rglob("*.py")), ids=str)
def test_adapters_point_inward(path: Path) -> None:
    imported = _imports(path)
    upward = _banned(imported, tuple(TOP)) | {
        name for name in _banned(imported, ("pipeline",)) if name not in ADAPTERS_MAY_IMPORT
    }
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}"


def test_production_code_raises_instead_of_asserting() -> None:
    asserting = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in PRODUCTION
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert not asserting, f"assert guards a runtime condition at {asserting}"
