"""Counting through the production path's use cases on Azurite: rows of one operation become one
incident in its cause's group, a cause ingested late is its own, and a failed call whose
operation did not fail counts but does not open an issue alone when the rules say so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from adapters.exported_logs import read_export
from bootstrap import bootstrap
from detection.detect import detect
from detection.occurrence import Occurrence
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
        if definition["name"] in ("failed-request", "error-trace", "unhandled-exception"):
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


def _read(services, through: datetime, lagging: tuple[str, ...] = ()) -> None:
    """Every table the production source watches has been read through `through`, but the
    `lagging` ones (their jobs run late)."""
    for table in services.rules.source("production").tables:
        services.checkpoints.begin_reading("production", table.name, T0)
        if table.name not in lagging:
            services.checkpoints.mark_read("production", table.name, T0, through)


def _settle(services) -> None:
    services.clock.advance(services.rules.correlation.wait + timedelta(minutes=1))
    _read(services, services.clock.now())
    settle_due(services)


def _ingested(columns, row: list, minutes: float) -> tuple[list, list[list]]:
    """The row as a query returns it, with the ingestion time the query projects."""
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return [*columns, Column("IngestionTime", "datetime")], [[*row, at]]


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


def test_a_cause_whose_table_lags_past_the_wait_still_becomes_the_root(services) -> None:
    """The failed request's table is read at once, the call's table only 50 minutes later (its
    jobs were throttled): past the wait on the worker's clock, within it on ingestion time. The
    call still decides the incident, as it would have in any order."""
    request = _detections(services, "AppRequests", *_ingested(REQUEST, _failed_request(1, 0), 1))
    count_detections(services, "production", request)
    _read(services, T0 + timedelta(hours=2), lagging=("AppDependencies",))
    services.clock.advance(services.rules.correlation.wait + timedelta(minutes=1))
    report = settle_due(services)
    assert (report.rechecked, report.new_occurrences) == (1, 0), "the call's table is behind"
    services.clock.advance(timedelta(minutes=20))
    call = _detections(services, "AppDependencies", *_ingested(DEPENDENCY, _call(1, 0), 20))
    count_detections(services, "production", call)
    _read(services, T0 + timedelta(hours=2))
    services.clock.advance(timedelta(minutes=5))
    report = settle_due(services)
    assert report.new_occurrences == 2
    [group] = services.ledger.summaries()
    assert (group.definition, group.count, group.incidents) == ("failed-dependency", 2, 1)


def test_a_table_that_is_never_read_holds_an_operation_only_until_the_cap(services, caplog) -> None:
    request = _detections(services, "AppRequests", *_ingested(REQUEST, _failed_request(1, 0), 1))
    count_detections(services, "production", request)
    _read(services, T0 + timedelta(days=1), lagging=("AppExceptions",))
    max_hold = services.rules.correlation.max_hold
    rechecked = 0
    while services.clock.now() < T0 + max_hold:
        services.clock.advance(timedelta(minutes=5))
        report = settle_due(services)
        rechecked += report.rechecked
        assert report.capped == 0 or services.clock.now() >= T0 + max_hold
    assert (report.capped, report.new_occurrences) == (1, 1)
    assert rechecked > 1, "looked at again on each poll until the cap"
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "production/AppExceptions" in warning.getMessage()
    [group] = services.ledger.summaries()
    assert (group.definition, group.count) == ("failed-request", 1)


def _sample(table: str, operation: str):
    export = read_export(ROOT / "samples" / "telemetry" / f"{table}.json")
    column = [c.name for c in export.columns].index("OperationId")
    return export.columns, [row for row in export.rows if row[column] == operation]


def test_evidence_counted_before_its_root_hands_off_only_with_the_root(services) -> None:
    """A job settles an operation with its cause and dies before counting it; meanwhile the
    error line of that operation is counted as evidence. The issue is not started from the
    evidence alone (it would carry the error line's rule and severity): the retried job counts
    the cause and hands the group off under the cause's rule."""
    operation = "1fea631ac24786402a2bd6d4aa306ba7"
    [cause] = _detections(services, "AppExceptions", *_sample("AppExceptions", operation))
    groups = services.grouping.assign([cause.fingerprint])
    occurrence = replace(Occurrence.of(cause, groups[cause.fingerprint.value]), source="production")
    placed, _ = services.operations.place(
        [occurrence], services.clock.now(), services.rules.correlation.wait
    )
    assert [p.root for p in placed] == [True], "settled with its cause; then the job died"
    line = _detections(services, "AppTraces", *_sample("AppTraces", operation))
    report = count_detections(services, "production", line)
    assert (report.new_occurrences, report.notices) == (1, 0)
    retried = count_detections(services, "production", [cause])
    assert (retried.new_occurrences, retried.notices) == (1, 1)
    [group] = services.ledger.summaries()
    assert (group.definition, group.founder.record_id) == (
        "unhandled-exception",
        cause.record.record_id,
    )
