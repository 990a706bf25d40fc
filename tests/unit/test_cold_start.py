"""Indexing the app loads the Functions libraries and the configuration check, nothing more:
every cold start on a plan that scales to zero pays for what `function_app` imports. Nor does it
load the OpenTelemetry SDK or the Azure Monitor distro (about half a second): Faultline's own
telemetry is configured when the services are first built. The paths the timer and the query
queue run are checked in `tests/integration/test_cold_start.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
HEAVY = (
    "githubkit",
    "azure.monitor.query",
    "azure.keyvault.secrets",
    "azure.identity",
    "azure.data.tables",
    "azure.storage.queue",
    "detect_secrets",
    "jinja2",
    "adapters",
    "pipeline.workflow.activities",
    "opentelemetry.sdk",
    "azure.monitor.opentelemetry",
)


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after `code` (the host indexes in its own process)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_indexing_the_app_loads_no_adapter_sdk_no_telemetry_sdk_and_no_github_client() -> None:
    modules = loaded_after("import function_app; function_app.app.get_functions()")
    heavy = sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY
        or m in HEAVY
        or any(m == h or m.startswith(h + ".") for h in HEAVY)
    )
    assert heavy == [], "imported while indexing: " + ", ".join(heavy)
