"""Compile a query window and the failure conditions into a CloudWatch Logs Insights query.

What CloudWatch guarantees, and the window built on it:

- Every event carries two times: `@timestamp`, the producer's event time, and
  `@ingestionTime`, when CloudWatch Logs received it. `PutLogEvents` accepts events up to
  14 days in the past (or the group's retention, if shorter) and up to 2 hours in the future, so
  event time says nothing about when a record becomes visible: an agent that buffered for an
  hour delivers records an hour "late".
- `StartQuery`'s `startTime`/`endTime` (epoch seconds, inclusive) select on event time only.
  The query itself can filter on `@ingestionTime` (epoch milliseconds).
- So the window is the one Log Analytics uses (`detection.windows`), on ingestion time: each job
  reads `@ingestionTime` in the half-open [start, end) of its window, over an event-time range
  from `start - lookback` (the source's configured maximum lateness, at most the 14 days
  CloudWatch accepts) to `end + 2 h` (the future CloudWatch accepts). Consecutive windows
  partition ingestion time, so a late record falls into exactly one later window, and a
  repeated, replayed or split window reads the same records again, which the occurrence ledger
  counts once (record ids are content hashes, `detection.records.record_id`).
- A query returns at most 10,000 rows (`limit` cannot exceed it): a result that reaches the limit
  is incomplete and its window is halved by the caller, as for Log Analytics' row cap.
- The ingestion delay still matters: a record is queryable a little after its `@ingestionTime`,
  so windows end `ingestion_delay` before now.

Conditions are pushed into `filter` only where Logs Insights means what `detection.conditions`
means, and the pushed filter only ever narrows to a superset of what detection keeps (detection
runs again on every returned row). A row's fields are strings here (`Message`, `LogStream`), so
the operators that translate are those decided by a regular expression on the text, and only
when the missing field (which Logs Insights never matches) is also a non-match for detection:

- `contains` (non-empty) → `like /(?i)literal/` (or case-sensitive without `(?i)`);
- `equals` / `in` of non-empty strings → `like /(?i)^literal$/` alternatives;
- `exists: true` → `ispresent(field)`;
- `all` keeps the conjuncts that translate (fewer conjuncts admit more rows); `any` translates
  only if every alternative does.

Everything else stays client-side: `not` and the negated operators (Logs Insights' null
handling under `not` is not detection's `tostring(null) == ""`), numbers and booleans (detection
compares `todouble`/`tobool` conversions), `regex` (Logs Insights does not document its engine as
RE2, so `\\d`, `$` and classes could disagree), case-insensitive non-ASCII literals (case folding
rules differ), and JSON paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from detection.rules import Condition
from detection.windows import QueryWindow

MAX_FUTURE = timedelta(hours=2)
"""How far ahead of its ingestion an event's timestamp may be: PutLogEvents rejects later ones."""
MAX_LATENESS = timedelta(days=14)
"""How far behind its ingestion an event's timestamp may be: PutLogEvents rejects older ones."""
ROW_LIMIT = 10_000
"""The most rows one Logs Insights query returns."""

COLUMNS = {
    "TimeGenerated": "@timestamp",
    "IngestionTime": "@ingestionTime",
    "Message": "@message",
    "LogStream": "@logStream",
}
"""Each column a CloudWatch record has (the adapter adds `LogGroup`) and its Insights field."""
PUSHABLE = {"Message": "@message", "LogStream": "@logStream"}
"""The string columns whose conditions may be pushed down."""

_META = set(".^$*+?()[]{}|\\/")


def epoch_millis(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return int((utc - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)) // 1000


def event_time_range(window: QueryWindow) -> tuple[int, int]:
    """`StartQuery`'s startTime and endTime (epoch seconds, both inclusive): every event time a
    record ingested in the window can have, given the source's lookback and CloudWatch's 2 h."""
    start = math.floor(epoch_millis(window.start - window.lookback) / 1000)
    end = math.ceil(epoch_millis(window.end + MAX_FUTURE) / 1000)
    return start, end


def _literal(text: str) -> str | None:
    """The text as a regular-expression literal between slashes, or None for text that has no
    safe spelling there (control characters)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return None
    return "".join("\\" + ch if ch in _META else ch for ch in text)


def _like(field: str, text: str, case_sensitive: bool, anchored: bool) -> str | None:
    if not text or (not case_sensitive and not text.isascii()):
        return None
    literal = _literal(text)
    if literal is None:
        return None
    flags = "" if case_sensitive else "(?i)"
    body = f"^{literal}$" if anchored else literal
    return f"{field} like /{flags}{body}/"


def pushdown(condition: Condition) -> str | None:
    """A Logs Insights boolean expression true for every row the condition accepts (a superset),
    or None when no such expression narrower than `true` is known to hold."""
    if condition.all_ is not None:
        parts = [p for p in (pushdown(c) for c in condition.all_) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"
    if condition.any_ is not None:
        alternatives = [pushdown(c) for c in condition.any_]
        if any(a is None for a in alternatives):
            return None
        return "(" + " or ".join(a for a in alternatives if a is not None) + ")"
    if condition.not_ is not None or condition.field is None or condition.field.keys:
        return None
    field = PUSHABLE.get(condition.field.column)
    if field is None:
        return None
    operator, operand, exact = condition.operator, condition.operand, condition.case_sensitive
    if operator == "contains":
        return _like(field, operand, exact, anchored=False)
    if operator == "equals" and isinstance(operand, str):
        return _like(field, operand, exact, anchored=True)
    if operator == "in" and all(isinstance(o, str) for o in operand):
        options = [_like(field, o, exact, anchored=True) for o in operand]
        if any(o is None for o in options):
            return None
        return options[0] if len(options) == 1 else "(" + " or ".join(map(str, options)) + ")"
    if operator == "exists" and operand is True:
        return f"ispresent({field})"
    return None


def build_query(window: QueryWindow, conditions: Sequence[Condition], *, limit: int) -> str:
    """The Logs Insights query for one log group and window: the ingestion-time slice, the
    candidates (when every definition's condition can be pushed), oldest ingestion first."""
    if not 1 <= limit <= ROW_LIMIT:
        raise ValueError(f"a Logs Insights limit is 1 to {ROW_LIMIT}, not {limit}")
    lines = [
        "fields " + ", ".join(COLUMNS.values()),
        f"| filter @ingestionTime >= {epoch_millis(window.start)}"
        f" and @ingestionTime < {epoch_millis(window.end)}",
    ]
    candidates = [pushdown(c) for c in conditions]
    if candidates and all(c is not None for c in candidates):
        lines.append("| filter " + " or ".join(f"({c})" for c in candidates))
    lines += ["| sort @ingestionTime asc", f"| limit {limit}"]
    return "\n".join(lines)


def investigate_query(
    log_group: str, condition: Condition, first_seen: datetime, last_seen: datetime
) -> str:
    """The Logs Insights query a person runs to see a failure's events (the rule's condition as
    far as it pushes down), with the log group and time range the console asks for."""
    start = f"{(first_seen - timedelta(hours=1)).astimezone(UTC):%Y-%m-%d %H:%M}"
    end = f"{(last_seen + timedelta(hours=1)).astimezone(UTC):%Y-%m-%d %H:%M}"
    candidates = pushdown(condition)
    return "\n".join(
        [
            f"# log group {log_group}; time range {start} to {end} UTC",
            "fields @timestamp, @logStream, @message",
            *([f"| filter {candidates}"] if candidates else []),
            "| sort @timestamp desc",
            "| limit 100",
        ]
    )
