"""The sample generator: the committed night stays byte for byte; the days keep their promises;
in both, one operation's rows join across tables the way real telemetry's do."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from detection.conditions import matches
from detection.records import Column, decode_row
from detection.rules import Condition, load_rules
from samples.catalog import DAYS_SERVICES, SERVICES, days_scenarios
from samples.generate import COLUMNS, RULES, generate, is_malformed, rendered
from samples.model import Service

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "samples" / "telemetry"
DAYS_START = datetime(2026, 11, 17, tzinfo=UTC)
DAYS_END = DAYS_START + timedelta(days=3)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("days")
    generate("days", out)
    return out


def test_a_rendered_sample_is_reused_until_the_generator_changes(tmp_path: Path) -> None:
    out = tmp_path / "night"
    assert rendered("hours", out) == out
    first = (out / "AppRequests.json").stat().st_mtime_ns
    rendered("hours", out)
    assert (out / "AppRequests.json").stat().st_mtime_ns == first
    stamp = out / ".rendered-by"
    stamp.write_text(stamp.read_text().replace("hours ", "hours stale"))
    rendered("hours", out)
    assert (out / "AppRequests.json").stat().st_mtime_ns != first
    assert (out / "AppRequests.json").read_bytes() == (COMMITTED / "AppRequests.json").read_bytes()


def _table(folder: Path, table: str) -> tuple[list[str], list[list[Any]]]:
    result = json.loads((folder / f"{table}.json").read_text(encoding="utf-8"))["tables"][0]
    return [c["name"] for c in result["columns"]], result["rows"]


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value[:26] + "+00:00")


def _records(folder: Path, table: str) -> list[dict[str, Any]]:
    """A table's well-formed rows by column name, dynamic columns decoded."""
    names, rows = _table(folder, table)
    records = []
    for values in rows:
        row = dict(zip(names, values, strict=True))
        if is_malformed(table, row):
            continue
        for name in ("Properties", "LogMessage"):
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        records.append(row)
    return records


# (folder, start, services) of a profile: the committed night, or the days rendered for the module
Sample = tuple[Path, datetime, Mapping[str, Service]]


@pytest.fixture(params=["hours", "days"])
def sample(request: pytest.FixtureRequest) -> Sample:
    if request.param == "hours":
        return COMMITTED, datetime(2026, 11, 20, tzinfo=UTC), SERVICES
    return request.getfixturevalue("days"), DAYS_START, DAYS_SERVICES


APP_INSIGHTS = ("AppRequests", "AppDependencies", "AppTraces", "AppExceptions")


def test_the_default_profile_reproduces_the_committed_files(tmp_path: Path) -> None:
    generate("hours", tmp_path)
    committed = sorted(p.name for p in COMMITTED.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_days_has_the_committed_layout_and_a_reasonable_size(days: Path) -> None:
    assert sorted(p.name for p in days.iterdir()) == sorted(p.name for p in COMMITTED.iterdir())
    for table in COLUMNS:
        head = (days / f"{table}.json").read_text(encoding="utf-8").split("\n", 1)[0]
        assert head == (COMMITTED / f"{table}.json").read_text(encoding="utf-8").split("\n", 1)[0]
    rows = {table: len(_table(days, table)[1]) for table in COLUMNS}
    assert all(count > 1000 for count in rows.values()), rows
    assert 40_000 <= sum(rows.values()) <= 80_000
    assert sum(p.stat().st_size for p in days.iterdir()) < 40_000_000


def test_days_labels_follow_the_rules_file(days: Path) -> None:
    """labels.json agrees with the independent reading of faultline.yaml's `when` conditions."""
    rules = load_rules((ROOT / "faultline.yaml").read_text(encoding="utf-8"), {})
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    for table, (definition, rule) in RULES.items():
        assert [d.name for d in rules.definitions_for(table)] == [definition]
        names, rows = _table(days, table)
        malformed, failing = [], []
        for index, values in enumerate(rows):
            row = dict(zip(names, values, strict=True))
            if is_malformed(table, row):
                malformed.append(index)
            elif rule(row):
                failing.append(index)
        assert labels[table]["malformed"] == malformed, table
        assert labels[table]["failing"] == {definition: failing}, table
        grouped = sorted(
            i for ids in labels[table]["root_causes"][definition].values() for i in ids
        )
        assert grouped == failing, table
    malformed_tables = {t for t, label in labels.items() if label["malformed"]}
    assert malformed_tables == {"OrdersService_CL", "ContainerLogV2"}


def test_days_has_hundreds_of_root_causes_in_every_runtime(days: Path) -> None:
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    causes = {
        cause
        for label in labels.values()
        for by_cause in label["root_causes"].values()
        for cause in by_cause
    }
    assert 300 <= len(causes) <= 500
    service = {s.id: s.service for s in days_scenarios() if s.kind == "failure"}
    assert set(service) == causes
    runtimes = Counter(DAYS_SERVICES[service[c]].runtime for c in causes)
    assert set(runtimes) == {"dotnet", "java", "python", "node", "go"}
    assert min(runtimes.values()) >= 30, runtimes


def test_days_times_lateness_and_recurrence(days: Path) -> None:
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    lags: list[timedelta] = []
    days_seen: dict[str, set[int]] = defaultdict(set)
    occurrences: Counter[str] = Counter()
    by_hour: Counter[int] = Counter()
    for table in COLUMNS:
        names, rows = _table(days, table)
        generated, ingested = names.index("TimeGenerated"), names.index("IngestionTime")
        assert [r[ingested] for r in rows] == sorted(r[ingested] for r in rows)
        malformed = set(labels[table]["malformed"])
        valid = [r for i, r in enumerate(rows) if i not in malformed]
        for row in valid:
            moment = _moment(row[generated])
            assert DAYS_START <= moment < DAYS_END
            lags.append(_moment(row[ingested]) - moment)
        for by_cause in labels[table]["root_causes"].values():
            for cause, indexes in by_cause.items():
                for index in indexes:
                    moment = _moment(rows[index][generated])
                    days_seen[cause].add((moment - DAYS_START).days)
                    by_hour[moment.hour] += 1
                occurrences[cause] = max(occurrences[cause], len(indexes))
    late = [lag for lag in lags if lag >= timedelta(minutes=10)]
    assert 0.06 <= len(late) / len(lags) <= 0.10
    assert min(lags) >= timedelta(seconds=20)
    assert max(lags) < timedelta(minutes=50)
    assert max(late) >= timedelta(minutes=40)
    chronic = [c for c, seen in days_seen.items() if seen == {0, 1, 2}]
    regressions = [c for c, seen in days_seen.items() if seen == {0, 2}]
    one_offs = [c for c, count in occurrences.items() if count <= 2]
    assert len(chronic) >= 60 and len(regressions) >= 20 and len(one_offs) >= 30
    business = sum(by_hour[h] for h in range(8, 16)) / 8
    night = sum(by_hour[h] for h in range(0, 5)) / 5
    assert business > 3 * night


def test_functions_rows_carry_the_invocation_id_of_their_function_app_logs(sample: Sample) -> None:
    folder, _, services = sample
    functions = {role for role, s in services.items() if s.hosting == "functions"}
    invocations: dict[str, tuple[str, str]] = {}  # FunctionInvocationId -> (app, function)
    for row in _records(folder, "FunctionAppLogs"):
        if row["FunctionInvocationId"]:
            app = row["_ResourceId"].rsplit("/", 1)[1]
            invocations[row["FunctionInvocationId"]] = (app, row["FunctionName"])
    operations: dict[str, set[str]] = defaultdict(set)  # InvocationId -> OperationIds
    joined: Counter[str] = Counter()
    for table in ("AppRequests", "AppTraces", "AppExceptions"):
        for row in _records(folder, table):
            if row["AppRoleName"] not in functions:
                assert "InvocationId" not in row["Properties"], row
                continue
            invocation = row["Properties"]["InvocationId"]
            assert invocations[invocation] == (row["AppRoleName"], row["OperationName"]), row
            assert row["Properties"]["HostInstanceId"], row
            operations[invocation].add(row["OperationId"])
            joined[table] += 1
    assert all(joined[t] for t in ("AppTraces", "AppExceptions")), joined
    assert all(len(ids) == 1 for ids in operations.values())
    by_operation = Counter(next(iter(ids)) for ids in operations.values())
    assert max(by_operation.values()) == 1  # one operation, one invocation
    assert "Properties" not in _table(folder, "AppDependencies")[0]  # the workers' calls


def test_trace_ids_in_container_lines_are_the_operation_ids(sample: Sample) -> None:
    folder, _, services = sample
    operations: dict[str, set[str]] = defaultdict(set)  # OperationId -> roles
    requests = {}
    for table in APP_INSIGHTS:
        for row in _records(folder, table):
            operations[row["OperationId"]].add(row["AppRoleName"])
            if table == "AppRequests":
                requests[row["OperationId"]] = row
    traced: Counter[str] = Counter()
    for row in _records(folder, "ContainerLogV2"):
        line = row["LogMessage"]
        if not isinstance(line, dict):
            continue
        runtime = services[row["ContainerName"]].runtime if row["ContainerName"] in services else ""
        if "trace_id" not in line:
            continue
        traced[runtime] += 1
        assert operations[line["trace_id"]] == {row["ContainerName"]}, line
        assert re.fullmatch("[0-9a-f]{16}", line["span_id"]), line
        assert line.get("trace_flags") == (None if runtime == "go" else "01"), line
        request = requests.get(line["trace_id"])
        if request is not None:  # logged in the request's span, on the pod that served it
            assert line["span_id"] == request["Id"], line
            assert request["AppRoleInstance"] == row["PodName"], line
    expected = {"go", "java", "node"} if "promotions-svc" in services else {"go", "java"}
    assert set(traced) == expected, traced


def test_lines_outside_an_operation_carry_no_trace_context(sample: Sample) -> None:
    """Start-up, timers and housekeeping threads log with no span active."""
    outside = (
        "listening",
        "config loaded",
        "refreshing price feed",
        "jvm stats",
        "HikariPool-1",
        "Server listening",
        "promotion rules refreshed",
    )
    seen = 0
    for row in _records(sample[0], "ContainerLogV2"):
        line = row["LogMessage"]
        if isinstance(line, dict) and str(line.get("msg", line.get("message"))).startswith(outside):
            assert "trace_id" not in line and "span_id" not in line, line
            seen += 1
    assert seen > 20


def test_versions_change_at_releases_with_the_instances(sample: Sample) -> None:
    folder, start, services = sample
    versions: dict[str, dict[bool, set[str]]] = defaultdict(lambda: defaultdict(set))
    instances: dict[str, dict[bool, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in _records(folder, "AppRequests"):
        service = services[row["AppRoleName"]]
        minute = (_moment(row["TimeGenerated"]) - start).total_seconds() / 60
        after = service.release_minute is not None and minute >= service.release_minute
        versions[service.role][after].add(row["AppVersion"])
        instances[service.role][after].add(row["AppRoleInstance"])
    released = [s for s in services.values() if s.release_minute is not None]
    assert {s.role for s in released} <= set(versions)
    for service in released:
        assert versions[service.role] == {False: {service.version}, True: {service.released}}
        assert not instances[service.role][False] & instances[service.role][True]
    for role, by_release in versions.items():
        if services[role].release_minute is None:
            assert by_release == {False: {services[role].version}}, role
    for table in APP_INSIGHTS:
        for row in _records(folder, table):
            service = services[row["AppRoleName"]]
            assert row["AppVersion"] in {service.version, service.released}, row
            assert row["AppRoleInstance"] and row["ClientType"] == "PC", row
    assert versions["inventory-func"] == {False: {""}}  # the Functions host sets no AppVersion


def test_only_a_browsers_requests_and_their_exceptions_know_the_user(sample: Sample) -> None:
    folder, _, services = sample
    browser_operations = set()
    for row in _records(folder, "AppRequests"):
        if services[row["AppRoleName"]].end_users:
            assert re.fullmatch(r"[A-Za-z0-9+/]{22}", row["UserId"]), row
            assert row["UserAuthenticatedId"] == "" or re.fullmatch(
                r"[0-9a-f-]{36}", row["UserAuthenticatedId"]
            ), row
            browser_operations.add(row["OperationId"])
        else:
            assert row["UserId"] == row["UserAuthenticatedId"] == "", row
    users = Counter(
        row["UserAuthenticatedId"] != ""
        for row in _records(folder, "AppRequests")
        if row["OperationId"] in browser_operations
    )
    assert users[True] and users[False]  # some visitors sign in, some do not
    for row in _records(folder, "AppExceptions"):
        assert bool(row["UserId"]) == (row["OperationId"] in browser_operations), row


# faultline.yaml's container-error definition, as the rules file states it
CONTAINER_ERROR = r"""
any:
  - {field: LogLevel, in: [error, critical, fatal]}
  - {field: LogMessage.level, in: [error, fatal, critical, panic, dpanic]}
  - {field: LogMessage.level, gte: 50}
  - {field: LogMessage.level_value, gte: 40000}
  - {field: LogMessage.@l, in: [Error, Fatal]}
  - {field: LogMessage.severity, in: [ERROR, CRITICAL, ALERT, EMERGENCY]}
  - {field: LogMessage, regex: "(?i)\\b(panic|traceback|unhandled exception)\\b"}
"""


def test_container_labels_agree_with_faultlines_own_evaluator(sample: Sample) -> None:
    """The labels' independent reading and Faultline's evaluator judge every line alike."""
    folder = sample[0]
    condition = Condition.model_validate(yaml.safe_load(CONTAINER_ERROR))
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["ContainerLogV2"]
    result = json.loads((folder / "ContainerLogV2.json").read_text(encoding="utf-8"))["tables"][0]
    columns = [Column(c["name"], c["type"]) for c in result["columns"]]
    failing = [
        index
        for index, values in enumerate(result["rows"])
        if index not in labels["malformed"] and matches(condition, decode_row(columns, values))
    ]
    assert failing == labels["failing"]["container-error"]


def test_pino_lines_of_different_causes_share_a_message(days: Path) -> None:
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))["ContainerLogV2"]
    names, rows = _table(days, "ContainerLogV2")
    messages: dict[str, set[str]] = defaultdict(set)  # msg -> causes
    for cause, indexes in labels["root_causes"]["container-error"].items():
        for index in indexes:
            row = dict(zip(names, rows[index], strict=True))
            line = json.loads(row["LogMessage"])
            if row["ContainerName"] == "promotions-svc":
                assert line["level"] == 50 and row["LogLevel"] == "50", row
                assert set(line["err"]) == {"type", "message", "stack"}, row
                messages[line["msg"]].add(cause)
    assert len(messages) == 2 and all(len(causes) >= 2 for causes in messages.values())
