"""One entry for every alert webhook: check who sent it, then read it, by the webhook's kind.

`authenticate` raises `Unauthenticated`, `parse_delivery` raises `PayloadRejected`, each with a
fixed reason the HTTP answer names; both are pure (the caller passes the secret and the time).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from detection.alerts import AlertBatch
from detection.alerts_azure import parse_azure_monitor
from detection.alerts_prometheus import parse_alertmanager, parse_grafana
from detection.alerts_sentry import parse_sentry
from detection.rules import WebhookSource
from detection.webhook_auth import (
    verify_basic,
    verify_bearer,
    verify_hmac,
    verify_sentry,
    verify_token,
)

SENTRY_RESOURCE = "sentry-hook-resource"
"""The header that says what a Sentry webhook is about (kept with the payload for the job)."""


def authenticate(
    webhook: WebhookSource,
    body: bytes,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    secret: str,
    now: datetime,
) -> None:
    method = webhook.authentication
    if webhook.kind == "sentry":
        verify_sentry(body, headers, secret)
    elif method == "signature":
        verify_hmac(
            body,
            headers,
            secret,
            header=webhook.signature_header,
            timestamp_header=webhook.timestamp_header,
            now=now,
            tolerance=webhook.max_skew,
        )
    elif method == "bearer":
        verify_bearer(headers, secret)
    elif method == "basic":
        verify_basic(headers, secret)
    else:
        verify_token(params, secret)


def parse_delivery(
    webhook: WebhookSource, body: bytes, resource: str | None, received_at: datetime
) -> AlertBatch:
    """The delivery's records; `resource` is Sentry's `Sentry-Hook-Resource` header."""
    if webhook.kind == "sentry":
        return parse_sentry(webhook.name, resource, body, received_at)
    if webhook.kind == "grafana":
        return parse_grafana(webhook.name, body, received_at)
    if webhook.kind == "alertmanager":
        return parse_alertmanager(webhook.name, body, received_at)
    return parse_azure_monitor(webhook.name, body, received_at)
