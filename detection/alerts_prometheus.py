"""Prometheus Alertmanager's webhook and Grafana Alerting's webhook contact point as records.

Both send one notification per alert group (Grafana's notifier embeds Alertmanager's template
data and adds `orgId`, `title`, `state`, `message`, and per alert `values`, `valueString`,
`dashboardURL`, `panelURL`, `silenceURL`): `status`, `receiver`, `groupKey`, `groupLabels`,
`commonLabels`, `commonAnnotations`, `externalURL`, `truncatedAlerts`, and `alerts`, each with its
own `status` (firing or resolved), `labels`, `annotations`, `startsAt`, `endsAt`,
`generatorURL` and `fingerprint`. Loki's ruler alerts arrive through either, shaped the same.

Each alert becomes one record: its labels and annotations are fields (`Labels.severity`,
`Annotations.summary`), with `Status`, `AlertName` and the group's labels beside them. The
record's template is the alert rule's name, so an alert's firings group by rule and service
(`service`, `job` or `app` label) and not by the values its summary quotes. The record id is the
alert's fingerprint with its start and status: Alertmanager repeats a firing group every
`repeat_interval`, and a repeat is the same occurrence, counted once.

Payload shapes: Alertmanager's `notify/webhook` (the `Message` type, version "4") and the
Grafana Alerting webhook notifier (grafana/alerting `receivers/webhook`, version "1"); the
fixtures in tests/fixtures/webhooks/ follow their documentation's examples.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from detection.alerts import (
    AlertBatch,
    PayloadRejected,
    alert_record,
    bounded,
    digest,
    first,
    load_object,
    moment,
    objects,
    strings,
    text,
)

SERVICE_LABELS = ("service", "service_name", "app", "application", "container", "job")
"""Labels that name the failing service (the record's role), most specific first."""
STATUSES = ("firing", "resolved")


def parse_alertmanager(webhook: str, body: bytes, received_at: datetime) -> AlertBatch:
    """An Alertmanager webhook receiver's notification."""
    return _parse(webhook, load_object(body), received_at, grafana=False)


def parse_grafana(webhook: str, body: bytes, received_at: datetime) -> AlertBatch:
    """A Grafana Alerting webhook contact point's notification (Loki rules' alerts included)."""
    return _parse(webhook, load_object(body), received_at, grafana=True)


def _parse(
    webhook: str, payload: dict[str, Any], received_at: datetime, *, grafana: bool
) -> AlertBatch:
    if not isinstance(payload.get("alerts"), list):
        raise PayloadRejected("missing-alerts", "the notification has no `alerts` array")
    alerts, left_out = bounded(objects(payload["alerts"]))
    group_key = text(payload.get("groupKey"), 2000) or ""
    group = {
        "Receiver": text(payload.get("receiver"), 500),
        "GroupKey": group_key,
        "GroupLabels": strings(payload.get("groupLabels")),
        "CommonLabels": strings(payload.get("commonLabels")),
        "CommonAnnotations": strings(payload.get("commonAnnotations")),
        "ExternalURL": text(payload.get("externalURL"), 2000),
    }
    if grafana:
        group["OrgId"] = payload.get("orgId") if isinstance(payload.get("orgId"), int) else None
    records, skipped, keys = [], [], []
    for index, alert in enumerate(alerts):
        labels = strings(alert.get("labels"))
        annotations = strings(alert.get("annotations"))
        status = (text(alert.get("status"), 20) or "").lower()
        name = labels.get("alertname")
        if status not in STATUSES or not name:
            skipped.append(
                f"alerts[{index}]: "
                + ("no alertname label" if not name else f"status {status or '(none)'}")
            )
            continue
        started = moment(alert.get("startsAt"))
        ended = moment(alert.get("endsAt"))
        labelled = (f"{k}={v}" for k, v in sorted(labels.items()))
        identity = text(alert.get("fingerprint"), 100) or digest(*labelled)
        start_text = started.isoformat() if started else "-"
        keys.append(f"{identity}:{start_text}:{status}")
        summary = first(annotations.get("summary"), annotations.get("description"))
        fields: dict[str, Any] = {
            **group,
            "Status": status,
            "AlertName": name,
            "Labels": labels,
            "Annotations": annotations,
            "StartsAt": start_text,
            "EndsAt": ended.isoformat() if ended else None,
            "GeneratorURL": text(alert.get("generatorURL"), 2000),
            "Fingerprint": identity,
        }
        if grafana:
            fields["ValueString"] = text(alert.get("valueString"), 4000)
            fields["DashboardURL"] = text(alert.get("dashboardURL"), 2000)
            fields["PanelURL"] = text(alert.get("panelURL"), 2000)
        role = first(*(labels.get(label) for label in SERVICE_LABELS))
        records.append(
            alert_record(
                webhook=webhook,
                record_id=digest(webhook, identity, start_text, status),
                time=(ended if status == "resolved" else started) or received_at,
                message=f"{name}: {summary}" if summary else name,
                # the title: one alert rule firing for two services is two issues
                template=f"alert {name} in {role}" if role else f"alert {name}",
                fields=fields,
                level=labels.get("severity"),
                operation_name=name,
                role=role,
                instance=labels.get("instance") or labels.get("pod"),
            )
        )
    if left_out:
        skipped.append(f"{left_out} alerts beyond the first {len(alerts)}")
    if not records and not skipped:
        return AlertBatch(delivery_id=digest(webhook, group_key), ignored="no alerts")
    return AlertBatch(
        delivery_id=digest(webhook, group_key, *sorted(keys)),
        records=tuple(records),
        skipped=tuple(skipped),
    )
