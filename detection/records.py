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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from detection.conditions import to_string
from detection.kql import INGESTION_TIME_COLUMN
from detection.rules import ColumnMap, TableSpec
from detection.stacktrace import exception_text_from_details
from detection.structured import StructuredLog, parse_structured

Row = Mapping[str, Any]
RecordKind = Literal["exception", "dependency", "log", "request", "host"]
"""What a row describes: an exception, a failed outgoing call, a log line, a failed incoming
request, or the host's own line about a failed execution (the last two are symptoms)."""


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
    kind: RecordKind = "log"
    invocation_id: str | None = None
    trace_id: str | None = None
    template: str | None = None
    call: Mapping[str, str] = field(default_factory=dict)
    app_version: str | None = None
    instance: str | None = None
    user: str | None = None


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


def _details_message(details: Any) -> str | None:
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        return _text(details[0].get("message"))
    return None


def _log_message(value: Any) -> str | None:
    """ContainerLogV2's LogMessage is a string or a structured object with a message key."""
    if isinstance(value, Mapping):
        return _first(value, "message", "msg", "log", "error") or _text(value)
    return _text(value)


def _line_message(line: StructuredLog) -> str | None:
    """A structured line's message with its error's text (zap's `msg` says what failed, its
    `error` why; either alone is half the story)."""
    if line.message and line.error_message and line.error_message not in line.message:
        return f"{line.message}: {line.error_message}"
    return line.message or line.error_message


def _resource_name(resource_id: Any) -> str | None:
    text = _text(resource_id)
    return text.rstrip("/").rsplit("/", 1)[-1] if text else None


def _property(row: Row, *keys: str) -> str | None:
    """A value from App Insights' `Properties` (customDimensions), by any of its usual names."""
    properties = row.get("Properties")
    if not isinstance(properties, Mapping):
        return None
    return _first(properties, *keys)


def _call(row: Row, *columns: str) -> dict[str, str]:
    """The request's or dependency's own columns, by their names, where present."""
    return {column: text for column in columns if (text := _text(row.get(column)))}


def _functions_kind(row: Row) -> RecordKind:
    """The Functions host writes `Executed '...' (Failed ...)` under `Function.<name>`; the app's
    own logger writes under `Function.<name>.User`."""
    category = _first(row, "Category") or ""
    return "log" if category.endswith(".User") or not category.startswith("Function.") else "host"


def _constant(kind: RecordKind) -> Callable[[Row], RecordKind]:
    return lambda r: kind


@dataclass(frozen=True)
class _Shape:
    """Where a table keeps each part of a failure (functions of the decoded row)."""

    message: Callable[[Row], str | None]
    kind: Callable[[Row], RecordKind] = _constant("log")
    level: Callable[[Row], str | None] = lambda r: None
    exception_type: Callable[[Row], str | None] = lambda r: None
    stack_trace: Callable[[Row], str | None] = lambda r: None
    operation_name: Callable[[Row], str | None] = lambda r: _first(r, "OperationName")
    operation_id: Callable[[Row], str | None] = lambda r: _first(r, "OperationId")
    invocation_id: Callable[[Row], str | None] = lambda r: _property(r, "InvocationId")
    role: Callable[[Row], str | None] = lambda r: _first(r, "AppRoleName")
    template: Callable[[Row], str | None] = lambda r: _property(
        r, "OriginalFormat", "{OriginalFormat}", "MessageTemplate"
    )
    call: Callable[[Row], dict[str, str]] = lambda r: {}
    app_version: Callable[[Row], str | None] = lambda r: (
        _first(r, "AppVersion", "Application_Version")
        or _property(r, "AppVersion", "Application_Version", "service.version")
    )
    instance: Callable[[Row], str | None] = lambda r: _first(r, "AppRoleInstance")
    user: Callable[[Row], str | None] = lambda r: _first(r, "UserAuthenticatedId", "UserId")
    structured: Callable[[Row], Any] = lambda r: None
    """The column that may hold a structured (JSON or logfmt) log line."""


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
        kind=_constant("exception"),
        level=lambda r: _first(r, "SeverityLevel"),
        exception_type=lambda r: _first(r, "OuterType", "ExceptionType", "InnermostType"),
        stack_trace=lambda r: exception_text_from_details(r.get("Details")),
    ),
    "AppRequests": _Shape(
        message=_request_message,
        kind=_constant("request"),
        call=lambda r: _call(r, "Name", "Url", "ResultCode", "DurationMs"),
    ),
    "AppDependencies": _Shape(
        message=_dependency_message,
        kind=_constant("dependency"),
        call=lambda r: _call(
            r, "DependencyType", "Target", "Name", "Data", "ResultCode", "DurationMs"
        ),
    ),
    "AppTraces": _Shape(
        message=lambda r: _first(r, "Message"), level=lambda r: _first(r, "SeverityLevel")
    ),
    "FunctionAppLogs": _Shape(
        message=lambda r: _first(r, "ExceptionMessage", "Message"),
        kind=_functions_kind,
        level=lambda r: _first(r, "Level"),
        exception_type=lambda r: _first(r, "ExceptionType"),
        stack_trace=lambda r: _first(r, "ExceptionDetails"),
        operation_name=lambda r: _first(r, "FunctionName"),
        operation_id=lambda r: None,
        invocation_id=lambda r: _first(r, "FunctionInvocationId"),
        role=lambda r: _resource_name(r.get("_ResourceId")),
        template=lambda r: None,
        app_version=lambda r: None,
        instance=lambda r: _first(r, "HostInstanceId", "RoleInstance"),
        user=lambda r: None,
    ),
    "ContainerLogV2": _Shape(
        message=lambda r: _log_message(r.get("LogMessage")),
        structured=lambda r: r.get("LogMessage"),
        level=lambda r: _first(r, "LogLevel"),
        operation_name=lambda r: _first(r, "PodName"),
        operation_id=lambda r: None,
        invocation_id=lambda r: None,
        role=lambda r: _first(r, "ContainerName"),
        template=lambda r: None,
        app_version=lambda r: None,
        instance=lambda r: _first(r, "PodName"),
        user=lambda r: None,
    ),
    "AppServiceConsoleLogs": _Shape(
        message=lambda r: _first(r, "ResultDescription"),
        structured=lambda r: r.get("ResultDescription"),
        level=lambda r: _first(r, "Level"),
        operation_name=lambda r: None,
        operation_id=lambda r: None,
        invocation_id=lambda r: None,
        role=lambda r: _resource_name(r.get("_ResourceId")) or _first(r, "Host"),
        template=lambda r: None,
        app_version=lambda r: None,
        instance=lambda r: _first(r, "Host"),
        user=lambda r: None,
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

    def nothing(r: Row) -> None:
        return None

    base = shape or _Shape(
        message=nothing,
        operation_name=nothing,
        operation_id=nothing,
        invocation_id=nothing,
        role=nothing,
        template=nothing,
        app_version=nothing,
        instance=nothing,
        user=nothing,
    )
    structured = base.structured
    if shape is None and columns.message is not None:
        column = columns.message
        structured = lambda r: r.get(column)  # noqa: E731 - a custom table's line may be JSON
    return replace(
        base,
        structured=structured,
        message=pick(columns.message, base.message),
        level=pick(columns.level, base.level),
        exception_type=pick(columns.exception_type, base.exception_type),
        stack_trace=pick(columns.stack_trace, base.stack_trace),
        operation_name=pick(columns.operation_name, base.operation_name),
        operation_id=pick(columns.operation_id, base.operation_id),
        role=pick(columns.role, base.role),
        app_version=pick(columns.app_version, base.app_version),
        instance=pick(columns.instance, base.instance),
        user=pick(columns.user, base.user),
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
        if isinstance(value, str) and _SURROGATE.search(value):
            value = _SURROGATE.sub("\ufffd", value)
        if column.type == "dynamic":
            value = _without_surrogates(_decode_dynamic(value, column.name))
        elif column.type == "datetime" and value is not None:
            value = parse_datetime(value, column.name)
        row[column.name] = value
    return row


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """Lone surrogates (a JSON `\\ud800` escape decodes to one) cannot be written as UTF-8, so no
    store would take the row; each becomes U+FFFD, whatever depth of a dynamic value holds it."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


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
    line = parse_structured(shape.structured(row))
    message, level = shape.message(row), shape.level(row)
    exception_type, stack_trace = shape.exception_type(row), shape.stack_trace(row)
    template, trace_id = shape.template(row), None
    if line is not None:
        message = _line_message(line) or message
        level = line.level or level
        exception_type = line.error_type or exception_type
        stack_trace = line.stack or stack_trace
        template = line.template or template
        trace_id = line.trace_id
    return LogRecord(
        table=spec.name,
        record_id=identity,
        time_generated=time_generated,
        ingested_at=ingested if isinstance(ingested, datetime) else None,
        message=message or "(no message)",
        level=level,
        exception_type=exception_type,
        stack_trace=stack_trace,
        operation_name=shape.operation_name(row),
        operation_id=shape.operation_id(row),
        role=shape.role(row),
        fields=row,
        kind=shape.kind(row),
        invocation_id=shape.invocation_id(row),
        trace_id=trace_id,
        template=template,
        call=shape.call(row),
        app_version=shape.app_version(row),
        instance=shape.instance(row),
        user=shape.user(row),
    )
