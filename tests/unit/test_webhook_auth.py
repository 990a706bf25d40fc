"""Each sender's proof, checked in constant time: signed bodies pass; forged, replayed, stale or
missing proofs are refused with a reason that never echoes the expected value."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.rules import load_rules
from detection.webhook_auth import (
    Unauthenticated,
    sign,
    verify_basic,
    verify_bearer,
    verify_hmac,
    verify_sentry,
    verify_token,
)
from detection.webhooks import authenticate

pytestmark = pytest.mark.unit

SECRET = "b6f0c3a1e8d94f27a5c1"
BODY = b'{"action": "triggered", "data": {}}'
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_sentrys_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == expected
    verify_sentry(BODY, {"Sentry-Hook-Signature": expected}, SECRET)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Sentry-Hook-Signature"),
        ({"sentry-hook-signature": sign("another-secret", BODY)}, "does not match"),
        ({"sentry-hook-signature": sign(SECRET, BODY + b" ")}, "does not match"),
    ],
)
def test_forged_or_missing_sentry_signatures_are_refused(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify_sentry(BODY, headers, SECRET)
    assert reason in refused.value.reason and SECRET not in refused.value.reason


def _grafana(headers: dict[str, str], timestamp_header: str | None = None) -> None:
    verify_hmac(
        BODY,
        headers,
        SECRET,
        header="X-Grafana-Alert-Signature",
        timestamp_header=timestamp_header,
        now=NOW,
        tolerance=timedelta(minutes=5),
    )


def test_grafana_signs_the_body_or_the_timestamp_colon_body() -> None:
    _grafana({"X-Grafana-Alert-Signature": sign(SECRET, BODY)})
    stamp = str(int(NOW.timestamp()) - 60)
    _grafana(
        {
            "x-grafana-alert-signature": sign(SECRET, BODY, stamp),
            "X-Grafana-Alert-Timestamp": stamp,
        },
        timestamp_header="X-Grafana-Alert-Timestamp",
    )


@pytest.mark.parametrize(
    ("stamp_offset", "signed_offset", "reason"),
    [
        (-3600, -3600, "outside the allowed clock skew"),  # a captured request replayed later
        (0, 1, "does not match"),  # the timestamp changed after signing
    ],
)
def test_grafana_replays_and_altered_timestamps_are_refused(
    stamp_offset: int, signed_offset: int, reason: str
) -> None:
    now = int(NOW.timestamp())
    headers = {
        "X-Grafana-Alert-Signature": sign(SECRET, BODY, str(now + signed_offset)),
        "X-Grafana-Alert-Timestamp": str(now + stamp_offset),
    }
    with pytest.raises(Unauthenticated) as refused:
        _grafana(headers, timestamp_header="X-Grafana-Alert-Timestamp")
    assert reason in refused.value.reason


def test_bearer_basic_and_url_tokens() -> None:
    verify_bearer({"Authorization": f"Bearer {SECRET}"}, SECRET)
    basic = base64.b64encode(b"alertmanager:" + SECRET.encode()).decode()
    verify_basic({"authorization": f"Basic {basic}"}, f"alertmanager:{SECRET}")
    verify_token({"token": SECRET}, SECRET)
    for check in (
        lambda: verify_bearer({"Authorization": "Bearer guess"}, SECRET),
        lambda: verify_bearer({"Authorization": f"Basic {SECRET}"}, SECRET),
        lambda: verify_basic({"Authorization": "Basic !!!"}, f"a:{SECRET}"),
        lambda: verify_basic({"Authorization": f"Basic {basic}"}, f"someone:{SECRET}"),
        lambda: verify_token({}, SECRET),
        lambda: verify_token({"token": SECRET[:-1]}, SECRET),
    ):
        with pytest.raises(Unauthenticated):
            check()


RULES = load_rules(
    """
sources:
  - {name: production, workspace_id: 5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10, tables: [AppTraces]}
webhooks:
  - {name: sentry, kind: sentry, secret: sentry-client-secret}
  - {name: grafana, kind: grafana, secret: grafana-bearer, auth: bearer}
  - {name: alertmanager, kind: alertmanager, secret: am-basic, auth: basic}
  - {name: azure, kind: azure-monitor, secret: azure-token}
failures:
  - name: all-alerts
    webhooks: [sentry, grafana, alertmanager, azure]
    when: {field: Status, equals: firing}
routing: {default_repository: contoso/shop}
""",
    {},
)


@pytest.mark.parametrize(
    ("name", "headers", "params"),
    [
        ("sentry", {"Sentry-Hook-Signature": sign(SECRET, BODY)}, {}),
        ("grafana", {"Authorization": f"Bearer {SECRET}"}, {}),
        (
            "alertmanager",
            {"Authorization": f"Basic {base64.b64encode(SECRET.encode()).decode()}"},
            {},
        ),
        ("azure", {}, {"token": SECRET}),
    ],
)
def test_each_webhook_kind_authenticates_its_own_way(
    name: str, headers: dict[str, str], params: dict[str, str]
) -> None:
    authenticate(RULES.webhook(name), BODY, headers, params, SECRET, NOW)
    for other in {"sentry", "grafana", "alertmanager", "azure"} - {name}:
        with pytest.raises(Unauthenticated):
            authenticate(RULES.webhook(other), BODY, headers, params, SECRET, NOW)


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200), flip=st.integers())
def test_a_signature_holds_for_its_body_only(secret: str, body: bytes, flip: int) -> None:
    signature = sign(secret, body)
    verify_sentry(body, {"Sentry-Hook-Signature": signature}, secret)
    altered = bytearray(body or b"\x00")
    altered[flip % len(altered)] ^= 0x01
    with pytest.raises(Unauthenticated):
        verify_sentry(bytes(altered), {"Sentry-Hook-Signature": signature}, secret)
