"""Who may post to an alert webhook: each sender's own proof, checked in constant time.

- Sentry signs every webhook: `Sentry-Hook-Signature` is the hex HMAC-SHA256 of the raw body
  keyed with the integration's client secret.
- Grafana Alerting's webhook contact point signs when its HMAC secret is set: the signature
  header (Grafana's default `X-Grafana-Alert-Signature`, configurable on both sides) holds the
  hex HMAC-SHA256 of the body, or of `<timestamp>:<body>` when a timestamp header is configured
  (grafana/alerting `http/hmac.go`); the timestamp (Unix seconds) must then be within
  `tolerance` of now, so a captured request cannot be replayed later. Without HMAC, its
  `Authorization` header credentials stand in as a bearer secret.
- Alertmanager's receiver sends what its `http_config` says: `authorization` (a bearer
  credential) or `basic_auth` (the secret is then `user:password`).
- An Azure Monitor action group cannot sign or add headers: the secret is a token in the
  webhook's URL (`?token=`), over HTTPS only; the URL is then itself the secret.

Pure: the caller passes the body, the headers (names in any case), the query parameters, the
secret and the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

SENTRY_SIGNATURE = "sentry-hook-signature"
TOKEN_PARAMETER = "token"


class Unauthenticated(Exception):
    """The request does not prove it comes from the configured sender; `reason` is a fixed
    phrase for the answer (never the expected value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return None


def _hex_hmac(secret: str, *parts: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def verify_sentry(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    signature = _header(headers, SENTRY_SIGNATURE)
    if not signature:
        raise Unauthenticated("missing Sentry-Hook-Signature")
    if not _same(signature.lower(), _hex_hmac(secret, body)):
        raise Unauthenticated("Sentry-Hook-Signature does not match the body")


def verify_hmac(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    header: str,
    timestamp_header: str | None,
    now: datetime,
    tolerance: timedelta,
) -> None:
    """Grafana's HMAC: over the body, or `<timestamp>:<body>` with a timestamp header."""
    signature = _header(headers, header)
    if not signature:
        raise Unauthenticated(f"missing {header}")
    parts: tuple[bytes, ...] = (body,)
    if timestamp_header:
        stamp = _header(headers, timestamp_header)
        if not stamp or not stamp.isdigit() or len(stamp) > 12:
            raise Unauthenticated(f"missing or malformed {timestamp_header}")
        if abs(now.timestamp() - int(stamp)) > tolerance.total_seconds():
            raise Unauthenticated(f"{timestamp_header} is outside the allowed clock skew")
        parts = (stamp.encode(), b":", body)
    if not _same(signature.lower(), _hex_hmac(secret, *parts)):
        raise Unauthenticated(f"{header} does not match the body")


def verify_bearer(headers: Mapping[str, str], secret: str) -> None:
    scheme, _, credential = (_header(headers, "authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("missing Authorization: Bearer credentials")
    if not _same(credential.strip(), secret):
        raise Unauthenticated("the bearer credentials are not the configured secret")


def verify_basic(headers: Mapping[str, str], secret: str) -> None:
    """HTTP Basic; the configured secret is `user:password`."""
    scheme, _, encoded = (_header(headers, "authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise Unauthenticated("missing Authorization: Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("the Basic credentials are not base64 of user:password") from None
    if not _same(decoded, secret):
        raise Unauthenticated("the Basic credentials are not the configured user and password")


def verify_token(params: Mapping[str, str], secret: str) -> None:
    token = params.get(TOKEN_PARAMETER, "")
    if not token:
        raise Unauthenticated("missing ?token= in the webhook URL")
    if not _same(token, secret):
        raise Unauthenticated("the URL's token is not the configured secret")


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The hex HMAC-SHA256 a sender computes (Sentry; Grafana with an optional timestamp), for
    the local run's bundled samples and tests."""
    return _hex_hmac(secret, *((timestamp.encode(), b":", body) if timestamp else (body,)))
