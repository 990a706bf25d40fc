"""Turn rows of any watched table into one normalized record shape.

Log Analytics tables disagree on where the message, level, exception and stack live; each table
has a default column map (a custom `_CL` table brings its own from the rules file). Rows arrive
either as the SDK decoded them (datetimes parsed) or in wire form (ISO strings, dynamic columns as
JSON text); both normalize the same way. A row that cannot be read is rejected with a reason and
the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detection.conditions import to_string
from detection.kql import INGESTION_TIME_COLUMN
from detection.rules import ColumnMap, TableSpec

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class LogRecord:
    """One row of telemetry, reduced to what detection and the issue need."""

    table: str
    record_id: str
    time_generated: datetime
    ingested_at: datetime | None
    message: str
    level: str | None = None
    exception_type: str | None = None
    stack_trace: str | None = None
    operation_name: str | None = None
    operation_id: str | None = None
    role: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    """A row that could not be read, with its table, position and why."""

    table: str
    index: int
    reason: str


@dataclass(frozen=True)
class Normalized:
    records: tuple[LogRecord, ...]
    rejected: tuple[RejectedRow, ...]


class MalformedRow(ValueError):
    pass


def parse_datetime(value: Any, column: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise MalformedRow(f"{column} is not a datetime: {value[:60]!r}") from None
    else:
        raise MalformedRow(
            f"{column} is missing" if value is None else f"{column} is not a datetime"
        )
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decode_dynamic(value: Any, column: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise MalformedRow(f"dynamic column {column} is not valid JSON ({error.msg})") from None


def _text(value: Any) -> str | None:
    text = to_string(value).strip()
    return text or None


def _first(row: Row, *columns: str) -> str | None:
    for column in columns:
        text = _text(row.get(column))
        if text:
            return text
    return None


def _exception_stack(details: Any) -> str | None:
    """Flatten App Insights' `Details` (outer and inner exceptions) into readable stack text."""
    if not isinstance(details, list):
        return _text(details)
    blocks = []
    for item in details:
        if not isinstance(item, Mapping):
            continue
        header = ": ".join(p for p in (_text(item.get("type")), _text(item.get("message"))) if p)
        raw = _text(item.get("rawStack"))
        if raw:
            blocks.append(
                raw if header and raw.startswith(header) else "\n".join(filter(None, (header, raw)))
            )
            continue
        frames = [
            f"   at {frame.get('method')}"
            + (f" in {frame['fileName']}:line {frame['line']}" if frame.get("fileName") else "")
            for frame in item.get("parsedStack") or []
            if isinstance(frame, Mapping)
        ]
        blocks.append("\n".join([header, *frames]))
    return "\n ---> ".join(b for b in blocks if b) or None


def _details_message(details: Any) -> str | None:
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        return _text(details[0].get("message"))
    return None


def _log_message(value: Any) -> str | None:
    """ContainerLogV2's LogMessage is a string or a structured object with a message key."""
    if isinstance(value, Mapping):
        return _first(value, "message", "msg", "log", "error") or _text(value)
    return _text(value)


def _resource_name(resource_id: Any) -> str | None:
    text = _text(resource_id)
    return text.rstrip("/").rsplit("/", 1)[-1] if text else None


@dataclass(frozen=True)
class _Shape:
    """Where a table keeps each part of a failure (functions of the decoded row)."""

    message: Callable[[Row], str | None]
    level: Callable[[Row], str | None] = lambda r: None
    exception_type: Callable[[Row], str | None] = lambda r: None
    stack_trace: Callable[[Row], str | None] = lambda r: None
    operation_name: Callable[[Row], str | None] = lambda r: _first(r, "OperationName")
    operation_id: Callable[[Row], str | None] = lambda r: _first(r, "OperationId")
    role: Callable[[Row], str | None] = lambda r: _first(r, "AppRoleName")


def _request_message(r: Row) -> str | None:
    name = _first(r, "Name", "OperationName") or "request"
    return f"{name} failed with {_first(r, 'ResultCode') or 'no result code'}"


def _dependency_message(r: Row) -> str | None:
    kind = _first(r, "DependencyType") or "dependency"
    target = _first(r, "Target") or "unknown target"
    name = _first(r, "Name") or ""
    code = _first(r, "ResultCode") or "no result code"
    return f"{kind} call to {target} {name} failed with {code}".replace("  ", " ")


TABLE_SHAPES: Mapping[str, _Shape] = {
    "AppExceptions": _Shape(
        message=lambda r: (
            _first(r, "OuterMessage", "InnermostMessage", "Message")
            or _details_message(r.get("Details"))
        ),
        level=lambda r: _first(r, "SeverityLevel"),
        exception_type=lambda r: _first(r, "OuterType", "ExceptionType", "InnermostType"),
        stack_trace=lambda r: _exception_stack(r.get("Details")),
    ),
    "AppRequests": _Shape(message=_request_message),
    "AppDependencies": _Shape(message=_dependency_message),
    "AppTraces": _Shape(
        message=lambda r: _first(r, "Message"), level=lambda r: _first(r, "SeverityLevel")
    ),
    "FunctionAppLogs": _Shape(
        message=lambda r: _first(r, "ExceptionMessage", "Message"),
        level=lambda r: _first(r, "Level"),
        exception_type=lambda r: _first(r, "ExceptionType"),
        stack_trace=lambda r: _first(r, "ExceptionDetails"),
        operation_name=lambda r: _first(r, "FunctionName"),
        operation_id=lambda r: _first(r, "FunctionInvocationId"),
        role=lambda r: _resource_name(r.get("_ResourceId")),
    ),
    "ContainerLogV2": _Shape(
        message=lambda r: _log_message(r.get("LogMessage")),
        level=lambda r: _first(r, "LogLevel"),
        operation_name=lambda r: _first(r, "PodName"),
        operation_id=lambda r: None,
        role=lambda r: _first(r, "ContainerName"),
    ),
    "AppServiceConsoleLogs": _Shape(
        message=lambda r: _first(r, "ResultDescription"),
        level=lambda r: _first(r, "Level"),
        operation_name=lambda r: None,
        operation_id=lambda r: None,
        role=lambda r: _resource_name(r.get("_ResourceId")) or _first(r, "Host"),
    ),
}


def _mapped(columns: ColumnMap, shape: _Shape | None) -> _Shape:
    """The table's default shape with any columns the rules file names taking precedence."""

    def pick(
        column: str | None, default: Callable[[Row], str | None]
    ) -> Callable[[Row], str | None]:
        if column is None:
            return default
        return lambda r: _text(r.get(column))

    base = shape or _Shape(
        message=lambda r: None,
        operation_name=lambda r: None,
        operation_id=lambda r: None,
        role=lambda r: None,
    )
    return _Shape(
        message=pick(columns.message, base.message),
        level=pick(columns.level, base.level),
        exception_type=pick(columns.exception_type, base.exception_type),
        stack_trace=pick(columns.stack_trace, base.stack_trace),
        operation_name=pick(columns.operation_name, base.operation_name),
        operation_id=pick(columns.operation_id, base.operation_id),
        role=pick(columns.role, base.role),
    )


def record_id(table: str, row: Row) -> str:
    """A stable id from the row's content, for tables without an id column (ingestion excluded)."""
    content = {k: v for k, v in row.items() if k != INGESTION_TIME_COLUMN}
    canonical = json.dumps([table, content], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


def normalize_rows(
    spec: TableSpec, columns: Sequence[Column], rows: Sequence[Sequence[Any]]
) -> Normalized:
    """Normalize a batch of rows; each unreadable row becomes a RejectedRow, never an exception."""
    shape = _mapped(spec.columns, TABLE_SHAPES.get(spec.name))
    records: list[LogRecord] = []
    rejected: list[RejectedRow] = []
    for index, values in enumerate(rows):
        try:
            records.append(_normalize(spec, shape, columns, values))
        except MalformedRow as error:
            rejected.append(RejectedRow(spec.name, index, str(error)))
    return Normalized(tuple(records), tuple(rejected))


def decode_row(columns: Sequence[Column], values: Sequence[Any]) -> dict[str, Any]:
    """Column name -> value, with datetimes parsed and dynamic JSON decoded."""
    if not isinstance(values, (list, tuple)) or len(values) != len(columns):
        count = len(values) if isinstance(values, (list, tuple)) else "no"
        raise MalformedRow(f"row has {count} values for {len(columns)} columns")
    row: dict[str, Any] = {}
    for column, value in zip(columns, values, strict=True):
        if column.type == "dynamic":
            value = _decode_dynamic(value, column.name)
        elif column.type == "datetime" and value is not None:
            value = parse_datetime(value, column.name)
        row[column.name] = value
    return row


def _normalize(
    spec: TableSpec, shape: _Shape, columns: Sequence[Column], values: Sequence[Any]
) -> LogRecord:
    row = decode_row(columns, values)
    time_generated = parse_datetime(row.get("TimeGenerated"), "TimeGenerated")
    ingested = row.get(INGESTION_TIME_COLUMN)
    if spec.record_id_column is not None:
        identity = _text(row.get(spec.record_id_column))
        if identity is None:
            raise MalformedRow(f"record id column {spec.record_id_column} is empty")
    else:
        identity = record_id(spec.name, row)
    return LogRecord(
        table=spec.name,
        record_id=identity,
        time_generated=time_generated,
        ingested_at=ingested if isinstance(ingested, datetime) else None,
        message=shape.message(row) or "(no message)",
        level=shape.level(row),
        exception_type=shape.exception_type(row),
        stack_trace=shape.stack_trace(row),
        operation_name=shape.operation_name(row),
        operation_id=shape.operation_id(row),
        role=shape.role(row),
        fields=row,
    )
