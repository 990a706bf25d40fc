"""Alert webhooks end to end on this machine: a real HTTP client posts to the app's function
(served as the host would, `local_host.http`), deliveries are claimed in Azurite's Table Storage
and queued on its queue, and the queue-triggered function detects, groups and counts them into
failure notices. Signed, forged, redelivered, oversized and malformed payloads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from adapters.queues import StorageQueue
from adapters.secrets import webhook_secret_variable
from bootstrap import bootstrap, install
from detection.webhook_auth import sign
from local_host.host import FunctionTable, QueueDriver
from local_host.http import serve_functions
from pipeline.alerts import MAX_BODY
from pipeline.messages import FailureNotice
from pipeline.ports import Delivery
from pipeline.retention import prune_ledger
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
SECRETS = {
    "sentry-client-secret": "sentry-secret-0f3c9a",
    "grafana-webhook-hmac": "grafana-hmac-7d21e4",
    "alertmanager-webhook-token": "am-token-5b8e11",
    "azure-monitor-webhook-token": "azure-token-c4a902",
}


@pytest.fixture
def services(storage_env, clock):
    env = {
        **storage_env,
        "FAULTLINE_ALERT_QUEUE": storage_env["FAULTLINE_QUERY_QUEUE"].replace("jobs", "alerts"),
        **{webhook_secret_variable(name): value for name, value in SECRETS.items()},
    }
    clock.set(datetime(2026, 11, 20, 3, 30, tzinfo=UTC))
    built = bootstrap(env, clock=clock)
    install(built)
    yield built
    install(None)


@pytest.fixture
def api(services, functions: FunctionTable):
    with serve_functions(functions) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


@pytest.fixture
def alerts(services, functions: FunctionTable, azurite) -> QueueDriver:
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    return QueueDriver(
        queues, services.settings.alert_queue, functions.user_function("detect_alert")
    )


def _sentry(api: httpx.Client, body: bytes, secret: str = SECRETS["sentry-client-secret"]):
    return api.post(
        "/alerts/sentry",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Sentry-Hook-Resource": "event_alert",
            "Sentry-Hook-Signature": sign(secret, body),
            "Request-ID": "6a1c1ad8-41b0-4b4e-9d1c-0d2fd4f0c2a1",
        },
    )


def _notices(services, azurite) -> list[FailureNotice]:
    bodies = queued_bodies(azurite, services.settings.failure_queue)
    return [FailureNotice.model_validate_json(b) for b in bodies]


def test_a_signed_sentry_alert_is_queued_detected_and_handed_to_the_workflow_once(
    services, api, alerts, azurite
) -> None:
    body = (FIXTURES / "sentry_event_alert_python.json").read_bytes()
    first = _sentry(api, body)
    assert first.status_code == 202, first.text
    assert first.json() == {"queued": "9f1c2a7b3d4e4f5a8b6c7d8e9f0a1b2c", "records": 1}
    again = _sentry(api, body)
    assert (again.status_code, again.json()) == (
        200,
        {"duplicate": "9f1c2a7b3d4e4f5a8b6c7d8e9f0a1b2c"},
    )
    assert alerts.drain().processed == 1, "the redelivery queued nothing"
    (notice,) = _notices(services, azurite)
    assert (notice.definition, notice.source, notice.table) == ("sentry-error", "sentry", "sentry")
    entry = services.ledger.summary(notice.fingerprint)
    assert entry is not None and entry.founder is not None
    assert entry.founder.exception_type == "KeyError"
    assert "jane.doe@contoso.example" not in json.dumps(entry.founder.to_json())


@pytest.mark.parametrize(
    ("secret", "headers", "status", "error"),
    [
        ("forged-secret", {}, 401, "Sentry-Hook-Signature does not match the body"),
        (None, {}, 401, "missing Sentry-Hook-Signature"),
    ],
)
def test_forged_and_unsigned_sentry_alerts_are_refused_and_nothing_is_kept(
    services, api, alerts, secret, headers, status, error
) -> None:
    body = (FIXTURES / "sentry_event_alert_python.json").read_bytes()
    if secret is None:
        response = api.post("/alerts/sentry", content=body, headers=headers)
    else:
        response = _sentry(api, body, secret)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert services.deliveries.get("sentry", "9f1c2a7b3d4e4f5a8b6c7d8e9f0a1b2c") is None
    assert alerts.pending() == 0


def test_oversized_malformed_and_unknown_are_refused_by_name(services, api) -> None:
    secret = SECRETS["azure-monitor-webhook-token"]
    oversized = api.post(
        "/alerts/azure-monitor", params={"token": secret}, content=b" " * (MAX_BODY + 1)
    )
    assert oversized.status_code == 413
    assert oversized.json()["error"] == f"the body is {MAX_BODY + 1} bytes; at most {MAX_BODY}"
    malformed = api.post(
        "/alerts/azure-monitor", params={"token": secret}, content=b'{"schemaId": "other"}'
    )
    assert malformed.status_code == 400 and malformed.json()["error"] == "not-common-schema"
    not_json = api.post("/alerts/azure-monitor", params={"token": secret}, content=b"<xml/>")
    assert (not_json.status_code, not_json.json()["error"]) == (400, "not-json")
    unknown = api.post("/alerts/pagerduty", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no webhook named 'pagerduty' is configured"}
    wrong_token = api.post("/alerts/azure-monitor", params={"token": "guess"}, content=b"{}")
    assert wrong_token.status_code == 401


def test_grafana_with_a_timestamped_hmac_and_its_resolution(services, api, alerts, azurite) -> None:
    secret = SECRETS["grafana-webhook-hmac"]
    stamp = str(int(services.clock.now().timestamp()))
    loki = json.loads((FIXTURES / "grafana_loki_resolved.json").read_text())
    firing = json.loads(json.dumps(loki))
    firing["status"] = firing["alerts"][0]["status"] = "firing"
    firing["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    for payload in (firing, loki):
        body = json.dumps(payload).encode()
        response = api.post(
            "/alerts/grafana",
            content=body,
            headers={
                "X-Grafana-Alert-Signature": sign(secret, body, stamp),
                "X-Grafana-Alert-Timestamp": stamp,
            },
        )
        assert response.status_code == 202, response.text
    assert alerts.drain().processed == 2
    (notice,) = _notices(services, azurite)
    assert (notice.definition, notice.role) == ("alert-firing", "checkout-web")
    stale = api.post(
        "/alerts/grafana",
        content=b"{}",
        headers={
            "X-Grafana-Alert-Signature": sign(secret, b"{}", "1000"),
            "X-Grafana-Alert-Timestamp": "1000",
        },
    )
    assert stale.status_code == 401 and "clock skew" in stale.json()["error"]


def test_alertmanager_with_a_bearer_token_counts_a_repeated_group_once(
    services, api, alerts, azurite
) -> None:
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    token = {"Authorization": f"Bearer {SECRETS['alertmanager-webhook-token']}"}
    assert api.post("/alerts/alertmanager", content=body, headers=token).status_code == 202
    assert api.post("/alerts/alertmanager", content=body, headers=token).status_code == 200
    basic = base64.b64encode(f"x:{SECRETS['alertmanager-webhook-token']}".encode()).decode()
    refused = api.post(
        "/alerts/alertmanager", content=body, headers={"Authorization": f"Basic {basic}"}
    )
    assert refused.status_code == 401
    alerts.drain()
    notices = _notices(services, azurite)
    assert sorted(n.role or "" for n in notices) == ["catalog-svc", "payments-worker"]


def test_a_log_search_alert_re_reads_its_window_through_the_query_job_path(
    services, api, alerts, azurite
) -> None:
    body = (FIXTURES / "azure_log_v2.json").read_bytes()
    response = api.post(
        "/alerts/azure-monitor",
        params={"token": SECRETS["azure-monitor-webhook-token"]},
        content=body,
    )
    assert response.status_code == 202
    alerts.drain()
    jobs = [json.loads(b) for b in queued_bodies(azurite, services.settings.query_queue)]
    watched = {t.name for t in services.rules.source("production").tables}
    assert {j["table"] for j in jobs} == watched
    assert {(j["start"], j["end"], j["origin"]) for j in jobs} == {
        ("2026-11-20T03:05:00Z", "2026-11-20T03:20:00Z", "replay")
    }
    assert _notices(services, azurite) == [], "the rows behind the alert speak for it"


def test_a_job_that_fails_every_attempt_is_kept_in_the_poison_log(
    services, functions: FunctionTable, azurite
) -> None:
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    moved = StorageQueue.open(queues, f"{services.settings.alert_queue}-poison")
    moved.send(json.dumps({"webhook": "sentry", "delivery": "abc"}))  # as the host moves it
    poison = QueueDriver(
        queues,
        f"{services.settings.alert_queue}-poison",
        functions.user_function("record_poisoned_alert"),
    )
    assert poison.drain().processed == 1
    assert services.poisoned_jobs.count("alert-jobs") == 1


def test_deliveries_are_kept_whole_and_forgotten_after_the_retention(services) -> None:
    body = b'{"big": "' + b"x" * 200_000 + b'"}'
    received = services.clock.now()
    kept = services.deliveries.claim(Delivery("grafana", "g/1?#", body, None, received))
    again = services.deliveries.claim(Delivery("grafana", "g/1?#", b"{}", None, received))
    assert again.body == kept.body == body, "the first delivery is kept; its id needs no escaping"
    services.clock.advance(services.rules.dedup.occurrence_retention + timedelta(days=1))
    prune_ledger(services)
    assert services.deliveries.get("grafana", "g/1?#") is None
