"""The timer and the query queue, run as the host runs them on a fresh instance, load neither
GitHub's client nor Key Vault's: only the issue workflow needs them; nor boto3 without a
cloudwatch source. Nor, without Application
Insights configured, the OpenTelemetry SDK or the Azure Monitor distro: they are loaded only to
send Faultline's telemetry there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
RUN_THE_TIMER_AND_THE_QUERIES = """
import json, sys
import function_app
from azure.storage.queue import QueueServiceClient
from bootstrap import services
from local_host.host import FunctionTable, QueueDriver, timer_request

functions = FunctionTable.of(function_app.app)
functions.user_function("fan_out_queries")(timer_request())
settings = services().settings
queues = QueueServiceClient.from_connection_string(settings.storage_connection_string)
run_job = functions.user_function("query_and_detect")
result = QueueDriver(queues, settings.query_queue, run_job).drain()
modules = sorted(sys.modules)
print(json.dumps({"processed": result.processed, "failed": result.failed, "modules": modules}))
"""


def test_the_timer_and_the_query_path_load_no_github_key_vault_or_telemetry_sdk(
    storage_env,
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        **storage_env,
        "FAULTLINE_LOGS_EXPORT_DIR": str(ROOT / "samples" / "telemetry"),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN_THE_TIMER_AND_THE_QUERIES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["processed"] > 0 and report["failed"] == 0, "the jobs ran"
    heavy = (
        "githubkit",
        "adapters.gitlab",
        "azure.keyvault",
        "opentelemetry.sdk",
        "azure.monitor.opentelemetry",
        "boto3",
        "botocore",
        "adapters.cloudwatch",
    )
    loaded = [m for m in report["modules"] if any(m == h or m.startswith(h + ".") for h in heavy)]
    assert loaded == []
