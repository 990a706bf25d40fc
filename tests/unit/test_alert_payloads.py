"""Alert webhooks' payloads as records: the senders' documented sample payloads
(tests/fixtures/webhooks/), what each becomes, and that no JSON whatever crashes a parser: it is
read or refused with a named reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.alerts import AlertBatch, PayloadRejected
from detection.alerts_azure import parse_azure_monitor
from detection.alerts_prometheus import parse_alertmanager, parse_grafana
from detection.alerts_sentry import parse_sentry
from detection.detect import detect
from detection.fingerprint import fingerprint
from detection.occurrence import Occurrence
from detection.rules import load_rules
from detection.stacktrace import culprit_frames, parse_chain, root_cause

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
RECEIVED = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _sentry(name: str, resource: str = "event_alert") -> AlertBatch:
    return parse_sentry("sentry", resource, _fixture(name), RECEIVED)


def test_a_python_sentry_event_becomes_a_traceback_the_fingerprint_reads_like_a_log_line() -> None:
    batch = _sentry("sentry_event_alert_python.json")
    (record,) = batch.records
    assert batch.delivery_id == "9f1c2a7b3d4e4f5a8b6c7d8e9f0a1b2c"
    assert (record.table, record.kind, record.exception_type) == (
        "sentry",
        "exception",
        "QuoteUnavailable",
    )
    assert record.time_generated == datetime(2026, 11, 20, 2, 14, 9, 481203, tzinfo=UTC)
    assert record.operation_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record.fields["Tags"]["server_name"] == "shipping-svc-7d9f8c6b5-x2k4p"
    assert record.user is None, "the event's user (an e-mail) is not carried"
    assert record.role == "shipping-svc", "the project's slug, from the event's URL"
    chain = parse_chain(record.stack_trace)
    assert [e.type for e in chain] == ["QuoteUnavailable", "KeyError"]
    cause = root_cause(chain)
    assert cause is not None and cause.type == "KeyError"
    assert culprit_frames(cause) == ("quotes.quote_for",)


def test_the_same_sentry_failure_a_release_later_on_other_lines_has_the_same_fingerprint() -> None:
    payload = json.loads(_fixture("sentry_event_alert_python.json"))
    moved = json.loads(json.dumps(payload))
    event = moved["data"]["event"]
    event["event_id"] = "0" * 32
    for value in event["exception"]["values"]:
        for frame in value["stacktrace"]["frames"]:
            frame["lineno"] += 17
            frame["abs_path"] = frame["abs_path"].replace("/app/", "/srv/releases/42/")
    first = parse_sentry("sentry", "event_alert", json.dumps(payload).encode(), RECEIVED)
    second = parse_sentry("sentry", "event_alert", json.dumps(moved).encode(), RECEIVED)
    prints = [fingerprint("d", b.records[0]) for b in (first, second)]
    assert prints[0].basis == "stack"
    assert prints[0].value == prints[1].value
    assert first.records[0].record_id != second.records[0].record_id


def test_sentrys_documented_javascript_issue_alert_becomes_a_v8_stack() -> None:
    (record,) = _sentry("sentry_event_alert_javascript.json").records
    assert record.message == "ReferenceError: heck is not defined"
    assert record.stack_trace is not None
    assert record.stack_trace.splitlines()[1] == "    at <anonymous>:3:5"
    assert [e.type for e in parse_chain(record.stack_trace)] == ["ReferenceError"]
    assert record.fields["TriggeredRule"] == "Very Important Alert Rule!"


@pytest.mark.parametrize(
    ("platform", "frames", "first_line", "culprit"),
    [
        (
            "java",
            [
                {"module": "org.springframework.web.servlet.DispatcherServlet", "function": "x"},
                {"module": "com.contoso.pay.Charges", "function": "charge", "lineno": 88},
            ],
            "com.contoso.pay.CardDeclined: card declined",
            "com.contoso.pay.Charges.charge",
        ),
        (
            "csharp",
            [{"module": "Contoso.Orders.OrderService", "function": "Place", "lineno": 12}],
            "Contoso.Orders.CardDeclined: card declined",
            "Contoso.Orders.OrderService.Place",
        ),
    ],
)
def test_java_and_dotnet_events_are_written_as_their_runtimes_print_them(
    platform: str, frames: list[dict[str, object]], first_line: str, culprit: str
) -> None:
    kind = "CardDeclined"
    module = "com.contoso.pay" if platform == "java" else None
    value = {
        "type": kind if platform == "java" else f"Contoso.Orders.{kind}",
        "module": module,
        "value": "card declined",
        "stacktrace": {"frames": [{"filename": "X.java", "abs_path": "X.cs", **f} for f in frames]},
    }
    event = {"event_id": "ab" * 16, "platform": platform, "exception": {"values": [value]}}
    body = json.dumps({"action": "triggered", "data": {"event": event}}).encode()
    (record,) = parse_sentry("sentry", "event_alert", body, RECEIVED).records
    assert record.stack_trace is not None and record.stack_trace.splitlines()[0] == first_line
    cause = root_cause(parse_chain(record.stack_trace))
    assert cause is not None and culprit_frames(cause)[0] == culprit


def test_sentrys_installation_hook_is_acknowledged_not_detected() -> None:
    batch = _sentry("sentry_installation.json", resource="installation")
    assert batch.records == () and batch.ignored is not None and "installation" in batch.ignored


def test_grafanas_documented_notification_gives_one_firing_record_per_alert() -> None:
    batch = parse_grafana("grafana", _fixture("grafana_firing.json"), RECEIVED)
    assert [r.fields["AlertName"] for r in batch.records] == ["High memory usage", "High CPU usage"]
    memory = batch.records[0]
    assert memory.fields["Status"] == "firing"
    assert memory.fields["Labels"] == {
        "alertname": "High memory usage",
        "team": "blue",
        "zone": "us-1",
    }
    assert memory.fields["Annotations"]["runbook_url"] == "https://myrunbook.com/runbook/1234"
    assert memory.fields["CommonLabels"] == {"team": "blue"}
    assert memory.fields["EndsAt"] is None, "Go's zero time means not ended"
    assert memory.time_generated == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)


def test_a_loki_alert_resolved_through_grafana_is_a_resolved_record_at_its_end() -> None:
    (record,) = parse_grafana("grafana", _fixture("grafana_loki_resolved.json"), RECEIVED).records
    assert (record.fields["Status"], record.role) == ("resolved", "checkout-web")
    assert record.time_generated == datetime(2026, 11, 20, 3, 40, tzinfo=UTC)


def test_an_alert_repeated_by_alertmanager_is_the_same_record_and_delivery() -> None:
    body = _fixture("alertmanager_firing.json")
    first = parse_alertmanager("alertmanager", body, RECEIVED)
    again = parse_alertmanager("alertmanager", body, RECEIVED + timedelta(hours=4))
    assert [r.record_id for r in first.records] == [r.record_id for r in again.records]
    assert first.delivery_id == again.delivery_id
    assert [r.role for r in first.records] == ["payments-worker", "catalog-svc"]
    prints = {fingerprint("d", r).value for r in first.records}
    assert len(prints) == 2, "one alert rule crash-looping two services is two failures"


def test_alerts_without_a_name_or_status_are_skipped_with_why_and_the_rest_kept() -> None:
    payload = json.loads(_fixture("alertmanager_firing.json"))
    payload["alerts"][0]["labels"].pop("alertname")
    payload["alerts"][1]["status"] = "pending"
    payload["alerts"].append(dict(payload["alerts"][1], status="firing"))
    batch = parse_alertmanager("alertmanager", json.dumps(payload).encode(), RECEIVED)
    assert len(batch.records) == 1
    assert batch.skipped == ("alerts[0]: no alertname label", "alerts[1]: status pending")


def test_a_log_search_alert_carries_its_query_and_window() -> None:
    batch = parse_azure_monitor("azure-monitor", _fixture("azure_log_v2.json"), RECEIVED)
    (search,) = batch.log_searches
    assert search.query.startswith("AppExceptions | where AppRoleName")
    assert (search.start, search.end) == (
        datetime(2026, 11, 20, 3, 5, tzinfo=UTC),
        datetime(2026, 11, 20, 3, 20, tzinfo=UTC),
    )
    (record,) = batch.records
    assert record.fields["SignalType"] == "Log" and record.role == "log-shop"


def test_metric_and_activity_log_alerts_are_records_of_their_own() -> None:
    (metric,) = parse_azure_monitor(
        "azure-monitor", _fixture("azure_metric_resolved.json"), RECEIVED
    ).records
    assert metric.fields["Status"] == "resolved"
    assert metric.message == "WCUS-R2-Gen2: Average Percentage CPU 7.727 GreaterThan 25"
    assert "7.727" not in (metric.template or ""), "the measured value never groups"
    (activity,) = parse_azure_monitor(
        "azure-monitor", _fixture("azure_activity_log.json"), RECEIVED
    ).records
    assert activity.operation_id == "cccc2222-dd33-4444-55ee-666666ffffff"
    assert "restart/action Succeeded" in activity.message


def test_a_resolution_is_another_record_and_another_delivery_than_its_firing() -> None:
    payload = json.loads(_fixture("azure_metric_resolved.json"))
    resolved = parse_azure_monitor("azure-monitor", json.dumps(payload).encode(), RECEIVED)
    payload["data"]["essentials"]["monitorCondition"] = "Fired"
    fired = parse_azure_monitor("azure-monitor", json.dumps(payload).encode(), RECEIVED)
    assert fired.delivery_id != resolved.delivery_id
    assert fired.records[0].record_id != resolved.records[0].record_id


RULES = load_rules(
    """
sources:
  - {name: production, workspace_id: 5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10, tables: [AppTraces]}
webhooks:
  - {name: sentry, kind: sentry, secret: sentry-client-secret}
failures:
  - name: sentry-error
    webhooks: [sentry]
    when: {field: Level, in: [error, fatal]}
routing: {default_repository: contoso/shop}
""",
    {},
)


def test_webhook_records_are_judged_by_definitions_naming_the_webhook_and_redacted() -> None:
    (record,) = _sentry("sentry_event_alert_python.json").records
    leaky = type(record)(
        **{**record.__dict__, "message": record.message + " password=hunter2hunter2"}
    )
    (detection,) = detect([leaky], RULES.failures)
    occurrence = Occurrence.of(detection, "g")
    assert detection.definition == "sentry-error"
    assert "hunter2hunter2" not in occurrence.message
    assert detect([leaky], RULES.definitions_for("AppTraces")) == []


@pytest.mark.parametrize(
    ("parse", "body", "reason"),
    [
        (parse_grafana, b"{not json", "not-json"),
        (parse_grafana, b"[1, 2]", "not-an-object"),
        (parse_alertmanager, b'{"status": "firing"}', "missing-alerts"),
        (
            parse_azure_monitor,
            b'{"schemaId": "Microsoft.Insights/activityLogs"}',
            "not-common-schema",
        ),
        (
            parse_azure_monitor,
            b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}}',
            "missing-alert-id",
        ),
    ],
)
def test_malformed_payloads_are_refused_with_a_named_reason(
    parse, body: bytes, reason: str
) -> None:
    with pytest.raises(PayloadRejected) as refused:
        parse("hook", body, RECEIVED)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"action": "triggered"}', "missing-data"),
        (b'{"data": {"event": "x"}}', "missing-event"),
        (b'{"data": {"event": {"title": "no id"}}}', "missing-event-id"),
    ],
)
def test_malformed_sentry_payloads_are_refused_with_a_named_reason(
    body: bytes, reason: str
) -> None:
    with pytest.raises(PayloadRejected) as refused:
        parse_sentry("sentry", "event_alert", body, RECEIVED)
    assert refused.value.reason == reason


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=40,
)
KEYS = st.sampled_from(
    [
        "alerts",
        "labels",
        "annotations",
        "status",
        "startsAt",
        "endsAt",
        "fingerprint",
        "data",
        "event",
        "exception",
        "values",
        "stacktrace",
        "frames",
        "event_id",
        "lineno",
        "schemaId",
        "essentials",
        "alertContext",
        "condition",
        "allOf",
        "monitorCondition",
        "alertId",
        "windowStartTime",
        "windowEndTime",
        "alertname",
        "platform",
        "tags",
    ]
)
SHAPED = st.recursive(
    st.none()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "firing",
            "resolved",
            "Fired",
            "Resolved",
            "azureMonitorCommonAlertSchema",
            "python",
            "java",
            "2026-11-20T03:00:00Z",
            "0001-01-01T00:00:00Z",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.one_of(JSON, SHAPED), raw=st.binary(max_size=64))
def test_no_json_and_no_bytes_crash_a_parser(document: object, raw: bytes) -> None:
    for body in (json.dumps(document).encode(), raw):
        for parse in (
            lambda b: parse_sentry("sentry", "event_alert", b, RECEIVED),
            lambda b: parse_grafana("grafana", b, RECEIVED),
            lambda b: parse_alertmanager("alertmanager", b, RECEIVED),
            lambda b: parse_azure_monitor("azure-monitor", b, RECEIVED),
        ):
            try:
                batch = parse(body)
            except PayloadRejected as refused:
                assert refused.reason and refused.reason.replace("-", "").isalpha()
            else:
                assert batch.delivery_id
                for record in batch.records:
                    assert record.message and record.time_generated.tzinfo is not None
                    fingerprint("d", record)


def test_an_older_log_analytics_alert_carries_its_query_and_us_formatted_window() -> None:
    body = _fixture("azure_log_analytics_v1.json")
    (search,) = parse_azure_monitor("azure-monitor", body, RECEIVED).log_searches
    assert search.query.startswith('Perf | where ObjectName == "Processor"')
    assert (search.start, search.end) == (
        datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC),
        datetime(2019, 3, 22, 13, 51, 31, tzinfo=UTC),
    )


def test_sentrys_error_webhook_carries_its_event_under_data_error() -> None:
    payload = json.loads(_fixture("sentry_event_alert_python.json"))
    error = {"action": "created", "data": {"error": payload["data"]["event"]}}
    batch = parse_sentry("sentry", "error", json.dumps(error).encode(), RECEIVED)
    assert batch.delivery_id == "9f1c2a7b3d4e4f5a8b6c7d8e9f0a1b2c"
    assert batch.records[0].fields["Resource"] == "error"
