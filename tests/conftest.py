"""Shared fixtures: one Azurite per session, the app's functions indexed once, fresh names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from local_host.azurite import Azurite, start_azurite
from local_host.host import FunctionTable, SimulatedClock

ROOT = Path(__file__).resolve().parents[1]

# Property tests judge results, not speed: on 2 shared cores an example can take longer than
# Hypothesis's 200 ms deadline, or generate slowly, without anything being wrong.
settings.register_profile("faultline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("faultline")

# function_app checks the configuration as it starts, as it would in the host.
os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as running:
        yield running


@pytest.fixture(scope="session")
def functions() -> FunctionTable:
    import function_app

    return FunctionTable.of(function_app.app)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


@pytest.fixture
def storage_env(azurite: Azurite) -> dict[str, str]:
    """App settings with queue and table names no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "FAULTLINE_QUERY_QUEUE": f"jobs-{suffix}",
        "FAULTLINE_FAILURE_QUEUE": f"failures-{suffix}",
        "FAULTLINE_TABLE_PREFIX": f"T{suffix}",
        "FAULTLINE_RULES_PATH": str(ROOT / "faultline.yaml"),
    }
