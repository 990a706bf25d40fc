"""Alert webhooks' payloads as records: what every parser returns and how it refuses a payload.

A webhook's payload is turned into `LogRecord`s that detection, the fingerprint, the ledger and
the issue treat like rows from Log Analytics: the record's `table` is the webhook's name from the
rules file (a failure definition names it under `webhooks`, as it names tables), its `fields`
are what conditions read (`Status`, `Labels.severity`, ...), and its text goes through the same
redaction when it becomes an occurrence (`detection.occurrence`). Nothing here does I/O; time is
passed in (`received_at`), and every parser is total over JSON: a payload it cannot use is
refused with a `PayloadRejected` whose `reason` is a fixed name (the HTTP answer says it), never
another exception.

The parsers: `detection.alerts_sentry` (Sentry issue-alert and error webhooks),
`detection.alerts_prometheus` (Grafana Alerting contact points, Loki alerts included, and
Prometheus Alertmanager) and `detection.alerts_azure` (Azure Monitor's common alert schema).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from detection.records import LogRecord, RecordKind

MAX_ALERTS = 500
"""Alerts read from one notification (Alertmanager's `max_alerts` is unbounded by default; a
group this large is an outage, and the first 500 say what it is)."""
MAX_TEXT = 16_000
"""Longest text kept from any payload field before redaction clips it further."""


class PayloadRejected(ValueError):
    """The payload is not one this webhook can use; `reason` is a fixed name for the answer
    (`not-json`, `not-an-object`, `missing-alerts`, ...) and the message says which field."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LogSearch:
    """A log search alert's query and window: the rows behind it are fetched by re-reading the
    configured source over the window (`pipeline.alerts`), so the query job detects on them."""

    rule: str
    query: str
    start: datetime
    end: datetime
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertBatch:
    """What one delivery holds: its records, log searches to run, and the id redeliveries share.

    `ignored` says why a well-formed delivery carries nothing to detect (Sentry's installation
    hook, a test ping); `skipped` lists alerts inside it that could not be read, each with why."""

    delivery_id: str
    records: tuple[LogRecord, ...] = ()
    log_searches: tuple[LogSearch, ...] = ()
    ignored: str | None = None
    skipped: tuple[str, ...] = ()


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or PayloadRejected naming why not."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadRejected("not-json", f"the body is not JSON ({error})") from None
    except RecursionError:
        raise PayloadRejected("not-json", "the body nests too deeply") from None
    if not isinstance(document, dict):
        raise PayloadRejected("not-an-object", "the body is JSON but not an object")
    return document


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A field's value as stripped text (numbers too), or None when absent or empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return None
    stripped = value.strip()[:limit]
    return stripped or None


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object's string keys and values, or an empty one for anything else."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k)[:200]: v for k, v in value.items() if isinstance(k, str)}


def strings(value: Any) -> dict[str, str]:
    """A label or annotation set: string keys to string values; other values are dropped."""
    return {k: v[:MAX_TEXT] for k, v in mapping(value).items() if isinstance(v, str)}


def objects(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON array (anything else in it is skipped)."""
    if not isinstance(value, list):
        return []
    return [mapping(item) for item in value if isinstance(item, Mapping)]


def moment(value: Any) -> datetime | None:
    """An RFC 3339 string or a Unix timestamp (seconds) as an aware UTC datetime, or None.
    Alertmanager writes `0001-01-01T00:00:00Z` for "not yet": also None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if "." in raw:  # Go and .NET write up to 9 fractional digits; Python reads 6
        head, _, rest = raw.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        raw = f"{head}.{rest[: min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None if parsed.year < 1971 else parsed


def digest(*parts: str) -> str:
    """A short stable id from parts (delivery and record ids)."""
    canonical = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode("utf-8", "replace"), digest_size=16).hexdigest()


def alert_record(
    *,
    webhook: str,
    record_id: str,
    time: datetime,
    message: str,
    fields: Mapping[str, Any],
    template: str | None = None,
    level: str | None = None,
    kind: RecordKind = "log",
    exception_type: str | None = None,
    stack_trace: str | None = None,
    operation_name: str | None = None,
    operation_id: str | None = None,
    role: str | None = None,
    app_version: str | None = None,
    instance: str | None = None,
) -> LogRecord:
    """A record from a webhook: its table is the webhook's name, so definitions that name the
    webhook match it; no user is kept (payloads carry e-mails and IPs that redaction would not
    see in that field)."""
    return LogRecord(
        table=webhook,
        record_id=record_id,
        time_generated=time,
        ingested_at=None,
        message=message[:MAX_TEXT] or "(no message)",
        level=level,
        exception_type=exception_type,
        stack_trace=stack_trace,
        operation_name=operation_name,
        operation_id=operation_id,
        role=role,
        fields=dict(fields),
        kind=kind,
        template=template,
        app_version=app_version,
        instance=instance,
    )


def first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def bounded(items: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The first `MAX_ALERTS` items and how many were left out."""
    return list(items[:MAX_ALERTS]), max(0, len(items) - MAX_ALERTS)
