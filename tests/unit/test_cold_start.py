"""Indexing the app, and the configuration check it starts, load the Functions libraries,
pydantic and the rules, nothing more:
every cold start on a plan that scales to zero pays for what `function_app` imports. Nor does it
load the OpenTelemetry SDK or the Azure Monitor distro (about half a second): Faultline's own
telemetry is configured when the services are first built. The paths the timer and the query
queue run are checked in `tests/integration/test_cold_start.py`."""

from __future__ import annotations

import json
import os
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
    modules = loaded_after(
        "import function_app; function_app.app.get_functions(); "
        "function_app.configuration_check.join()"
    )
    heavy = sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY
        or m in HEAVY
        or any(m == h or m.startswith(h + ".") for h in HEAVY)
    )
    assert heavy == [], "imported while indexing: " + ", ".join(heavy)


def test_indexing_does_not_wait_for_the_configuration_check(tmp_path: Path) -> None:
    """The rules file is a pipe nobody has written yet, so the check is stuck reading it: the
    app is still indexed with all its functions, and the check finishes once the file comes."""
    rules = tmp_path / "faultline.yaml"
    os.mkfifo(rules)
    script = (
        "import function_app\n"
        "print(len(function_app.app.get_functions()), function_app.configuration_check.is_alive(),"
        " flush=True)\n"
        "function_app.configuration_check.join()\n"
        "print('checked', flush=True)\n"
    )
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FAULTLINE_RULES_PATH": str(rules),
        "PATH": "/usr/bin:/bin",
    }
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as app:
        assert app.stdout is not None
        indexed = app.stdout.readline().split()
        rules.write_text((ROOT / "faultline.yaml").read_text())
        rest, errors = app.communicate(timeout=60)
    assert int(indexed[0]) > 10 and indexed[1] == "True"
    assert rest.split() == ["checked"] and errors == ""
