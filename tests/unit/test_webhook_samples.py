"""The bundled webhook deliveries the local run posts (samples/webhooks/): every one is for a
configured webhook, proves itself the way the app checks, and reads as records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.secrets import webhook_secret_variable
from detection.rules import load_rules
from detection.webhooks import SENTRY_RESOURCE, authenticate, parse_delivery
from local_host.webhooks import WEBHOOK_SAMPLES, credentials, load_deliveries, local_secrets

pytestmark = pytest.mark.unit

RULES = load_rules((Path(__file__).parents[2] / "faultline.yaml").read_text(), {})
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_every_bundled_delivery_authenticates_and_reads_as_records() -> None:
    deliveries, notes = load_deliveries(WEBHOOK_SAMPLES, RULES)
    secrets = local_secrets(RULES, {})
    assert notes == []
    assert {d.webhook.kind for d in deliveries} == {
        "sentry",
        "grafana",
        "alertmanager",
        "azure-monitor",
    }
    for delivery in deliveries:
        secret = secrets[webhook_secret_variable(delivery.webhook.secret)]
        headers, params = credentials(delivery.webhook, delivery.body, secret, NOW)
        authenticate(delivery.webhook, delivery.body, headers, params, secret, NOW)
        resource = {k.lower(): v for k, v in delivery.headers.items()}.get(SENTRY_RESOURCE)
        batch = parse_delivery(delivery.webhook, delivery.body, resource, NOW)
        assert batch.records and batch.ignored is None
        assert all(r.time_generated.date() == NOW.date() for r in batch.records)


def test_a_secret_set_in_the_shell_is_the_one_the_local_run_uses() -> None:
    variable = webhook_secret_variable("sentry-client-secret")
    assert variable == "FAULTLINE_WEBHOOK_SECRET_SENTRY_CLIENT_SECRET"
    assert local_secrets(RULES, {variable: "from-the-shell"})[variable] == "from-the-shell"
