"""Azure Monitor alerts in the common alert schema, as sent by an action group's webhook.

`schemaId` is `azureMonitorCommonAlertSchema`; `data.essentials` holds what every alert has
(`alertId`, `alertRule`, `severity`, `signalType`, `monitorCondition` Fired or Resolved,
`monitoringService`, `firedDateTime`, `resolvedDateTime`, `alertTargetIDs`,
`configurationItems`, `description`) and `data.alertContext` what its kind adds:

- a log search alert (`monitoringService` `Log Alerts V2`, `conditionType` `LogQueryCriteria`):
  `condition.allOf[].searchQuery` and the evaluated window, `condition.windowStartTime` /
  `windowEndTime`. Its rows are not in the payload, so each query and window becomes a
  `LogSearch` (the webhook job re-reads the configured source over the window and detects on its
  rows); older log alerts (`Log Analytics`, `Application Insights`) carry `SearchQuery` and
  `SearchIntervalStartTimeUtc` / `SearchIntervalEndtimeUtc` in US format instead;
- a metric alert: `condition.allOf[]` with `metricName`, `metricValue`, `operator`,
  `threshold`, `timeAggregation`, `dimensions`;
- an activity log alert: `operationName`, `status`, `level`, `eventSource`, `correlationId`,
  and for Service and Resource Health, `properties.title`.

Every alert is also a record of its own (`SignalType`, `Status` firing or resolved, `Severity`,
`AlertRule`, ...). Its template is the rule and what it watches, never the measured value, so a
rule firing again is the same failure. The record id is the alert's id with its condition: a
resolution is a record of its own, with `Status` resolved.

Payload shapes: "Common alert schema" and "Sample alert payloads" (MicrosoftDocs/
azure-monitor-docs, articles/azure-monitor/alerts/alerts-payload-samples.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detection.alerts import (
    AlertBatch,
    LogSearch,
    PayloadRejected,
    alert_record,
    digest,
    load_object,
    mapping,
    moment,
    objects,
    text,
)

SCHEMA_ID = "azureMonitorCommonAlertSchema"
LOG_SERVICES = frozenset({"log alerts v2", "log analytics", "application insights"})


def parse_azure_monitor(webhook: str, body: bytes, received_at: datetime) -> AlertBatch:
    payload = load_object(body)
    if payload.get("schemaId") != SCHEMA_ID:
        raise PayloadRejected(
            "not-common-schema",
            f"schemaId is not {SCHEMA_ID}: enable the common alert schema on the action "
            "group's webhook",
        )
    data = mapping(payload.get("data"))
    essentials = mapping(data.get("essentials"))
    alert_id = text(essentials.get("alertId"), 1000)
    if alert_id is None:
        raise PayloadRejected("missing-alert-id", "data.essentials.alertId is missing")
    condition = (text(essentials.get("monitorCondition"), 40) or "").lower()
    if condition not in ("fired", "resolved"):
        raise PayloadRejected(
            "bad-monitor-condition", "data.essentials.monitorCondition is Fired or Resolved"
        )
    context = mapping(data.get("alertContext"))
    rule = text(essentials.get("alertRule"), 500) or "(unnamed rule)"
    service = text(essentials.get("monitoringService"), 200) or ""
    signal = text(essentials.get("signalType"), 100) or ""
    status = "firing" if condition == "fired" else "resolved"
    fired = moment(essentials.get("firedDateTime"))
    resolved = moment(essentials.get("resolvedDateTime"))
    targets = tuple(
        t for t in (text(v, 1000) for v in _list(essentials.get("alertTargetIDs"))) if t
    )
    items = tuple(
        t for t in (text(v, 500) for v in _list(essentials.get("configurationItems"))) if t
    )
    searches: tuple[LogSearch, ...] = ()
    if service.lower() in LOG_SERVICES or context.get("conditionType") == "LogQueryCriteria":
        searches = _log_searches(rule, context, targets)
        what, detail = "log search", "; ".join(s.query[:300] for s in searches)
    elif signal.lower() == "metric" or "allOf" in mapping(context.get("condition")):
        what, detail = _metric(context)
    elif signal.lower() == "activity log" or "operationName" in context:
        what, detail = _activity(context)
    else:
        what, detail = signal or service or "alert", ""
    severity = text(essentials.get("severity"), 20)
    fields: dict[str, Any] = {
        "Status": status,
        "AlertId": alert_id,
        "AlertRule": rule,
        "Severity": severity,
        "SignalType": signal,
        "MonitoringService": service,
        "MonitorCondition": text(essentials.get("monitorCondition"), 40),
        "Description": text(essentials.get("description"), 4000),
        "AlertTargetIDs": list(targets),
        "ConfigurationItems": list(items),
        "FiredDateTime": fired.isoformat() if fired else None,
        "ResolvedDateTime": resolved.isoformat() if resolved else None,
        "AlertContext": context,
        "CustomProperties": mapping(data.get("customProperties")),
    }
    record = alert_record(
        webhook=webhook,
        record_id=digest(webhook, alert_id, status),
        time=(resolved if status == "resolved" else fired) or received_at,
        message=f"{rule}: {detail}" if detail else rule,
        template=f"azure monitor {what} alert {rule}",
        fields=fields,
        level=severity,
        operation_name=rule,
        operation_id=text(context.get("correlationId"), 200),
        role=items[0] if items else _resource_name(targets),
    )
    return AlertBatch(
        delivery_id=digest(webhook, alert_id, status),
        records=(record,),
        log_searches=searches if status == "firing" else (),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _resource_name(targets: tuple[str, ...]) -> str | None:
    return targets[0].rstrip("/").rsplit("/", 1)[-1] if targets else None


def _us_time(value: Any) -> datetime | None:
    """`3/22/2019 1:36:31 PM`, as older log alerts write their search interval (UTC)."""
    raw = text(value, 40)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
    except ValueError:
        return moment(raw)


def _log_searches(
    rule: str, context: dict[str, Any], targets: tuple[str, ...]
) -> tuple[LogSearch, ...]:
    condition = mapping(context.get("condition"))
    start = moment(condition.get("windowStartTime")) or _us_time(
        context.get("SearchIntervalStartTimeUtc")
    )
    end = moment(condition.get("windowEndTime")) or _us_time(
        context.get("SearchIntervalEndtimeUtc")
    )
    if start is None or end is None or end <= start:
        return ()
    queries = [text(c.get("searchQuery"), 8000) for c in objects(condition.get("allOf"))]
    queries.append(text(context.get("SearchQuery"), 8000))
    return tuple(LogSearch(rule, q, start, end, targets) for q in queries if q)


def _metric(context: dict[str, Any]) -> tuple[str, str]:
    criteria = objects(mapping(context.get("condition")).get("allOf"))
    names = [text(c.get("metricName"), 200) or "metric" for c in criteria]
    detail = "; ".join(
        " ".join(
            p
            for p in (
                text(c.get("timeAggregation"), 40),
                text(c.get("metricName"), 200),
                text(c.get("metricValue"), 40),
                text(c.get("operator"), 40),
                text(c.get("threshold"), 40),
            )
            if p
        )
        for c in criteria
    )
    return f"metric {', '.join(names) or 'metric'}", detail


def _activity(context: dict[str, Any]) -> tuple[str, str]:
    operation = text(context.get("operationName"), 500) or "operation"
    properties = mapping(context.get("properties"))
    status = text(context.get("status"), 100)
    title = text(properties.get("title"), 1000)
    detail = " ".join(p for p in (operation, status, f"({title})" if title else None) if p)
    return f"activity {operation}", detail
