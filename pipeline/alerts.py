"""Alert webhooks: answer the sender fast, then detect on the delivery in a queued job.

`receive` is the HTTP trigger's work, in this order, each refusal a 4xx that names the problem:
the webhook must be configured (404), the body at most `MAX_BODY` bytes (413), the sender proven
by its signature or secret (401), the payload readable (400). It then claims the delivery by its
id in Table Storage (insert if absent): a redelivery, by the sender's retry or its repeat
interval, finds the claim and is answered 200 without queuing anything again, unless the first
attempt died before its job was queued. Otherwise the delivery goes on the alert queue and the
answer is 202; the body stays in the claim, so the message only names it.

`run_alert_job` is the queue trigger's: it reads the delivery back, turns it into records
(`detection.webhooks`) and hands them to the step the query job uses, `detect_and_count`, with
the failure definitions that name the webhook: one group per root cause, counted once by record
id, issues through the same workflow. A log search alert whose webhook names a `source` instead
re-reads that source's tables over the alert's window (the replay path: deterministic query
jobs, so an alert and the timer reading the same rows count them once). A resolved alert is
recorded on its failure: in the audit trail of the issues its firing made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from detection.alerts import PayloadRejected
from detection.detect import detect
from detection.records import LogRecord
from detection.redaction import redact_then_clip
from detection.webhook_auth import Unauthenticated
from detection.webhooks import SENTRY_RESOURCE, authenticate, parse_delivery
from pipeline.ingest import HOST_MAX_DEQUEUE_COUNT, detect_and_count
from pipeline.metrics import ALERT_DELIVERIES, POISONED
from pipeline.ports import Delivery, SecretUnavailable
from pipeline.replay import ReplayRejected, ReplayRequest, replay
from pipeline.services import Services

log = logging.getLogger(__name__)

POISON_KIND = "alert-jobs"

MAX_BODY = 256 * 1024
"""Largest body accepted: Azure Monitor caps a common-schema alert at 256 KB, and Sentry's
events and Alertmanager's groups are smaller; anything larger is not a sender we know."""


@dataclass(frozen=True)
class Answer:
    """The HTTP answer: status and a JSON body that names what happened."""

    status: int
    body: Mapping[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def receive(
    services: Services,
    name: str,
    body: bytes,
    headers: Mapping[str, str],
    params: Mapping[str, str],
) -> Answer:
    outcome, answer = _receive(services, name, body, headers, params)
    webhook = name if any(w.name == name for w in services.rules.webhooks) else "(unknown)"
    services.metrics.count(ALERT_DELIVERIES, webhook=webhook, outcome=outcome)
    return answer


def _receive(
    services: Services,
    name: str,
    body: bytes,
    headers: Mapping[str, str],
    params: Mapping[str, str],
) -> tuple[str, Answer]:
    try:
        webhook = services.rules.webhook(name)
    except KeyError:
        return "unknown", Answer(404, {"error": f"no webhook named {name!r} is configured"})
    if len(body) > MAX_BODY:
        return "too-large", Answer(
            413, {"error": f"the body is {len(body)} bytes; at most {MAX_BODY}"}
        )
    try:
        secret = services.webhook_secrets.get(webhook.secret)
    except SecretUnavailable as error:
        log.error("webhook %s cannot check its sender: %s", name, error)
        return "unavailable", Answer(
            503, {"error": "the webhook's secret is unavailable; see the app's log"}
        )
    now = services.clock.now()
    try:
        authenticate(webhook, body, headers, params, secret, now)
    except Unauthenticated as refused:
        log.warning("webhook %s refused a request: %s", name, refused.reason)
        return "unauthenticated", Answer(401, {"error": refused.reason})
    resource = _header(headers, SENTRY_RESOURCE)
    try:
        batch = parse_delivery(webhook, body, resource, now)
    except PayloadRejected as rejected:
        return "malformed", Answer(400, {"error": rejected.reason, "detail": rejected.detail})
    if batch.ignored:
        return "ignored", Answer(200, {"ignored": batch.ignored})
    delivery = Delivery(name, batch.delivery_id, body, resource, now)
    kept = services.deliveries.claim(delivery)
    if kept.queued:
        return "duplicate", Answer(200, {"duplicate": batch.delivery_id})
    services.alert_queue.send(json.dumps({"webhook": name, "delivery": batch.delivery_id}))
    services.deliveries.mark_queued(name, batch.delivery_id)
    answer: dict[str, Any] = {"queued": batch.delivery_id, "records": len(batch.records)}
    if batch.skipped:
        answer["skipped"] = list(batch.skipped)
    return "queued", Answer(202, answer)


@dataclass
class AlertJobReport:
    """What one alert job did, for logs and tests."""

    webhook: str
    delivery: str
    outcome: str
    records: int = 0
    detections: int = 0
    new_occurrences: int = 0
    notices: int = 0
    resolved: int = 0
    query_jobs: list[str] = field(default_factory=list)


def run_alert_job(services: Services, body: str) -> AlertJobReport:
    try:
        message = json.loads(body)
        name, delivery_id = str(message["webhook"]), str(message["delivery"])
    except (json.JSONDecodeError, TypeError, KeyError):
        log.error("alert job is not one: %.200s", body)
        return AlertJobReport("(unreadable)", "(unreadable)", "unreadable")
    report = AlertJobReport(name, delivery_id, "done")
    try:
        webhook = services.rules.webhook(name)
    except KeyError:
        log.error(
            "alert job %s names webhook %s, which the rules no longer have", delivery_id, name
        )
        return replace(report, outcome="unknown-webhook")
    delivery = services.deliveries.get(name, delivery_id)
    if delivery is None:
        log.error("alert job %s of %s: the delivery is not kept", delivery_id, name)
        return replace(report, outcome="missing")
    batch = parse_delivery(webhook, delivery.body, delivery.resource, delivery.received_at)
    records = batch.records
    if webhook.source and batch.log_searches:
        for search in batch.log_searches:
            request = ReplayRequest(source=webhook.source, start=search.start, end=search.end)
            try:
                report.query_jobs += [job.job_id for job in replay(services, request)]
            except ReplayRejected as error:
                log.warning("log search alert %s: its rows cannot be read: %s", search.rule, error)
        if report.query_jobs:
            records = ()  # the rows behind the alert speak for it
    firing = tuple(r for r in records if r.fields.get("Status") != "resolved")
    resolved = tuple(r for r in records if r.fields.get("Status") == "resolved")
    definitions = services.rules.definitions_for(name)
    report.records = len(records)
    report.detections, counted = detect_and_count(services, name, firing, definitions)
    report.new_occurrences, report.notices = counted.new_occurrences, counted.notices
    report.resolved = _record_resolutions(services, name, resolved)
    log.info(
        "alert job %s of %s: %d records, %d failures, %d new occurrences, %d notices, "
        "%d resolutions, %d query jobs",
        delivery_id,
        name,
        report.records,
        report.detections,
        report.new_occurrences,
        report.notices,
        report.resolved,
        len(report.query_jobs),
    )
    return report


def _record_resolutions(services: Services, name: str, resolved: tuple[LogRecord, ...]) -> int:
    """Each resolved alert is written into the audit trail of the issues its firing made, once
    (keyed by its record id). Its failure is found as its firing was: the same record, firing,
    judged by the same definitions (the fingerprint never reads `Status`)."""
    recorded = 0
    definitions = services.rules.definitions_for(name)
    for record in resolved:
        firing = replace(record, fields={**record.fields, "Status": "firing"})
        for detection in detect([firing], definitions):
            group = services.grouping.resolve(
                services.grouping.assign([detection.fingerprint])[detection.fingerprint.value]
            )
            for repository, number in services.issues.issues_of(group):
                services.audit.record(
                    group,
                    "alert-resolved",
                    repository,
                    number,
                    redact_then_clip(
                        f"{name}: {record.message} resolved",
                        500,
                        redact_ips=services.rules.redaction.ip_addresses,
                    ),
                    record.time_generated,
                    key=f"resolved:{record.record_id}",
                )
                recorded += 1
    return recorded


def record_poisoned_alert(services: Services, body: str) -> str:
    """The alert queue's poison trigger: a job that failed every attempt (the Functions host moved
    it) is kept in the poison log under kind `alert-jobs`, with the delivery it named."""
    try:
        message = json.loads(body)
        key = f"{message['webhook']}:{message['delivery']}"
    except (json.JSONDecodeError, TypeError, KeyError):
        key = "unreadable"
    reason = f"failed {HOST_MAX_DEQUEUE_COUNT} attempts (moved by the host)"
    services.poisoned_jobs.add(key[:200], "alert webhook delivery", reason, body, kind=POISON_KIND)
    services.metrics.count(POISONED, kind=POISON_KIND)
    log.error("poisoned alert job %s: %s", key, reason)
    return key
