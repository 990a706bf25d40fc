"""The alert webhook use cases on the in-memory ports: each answer and the metric it counts, a
redelivery after a crash between claim and queue, and a job's records counted like rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detection.rules import load_rules
from detection.webhook_auth import sign
from pipeline.alerts import receive, record_poisoned_alert, run_alert_job
from pipeline.metrics import ALERT_DELIVERIES, NOTICES, POISONED
from pipeline.ports import Delivery, IssueState
from tests.support.memory import Memory, MemoryTracker, MemoryWebhookSecrets

pytestmark = pytest.mark.unit

RULES = load_rules((Path(__file__).parents[2] / "faultline.yaml").read_text(), {})
FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
NOW = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
SECRET = "am-token-5b8e11"
TOKEN = {"Authorization": f"Bearer {SECRET}"}


def _memory(secrets: dict[str, str] | None = None) -> tuple[Memory, object]:
    memory = Memory(
        MemoryTracker(lambda: NOW),
        webhook_secrets=MemoryWebhookSecrets(
            {"alertmanager-webhook-token": SECRET} if secrets is None else secrets
        ),
    )
    return memory, memory.services(RULES, lambda: NOW)


def _outcomes(memory: Memory) -> list[str]:
    return [e.attributes["outcome"] for e in memory.metrics.emitted if e.metric == ALERT_DELIVERIES]


def test_each_answer_is_counted_by_its_outcome() -> None:
    memory, services = _memory()
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    answers = [
        receive(services, "alertmanager", body, TOKEN, {}).status,
        receive(services, "alertmanager", body, TOKEN, {}).status,
        receive(services, "alertmanager", body, {}, {}).status,
        receive(services, "alertmanager", b"[]", TOKEN, {}).status,
        receive(services, "alertmanager", b" " * 300_000, TOKEN, {}).status,
        receive(services, "nagios", body, TOKEN, {}).status,
    ]
    assert answers == [202, 200, 401, 400, 413, 404]
    assert _outcomes(memory) == [
        "queued",
        "duplicate",
        "unauthenticated",
        "malformed",
        "too-large",
        "unknown",
    ]
    assert len(memory.alert_queue.sent) == 1


def test_a_secret_the_vault_will_not_serve_is_a_503_that_names_no_detail() -> None:
    memory, services = _memory(secrets={})
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    answer = receive(services, "alertmanager", body, TOKEN, {})
    assert answer.status == 503 and "alertmanager-webhook-token" not in json.dumps(answer.body)
    assert _outcomes(memory) == ["unavailable"]


def test_a_redelivery_after_a_crash_before_queuing_is_queued_then() -> None:
    memory, services = _memory()
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    first = receive(services, "alertmanager", body, TOKEN, {})
    delivery_id = first.body["queued"]
    kept = memory.deliveries.kept[("alertmanager", delivery_id)]
    memory.deliveries.kept[("alertmanager", delivery_id)] = Delivery(
        kept.webhook, kept.delivery_id, kept.body, kept.resource, kept.received_at, queued=False
    )
    assert receive(services, "alertmanager", body, TOKEN, {}).status == 202
    assert len(memory.alert_queue.sent) == 2, "the job runs twice; its records count once"


def test_sentrys_installation_hook_is_answered_and_ignored() -> None:
    memory, services = _memory({"sentry-client-secret": "s3"})
    body = (FIXTURES / "sentry_installation.json").read_bytes()
    hook = {"Sentry-Hook-Signature": sign("s3", body), "sentry-hook-resource": "installation"}
    assert receive(services, "sentry", body, hook, {}).body == {
        "ignored": "Sentry-Hook-Resource installation carries no event"
    }
    assert memory.alert_queue.sent == [] and _outcomes(memory) == ["ignored"]


def test_a_job_hands_each_firing_alert_to_the_workflow_once() -> None:
    memory, services = _memory()
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    assert receive(services, "alertmanager", body, TOKEN, {}).status == 202
    ((message, _),) = memory.alert_queue.sent
    report = run_alert_job(services, message)
    assert (report.outcome, report.records, report.detections) == ("done", 2, 2)
    assert memory.metrics.total(NOTICES, definition="alert-firing") == 2
    assert run_alert_job(services, message).new_occurrences == 0, "a job run twice counts once"


def test_a_log_search_alert_queues_the_replay_of_its_window_and_no_record_of_its_own() -> None:
    memory, services = _memory({"azure-monitor-webhook-token": "t0"})
    body = (FIXTURES / "azure_log_v2.json").read_bytes()
    assert receive(services, "azure-monitor", body, {}, {"token": "t0"}).status == 202
    ((message, _),) = memory.alert_queue.sent
    report = run_alert_job(services, message)
    watched = len(RULES.source("production").tables)
    assert (len(report.query_jobs), report.records, report.detections) == (watched, 0, 0)
    assert len(memory.query_queue.sent) == watched


def test_jobs_that_name_nothing_kept_end_without_raising_and_poison_is_kept() -> None:
    memory, services = _memory()
    assert run_alert_job(services, "not json").outcome == "unreadable"
    missing = json.dumps({"webhook": "alertmanager", "delivery": "nope"})
    assert run_alert_job(services, missing).outcome == "missing"
    gone = json.dumps({"webhook": "nagios", "delivery": "x"})
    assert run_alert_job(services, gone).outcome == "unknown-webhook"
    assert record_poisoned_alert(services, missing) == "alertmanager:nope"
    assert memory.poisoned.count("alert-jobs") == 1
    assert memory.metrics.total(POISONED, kind="alert-jobs") == 1


def test_a_resolution_is_recorded_once_on_the_issue_its_firing_opened() -> None:
    memory, services = _memory({"grafana-webhook-hmac": "h"})
    resolved = (FIXTURES / "grafana_loki_resolved.json").read_bytes()
    payload = json.loads(resolved)
    payload["status"] = payload["alerts"][0]["status"] = "firing"
    firing = json.dumps(payload).encode()
    stamp = str(int(NOW.timestamp()))
    for body in (firing, resolved, resolved):
        headers = {
            "X-Grafana-Alert-Signature": sign("h", body, stamp),
            "X-Grafana-Alert-Timestamp": stamp,
        }
        receive(services, "grafana", body, headers, {})
    (fired, closed) = [message for message, _ in memory.alert_queue.sent]
    run_alert_job(services, fired)
    (notice,) = [json.loads(body) for body, _ in memory.failure_queue.sent]
    memory.issues.save(IssueState(notice["fingerprint"], "contoso/shop", number=7))
    assert run_alert_job(services, closed).resolved == 1
    run_alert_job(services, closed)  # the host ran the job again
    (entry,) = memory.audit.entries(notice["fingerprint"])
    assert (entry.action, entry.issue) == ("alert-resolved", 7)
    assert entry.reason == "grafana: CheckoutPanics: checkout-web logged panics resolved"
    assert memory.metrics.total(NOTICES) == 1, "a resolution is not an occurrence"
