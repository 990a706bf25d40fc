"""Counting through the production path's use cases on Azurite: rows of one operation become one
incident in its cause's group, a cause ingested late is its own, and a failed call whose
operation did not fail counts but does not open an issue alone when the rules say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bootstrap import bootstrap
from detection.detect import detect
from detection.records import Column, normalize_rows
from detection.rules import TableSpec
from local_host.host import SimulatedClock
from pipeline.counting import count_detections, settle_due

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DEPENDENCY = [Column(n, t) for n, t in (
    ("TimeGenerated", "datetime"), ("Id", "string"), ("Name", "string"), ("Target", "string"),
    ("DependencyType", "string"), ("ResultCode", "string"), ("Success", "bool"),
    ("DurationMs", "real"), ("OperationId", "string"), ("AppRoleName", "string"),
)]  # fmt: skip
REQUEST = [Column(n, t) for n, t in (
    ("TimeGenerated", "datetime"), ("Id", "string"), ("Name", "string"), ("ResultCode", "string"),
    ("Success", "bool"), ("DurationMs", "real"), ("OperationId", "string"),
    ("AppRoleName", "string"),
)]  # fmt: skip


@pytest.fixture
def services(storage_env, tmp_path):
    rules = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    for definition in rules["failures"]:
        if definition["name"] == "failed-dependency":
            definition["only_when_operation_fails"] = True
            definition["threshold"] = {"count": 2, "within": "15m"}
        if definition["name"] == "failed-request":
            definition["threshold"] = {"count": 1, "within": "15m"}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    clock = SimulatedClock(T0)
    return bootstrap({**storage_env, "FAULTLINE_RULES_PATH": str(path)}, clock=clock)


def _detections(services, table: str, columns, rows):
    spec = TableSpec(name=table)
    records = normalize_rows(spec, columns, rows).records
    return detect(records, services.rules.definitions_for(table))


def _call(op: int, minute: int) -> list:
    at = (T0 + timedelta(minutes=minute)).isoformat()
    return [at, f"d{op}", "GET", "cache.contoso.net:6380", "Redis", "", False, 3000.0,
            f"{op:032x}", "catalog"]  # fmt: skip


def _failed_request(op: int, minute: int) -> list:
    at = (T0 + timedelta(minutes=minute)).isoformat()
    return [at, f"r{op}", "GET /api/products", "500", False, 20.0, f"{op:032x}", "catalog"]


def _settle(services) -> None:
    services.clock.advance(services.rules.correlation.wait + timedelta(minutes=1))
    settle_due(services)


def test_a_failed_call_whose_operation_did_not_fail_counts_but_opens_no_issue(services) -> None:
    calls = _detections(services, "AppDependencies", DEPENDENCY, [_call(1, 0), _call(2, 1)])
    report = count_detections(services, "production", calls)
    assert report.held == 2, "symptoms wait for their operation's cause"
    _settle(services)
    [group] = services.ledger.summaries()
    assert group.count == 2 and group.threshold_crossed_at is None


def test_the_same_calls_in_failing_operations_cross_the_threshold(services) -> None:
    calls = _detections(services, "AppDependencies", DEPENDENCY, [_call(1, 0), _call(2, 1)])
    requests = _detections(services, "AppRequests", REQUEST, [_failed_request(1, 0)])
    count_detections(services, "production", calls)
    count_detections(services, "production", requests)
    _settle(services)
    groups = {g.definition: g for g in services.ledger.summaries()}
    dependency = groups["failed-dependency"]
    assert dependency.count == 3, "the failed request is evidence of its operation's call"
    assert dependency.incidents == 2
    assert dependency.threshold_crossed_at is not None
