"""Faultline's own telemetry: the catalogue (`pipeline/metrics.py`), what the dashboards read of it,
what the use cases emit into it, and the sinks it goes to.

- The workbook and the alert rules (`infra/app/dashboard.bicep`) query only metrics the code
  lists, split only by attributes those metrics carry, and the workbook charts every metric.
- Every metric of the catalogue is emitted by a use case, and with the right values: counting,
  ingest and the issue workflow on in-memory ports (`tests/support/`), the workflow whole on the
  in-memory task hub.
- Log records about one failure carry its fingerprint, issue and operation id.
- The adapters: OpenTelemetry instruments (on the SDK's in-memory reader), the Azure Monitor
  distro configured once with the managed identity, the local run's JSON-lines file and its sums.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from adapters import telemetry
from adapters.exported_logs import ExportedLogsSource
from adapters.telemetry import JsonLinesMetrics, OpenTelemetryMetrics, read_measurements
from detection.rules import Assignment, Rules, load_rules
from detection.windows import QueryWindow
from local_host.metrics import percentile, report_metrics, summary_lines
from pipeline.alerts import receive
from pipeline.ingest import record_poisoned, run_query_job
from pipeline.messages import FailureNotice, QueryJob
from pipeline.metrics import (
    ASSIGNMENTS,
    BY_NAME,
    GITHUB_BUDGET,
    ISSUES,
    LOG_FIELDS,
    METRICS,
    NOTICES,
    OCCURRENCES,
    POISONED,
    QUERY_JOBS,
    QUERY_LAG,
    QUERY_ROWS,
    TIME_TO_ISSUE,
    operation_id,
)
from pipeline.ports import Counted, QueryOutcome, QueryPlan, Throttled
from pipeline.services import Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.assignment import assign_issue, assignment_decision
from pipeline.workflow.messages import Synced, WorkflowRequest
from pipeline.workflow.starter import record_poisoned_notice
from tests.support.failures import FRIDAY_MORNING, occurrences
from tests.support.memory import Memory, MemoryMetrics, MemoryTracker
from tests.support.workflows import MemoryWorkflows
from tests.unit.test_infra import _at, _properties, _resource, _string_value, _text, bicep

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "infra" / "app" / "dashboard.bicep"
WORKBOOK = ROOT / "infra" / "app" / "workbook.json"
ALERT_RULES = ("poisonedAlert", "lagAlert", "failedExecutionsAlert")
SAMPLES = ROOT / "samples" / "telemetry"
SHOP = "contoso/shop"
# AppExceptions rows of the sample night ingested in its first half hour
EXCEPTIONS = QueryJob.for_window(
    "production",
    "AppExceptions",
    QueryWindow(
        datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 0, 30, tzinfo=UTC),
        timedelta(hours=1),
    ),
)


# --- the catalogue, and what the workbook and the alerts read of it -----------------------------


def test_the_catalogue_names_each_metric_once_with_its_unit_and_meaning() -> None:
    names = [metric.name for metric in METRICS]
    assert len(names) == len(set(names)) == len(BY_NAME)
    for metric in METRICS:
        assert re.fullmatch(r"faultline(\.[a-z_]+)+", metric.name), metric.name
        assert metric.kind in ("counter", "histogram") and metric.unit, metric.name
        assert len(metric.description.split()) >= 6, f"{metric.name} says what it counts"
        assert all(re.fullmatch(r"[a-z_]+", a) for a in metric.attributes), metric.name


def _workbook_queries() -> dict[str, str]:
    """The workbook's queries by item name."""
    items = json.loads(WORKBOOK.read_text())["items"]
    return {item["name"]: item["content"]["query"] for item in items if item["type"] == 3}


def _alert_queries() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each alert rule's query (read from the file it loads) and its condition's properties."""
    found = {}
    for name in ALERT_RULES:
        kind, props = _resource(DASHBOARD, name)
        assert kind == "Microsoft.Insights/scheduledQueryRules@2023-12-01"
        (condition,) = _at(props, "properties", "criteria", "allOf").named_children
        criteria = _properties(condition)
        loaded = re.fullmatch(r"loadTextContent\('([\w/.-]+\.kql)'\)", _text(criteria["query"]))
        assert loaded, f"{name}'s query is a file beside the module"
        query = (DASHBOARD.parent / loaded.group(1)).read_text()
        found[name] = (query, criteria)
    return found


def _all_queries() -> dict[str, str]:
    alerts = {f"alert {name}": query for name, (query, _) in _alert_queries().items()}
    return {**{f"workbook {k}": v for k, v in _workbook_queries().items()}, **alerts}


def _metrics_read(query: str) -> set[str]:
    return set(re.findall(r"\bfaultline(?:\.[a-z_]+)+", query))


def _dimensions_read(query: str) -> set[str]:
    return set(re.findall(r"customDimensions\.(\w+)", query))


@pytest.mark.parametrize("where", sorted(_all_queries()))
def test_every_metric_and_dimension_a_dashboard_reads_is_one_the_code_emits(where: str) -> None:
    query = _all_queries()[where]
    read = _metrics_read(query)
    assert read <= set(BY_NAME), f"{where} reads metrics the code does not list: {read}"
    dimensions = _dimensions_read(query)
    if "customMetrics" in query:
        assert read, f"{where} reads customMetrics without naming a metric"
        carried = {a for name in read for a in BY_NAME[name].attributes}
        assert dimensions <= carried, f"{where} splits by {dimensions - carried}"
    elif "traces" in query:
        assert dimensions <= set(LOG_FIELDS), f"{where} reads {dimensions - set(LOG_FIELDS)}"
    else:
        assert not read and not dimensions, where


def test_the_workbook_charts_every_metric_of_the_catalogue() -> None:
    charted = set().union(*(_metrics_read(q) for q in _workbook_queries().values()))
    assert charted == set(BY_NAME)


def test_the_workbook_queries_the_apps_application_insights() -> None:
    workbook = json.loads(WORKBOOK.read_text())
    placeholder = "__APPLICATION_INSIGHTS__"
    assert workbook["fallbackResourceIds"] == [placeholder]
    for item in workbook["items"]:
        if item["type"] == 3:
            content = item["content"]
            assert content["crossComponentResources"] == [placeholder], item["name"]
            assert content["resourceType"] == "microsoft.insights/components"
            assert content["timeContextFromParameter"] == "TimeRange"
    kind, props = _resource(DASHBOARD, "workbook")
    assert kind == "Microsoft.Insights/workbooks@2023-06-01"
    assert _text(_at(props, "properties", "serializedData")) == (
        f"replace(workbookJson, '{placeholder}', applicationInsights.id)"
    )
    assert _text(bicep(DASHBOARD).variables["workbookJson"]) == "loadTextContent('workbook.json')"
    assert _text(_at(props, "properties", "sourceId")) == "applicationInsights.id"


def _projected(query: str) -> set[str]:
    """The columns a query's last `project` keeps (`name` or `name = expression`)."""
    projection = query.rsplit("| project ", 1)[1].split("|")[0]
    return {part.split("=")[0].strip() for part in projection.split(",")}


@pytest.mark.parametrize("name", ALERT_RULES)
def test_each_alert_measures_and_splits_by_columns_its_query_returns(name: str) -> None:
    query, criteria = _alert_queries()[name]
    columns = _projected(query)
    assert "timestamp" in columns, "the service bins the rows by time itself"
    if "metricMeasureColumn" in criteria:
        assert _string_value(criteria["metricMeasureColumn"]) in columns
    for dimension in criteria["dimensions"].named_children:
        assert _string_value(_properties(dimension)["name"]) in columns
    _, props = _resource(DASHBOARD, name)
    assert _text(_at(props, "properties", "scopes")).split() == ["[", "applicationInsights.id", "]"]
    assert _text(_at(props, "properties", "actions", "actionGroups")) == "alertActions"
    assert _string_value(_at(props, "properties", "windowSize")) == "PT15M"


def test_alerts_fire_on_any_poisoned_message_failed_execution_or_lag_beyond_the_bound() -> None:
    alerts = _alert_queries()
    assert _metrics_read(alerts["poisonedAlert"][0]) == {POISONED.name}
    assert _metrics_read(alerts["lagAlert"][0]) == {QUERY_LAG.name}
    assert alerts["failedExecutionsAlert"][0].startswith("// ")
    assert "requests\n| where success == false" in alerts["failedExecutionsAlert"][0]
    thresholds = {name: _text(criteria["threshold"]) for name, (_, criteria) in alerts.items()}
    assert thresholds == {
        "poisonedAlert": "0",
        "lagAlert": "lagAlertMinutes * 60",
        "failedExecutionsAlert": "0",
    }
    assert QUERY_LAG.unit == "s", "the rule compares seconds"


def test_alerts_email_through_an_action_group_only_when_an_address_is_given() -> None:
    dashboard = bicep(DASHBOARD)
    assert _text(dashboard.variables["emailEnabled"]) == "!empty(alertEmail)"
    assert _text(dashboard.variables["alertActions"]) == "emailEnabled ? [actionGroup.id] : []"
    kind, group = _resource(DASHBOARD, "actionGroup")
    assert kind == "Microsoft.Insights/actionGroups@2023-01-01"
    (receiver,) = _at(group, "properties", "emailReceivers").named_children
    assert _text(_properties(receiver)["emailAddress"]) == "alertEmail"
    assert len(_string_value(_at(group, "properties", "groupShortName"))) <= 12
    assert "if (emailEnabled)" in DASHBOARD.read_text()
    parameters = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert parameters["alertEmail"]["value"] == "${FAULTLINE_ALERT_EMAIL}"
    assert parameters["lagAlertMinutes"]["value"] == "${FAULTLINE_LAG_ALERT_MINUTES=30}"
    main = (ROOT / "infra" / "main.bicep").read_text()
    assert "alertEmail: alertEmail" in main and "lagAlertMinutes: lagAlertMinutes" in main


# --- the use cases emit every metric, with the right values -------------------------------------


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _rules(**changes: Any) -> Rules:
    """The shipped rules file with `dotted.keys` changed."""
    document = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return load_rules(yaml.safe_dump(document), {})


# rows without an operation count at once; assign whenever, so a night run is assigned too
RULES = {"correlation.enabled": False, "assignment.outside_business_hours": "assign"}


def _services(memory: Memory, clock: Clock, **rules: Any) -> Services:
    services = memory.services(
        _rules(**{**RULES, **rules}), clock.now, {"FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1"}
    )
    return replace(services, log_source=ExportedLogsSource(SAMPLES))


def _after_ingest(metrics: MemoryMetrics | None = None) -> tuple[Memory, Clock, Services, Any]:
    """The sample night's first AppExceptions job, run five minutes after its window ended."""
    clock = Clock(EXCEPTIONS.end + timedelta(minutes=5))
    memory = Memory(MemoryTracker(clock.now), metrics=metrics or MemoryMetrics())
    services = _services(memory, clock)
    report = run_query_job(services, EXCEPTIONS.model_dump_json())
    assert report.outcome == "done" and report.notices > 0, "the sample has failures there"
    return memory, clock, services, report


def test_a_query_job_reports_rows_lag_occurrences_and_notices() -> None:
    memory, _, _, report = _after_ingest()
    metrics = memory.metrics
    table = {"source": "production", "table": "AppExceptions"}
    assert metrics.values(QUERY_JOBS, **table, outcome="done") == [1]
    assert metrics.total(QUERY_ROWS, **table) == report.rows > 0
    assert metrics.values(QUERY_LAG, **table) == [300.0]
    assert metrics.total(OCCURRENCES) == report.new_occurrences > 0
    assert metrics.total(NOTICES) == report.notices == len(memory.failure_queue.sent)
    definitions = {e.attributes["definition"] for e in metrics.emitted if e.metric == NOTICES}
    assert definitions == {"unhandled-exception"}


def test_reading_a_window_again_counts_its_rows_but_no_occurrence_twice() -> None:
    memory, clock, services, first = _after_ingest()
    again = run_query_job(services, EXCEPTIONS.model_dump_json())
    assert again.new_occurrences == 0
    assert memory.metrics.total(OCCURRENCES) == first.new_occurrences
    assert memory.metrics.total(QUERY_ROWS) == first.rows + again.rows


def test_a_replay_is_counted_but_left_out_of_the_lag() -> None:
    clock = Clock(EXCEPTIONS.end + timedelta(days=3))
    memory = Memory(MemoryTracker(clock.now))
    replayed = EXCEPTIONS.model_copy(update={"origin": "replay"})
    run_query_job(_services(memory, clock), replayed.model_dump_json())
    assert memory.metrics.values(QUERY_JOBS, outcome="done") == [1]
    assert memory.metrics.total(QUERY_ROWS) > 0
    assert memory.metrics.values(QUERY_LAG) == []


class Throttling:
    def run(self, plan: QueryPlan) -> QueryOutcome:
        raise Throttled(timedelta(seconds=30), "429")


def test_a_throttled_job_reports_its_outcome_and_no_lag() -> None:
    clock = Clock(EXCEPTIONS.end)
    memory = Memory(MemoryTracker(clock.now))
    services = replace(_services(memory, clock), log_source=Throttling())
    assert run_query_job(services, EXCEPTIONS.model_dump_json()).outcome == "throttled"
    assert memory.metrics.values(QUERY_JOBS, outcome="throttled") == [1]
    assert memory.metrics.values(QUERY_LAG) == memory.metrics.values(QUERY_ROWS) == []


def test_poisoned_jobs_and_notices_are_counted_by_kind() -> None:
    clock = Clock(FRIDAY_MORNING)
    memory = Memory(MemoryTracker(clock.now))
    services = _services(memory, clock)
    record_poisoned(services, "not json at all")
    record_poisoned_notice(services, "{}")
    assert memory.metrics.values(POISONED, kind="query-jobs") == [1]
    assert memory.metrics.values(POISONED, kind="failure-notices") == [1]


def _workflow_request(services: Services, notice: FailureNotice, **changes: Any) -> WorkflowRequest:
    return WorkflowRequest(
        notice=notice,
        repository=SHOP,
        labels=("faultline",),
        assignment=changes.pop("assignment", Assignment(kind="copilot")),
        recheck_seconds=900,
        **changes,
    )


def _counted(services: Services, group: str, total: int) -> FailureNotice:
    entry = services.ledger.record(
        group, [Counted(o, True) for o in occurrences(group, total)], services.rules.thresholds()
    )
    return FailureNotice.of(entry)


def test_an_issue_created_reports_its_wait_since_the_first_occurrence_and_githubs_budget() -> None:
    clock = Clock(FRIDAY_MORNING + timedelta(minutes=45))
    memory = Memory(MemoryTracker(clock.now))
    services = _services(memory, clock)
    notice = _counted(services, "a" * 32, 3)
    synced = sync_issue(services, _workflow_request(services, notice))
    assert isinstance(synced, Synced) and synced.action == "created"
    metrics = memory.metrics
    assert metrics.values(ISSUES, action="created", repository=SHOP) == [1]
    # the first of the group's occurrences is at FRIDAY_MORNING
    assert metrics.values(TIME_TO_ISSUE, repository=SHOP) == [45 * 60.0]
    assert metrics.values(TIME_TO_ISSUE)[0] == (clock.now() - notice.first_seen).total_seconds()
    (used,) = metrics.values(GITHUB_BUDGET, resource="core")
    assert used == 100 * memory.tracker.requests / memory.tracker.request_limit > 0


def test_refreshes_comments_and_reopenings_are_counted() -> None:
    clock = Clock(FRIDAY_MORNING)
    memory = Memory(MemoryTracker(clock.now))
    services = _services(memory, clock)
    group = "b" * 32
    sync_issue(services, _workflow_request(services, _counted(services, group, 2)))
    clock.moment += timedelta(hours=7)  # past the refresh (1h) and comment (6h) intervals
    sync_issue(services, _workflow_request(services, _counted(services, group, 6)))
    ((_, number),) = memory.tracker.issues
    memory.tracker.edit(SHOP, number, state="closed")
    clock.moment += timedelta(hours=1)
    later = [replace(o, time=clock.moment) for o in occurrences(group, 8)[6:]]
    entry = services.ledger.record(
        group, [Counted(o, True) for o in later], services.rules.thresholds()
    )
    sync_issue(services, _workflow_request(services, FailureNotice.of(entry)))
    actions = [e.attributes["action"] for e in memory.metrics.emitted if e.metric == ISSUES]
    assert actions == ["created", "updated", "commented", "reopened"]
    assert len(memory.metrics.values(TIME_TO_ISSUE)) == 1, "a reopening is not a new issue"


@pytest.mark.parametrize(
    ("assignment", "assignable", "outcome"),
    [
        (Assignment(kind="copilot"), True, "assigned"),
        (Assignment(kind="copilot"), False, "failed"),
        (Assignment(kind="users", users=("octocat",)), True, "assigned"),
    ],
)
def test_assignment_outcomes_are_counted_by_kind(
    assignment: Assignment, assignable: bool, outcome: str
) -> None:
    clock = Clock(FRIDAY_MORNING)
    memory = Memory(MemoryTracker(clock.now, copilot_assignable=assignable))
    services = _services(memory, clock)
    notice = _counted(services, "c" * 32, 2)
    synced = sync_issue(services, _workflow_request(services, notice))
    assert isinstance(synced, Synced) and synced.number is not None
    request = _workflow_request(services, notice, assignment=assignment, issue=synced.number)
    assign_issue(services, request)
    assert memory.metrics.values(ASSIGNMENTS, outcome=outcome, kind=assignment.kind) == [1]
    assert memory.metrics.values(GITHUB_BUDGET), "the assignment step reports the budget too"


def test_a_route_that_assigns_nobody_counts_as_skipped() -> None:
    clock = Clock(FRIDAY_MORNING)
    memory = Memory(MemoryTracker(clock.now))
    services = _services(memory, clock)
    request = _workflow_request(
        services, _counted(services, "d" * 32, 2), assignment=Assignment(kind="none")
    )
    assignment_decision(services, request)
    assert memory.metrics.values(ASSIGNMENTS, outcome="skipped", kind="none") == [1]


def test_every_metric_of_the_catalogue_is_emitted_by_a_use_case() -> None:
    """A night's first job, its notices through whole workflows on the in-memory task hub, a
    poisoned job and an alert webhook's request: every metric the dashboards chart is one the
    code emits."""
    memory, clock, services, _ = _after_ingest()
    workflows = MemoryWorkflows(services, clock, memory.failure_queue)
    workflows.drain()
    workflows.wait_until_idle()
    record_poisoned(services, "not a job")
    receive(services, "nagios", b"{}", {}, {})
    assert memory.metrics.names() == set(BY_NAME)


def test_a_metric_is_refused_with_an_attribute_it_does_not_declare_or_the_wrong_verb() -> None:
    for sink in (MemoryMetrics(), OpenTelemetryMetrics(MeterProvider())):
        with pytest.raises(ValueError, match="declares the attributes"):
            sink.count(NOTICES, definition="x", fingerprint="f" * 32)
        with pytest.raises(ValueError, match="is a histogram"):
            sink.count(QUERY_LAG, source="s", table="t")
        with pytest.raises(ValueError, match="is a counter"):
            sink.record(NOTICES, 1.0, definition="x")


# --- structured logs ----------------------------------------------------------------------------


def test_log_records_about_a_failure_carry_its_fingerprint_issue_and_operation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")
    memory, clock, services, _ = _after_ingest()
    handed = [r for r in caplog.records if "handed to the issue workflow" in r.getMessage()]
    assert handed and all(set(LOG_FIELDS) <= vars(r).keys() for r in handed)
    for record in handed:
        fields = vars(record)  # `extra=` lands as attributes of the record
        entry = services.ledger.summary(fields["fingerprint"])
        assert entry is not None and fields["fingerprint"] in record.getMessage()
        assert fields["operation_id"] == operation_id(entry.founder)
        assert re.fullmatch(r"[0-9a-f]{32}", fields["operation_id"])

    caplog.clear()
    MemoryWorkflows(services, clock, memory.failure_queue).drain()
    created = [r for r in caplog.records if r.getMessage().startswith("created ")]
    assert created
    urls = {issue.ref.url for issue in memory.tracker.issues.values()}
    for record in created:
        fields = {field: getattr(record, field) for field in LOG_FIELDS}
        assert fields["issue"] in urls and fields["fingerprint"] in record.getMessage()
        assert re.fullmatch(r"[0-9a-f]{32}", fields["operation_id"])


# --- the adapters -------------------------------------------------------------------------------


def test_opentelemetry_instruments_carry_the_catalogues_names_units_and_attributes() -> None:
    reader = InMemoryMetricReader()
    sink = OpenTelemetryMetrics(MeterProvider(metric_readers=[reader]))
    sink.count(OCCURRENCES, 3, definition="unhandled-exception")
    sink.count(OCCURRENCES, 2, definition="unhandled-exception")
    sink.record(QUERY_LAG, 120.0, source="production", table="AppTraces")
    sink.record(QUERY_LAG, 300.0, source="production", table="AppTraces")
    data = reader.get_metrics_data()
    assert data is not None
    (scope,) = data.resource_metrics[0].scope_metrics
    assert scope.scope.name == telemetry.METER
    exported = {metric.name: metric for metric in scope.metrics}
    for metric in (OCCURRENCES, QUERY_LAG):
        assert exported[metric.name].unit == metric.unit
        assert exported[metric.name].description == metric.description
    (counted,) = exported[OCCURRENCES.name].data.data_points
    assert counted.value == 5 and dict(counted.attributes or {}) == {
        "definition": "unhandled-exception"
    }
    (lag,) = exported[QUERY_LAG.name].data.data_points
    assert (lag.count, lag.sum, lag.max) == (2, 420.0, 300.0)  # type: ignore[union-attr]


class Configured:
    """Stands in for the distro's `configure_azure_monitor`, noting what it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **options: Any) -> None:
        self.calls.append(options)


def test_azure_monitor_is_configured_once_with_the_managed_identity_and_nothing_else_collected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.monitor.opentelemetry

    configure = Configured()
    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", configure)
    monkeypatch.setattr(telemetry, "_configured", [])
    monkeypatch.setattr(logging.getLogger(telemetry.LOGGER), "level", logging.NOTSET)

    identities: list[str | None] = []

    class Identity:
        def __init__(self, client_id: str | None = None) -> None:
            identities.append(client_id)

    monkeypatch.setattr("azure.identity.ManagedIdentityCredential", Identity)
    from bootstrap import _metrics
    from pipeline.settings import AppSettings

    settings = AppSettings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__clientId": "client-of-the-app-identity",
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000",
        }
    )
    first = _metrics(settings, None, Clock(FRIDAY_MORNING))
    second = _metrics(settings, None, Clock(FRIDAY_MORNING))
    assert isinstance(first, OpenTelemetryMetrics) and isinstance(second, OpenTelemetryMetrics)
    (options,) = configure.calls
    assert identities == ["client-of-the-app-identity", "client-of-the-app-identity"]
    assert isinstance(options.pop("credential"), Identity)
    assert options == {
        "connection_string": "InstrumentationKey=00000000-0000",
        "logger_name": "pipeline",
        "enable_live_metrics": False,
        "enable_performance_counters": False,
        "instrumentation_options": {
            name: {"enabled": False} for name in telemetry.INSTRUMENTATIONS
        },
    }
    assert logging.getLogger("pipeline").level == logging.INFO


def test_a_named_metrics_file_wins_over_application_insights(tmp_path: Path) -> None:
    """A local run names its file; a connection string left in the shell must not send its
    metrics to Azure with a managed identity this machine does not have."""
    from bootstrap import _metrics
    from pipeline.settings import AppSettings

    path = tmp_path / "metrics.jsonl"
    settings = AppSettings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "FAULTLINE_METRICS_FILE": str(path),
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000",
        }
    )
    sink = _metrics(settings, None, Clock(FRIDAY_MORNING))
    assert isinstance(sink, JsonLinesMetrics)
    sink.count(NOTICES, definition="unhandled-exception")
    assert [m.metric for m in read_measurements(path)] == [NOTICES.name]
    bare = AppSettings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert isinstance(_metrics(bare, None, Clock(FRIDAY_MORNING)), OpenTelemetryMetrics)


def test_two_processes_append_to_one_metrics_file_and_it_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metrics.jsonl"
    clock = Clock(FRIDAY_MORNING)
    driver, worker = JsonLinesMetrics(path, clock.now), JsonLinesMetrics(path, clock.now)
    driver.count(NOTICES, definition="unhandled-exception")
    worker.count(ISSUES, action="created", repository=SHOP)
    clock.moment += timedelta(minutes=5)
    driver.record(QUERY_LAG, 42.5, source="production", table="AppTraces")
    read = list(read_measurements(path))
    assert [(m.metric, m.value, m.at) for m in read] == [
        (NOTICES.name, 1, FRIDAY_MORNING),
        (ISSUES.name, 1, FRIDAY_MORNING),
        (QUERY_LAG.name, 42.5, FRIDAY_MORNING + timedelta(minutes=5)),
    ]
    assert read[1].attributes == {"action": "created", "repository": SHOP}
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:4: not a measurement"):
        list(read_measurements(path))


def test_a_local_run_names_its_metrics_file_in_its_output_folder(tmp_path: Path) -> None:
    """Set in the environment before the Durable worker process starts, so both processes of
    the run append to the one file that `report_metrics` sums at the end."""
    from local_host.run import prepare

    plan = prepare(SAMPLES, None, tmp_path / "out", None, {})
    assert plan.environment["FAULTLINE_METRICS_FILE"] == str(tmp_path / "out" / "metrics.jsonl")


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([], 0.0, 0.0), ([7.0], 7.0, 7.0), ([float(v) for v in range(1, 101)], 50.0, 95.0)],
)
def test_percentiles_are_nearest_rank(values: list[float], p50: float, p95: float) -> None:
    assert (percentile(values, 50), percentile(values, 95)) == (p50, p95)


def test_the_local_run_sums_its_metrics_into_a_json_file_and_a_few_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "metrics.jsonl"
    clock = Clock(FRIDAY_MORNING)
    sink = JsonLinesMetrics(path, clock.now)
    sink.count(OCCURRENCES, 4, definition="failed-request")
    sink.count(OCCURRENCES, 6, definition="unhandled-exception")
    for action in ("created", "created", "updated"):
        sink.count(ISSUES, action=action, repository=SHOP)
    for minutes in (10, 20, 90):
        sink.record(TIME_TO_ISSUE, minutes * 60.0, definition="failed-request", repository=SHOP)
    sink.record(GITHUB_BUDGET, 12.0, resource="core")
    out = tmp_path / "out"
    lines = report_metrics(str(path), out)
    summed = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(summed) == set(BY_NAME), "every metric, zero when never emitted"
    assert summed[OCCURRENCES.name]["total"] == 10
    assert [s["total"] for s in summed[OCCURRENCES.name]["series"]] == [4, 6]
    assert summed[NOTICES.name] | {"series": []} == {
        "kind": "counter",
        "unit": NOTICES.unit,
        "description": NOTICES.description,
        "total": 0,
        "series": [],
    }
    waited = summed[TIME_TO_ISSUE.name]
    assert (waited["count"], waited["p50"], waited["p95"], waited["max"]) == (3, 1200, 5400, 5400)
    assert not path.exists(), "consumed: a later run into the same folder sums its own"
    assert lines[1:] == summary_lines(summed)
    assert "issues created 2, updated 1, commented 0, reopened 0" in lines[2]
    assert "p50 20m, p95 1h 30m (3 issues)" in lines[3]
    assert "GitHub budget used at most 12%" in lines[4]
    assert capsys.readouterr().out.strip().endswith(lines[-1].strip())
    assert report_metrics(str(path), out) == [], "no file, nothing to say"
