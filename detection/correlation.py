"""One failing operation is one incident: which rows belong together, and which is the cause.

A failing request writes rows to several tables: the exception, the failed request, the failed
dependency call, the error log line, the Functions host's line. They share an operation: App
Insights' `OperationId` (the W3C trace id), the Functions invocation id (`FunctionInvocationId` in
`FunctionAppLogs`, `Properties.InvocationId` on the App Insights rows the host writes), or the
trace id a structured container log line carries. `correlation_keys` names a record's operation,
the operation id first: the App Insights rows of a Functions invocation carry both ids and link
them, so the host's own rows, which carry only the invocation id, find the operation.

Within an operation the most specific row is the root cause (`rank`): an exception with in-app
frames, then a failed dependency call that says how it failed (its result code), then an error
log line (or an exception without in-app frames), then a call that failed without a result code
(a timeout, a refused connection: the log line that reports it usually says more), then a
failed request or the host's line. The root decides the incident's group; the
other rows are evidence on it. `choose_root` breaks ties by time, then fingerprint, so every
worker chooses alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from detection.records import LogRecord, RecordKind

RANK_CAUSE = 5
RANK_DEPENDENCY = 4
RANK_LOG = 3
RANK_CALL = 2
RANK_SYMPTOM = 1
_RANK_BY_KIND: dict[RecordKind, int] = {
    "exception": RANK_LOG,
    "dependency": RANK_DEPENDENCY,
    "log": RANK_LOG,
    "request": RANK_SYMPTOM,
    "host": RANK_SYMPTOM,
}
_HEX_ID = re.compile(r"[0-9a-f]{16,64}")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _normalized_id(value: str | None) -> str | None:
    """An operation or invocation id in one canonical form, or None when it is no id.

    Classic App Insights ids are hierarchical (`|4bf92f35.1.`): the root is the operation. All-
    zero ids are what an uninstrumented caller sends."""
    if not value:
        return None
    text = value.strip().lower().lstrip("|").split(".", 1)[0]
    if not (_HEX_ID.fullmatch(text) or _GUID.fullmatch(text)):
        return None
    if not text.strip("0-"):
        return None
    return text


def correlation_keys(record: LogRecord) -> tuple[str, ...]:
    """The record's operation, as keys in priority order (`op:<id>` before `inv:<id>`)."""
    keys = []
    operation = _normalized_id(record.operation_id) or _normalized_id(record.trace_id)
    if operation:
        keys.append(f"op:{operation}")
    invocation = _normalized_id(record.invocation_id)
    if invocation:
        keys.append(f"inv:{invocation}")
    return tuple(keys)


def rank(record: LogRecord, has_in_app_frames: bool) -> int:
    """How specific a row is about its operation's failure (higher is closer to the cause)."""
    if has_in_app_frames:
        return RANK_CAUSE
    if record.kind == "dependency" and not record.call.get("ResultCode", "").strip():
        return RANK_CALL
    return _RANK_BY_KIND[record.kind]


@dataclass(frozen=True)
class Candidate:
    """What choosing an operation's root needs to know of one of its rows."""

    rank: int
    time: datetime
    fingerprint: str
    record_id: str


def choose_root(candidates: Sequence[Candidate]) -> Candidate:
    """The most specific row; ties go to the earliest, then to the smaller fingerprint."""
    return min(candidates, key=lambda c: (-c.rank, c.time, c.fingerprint, c.record_id))


def joins_settled(rank_of_row: int, root_rank: int) -> bool:
    """Whether a row that arrives after its operation was settled is evidence of that root.

    A row more specific than the root (a cause ingested later than the wait allowed) is a
    failure of its own: it starts or joins its own group instead of being hidden as evidence."""
    return rank_of_row <= root_rank
