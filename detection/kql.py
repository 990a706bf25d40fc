"""Compile a query window and the failure conditions into KQL, so only candidates leave Azure.

Every user value is emitted as an escaped string literal and every field through a conversion
function, mirroring conditions.py exactly (including null: a comparison with null is false, never
null); column names are validated identifiers.
"""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from detection.rules import Condition, FieldPath
from detection.windows import QueryWindow

if TYPE_CHECKING:
    from detection.occurrence import Occurrence

INGESTION_TIME_COLUMN = "IngestionTime"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(text: str) -> str:
    """A double-quoted KQL string literal that no input can break out of."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def datetime_literal(moment: datetime) -> str:
    """`datetime(2026-11-20T00:00:00.0000000Z)` in UTC with the service's 7-digit precision."""
    utc = moment.astimezone(UTC)
    return f"datetime({utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z)"


def _number(value: float) -> str:
    return repr(float(value))


def field_reference(path: FieldPath) -> str:
    return path.column + "".join(f"[{string_literal(key)}]" for key in path.keys)


def _guarded(conversion: str, ref: str, operator: str, literal: str) -> str:
    """KQL compares null to null, not false; guarding keeps `not(...)` two-valued like Python."""
    value = f"{conversion}({ref})"
    return f"(isnotnull({value}) and {value} {operator} {literal})"


def _equality(ref: str, expected: bool | int | float | str, case_sensitive: bool) -> str:
    if isinstance(expected, bool):
        return _guarded("tobool", ref, "==", "true" if expected else "false")
    if isinstance(expected, (int, float)):
        return _guarded("todouble", ref, "==", _number(expected))
    operator = "==" if case_sensitive else "=~"
    return f"tostring({ref}) {operator} {string_literal(expected)}"


def _membership(ref: str, options: Sequence[bool | int | float | str], exact: bool) -> str:
    strings = [o for o in options if isinstance(o, str)]
    numbers = [o for o in options if isinstance(o, (int, float)) and not isinstance(o, bool)]
    booleans = [o for o in options if isinstance(o, bool)]
    parts = []
    if strings:
        operator = "in" if exact else "in~"
        parts.append(f"tostring({ref}) {operator} ({', '.join(map(string_literal, strings))})")
    if numbers:
        parts.append(f"todouble({ref}) in ({', '.join(_number(n) for n in numbers)})")
    parts.extend(_equality(ref, b, exact) for b in booleans)
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compile_condition(condition: Condition) -> str:
    """One condition as a KQL boolean expression."""
    if condition.all_ is not None:
        return "(" + " and ".join(compile_condition(c) for c in condition.all_) + ")"
    if condition.any_ is not None:
        return "(" + " or ".join(compile_condition(c) for c in condition.any_) + ")"
    if condition.not_ is not None:
        return f"not({compile_condition(condition.not_)})"
    if condition.field is None:
        raise ValueError("a condition names a field or combines others")
    ref = field_reference(condition.field)
    operator, operand, exact = condition.operator, condition.operand, condition.case_sensitive
    if operator == "equals":
        return _equality(ref, operand, exact)
    if operator == "not_equals":
        return f"not({_equality(ref, operand, exact)})"
    if operator == "in":
        return _membership(ref, operand, exact)
    if operator == "not_in":
        return f"not({_membership(ref, operand, exact)})"
    if operator == "contains":
        return f"tostring({ref}) {'contains_cs' if exact else 'contains'} {string_literal(operand)}"
    if operator == "regex":
        return f"tostring({ref}) matches regex {string_literal(operand)}"
    if operator == "exists":
        return f"{'isnotempty' if operand else 'isempty'}(tostring({ref}))"
    return _guarded("todouble", ref, _ORDER[operator], _number(operand))


def build_query(
    table: str, window: QueryWindow, conditions: Sequence[Condition], *, limit: int | None = None
) -> str:
    """The KQL for one table and window: ingestion-time slice, TimeGenerated bound, candidates.

    `limit` caps the rows the service sends back, so a job's memory has a bound set by us rather
    than by the service's 500,000 rows and ~100 MB; a result that reaches it is split by the
    caller, never used as if whole."""
    lines = [
        table,
        f"| where ingestion_time() >= {datetime_literal(window.start)}"
        f" and ingestion_time() < {datetime_literal(window.end)}",
        f"| where TimeGenerated >= {datetime_literal(window.time_generated_from)}"
        f" and TimeGenerated < {datetime_literal(window.time_generated_to)}",
    ]
    if conditions:
        lines.append("| where " + " or ".join(f"({compile_condition(c)})" for c in conditions))
    lines.append(f"| extend {INGESTION_TIME_COLUMN} = ingestion_time()")
    if limit is not None:
        lines.append(f"| take {limit}")
    return "\n".join(lines)


def issue_query(table: str, condition: Condition, first_seen: datetime, last_seen: datetime) -> str:
    """The KQL a person runs to see a failure's occurrences (with an hour either side)."""
    return "\n".join(
        [
            table,
            f"| where TimeGenerated between ({datetime_literal(first_seen - timedelta(hours=1))}"
            f" .. {datetime_literal(last_seen + timedelta(hours=1))})",
            f"| where {compile_condition(condition)}",
            "| order by TimeGenerated desc",
        ]
    )


_TEXT_COLUMNS = {
    "AppExceptions": "Details",
    "AppTraces": "Message",
    "FunctionAppLogs": "strcat(Message, ExceptionDetails)",
    "ContainerLogV2": "LogMessage",
    "AppServiceConsoleLogs": "ResultDescription",
}
_LITERAL_RUN = re.compile(r"(?:(?<=\s)|^)[^\s<>*]+(?: [^\s<>*]+)*")
OPERATION_TABLES = ("AppRequests", "AppDependencies", "AppExceptions", "AppTraces")


def _identifier_tail(function: str) -> str:
    """The last name of a qualified function (`PriceFor` of `pkg.(*Service).PriceFor`)."""
    return re.split(r"[./]", function.rstrip(")"))[-1].strip("()*")


def failure_query(
    founder: Occurrence, condition: Condition, first_seen: datetime, last_seen: datetime
) -> str:
    """The KQL a person runs to see this failure's rows, not every row of its rule: the rule's
    condition narrowed by what identifies the failure (its culprit and exception type, the
    dependency's target and result code, the request's name and result code, or the longest
    literal part of its message)."""
    narrowed: list[str] = []
    text_column = _TEXT_COLUMNS.get(founder.table)
    call = founder.call
    if founder.basis == "stack" and founder.culprit and text_column:
        terms = [_identifier_tail(founder.culprit)]
        if founder.exception_type:
            terms.append(founder.exception_type.rsplit(".", 1)[-1])
        narrowed += [f"tostring({text_column}) contains {string_literal(t)}" for t in terms if t]
    elif founder.basis == "dependency":
        narrowed += [
            f"{column} == {string_literal(call[column])}"
            for column in ("Target", "DependencyType", "ResultCode")
            if call.get(column)
        ]
    elif founder.basis == "request":
        narrowed += [
            f"{column} == {string_literal(call[column])}"
            for column in ("Name", "ResultCode")
            if call.get(column)
        ]
    elif text_column:
        runs = _LITERAL_RUN.findall(" ".join(founder.message.split()[:40]))
        longest = max(runs, key=len, default="")
        if len(longest) >= 8:
            narrowed.append(f"tostring({text_column}) contains {string_literal(longest[:200])}")
    if founder.role and founder.table.startswith("App"):
        narrowed.append(f"AppRoleName =~ {string_literal(founder.role)}")
    where = [f"| where {compile_condition(condition)}", *(f"| where {n}" for n in narrowed)]
    return "\n".join(
        [
            founder.table,
            f"| where TimeGenerated between ({datetime_literal(first_seen - timedelta(hours=1))}"
            f" .. {datetime_literal(last_seen + timedelta(hours=1))})",
            *where,
            "| order by TimeGenerated desc",
        ]
    )


def operation_query(operation_id: str, around: datetime) -> str:
    """Every App Insights row of one operation, in time order (the breadcrumbs, complete)."""
    return "\n".join(
        [
            f"union {', '.join(OPERATION_TABLES)}",
            f"| where TimeGenerated between ({datetime_literal(around - timedelta(hours=1))}"
            f" .. {datetime_literal(around + timedelta(hours=1))})",
            f"| where OperationId == {string_literal(operation_id)}",
            "| order by TimeGenerated asc",
        ]
    )


def portal_url(workspace_resource_id: str, query: str, start: datetime, end: datetime) -> str:
    """A link opening the query in the portal's Logs blade (gzip+base64, as the portal shares)."""
    encoded = base64.b64encode(gzip.compress(query.encode(), mtime=0)).decode()
    span = (
        f"{(start - timedelta(hours=1)).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}/"
        f"{(end + timedelta(hours=1)).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    )
    return (
        "https://portal.azure.com/#blade/Microsoft_OperationsManagementSuite_Workspace/"
        f"Logs.ReactView/resourceId/{quote(workspace_resource_id, safe='')}"
        f"/source/LogsBlade.AnalyticsShareLinkToQuery/q/{quote(encoded, safe='')}"
        f"/timespan/{quote(span, safe='')}"
    )
