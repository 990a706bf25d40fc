"""Local HTTPS fake of the Azure Log Analytics query API (``POST /v1/workspaces/{id}/query``).

It exists so integration tests can drive the real ``azure.monitor.query.LogsQueryClient`` end to
end and prove which rows would leave the workspace: the fake evaluates the KQL subset Faultline's
compiler emits instead of returning canned data, and it refuses anything outside that subset with
the service's own 400 error shape rather than guessing.

It is meant to be at least as strict as the service: a token the fake did not issue gets 403
``InvalidTokenError``; an identity without Log Analytics Reader on the workspace gets 403
``InsufficientAccessError`` (``add_credential``, ``grant_reader``, ``revoke_reader``); faults give
429 with ``Retry-After``, 5xx, and ``PartialError`` results; results are capped at ``max_rows``.
"""

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self, cast

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.https import HttpsServer

__all__ = [
    "Fault",
    "FakeCredential",
    "LogAnalyticsFake",
    "Partial",
    "RecordedRequest",
    "ServerError",
    "Throttle",
]

_FAR_FUTURE = 4_102_444_800  # 2100-01-01T00:00:00Z: the token never needs refreshing in a test.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS_PER_SECOND = 10_000_000  # KQL datetimes are 100 ns ticks; comparing ticks keeps them exact.
_KUSTO_LIMITS = "see https://aka.ms/kustoquerylimits"


class FakeCredential:
    """Token credential for the fake; azure-core prefers ``get_token_info`` when it exists.

    Each credential is one identity: its token names it to the fake.
    """

    def __init__(self) -> None:
        self.token = f"la-{uuid.uuid4().hex}"

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self.token, _FAR_FUTURE)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, _FAR_FUTURE)


@dataclass(frozen=True)
class Throttle:
    """Answer the next request with 429 and ``Retry-After: retry_after``."""

    retry_after: int = 1


@dataclass(frozen=True)
class ServerError:
    """Answer the next request with this 5xx status."""

    status: int = 500


@dataclass(frozen=True)
class Partial:
    """Run the next query but return only the first half of its rows plus a PartialError."""


Fault = Throttle | ServerError | Partial


@dataclass(frozen=True)
class RecordedRequest:
    """One authenticated query request as the fake received it, with the status it answered."""

    workspace_id: str
    query: str
    timespan: str | None
    status: int


# ---------------------------------------------------------------------------------------------
# Service errors


class _ServiceError(Exception):
    """An error answer in the service's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        innererror: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.error: dict[str, Any] = {
            "message": message,
            "code": code,
            "correlationId": str(uuid.uuid4()),
        }
        if innererror is not None:
            self.error["innererror"] = innererror


def _bad_argument(innererror: dict[str, Any]) -> _ServiceError:
    return _ServiceError(
        400, "BadArgumentError", "The request had some invalid properties", innererror
    )


def _syntax_error(detail: str, line: int, pos: int, token: str) -> _ServiceError:
    return _bad_argument(
        {
            "code": "SyntaxError",
            "message": "A recognition error occurred in the query.",
            "innererror": {
                "code": "SYN0002",
                "message": detail,
                "line": line,
                "pos": pos,
                "token": token,
            },
        }
    )


def _semantic_error(detail: str, inner_code: str | None = None) -> _ServiceError:
    if inner_code is None:
        return _bad_argument({"code": "SemanticError", "message": detail})
    return _bad_argument(
        {
            "code": "SemanticError",
            "message": "A semantic error occurred.",
            "innererror": {"code": inner_code, "message": detail},
        }
    )


def _unresolved_column(name: str) -> _ServiceError:
    return _semantic_error(
        f"'where' operator: Failed to resolve column or scalar expression named '{name}'", "SEM0100"
    )


_SERVER_ERRORS = {
    500: ("InternalServerError", "Something went wrong while running the query."),
    502: ("BadGateway", "The gateway received an invalid response from the query engine."),
    503: ("ServiceUnavailableError", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The query engine did not respond in time."),
}


# ---------------------------------------------------------------------------------------------
# KQL values: None is KQL null; datetimes are ticks; dynamic values keep their JSON shape.


@dataclass(frozen=True, order=True)
class _Instant:
    ticks: int


@dataclass(frozen=True)
class _Dynamic:
    value: Any  # a non-null JSON value


Value = None | bool | int | float | str | _Instant | _Dynamic

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def _parse_ticks(text: str) -> int:
    """ISO 8601 to 100 ns ticks since the epoch (no zone means UTC, as in KQL)."""
    m = _ISO.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not an ISO 8601 datetime: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    offset = timedelta()
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    moment = (
        datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
        - offset
    )
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return seconds * _TICKS_PER_SECOND + int((fraction or "").ljust(7, "0")[:7])


def _datetime_ticks(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"ingestion time must be timezone-aware: {moment!r}")
    return (moment - _EPOCH) // timedelta(microseconds=1) * 10


def _format_ticks(ticks: int) -> str:
    """Service style: seconds resolution, then the fraction without trailing zeros."""
    seconds, fraction = divmod(ticks, _TICKS_PER_SECOND)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:07d}".rstrip("0")
    return text + "Z"


_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


def _parse_duration_ticks(text: str) -> int:
    m = _DURATION.fullmatch(text)
    if m is None or not any(m.groups()):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    days, hours, minutes, seconds = (float(g or 0) for g in m.groups())
    return round((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * _TICKS_PER_SECOND)


def _parse_timespan(text: str) -> tuple[int, int]:
    """The body's ``timespan``: start/end, start/duration, duration/end or a bare duration."""
    first, _, second = text.partition("/")
    if not second:
        end = _datetime_ticks(datetime.now(UTC))
        return end - _parse_duration_ticks(first), end
    if first.startswith("P"):
        end = _parse_ticks(second)
        return end - _parse_duration_ticks(first), end
    start = _parse_ticks(first)
    if second.startswith("P"):
        return start, start + _parse_duration_ticks(second)
    return start, _parse_ticks(second)


def _decode_dynamic(raw: Any) -> _Dynamic | None:
    """Dynamic cells carry JSON text; text that is not JSON is a dynamic string, as on ingest."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return _Dynamic(raw)
    return None if value is None else _Dynamic(value)


_CELL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "guid": (str,),
    "timespan": (str,),
    "datetime": (str,),
    "dynamic": (str,),
    "bool": (bool,),
    "int": (int,),
    "long": (int,),
    "real": (int, float),
}


def _decode(column_type: str, cell: object) -> Value:
    """Wire cell to KQL value; rejects cells the service could never have sent."""
    kinds = _CELL_TYPES[column_type]
    if cell is not None and (
        not isinstance(cell, kinds) or isinstance(cell, bool) != (kinds == (bool,))
    ):
        raise ValueError(f"{cell!r} is not a valid {column_type} cell")
    raw: Any = cell
    match column_type:
        case "string":
            return raw or ""  # KQL strings are never null: a missing string is "".
        case "real":
            return None if raw is None else float(raw)
        case "datetime":
            return None if raw is None else _Instant(_parse_ticks(raw))
        case "dynamic":
            return _decode_dynamic(raw)
        case _:
            return raw  # type: ignore[no-any-return]


def _unwrap(value: Value) -> Any:
    """Dynamic scalars compare like the scalars they hold."""
    if isinstance(value, _Dynamic) and not isinstance(value.value, dict | list):
        return value.value
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _Instant):
        return "datetime"
    return "dynamic"


def _to_string(value: Value) -> str:
    """KQL ``tostring``: null becomes "", dynamic objects become compact JSON."""
    value = _unwrap(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _Instant):
        return _format_ticks(value.ticks)
    if isinstance(value, _Dynamic):
        return json.dumps(value.value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _to_double(value: Value) -> float | None:
    value = _unwrap(value)
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str) and "_" not in value:  # Python accepts "1_0"; KQL does not
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _to_long(value: Value) -> int | None:
    value = _unwrap(value)
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and "_" not in value:
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _to_bool(value: Value) -> bool | None:
    value = _unwrap(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


_CONVERSIONS: dict[str, Callable[[Value], Value]] = {
    "tostring": _to_string,
    "todouble": _to_double,
    "tolong": _to_long,
    "tobool": _to_bool,
}


def _equal(left: Value, right: Value) -> bool | None:
    """KQL ``==``: null == null is null, null == x is false, values of different kinds differ."""
    a, b = _unwrap(left), _unwrap(right)
    if a is None and b is None:
        return None
    if a is None or b is None:
        return False
    return _kind(a) == _kind(b) and a == b


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Value, Value], bool | None]:
    """Ordering is defined for two numbers or two datetimes; anything else is null."""

    def evaluate(left: Value, right: Value) -> bool | None:
        a, b = _unwrap(left), _unwrap(right)
        if a is None or b is None or _kind(a) != _kind(b) or _kind(a) not in ("number", "datetime"):
            return None
        return compare(a, b)

    return evaluate


def _contains(left: Value, right: Value) -> bool:
    return _to_string(right).casefold() in _to_string(left).casefold()


_COMPARISONS: dict[str, Callable[[Value, Value], bool | None]] = {
    "==": _equal,
    "!=": lambda a, b: _not(_equal(a, b)),
    "=~": lambda a, b: _to_string(a).casefold() == _to_string(b).casefold(),
    "!~": lambda a, b: _to_string(a).casefold() != _to_string(b).casefold(),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "contains": _contains,
    "!contains": lambda a, b: not _contains(a, b),
    "contains_cs": lambda a, b: _to_string(b) in _to_string(a),
}


def _is_empty(value: Value) -> bool:
    return _unwrap(value) in (None, "")


_TESTS: dict[str, Callable[[Value], bool]] = {
    "isempty": _is_empty,
    "isnotempty": lambda v: not _is_empty(v),
    "isnull": lambda v: v is None,
    "isnotnull": lambda v: v is not None,
}


# ---------------------------------------------------------------------------------------------
# Query parsing and compilation

_GRAMMAR = r"""
start: IDENT where_op* extend_op* take_op?
where_op: "|" "where" disj
extend_op: "|" "extend" IDENT "=" "ingestion_time" "(" ")"
take_op: "|" ("take" | "limit") INT

?disj: conj | disj "or" conj -> or_
?conj: pred | conj "and" pred -> and_
?pred: "(" disj ")"
     | "not" "(" disj ")" -> not_
     | scalar CMP scalar -> compare
     | scalar "matches" "regex" STRING -> regex
     | scalar IN_OP "(" literal ("," literal)* ")" -> in_
     | TEST_FN "(" scalar ")" -> test

?scalar: field | literal
?field: IDENT -> column
      | IDENT ("[" STRING "]")+ -> path
      | "ingestion_time" "(" ")" -> ingestion_time
      | CONV_FN "(" scalar ")" -> convert
?literal: STRING -> string_literal
        | REAL -> real_literal
        | INT -> int_literal
        | "true" -> true_literal
        | "false" -> false_literal
        | DATETIME -> datetime_literal

_END_OF_WORD: /(?![A-Za-z0-9_])/
CMP.2: "==" | "!=" | "=~" | "!~" | "<=" | ">=" | "<" | ">" | /!?contains(_cs)?/ _END_OF_WORD
IN_OP.2: /!?in~?/ _END_OF_WORD
TEST_FN.2: /is(not)?(empty|null)/ _END_OF_WORD
CONV_FN.2: /to(string|double|long|bool)/ _END_OF_WORD
DATETIME.2: /datetime\(\s*[^)]*\)/
IDENT: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\\n]|\\.)*"/
REAL: /-?\d+\.\d+(?:[eE][+-]?\d+)?|-?\d+[eE][+-]?\d+/
INT: /-?\d+/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr")

_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}


def _syntax_error_at(token: Token, detail: str) -> _ServiceError:
    line, column = token.line or 0, token.column or 0
    return _syntax_error(
        f"{detail} at '{token}' on line [{line},{column}]", line, column, str(token)
    )


def _unescape(token: Token) -> str:
    out: list[str] = []
    chars = iter(token[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars)
            if escaped not in _ESCAPES:
                raise _syntax_error_at(token, f"Unsupported escape sequence '\\{escaped}'")
            char = _ESCAPES[escaped]
        out.append(char)
    return "".join(out)


class _Row(NamedTuple):
    values: list[Value]
    ingestion: int


Scalar = Callable[[_Row], Value]
Predicate = Callable[[_Row], bool | None]


@dataclass(frozen=True)
class _Constant:
    """A literal: usable as a scalar, and its value is known before any row is seen."""

    value: Value

    def __call__(self, row: _Row) -> Value:
        return self.value


class _Table:
    """Rows in wire form next to their decoded KQL values and hidden ingestion times."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        self.columns = list(columns)
        self.index = {name: i for i, (name, _) in enumerate(self.columns)}
        if len(self.index) != len(self.columns):
            raise ValueError(f"duplicate column names in {self.columns!r}")
        for name, column_type in self.columns:
            if column_type not in _CELL_TYPES:
                raise ValueError(f"column {name!r} has unsupported type {column_type!r}")
        self.wire_rows: list[list[Any]] = []
        self.rows: list[_Row] = []

    def append(self, rows: Sequence[Sequence[Any]], ingestion_ticks: Sequence[int]) -> None:
        """Validate every row before storing any, so a bad fixture leaves the table untouched."""
        if len(rows) != len(ingestion_ticks):
            raise ValueError(f"{len(rows)} rows but {len(ingestion_ticks)} ingestion times")
        wire_rows: list[list[Any]] = []
        decoded: list[_Row] = []
        types = [column_type for _, column_type in self.columns]
        for row, ticks in zip(rows, ingestion_ticks, strict=True):
            if len(row) != len(self.columns):
                raise ValueError(f"row {row!r} does not match columns {self.columns!r}")
            decoded.append(
                _Row([_decode(t, cell) for t, cell in zip(types, row, strict=True)], ticks)
            )
            wire_rows.append(
                [
                    "" if t == "string" and cell is None else cell
                    for t, cell in zip(types, row, strict=True)
                ]
            )
        self.wire_rows.extend(wire_rows)
        self.rows.extend(decoded)


@v_args(inline=True)
class _Compiler(Transformer[Token, Any]):
    """Turns one ``where`` expression tree into a row predicate, resolving names on the table."""

    def __init__(self, table: _Table) -> None:
        super().__init__()
        self._table = table

    def _resolve(self, name: Token) -> int:
        if name not in self._table.index:
            raise _unresolved_column(str(name))
        return self._table.index[name]

    def column(self, name: Token) -> Scalar:
        i = self._resolve(name)
        return lambda row: row.values[i]

    def path(self, name: Token, *keys: Token) -> Scalar:
        i = self._resolve(name)
        column_type = self._table.columns[i][1]
        if column_type != "dynamic":
            raise _semantic_error(
                "'where' operator: the element access operator [] needs a dynamic value,"
                f" but '{name}' is of type {column_type}"
            )
        names = [_unescape(key) for key in keys]

        def evaluate(row: _Row) -> Value:
            value = row.values[i]
            for key in names:
                if not (isinstance(value, _Dynamic) and isinstance(value.value, dict)):
                    return None
                child = value.value.get(key)
                value = None if child is None else _Dynamic(child)
            return value

        return evaluate

    def ingestion_time(self) -> Scalar:
        return lambda row: _Instant(row.ingestion)

    def convert(self, function: Token, argument: Scalar) -> Scalar:
        conversion = _CONVERSIONS[function]
        return lambda row: conversion(argument(row))

    def string_literal(self, token: Token) -> _Constant:
        return _Constant(_unescape(token))

    def int_literal(self, token: Token) -> _Constant:
        return _Constant(int(token))

    def real_literal(self, token: Token) -> _Constant:
        return _Constant(float(token))

    def true_literal(self) -> _Constant:
        return _Constant(True)

    def false_literal(self) -> _Constant:
        return _Constant(False)

    def datetime_literal(self, token: Token) -> _Constant:
        try:
            return _Constant(_Instant(_parse_ticks(token[token.index("(") + 1 : -1])))
        except ValueError:
            raise _syntax_error_at(token, "Invalid datetime literal") from None

    def compare(self, left: Scalar, operator: Token, right: Scalar) -> Predicate:
        compare = _COMPARISONS[operator]
        return lambda row: compare(left(row), right(row))

    def regex(self, subject: Scalar, pattern: Token) -> Predicate:
        try:
            compiled = re.compile(_unescape(pattern))
        except re.error as exc:
            raise _semantic_error(
                f"'where' operator: invalid regular expression {pattern}: {exc}"
            ) from None
        return lambda row: compiled.search(_to_string(subject(row))) is not None

    def in_(self, subject: Scalar, operator: Token, *items: _Constant) -> Predicate:
        negated = operator.startswith("!")
        if operator.endswith("~"):
            folded = {_to_string(item.value).casefold() for item in items}

            def member(row: _Row) -> bool:
                return _to_string(subject(row)).casefold() in folded

        else:

            def member(row: _Row) -> bool:
                value = subject(row)
                return any(_equal(value, item.value) for item in items)

        return lambda row: member(row) != negated

    def test(self, function: Token, argument: Scalar) -> Predicate:
        check = _TESTS[function]
        return lambda row: check(argument(row))

    def not_(self, operand: Predicate) -> Predicate:
        return lambda row: _not(operand(row))

    def and_(self, left: Predicate, right: Predicate) -> Predicate:
        def evaluate(row: _Row) -> bool | None:
            first = left(row)
            if first is False:
                return False
            second = right(row)
            if second is False:
                return False
            return None if first is None or second is None else True

        return evaluate

    def or_(self, left: Predicate, right: Predicate) -> Predicate:
        def evaluate(row: _Row) -> bool | None:
            first = left(row)
            if first is True:
                return True
            second = right(row)
            if second is True:
                return True
            return None if first is None or second is None else False

        return evaluate


def _parse(query: str) -> Tree[Token]:
    try:
        return _PARSER.parse(query)
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if isinstance(token, Token) and token.type == "$END":
            text = "<EOF>"
        else:
            text = str(token if token is not None else getattr(exc, "char", ""))
        raise _syntax_error(
            f"Query could not be parsed at '{text}' on line [{exc.line},{exc.column}]",
            exc.line,
            exc.column,
            text,
        ) from None


def _compile(expression: Tree[Token], table: _Table) -> Predicate:
    try:
        predicate: Predicate = _Compiler(table).transform(expression)
    except VisitError as exc:  # lark wraps what the callbacks raise
        if isinstance(exc.orig_exc, _ServiceError):
            raise exc.orig_exc from None
        raise
    return predicate


class _Result(NamedTuple):
    columns: list[dict[str, str]]
    rows: list[list[Any]]


def _run_query(tables: dict[str, _Table], query: str, timespan: tuple[int, int] | None) -> _Result:
    """Evaluate the supported KQL subset over one workspace's tables."""
    table_token, *operators = cast(list[Any], _parse(query).children)
    table_name = str(table_token)
    operator_trees = cast(list[Tree[Token]], operators)
    if table_name not in tables:
        prefix = "'where' operator: " if operator_trees else ""
        raise _semantic_error(
            f"{prefix}Failed to resolve table or column expression named '{table_name}'", "SEM0100"
        )
    table = tables[table_name]
    predicates = [
        _compile(cast(Tree[Token], op.children[0]), table)
        for op in operator_trees
        if op.data == "where_op"
    ]
    if timespan is not None:
        predicates.append(_timespan_predicate(table, *timespan))

    columns = [{"name": name, "type": column_type} for name, column_type in table.columns]
    stamped: list[int] = []  # positions that `extend X = ingestion_time()` writes
    for op in operator_trees:
        if op.data == "extend_op":
            name = str(op.children[0])
            position = next((i for i, c in enumerate(columns) if c["name"] == name), len(columns))
            columns[position : position + 1] = [{"name": name, "type": "datetime"}]
            stamped.append(position)

    rows: list[list[Any]] = []
    for row, wire in zip(table.rows, table.wire_rows, strict=True):
        if all(predicate(row) is True for predicate in predicates):
            out = wire + [None] * (len(columns) - len(wire))
            for position in stamped:
                out[position] = _format_ticks(row.ingestion)
            rows.append(out)
    for op in operator_trees:
        if op.data == "take_op":
            rows = rows[: int(op.children[0])]
    return _Result(columns, rows)


def _rows_within(rows: Sequence[Sequence[Any]], max_bytes: int) -> int:
    """How many leading rows fit the service's data size limit; the rest it trims, with a
    partial-result error."""
    size = 0
    for count, row in enumerate(rows):
        size += len(json.dumps(row)) + 1
        if size > max_bytes:
            return count
    return len(rows)


def _timespan_predicate(table: _Table, start: int, end: int) -> Predicate:
    """The service applies the body's timespan to TimeGenerated as [start, end)."""
    if "TimeGenerated" not in table.index:
        raise _unresolved_column("TimeGenerated")
    i = table.index["TimeGenerated"]

    def evaluate(row: _Row) -> bool:
        value = row.values[i]
        return isinstance(value, _Instant) and start <= value.ticks < end

    return evaluate


# ---------------------------------------------------------------------------------------------
# HTTP

_ROUTES = Map([Rule("/v1/workspaces/<workspace_id>/query", endpoint="query", methods=["POST"])])
_BEARER = re.compile(r"Bearer\s+\S+", re.IGNORECASE)


def _json_response(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


def _error_response(error: _ServiceError) -> Response:
    return _json_response(error.status, {"error": error.error}, error.headers)


def _engine_error(message: str, inner_code: str) -> dict[str, Any]:
    return {
        "code": "EngineError",
        "message": "Something went wrong processing your query on the server.",
        "innererror": {
            "code": inner_code,
            "message": message,
            "severity": 2,
            "severityName": "Error",
        },
    }


class LogAnalyticsFake:
    """HTTPS Log Analytics query endpoint on 127.0.0.1 for the real LogsQueryClient.

    Use as a context manager; ``endpoint``, ``ca_path`` and ``credential`` are what the client
    needs. Tables are per workspace; each row carries the hidden ``ingestion_time()``.
    """

    endpoint: str
    ca_path: str

    def __init__(self, max_rows: int = 500_000, max_bytes: int = 64 * 2**20) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.credential = FakeCredential()
        # Token -> workspaces it has Log Analytics Reader on; "*" is every workspace.
        self._readers: dict[str, set[str]] = {self.credential.token: {"*"}}
        self._revoked: set[tuple[str, str]] = set()
        self.requests: list[RecordedRequest] = []
        self._workspaces: dict[str, dict[str, _Table]] = {}
        self._faults: deque[Fault] = deque()
        self._hooks: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._https = HttpsServer(self._wsgi, "log-analytics-fake")

    def __enter__(self) -> Self:
        self._https.start()
        self.ca_path = self._https.ca_path
        self.endpoint = f"{self._https.origin}/v1"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._https.stop()

    def add_table(
        self,
        workspace_id: str,
        table_name: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        ingestion_times: Sequence[datetime],
    ) -> None:
        """Store rows (wire form, column order); calling again with the same columns appends."""
        ticks = [_datetime_ticks(moment) for moment in ingestion_times]
        self._store(workspace_id, table_name, columns, rows, ticks)

    def load_export(self, workspace_id: str, path: str | Path) -> None:
        """Load a saved query response whose ``IngestionTime`` column holds the ingestion time."""
        export = json.loads(Path(path).read_text(encoding="utf-8"))
        for table in export["tables"]:
            columns = [(column["name"], column["type"]) for column in table["columns"]]
            names = [name for name, _ in columns]
            if "IngestionTime" not in names:
                raise ValueError(f"{path}: table {table['name']} has no IngestionTime column")
            at = names.index("IngestionTime")
            ticks = [_parse_ticks(row[at]) for row in table["rows"]]
            self._store(workspace_id, table["name"], columns, table["rows"], ticks)

    def _store(
        self,
        workspace_id: str,
        table_name: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        ingestion_ticks: Sequence[int],
    ) -> None:
        with self._lock:
            tables = self._workspaces.setdefault(workspace_id, {})
            table = tables.get(table_name) or _Table(columns)
            if table.columns != list(columns):
                raise ValueError(f"{table_name} already exists with columns {table.columns!r}")
            table.append(rows, ingestion_ticks)
            tables[table_name] = table

    def add_credential(self, *, reader_on: Iterable[str] = ()) -> FakeCredential:
        """Another identity, with Log Analytics Reader only on the workspaces in ``reader_on``."""
        credential = FakeCredential()
        with self._lock:
            self._readers[credential.token] = set(reader_on)
        return credential

    def grant_reader(self, workspace_id: str, credential: FakeCredential | None = None) -> None:
        """Assign Log Analytics Reader on the workspace (to ``credential``, default the fake's)."""
        token = (credential or self.credential).token
        with self._lock:
            self._readers.setdefault(token, set()).add(workspace_id)
            self._revoked.discard((token, workspace_id))

    def revoke_reader(self, workspace_id: str, credential: FakeCredential | None = None) -> None:
        """Remove the identity's read access to the workspace."""
        token = (credential or self.credential).token
        with self._lock:
            self._readers.get(token, set()).discard(workspace_id)
            self._revoked.add((token, workspace_id))

    def _may_read(self, token: str, workspace_id: str) -> bool:
        with self._lock:
            granted = self._readers.get(token, set())
            revoked = (token, workspace_id) in self._revoked
        return not revoked and ("*" in granted or workspace_id in granted)

    def before_each_query(self, hook: Callable[[], object]) -> None:
        """Call ``hook`` before answering each query: how records that another fake accepted
        (the Logs Ingestion fake) become visible exactly when their time has come."""
        self._hooks.append(hook)

    def fail_next(self, fault: Fault) -> None:
        """Queue a fault; each request consumes the oldest queued one."""
        with self._lock:
            self._faults.append(fault)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self._respond(Request(environ))
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if not _BEARER.fullmatch(request.headers.get("Authorization", "")):
            return _error_response(
                _ServiceError(
                    401,
                    "AuthorizationRequiredError",
                    "Valid authentication was not provided",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            )
        token = request.headers["Authorization"].split(None, 1)[1]
        with self._lock:
            known = token in self._readers
        if not known:
            # A token not issued for this API (another audience, another tenant):
            # https://github.com/Azure/azure-sdk-for-js/pull/15399,
            # https://github.com/microsoft/onefuzz/issues/3287
            return _error_response(
                _ServiceError(
                    403,
                    "InvalidTokenError",
                    "The provided authentication is not valid for this resource",
                )
            )
        try:
            _, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return _error_response(
                _ServiceError(
                    exc.code or 404, "PathNotFoundError", "The requested path does not exist"
                )
            )
        try:
            body = json.loads(request.get_data())
            query, timespan = body["query"], body.get("timespan")
            if not isinstance(query, str) or not isinstance(timespan, str | None):
                raise TypeError("query must be a string and timespan a string or null")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error_response(
                _bad_argument(
                    {"code": "QueryValidationError", "message": f"Invalid request body: {exc}"}
                )
            )
        if not self._may_read(token, args["workspace_id"]):
            # The identity lacks Log Analytics Reader on the workspace. Body as the SDKs'
            # troubleshooting guides show it ("Insufficient access error for logs query"):
            # https://github.com/Azure/azure-sdk-for-js/pull/21136,
            # https://github.com/Azure/azure-sdk-for-net/pull/37173; seen in the wild:
            # https://github.com/microsoft/foundry-dev-tools/issues/734
            denied = _error_response(
                _ServiceError(
                    403,
                    "InsufficientAccessError",
                    "The provided credentials have insufficient access to perform the requested"
                    " operation",
                )
            )
            with self._lock:
                self.requests.append(RecordedRequest(args["workspace_id"], query, timespan, 403))
            return denied
        for hook in list(self._hooks):
            hook()
        response = self._answer(args["workspace_id"], query, timespan)
        with self._lock:
            self.requests.append(
                RecordedRequest(args["workspace_id"], query, timespan, response.status_code)
            )
        return response

    def _answer(self, workspace_id: str, query: str, timespan: str | None) -> Response:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        match fault:
            case Throttle(retry_after=seconds):
                return _error_response(
                    _ServiceError(
                        429,
                        "ThrottledError",
                        f"Your request was throttled. Retry after {seconds} seconds.",
                        headers={"Retry-After": str(seconds)},
                    )
                )
            case ServerError(status=status):
                code, message = _SERVER_ERRORS.get(
                    status, ("InternalServerError", "Unexpected error.")
                )
                return _error_response(_ServiceError(status, code, message))
        try:
            span = None if timespan is None else _parse_timespan(timespan)
        except ValueError as exc:
            return _error_response(_bad_argument({"code": "InvalidTimespan", "message": str(exc)}))
        try:
            with self._lock:
                tables = self._workspaces.get(workspace_id)
                if tables is None:
                    raise _ServiceError(
                        404, "PathNotFoundError", "The requested path does not exist"
                    )
                result = _run_query(tables, query, span)
        except _ServiceError as error:
            return _error_response(error)

        rows = result.rows
        details: list[dict[str, Any]] = []
        if isinstance(fault, Partial):
            rows = rows[: len(rows) // 2]
            details.append(
                _engine_error(
                    "Partial query failure: Low memory condition (E_LOW_MEMORY_CONDITION).",
                    "E_LOW_MEMORY_CONDITION",
                )
            )
        if len(rows) > self.max_rows:
            rows = rows[: self.max_rows]
            details.append(
                _engine_error(
                    f"Query result set has exceeded the internal record count limit {self.max_rows}"
                    f" (E_QUERY_RESULT_SET_TOO_LARGE; {_KUSTO_LIMITS})",
                    "E_QUERY_RESULT_SET_TOO_LARGE",
                )
            )
        within = _rows_within(rows, self.max_bytes)
        if within < len(rows):
            rows = rows[:within]
            details.append(
                _engine_error(
                    "Query result set has exceeded the internal data size limit "
                    f"{self.max_bytes} (E_QUERY_RESULT_SET_TOO_LARGE; {_KUSTO_LIMITS})",
                    "E_QUERY_RESULT_SET_TOO_LARGE",
                )
            )
        payload: dict[str, Any] = {
            "tables": [{"name": "PrimaryResult", "columns": result.columns, "rows": rows}]
        }
        if details:
            payload["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": details,
            }
        return _json_response(200, payload)
