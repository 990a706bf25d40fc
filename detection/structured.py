"""Read one structured log line (a JSON object, or logfmt) into the parts a failure needs.

Container and console logs are often one JSON object a line, written by a logging library whose
key names are its own. `parse_structured` takes a decoded object or the raw line and finds the
level, message, error type and message, stack trace, trace and span ids, logger and message
template wherever the common libraries put them (level; message; error):

- pino: `level` 10..60; `msg`; `err: {type, message, stack}`.
- bunyan: `level` 10..60; `msg`; `err: {name, message, stack}`; `name` is the logger.
- winston `json()` with `errors({stack: true})`: `level`; `message`; `stack` (the type from its
  header line). winston `logstash()`: `@fields.level`; `@message`; `@fields.stack`.
- zap production: `level`; `msg`; `error` (a string), `errorVerbose`, `stacktrace`; `logger`.
- zerolog: `level`; `message`; `error` (a string), `stack` (pkgerrors frames, rendered as Go's).
- logrus and slog JSON: `level`; `msg`; `error` / `err` (a string).
- logstash-logback-encoder: `level`, `level_value`; `message`; `stack_trace`; `logger_name`.
- log4j2 JsonLayout: `level`; `message`; `thrown: {name, message, extendedStackTrace, cause}`
  (rendered as Java prints it); `loggerName`; MDC in `contextMap`.
- ECS (log4j2 EcsLayout template, ecs-logging-*): `log.level`; `message`; `error.type`,
  `error.message`, `error.stack_trace` (text, or lines with stackTraceAsArray); `trace.id`.
- Serilog CLEF (compact): `@l`, absent for Information; `@m`, else `@mt` filled in from the
  properties; `@x`; `@tr`, `@sp`. Serilog JsonFormatter: `Level`; `RenderedMessage`;
  `Exception`; `MessageTemplate`.
- Microsoft.Extensions.Logging JSON console: `LogLevel`; `Message`; `Exception` (written on one
  line: its line breaks are put back before the frames); `State.{OriginalFormat}`; `Category`.
- python-json-logger: `levelname`; `message`; `exc_info`; `name`.
- structlog JSON: `level`; `event`; `exception` (text, or `dict_tracebacks`, rendered as Python
  prints the chain).
- loguru `serialize=True`: `record.level`; `record.message`; `record.exception: {type, value}`
  with the traceback split off `text`.
- Google Cloud structured logging: `severity`; `message` (a trace inside it is split off);
  `logging.googleapis.com/trace` and `/spanId`.
- OpenTelemetry log records (SDK console JSON and OTLP/JSON): `severity_text`/`severityText`,
  `severity_number`/`severityNumber`; `body` (plain or AnyValue); `attributes` with
  `exception.type`, `.message`, `.stacktrace`; `trace_id`/`traceId`, `span_id`/`spanId`.
- Datadog: `status`; `message`; `error.kind`, `error.message`, `error.stack`.
- logfmt (logrus, slog TextHandler, go-kit): `level`/`lvl`; `msg`; `err`/`error`.

Decisions where formats disagree, each kept deliberately:

- Scopes. Keys are looked for in the object itself first, then in the envelopes some libraries
  nest the event in (`record` and `record.extra` for loguru, `@fields` for logstash v0,
  `jsonPayload` for a Cloud Logging entry, `log` for ECS' nested form and `{"log": {...}}`
  wrappers, `attributes` for OpenTelemetry, `Properties` for Serilog, `contextMap`/`mdc`/`extra`
  for MDC-style context; for ids only, MEL's `Scopes`). A key may be dotted: `error.type` is
  found as a flat key (ECS writes `"error.type"`) or nested (`{"error": {"type": ...}}`).
- Text. A JSON object may follow a short prefix (at most 100 characters and six words, with no
  `"`, `=` or brackets: a timestamp, CRI's `<time> stdout F `); Docker's and Fluent Bit's
  `{"log": "<line>", "stream": ...}` is opened. logfmt must cover the whole line (after a CRI
  prefix) with at least two pairs, one of them a level or message key, so a sentence that holds
  a `key=value` stays plain text.
- `msg` wins over `message` when a line has both: the libraries that write `msg` (pino, bunyan,
  zap, logrus, slog) are the ones whose users add a `message` field of their own, while the
  libraries that write `message` reserve `msg` (Python's LogRecord refuses it as an extra).
- A number in `level` is pino/bunyan's scale (10..60) or, from 5000 up, logback's `level_value`
  scale; Python's numbers are read only from `levelno` (and loguru's `level.no`), OpenTelemetry's
  only from `severity_number`, syslog's only from a key naming syslog or severity. See
  `normalize_level` for the table.
- Error type: the type a format names (`err.type`, `error.type`, `error.kind`, `exc_type`, ...),
  else the type in the stack's own header (`TypeError: ...` for Node, Java and .NET, the last line
  of a Python traceback). A bare error string (`"error": "dial tcp ...: i/o timeout"`) is the
  error message, and its type stays None.
- Stack: the error's own stack before the logging call's (zap's `errorVerbose` before
  `stacktrace`). Stacks kept as data are rendered as their runtime prints them: log4j2's
  `thrown`, structlog's dict tracebacks, zerolog's frames (which carry no package name). A
  message that carries a trace (Cloud Logging's Python handler, loguru's `text`) is split into
  the message and the stack when no field holds one.
- Trace ids are W3C ids: 32 lower-case hex digits, not all zero, from `trace_id`, `traceId`,
  `TraceId`, `otelTraceID`, `trace.id`, `@tr`, Cloud Logging's `projects/x/traces/<id>`, or a
  `traceparent`. Datadog's `dd.trace_id` is a decimal 64-bit id and is never read; a number in
  a trace id key is Datadog's too and is ignored.

The work is linear in the line's length and never raises: what is not a JSON object or a logfmt
line (plain text, JSON arrays or numbers, broken or over-deep JSON) gives None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# --- result -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StructuredLog:
    """What one structured line says about a failure; None where the line does not say."""

    level: str | None = None  # "trace", "debug", "info", "warning", "error" or "critical"
    message: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    stack: str | None = None  # as the library wrote it; may hold several chained exceptions
    trace_id: str | None = None  # W3C: 32 lower-case hex digits
    span_id: str | None = None  # W3C: 16 lower-case hex digits
    template: str | None = None  # the message template, where the format keeps one
    logger: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # the decoded object


# --- levels -------------------------------------------------------------------------------------

TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL = (
    "trace",
    "debug",
    "info",
    "warning",
    "error",
    "critical",
)

# Level names, lower-cased, with the libraries that write them.
LEVEL_NAMES: Mapping[str, str] = {
    # trace: Serilog Verbose/VRB, logrus TRAC, MEL trce, java.util.logging FINER/FINEST
    **dict.fromkeys(("trace", "trac", "trce", "trc", "verbose", "vrb", "finer", "finest"), TRACE),
    # debug: MEL dbug, logrus DEBU, Serilog DBG, java.util.logging FINE/CONFIG
    **dict.fromkeys(("debug", "debu", "dbug", "dbg", "fine", "config"), DEBUG),
    # info: .NET Information, syslog/Cloud Logging NOTICE, Serilog INF
    **dict.fromkeys(("info", "inf", "information", "informational", "notice"), INFO),
    # warning: logrus/zap/pino warn, Serilog WRN
    **dict.fromkeys(("warning", "warn", "wrn"), WARNING),
    # error: logrus ERRO, Serilog ERR, the misspelt eror some Go formatters abbreviate to,
    # MEL's console abbreviation fail, java.util.logging SEVERE
    **dict.fromkeys(("error", "erro", "eror", "err", "fail", "severe"), ERROR),
    # critical: fatal (log4j, logrus, zerolog, pino), panic/dpanic (zap, zerolog, logrus),
    # crit (MEL, syslog), Serilog FTL, syslog emerg/alert, Cloud Logging ALERT/EMERGENCY
    **dict.fromkeys(
        (
            "critical",
            "crit",
            "crt",
            "fatal",
            "fata",
            "ftl",
            "panic",
            "pani",
            "dpanic",
            "emerg",
            "emergency",
            "alert",
        ),
        CRITICAL,
    ),
    # one letter: Android logcat, klog/glog headers, CapitalLevelEncoder abbreviations
    "t": TRACE,
    "v": TRACE,
    "d": DEBUG,
    "i": INFO,
    "w": WARNING,
    "e": ERROR,
    "f": CRITICAL,
    "c": CRITICAL,
}

# Numeric scales: (lowest value, level) thresholds, highest first; a value maps to the first
# threshold it reaches. Which scale applies is decided by the key (see `_scale_for`).
_PINO = ((60, CRITICAL), (50, ERROR), (40, WARNING), (30, INFO), (20, DEBUG), (10, TRACE))
_PYTHON = ((50, CRITICAL), (40, ERROR), (30, WARNING), (20, INFO), (10, DEBUG), (1, TRACE))
_LOGBACK = (
    (50000, CRITICAL),  # log4j 1 FATAL
    (40000, ERROR),
    (30000, WARNING),
    (20000, INFO),
    (10000, DEBUG),
    (5000, TRACE),
)
_OTEL = ((21, CRITICAL), (17, ERROR), (13, WARNING), (9, INFO), (5, DEBUG), (1, TRACE))
_SYSLOG = {0: CRITICAL, 1: CRITICAL, 2: CRITICAL, 3: ERROR, 4: WARNING, 5: INFO, 6: INFO, 7: DEBUG}
_GCP = {100: DEBUG, 200: INFO, 300: INFO, 400: WARNING, 500: ERROR}
_GCP.update(dict.fromkeys((600, 700, 800), CRITICAL))

_PYTHON_KEYS = frozenset(("levelno", "levelNo", "level_no", "no"))
_OTEL_KEYS = frozenset(("severity_number", "severityNumber", "SeverityNumber"))
_LOGBACK_KEYS = frozenset(("level_value", "levelValue"))
_GENERIC_KEYS = frozenset(("level", "lvl", "loglevel", "log_level", "logLevel", "LogLevel"))
_LEVEL_SUFFIX = re.compile(r"[+-]\d+$|\d+$")  # slog's ERROR+2, OpenTelemetry's ERROR2


def _threshold(number: int, scale: Sequence[tuple[int, str]], top: int) -> str | None:
    if number > top:
        return None
    for lowest, level in scale:
        if number >= lowest:
            return level
    return None


def _level_number(number: int, key: str | None) -> str | None:
    name = (key or "level").rsplit(".", 1)[-1]
    lowered = (key or "").lower()
    if name in _PYTHON_KEYS:
        return _threshold(number, _PYTHON, 100)
    if name in _OTEL_KEYS:
        return _threshold(number, _OTEL, 24)
    if name in _LOGBACK_KEYS:
        return _threshold(number, _LOGBACK, 100_000)
    if "syslog" in lowered or "severity" in lowered or lowered == "priority":
        return _SYSLOG.get(number) or _GCP.get(number)
    if name in _GENERIC_KEYS or key is None:
        if 10 <= number <= 100:
            return _threshold(number, _PINO, 100)
        if 5000 <= number <= 100_000:
            return _threshold(number, _LOGBACK, 100_000)
    return None


def normalize_level(value: Any, *, key: str | None = None) -> str | None:
    """One of "trace", "debug", "info", "warning", "error", "critical", or None.

    Names, in any case, padded (ECS allows " WARN") or with slog's offset (`ERROR+2`) or
    OpenTelemetry's short-name digit (`ERROR2`): see `LEVEL_NAMES`.

    Numbers, by the key they came from (`key`, dotted as in the line):

    - `level` (or no key), 10..100, pino and bunyan: 10 trace, 20 debug, 30 info, 40 warning,
      50 error, 60 and up critical.
    - `level` (or no key) 5000..100000, and `level_value`, logback and log4j 1: 5000 trace,
      10000 debug, 20000 info, 30000 warning, 40000 error, 50000 (log4j 1 FATAL) critical.
    - `levelno`, loguru's `level.no`, Python logging: 1..9 trace (loguru TRACE is 5), 10 debug,
      20 info (loguru SUCCESS 25 too), 30 warning, 40 error, 50 critical.
    - `severity_number`, `severityNumber`, OpenTelemetry 1..24: 1-4 trace, 5-8 debug, 9-12
      info, 13-16 warning, 17-20 error, 21-24 critical.
    - a key naming syslog or severity, syslog 0..7: 0-2 (emerg, alert, crit) critical, 3 error,
      4 warning, 5-6 (notice, info) info, 7 debug.
    - `severity` 100..800, Cloud Logging's LogSeverity: 100 debug, 200-300 info, 400 warning,
      500 error, 600-800 critical.

    Values between two levels take the lower one (pino's custom level 35 is info). Any other key
    with a number (an HTTP `status` of 500, say) gives None, as do booleans.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Mapping):  # loguru: {"name": "ERROR", "no": 40, "icon": "..."}
        name, number = value.get("name"), value.get("no")
        return (normalize_level(name) if isinstance(name, str) else None) or (
            normalize_level(number, key="no") if isinstance(number, int) else None
        )
    if isinstance(value, float):
        return _level_number(int(value), key) if value.is_integer() else None
    if isinstance(value, int):
        return _level_number(value, key)
    if not isinstance(value, str) or len(value) > 40:
        return None
    text = value.strip().strip("[]()<>:").strip().lower()
    if text.isascii() and text.isdigit():
        return _level_number(int(text), key)
    if text in LEVEL_NAMES:
        return LEVEL_NAMES[text]
    return LEVEL_NAMES.get(_LEVEL_SUFFIX.sub("", text)) if len(text) > 1 else None


# --- decoding -----------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_MAX_PREFIX = 100  # a runtime's prefix: a timestamp, "stdout F ", a level word
_CRI_PREFIX = re.compile(r"\S+ (?:stdout|stderr) [FP] ")
_LOGFMT_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:[ \t]+|$)')
_LOGFMT_KEYS = frozenset(("level", "lvl", "severity", "msg", "message"))
_LAMBDA_TEXT = re.compile(
    r"\[(?P<level>[A-Z]+)\]\t(?P<timestamp>\d{4}-\d\d-\d\dT[\d:.]+Z)\t"
    r"(?P<requestId>[0-9a-fA-F-]{36})\t(?P<message>.*)",
    re.S,
)
"""AWS Lambda's text log format (the Python runtime's logger, Node's console): level, time and
request id before the message, tab-separated."""
_NGINX_ERROR = re.compile(
    r"(?P<timestamp>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] "
    r"(?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<connection>\d+) )?(?P<message>.*)",
    re.S,
)
"""nginx's error log: time, level, process and thread ids, the connection, then the message."""


def _json_start(text: str) -> int | None:
    """Where the JSON object starts, after at most a short, plain prefix."""
    if text.startswith("{"):
        return 0
    start = text.find("{", 0, _MAX_PREFIX + 1)
    if start <= 0 or not text[start - 1].isspace():
        return None
    prefix = text[:start]
    if any(c in prefix for c in '"={}[') or len(prefix.split()) > 6:
        return None
    return start


def _decode_json(text: str) -> dict[str, Any] | None:
    start = _json_start(text)
    if start is None or not text.endswith("}"):
        return None
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value if end == len(text) and isinstance(value, dict) else None


def _logfmt_value(raw: str) -> str:
    if not raw.startswith('"'):
        return raw
    try:
        decoded = json.loads(raw)  # Go's strconv.Quote is JSON's escaping, bar \x, \a and \U
    except ValueError:
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return decoded if isinstance(decoded, str) else raw


def _decode_logfmt(text: str) -> dict[str, Any] | None:
    """key=value pairs covering the whole line, with a level or message key among them."""
    pairs: dict[str, Any] = {}
    position = 0
    while position < len(text):
        match = _LOGFMT_PAIR.match(text, position)
        if match is None or match.end() == position:
            return None
        pairs[match[1]] = _logfmt_value(match[2])
        position = match.end()
    if len(pairs) < 2 or _LOGFMT_KEYS.isdisjoint(pairs):
        return None
    return pairs


def _decode(text: str) -> dict[str, Any] | None:
    text = text.lstrip("\ufeff").strip()
    if not text:
        return None
    decoded = _decode_json(text)
    if decoded is not None:
        return decoded
    if text.startswith('"') and text.endswith('"') and len(text) > 2:
        try:
            inner = json.loads(text)  # a JSON object encoded once more as a JSON string
        except (ValueError, RecursionError):
            return None
        return _decode_json(inner.strip()) if isinstance(inner, str) else None
    prefixed = _LAMBDA_TEXT.fullmatch(text) or _NGINX_ERROR.fullmatch(text)
    if prefixed:
        return {key: value for key, value in prefixed.groupdict().items() if value is not None}
    cri = _CRI_PREFIX.match(text)
    return _decode_logfmt(text[cri.end() :] if cri else text)


def _otlp_record(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An OTLP/JSON export holding exactly one log record is read as that record."""
    records: list[Any] = []
    for resource in _list(obj.get("resourceLogs")):
        for scope in _list(_mapping(resource).get("scopeLogs")):
            records.extend(_list(_mapping(scope).get("logRecords")))
            if len(records) > 1:
                return obj
    return records[0] if len(records) == 1 and isinstance(records[0], Mapping) else obj


def _any_value(value: Any) -> Any:
    """OTLP/JSON's AnyValue (`{"stringValue": "..."}`) as the plain value."""
    if isinstance(value, Mapping) and len(value) == 1:
        (key, inner), *_ = value.items()
        if isinstance(key, str) and key.endswith("Value") and not isinstance(inner, Mapping):
            return inner
    return value


def _key_values(value: Any) -> Mapping[str, Any] | None:
    """OTLP/JSON's attribute list (`[{"key": k, "value": {...}}]`) as a mapping."""
    if not isinstance(value, list):
        return None
    pairs: dict[str, Any] = {}
    for item in value:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            pairs[item["key"]] = _any_value(item.get("value"))
    return pairs


# --- lookups ------------------------------------------------------------------------------------

_ENVELOPES = (
    "record",  # loguru
    "@fields",  # logstash v0 (winston's logstash format)
    "jsonPayload",  # a Cloud Logging LogEntry
    "log",  # ECS nested form, {"log": {...}} wrappers
    "attributes",  # OpenTelemetry
    "Properties",  # Serilog JsonFormatter
    "contextMap",  # log4j2 JsonLayout's MDC
    "mdc",
    "extra",
)


_MAX_SCOPES = 16


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _scopes(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    scopes = [obj]
    for key in _ENVELOPES:
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            scopes.append(inner)
        elif key == "attributes":
            listed = _key_values(inner)
            if listed:
                scopes.append(listed)
    extra = _mapping(obj.get("record")).get("extra")
    if isinstance(extra, Mapping):
        scopes.append(extra)
    return scopes


def _id_scopes(obj: Mapping[str, Any], scopes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Where trace and span ids may be: also MEL's `Scopes` (ASP.NET Core's request scope)."""
    listed = _list(obj.get("Scopes"))[:_MAX_SCOPES]
    return scopes + [scope for scope in listed if isinstance(scope, Mapping)]


def _get(scope: Mapping[str, Any], path: str) -> Any:
    """`a.b.c` as a flat key, or nested at any of its dots (`{"a": {"b.c": ...}}`)."""
    value = scope.get(path)
    if value is not None:
        return value
    dot = path.find(".")
    while dot > 0:
        inner = scope.get(path[:dot])
        if isinstance(inner, Mapping):
            value = _get(inner, path[dot + 1 :])
            if value is not None:
                return value
        dot = path.find(".", dot + 1)
    return None


def _found(scopes: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(key, value) for each key present, the object itself first, then each envelope."""
    for scope in scopes:
        for key in keys:
            value = _get(scope, key)
            if value is not None and value != "":
                yield key, value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _first_text(scopes: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str | None:
    for _, value in _found(scopes, keys):
        text = _text(_any_value(value))
        if text:
            return text
    return None


# --- ids ----------------------------------------------------------------------------------------

TRACE_KEYS = (
    "trace_id",
    "traceId",
    "traceid",
    "TraceId",
    "TraceID",
    "traceID",
    "otelTraceID",
    "otel.trace_id",
    "trace.id",
    "@tr",
    "logging.googleapis.com/trace",
    "traceparent",
)
SPAN_KEYS = (
    "span_id",
    "spanId",
    "spanid",
    "SpanId",
    "SpanID",
    "spanID",
    "otelSpanID",
    "otel.span_id",
    "span.id",
    "@sp",
    "logging.googleapis.com/spanId",
    "traceparent",
)
_HEX = frozenset("0123456789abcdef")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def _hex_id(value: Any, length: int, part: int) -> str | None:
    """A W3C id of `length` hex digits; `part` picks trace (1) or span (2) from a traceparent."""
    if not isinstance(value, str) or len(value) > 200:
        return None  # a number here is a Datadog decimal id, never a W3C one
    text = value.strip().lower()
    if "/traces/" in text:  # Cloud Logging: projects/<project>/traces/<id>
        text = text.rsplit("/", 1)[-1]
    traceparent = _TRACEPARENT.fullmatch(text)
    if traceparent:
        text = traceparent[part]
    text = text.removeprefix("0x")  # OpenTelemetry Python's console exporter
    if len(text) != length or not _HEX.issuperset(text) or text.count("0") == length:
        return None
    return text


def _first_id(scopes: Sequence[Mapping[str, Any]], keys: Sequence[str], length: int) -> str | None:
    part = 1 if length == 32 else 2
    for _, value in _found(scopes, keys):
        found = _hex_id(value, length, part)
        if found:
            return found
    return None


# --- stacks -------------------------------------------------------------------------------------

_PY_TRACEBACK = "Traceback (most recent call last):"
_FRAME_LINE = re.compile(r"\n[ \t]+at \S")  # Node, Java, .NET
_GO_FRAME = re.compile(r"\n\t[^\n]*\.go:\d+")
_GO_PANIC = re.compile(r"(?:^|\n)panic: ")
_TYPE_HEADER = re.compile(
    r"(?:Exception in thread \"[^\"]*\" |Uncaught )?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:[.+][\w$]+)*)"  # a Java, .NET, Node or Python type name
    r"(?: \[\w+\]| \(0x[0-9A-Fa-f]+\))?"  # Node's [ERR_CODE], .NET's (0x80004005) HResult
    r"(?::[ \t]?(?P<message>.*))?"
)
_PY_LAST_LINE = re.compile(r"(?P<type>[A-Za-z_][\w]*(?:\.[\w]+)*)(?::[ \t]?(?P<message>.*))?")
_MEL_BREAK = re.compile(r" (?=   at |   --- End of | ---> )")


def _looks_like_stack(text: str) -> bool:
    return (
        _PY_TRACEBACK in text
        or _FRAME_LINE.search(text) is not None
        or _GO_FRAME.search(text) is not None
    )


def _header(stack: str) -> tuple[str | None, str | None]:
    """The (type, message) a stack names in its own header, else (None, None)."""
    text = stack.strip()
    if text.startswith(_PY_TRACEBACK):
        last = text.rsplit("\n", 1)[-1].strip()
        match = _PY_LAST_LINE.fullmatch(last)
        if match:
            return match["type"], (match["message"] or "").strip() or None
        return None, None
    first = text.split("\n", 1)[0].strip()
    if first.startswith("panic: "):  # Go: panic: <value> [recovered]
        return None, first.removeprefix("panic: ").removesuffix(" [recovered]").strip() or None
    match = _TYPE_HEADER.fullmatch(first)
    if match and _FRAME_LINE.search(text):
        return match["type"], (match["message"] or "").strip() or None
    return None, None


def _split_stack(text: str) -> tuple[str | None, str] | None:
    """A message that carries a trace: (the message before it, the trace)."""
    start = -1
    python = text.find(_PY_TRACEBACK)
    if python == 0 or (python > 0 and text[python - 1] == "\n"):
        start = python
    else:
        frame = _FRAME_LINE.search(text)
        panic = _GO_PANIC.search(text)
        if frame:
            start = text.rfind("\n", 0, frame.start()) + 1  # the exception's header line
        elif panic and "\ngoroutine " in text:
            start = panic.start() + (1 if text[panic.start()] == "\n" else 0)
    if start < 0:
        return None
    stack = text[start:].rstrip()
    before = text[:start].strip() or None
    return before, stack


def _plain(value: Any, default: str = "?") -> str:
    """A scalar as text; anything else (a nested structure) as `default`, never its repr."""
    return _text(value) or default


def _java_frames(frames: list[Any]) -> Iterator[str]:
    for frame in frames:
        if not isinstance(frame, Mapping):
            continue
        where = f"{_plain(frame.get('class'), '')}.{_plain(frame.get('method'), '')}".strip(".")
        file, line = _plain(frame.get("file"), ""), frame.get("line")
        location = (
            f"{file}:{line}"
            if file and isinstance(line, int) and line >= 0
            else (file or "Unknown Source")
        )
        yield f"\tat {where}({location})"


def _render_java_list(frames: list[Any]) -> str | None:
    """Java frames written as objects (`[{"class", "method", "file", "line"}]`)."""
    return "\n".join(_java_frames(frames)) or None


def _render_log4j(thrown: Mapping[str, Any]) -> str | None:
    """log4j2 JsonLayout's `thrown` (with its `cause` chain) as Java prints a stack trace."""
    lines: list[str] = []
    current: Any = thrown
    for depth in range(64):
        if not isinstance(current, Mapping):
            break
        name, message = _text(current.get("name")), _text(current.get("message"))
        header = f"{name}: {message}" if name and message else (name or message or "")
        lines.append(("Caused by: " if depth else "") + header)
        lines.extend(_java_frames(_list(current.get("extendedStackTrace"))))
        current = current.get("cause")
    return "\n".join(lines).strip() or None


def _render_go_frames(frames: list[Any]) -> str | None:
    """zerolog's pkgerrors stack (`[{"func", "line", "source"}]`) as Go prints frames."""
    lines: list[str] = []
    for frame in frames:
        if isinstance(frame, Mapping):
            lines.append(f"{_plain(frame.get('func'))}(...)")
            lines.append(f"\t{_plain(frame.get('source'))}:{_plain(frame.get('line'))}")
    return "\n".join(lines) or None


def _render_structlog(exceptions: list[Any]) -> str | None:
    """structlog's dict tracebacks (outermost first) as Python prints the chain (cause first)."""
    blocks: list[str] = []
    separator = ""
    for exception in reversed(exceptions):
        if not isinstance(exception, Mapping):
            continue
        block = []
        frames = [f for f in _list(exception.get("frames")) if isinstance(f, Mapping)]
        if frames:
            block.append(_PY_TRACEBACK)
        for frame in frames:
            block.append(
                f'  File "{_plain(frame.get("filename"))}", line {_plain(frame.get("lineno"))},'
                f" in {_plain(frame.get('name'))}"
            )
        kind, value = _text(exception.get("exc_type")), _text(exception.get("exc_value"))
        block.append(f"{kind}: {value}" if kind and value else (kind or value or ""))
        blocks.append(separator + "\n".join(block))
        separator = (
            "\nThe above exception was the direct cause of the following exception:\n\n"
            if exception.get("is_cause")
            else "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    return "\n".join(blocks).strip() or None


def _stack_text(value: Any, key: str) -> str | None:
    """A stack from a field: text, lines (ECS' stackTraceAsArray), frames, or dict tracebacks."""
    if isinstance(value, str):
        text = value.strip()
        if key == "Exception" and "\n" not in text:  # MEL's JSON console writes one line
            text = _MEL_BREAK.sub("\n", text)
        return text or None
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return "\n".join(value).strip() or None
        if isinstance(value[0], Mapping) and "exc_type" in value[0]:
            return _render_structlog(value)
        if isinstance(value[0], Mapping) and "class" in value[0]:
            return _render_java_list(value)
        if isinstance(value[0], Mapping) and ("func" in value[0] or "source" in value[0]):
            return _render_go_frames(value)
    return None


# --- errors -------------------------------------------------------------------------------------

# Keys whose value is the error: an object, a string, or (some) the stack text itself.
ERROR_KEYS = ("err", "error", "exception", "Exception", "exc", "thrown", "@x", "exc_info")
_ALWAYS_STACK = frozenset(("Exception", "@x", "exc_info"))  # text here is a stack, even one line
_OBJECT_TYPE = ("type", "name", "kind", "class", "className", "exc_type", "exception_class")
_OBJECT_MESSAGE = ("message", "msg", "exc_value", "value", "localizedMessage", "reason")
_OBJECT_STACK = ("stack", "stack_trace", "stacktrace", "stackTrace", "traceback", "trace")
TYPE_KEYS = (
    "error.type",
    "error.kind",
    "exception.type",
    "exc_type",
    "error_type",
    "errorType",
    "exception_type",
    "exception_class",
)
ERROR_MESSAGE_KEYS = (
    "error.message",
    "exception.message",
    "error_message",
    "errorMessage",
    "exception_message",
)
STACK_KEYS = (
    "error.stack_trace",
    "error.stack",
    "exception.stacktrace",
    "exception.stack_trace",
    "errorVerbose",  # zap: the error's own stack (pkg/errors), before the logging call's
    "stack_trace",
    "stacktrace",
    "stack",
    "stackTrace",
    "StackTrace",
    "exc_text",
    "traceback",
)


@dataclass
class _Error:
    type: str | None = None
    message: str | None = None
    stack: str | None = None

    def offer(self, kind: str | None, message: str | None, stack: str | None) -> None:
        self.type = self.type or kind
        self.message = self.message or message
        self.stack = self.stack or stack


def _error_object(value: Any, key: str, error: _Error) -> None:
    if isinstance(value, Mapping):
        stack = None
        if key == "thrown" or isinstance(value.get("extendedStackTrace"), list):
            stack = _render_log4j(value)
        for stack_key in _OBJECT_STACK:
            stack = stack or _stack_text(value.get(stack_key), stack_key)
        kind = next((t for k in _OBJECT_TYPE if (t := _text(value.get(k)))), None)
        message = next((t for k in _OBJECT_MESSAGE if (t := _text(value.get(k)))), None)
        error.offer(kind, message, stack)
    elif isinstance(value, str):
        if key in _ALWAYS_STACK or _looks_like_stack(value):
            error.offer(None, None, _stack_text(value, key))
        else:
            error.offer(None, value.strip() or None, None)
    elif isinstance(value, list) and value and isinstance(value[0], Mapping):
        first = value[0]
        error.offer(_text(first.get("exc_type")), _text(first.get("exc_value")), None)
        error.offer(None, None, _stack_text(value, key))


def _errors(scopes: Sequence[Mapping[str, Any]]) -> _Error:
    error = _Error()
    for scope in scopes:
        for key in ERROR_KEYS:
            value = scope.get(key)
            if value is not None and value is not True and value is not False:
                _error_object(value, key, error)
        for _, value in _found([scope], TYPE_KEYS):
            error.offer(_text(value), None, None)
        for _, value in _found([scope], ERROR_MESSAGE_KEYS):
            error.offer(None, _text(value), None)
        for key, value in _found([scope], STACK_KEYS):
            error.offer(None, None, _stack_text(value, key))
    return error


# --- messages and templates ---------------------------------------------------------------------

MESSAGE_KEYS = (
    "msg",  # pino, bunyan, zap, logrus, slog (wins over `message` when both are present)
    "message",  # winston, zerolog, logback, python-json-logger, ECS, Cloud Logging, Datadog
    "@m",  # Serilog CLEF, rendered
    "Message",  # MEL JSON console
    "RenderedMessage",  # Serilog JsonFormatter
    "@message",  # logstash v0
    "body",  # OpenTelemetry
    "event",  # structlog
    "textPayload",  # Cloud Logging LogEntry
)
TEMPLATE_KEYS = (
    "@mt",  # Serilog CLEF
    "MessageTemplate",  # Serilog JsonFormatter
    "State.{OriginalFormat}",  # MEL JSON console
    "{OriginalFormat}",  # MEL state flattened; OpenTelemetry .NET attributes
    "OriginalFormat",  # Application Insights customDimensions
)
LOGGER_KEYS = (
    "logger",
    "logger_name",  # logstash-logback-encoder
    "loggerName",  # log4j2 JsonLayout
    "log.logger",  # ECS
    "Category",  # MEL
    "SourceContext",  # Serilog
    "logging.googleapis.com/labels.python_logger",
    "name",  # bunyan, python-json-logger, loguru (unless it is the error's name: winston)
)
_TEMPLATE_HOLE = re.compile(r"\{\{|\}\}|\{[@$]?(\w+)(?:,-?\d+)?(?::([^{}]*))?\}")


def _serilog_value(value: Any, depth: int = 0) -> str:
    """A property value as Serilog renders it into a message (strings quoted, structures
    as `Type { Name: value }`), nested at most a few levels."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    if depth >= 8:
        return "..."
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{_plain(k)}: {_serilog_value(v, depth + 1)}" for k, v in value.items() if k != "$type"
        )
        body = "{ " + inner + " }" if inner else "{ }"
        tag = value.get("$type")
        return f"{tag} {body}" if isinstance(tag, str) else body
    if isinstance(value, list):
        return "[" + ", ".join(_serilog_value(v, depth + 1) for v in value) + "]"
    return "?"


def _render_template(template: str, obj: Mapping[str, Any]) -> str:
    """A Serilog message template filled in from the event's properties (and `@r`, the
    renderings of holes with a format), as Serilog renders `@m`."""
    properties = _mapping(obj.get("Properties")) or obj
    formatted = iter(_list(obj.get("@r")))

    def fill(match: re.Match[str]) -> str:
        hole = match[0]
        if hole in ("{{", "}}"):
            return hole[0]
        if match[2] is not None:
            rendered = next(formatted, None)
            if isinstance(rendered, str):
                return rendered
        if match[1] not in properties:
            return hole
        value = properties[match[1]]
        if isinstance(value, str) and match[2] == "l":
            return value
        return _serilog_value(value)

    return _TEMPLATE_HOLE.sub(fill, template)


LEVEL_KEYS = (
    "level",  # most libraries; a number in pino and bunyan
    "log.level",  # ECS
    "severity",  # Cloud Logging
    "@l",  # Serilog CLEF
    "LogLevel",  # MEL
    "Level",  # Serilog JsonFormatter
    "levelname",  # python-json-logger
    "lvl",
    "loglevel",
    "log_level",
    "severity_text",  # OpenTelemetry
    "severityText",
    "status",  # Datadog (names only: a number here is an HTTP status)
    "levelno",
    "level_value",  # logstash-logback-encoder
    "severity_number",
    "severityNumber",
    "syslog.severity",
    "log.syslog.severity.code",
)


def _level(scopes: Sequence[Mapping[str, Any]], obj: Mapping[str, Any]) -> str | None:
    for key, value in _found(scopes, LEVEL_KEYS):
        level = normalize_level(value, key=key)
        if level:
            return level
    if "@t" in obj and ("@mt" in obj or "@m" in obj):
        return INFO  # Serilog CLEF leaves @l out for Information
    return None


# --- entry point --------------------------------------------------------------------------------


def parse_structured(value: Any) -> StructuredLog | None:
    """The failure parts of one structured line; None when `value` is not one.

    `value` is an object already decoded (a mapping), or a line of text holding a JSON object
    (possibly after a short prefix a runtime adds: a timestamp, `stdout F `) or logfmt pairs.
    Docker's and Fluent Bit's wrapper (`{"log": "<the line>", "stream": ...}`) is opened.
    """
    return _parse(value, nested=False)


def _parse(value: Any, *, nested: bool) -> StructuredLog | None:
    if isinstance(value, Mapping):
        obj: Mapping[str, Any] = value
    elif isinstance(value, str):
        decoded = _decode(value)
        if decoded is None:
            return None
        obj = decoded
    else:
        return None
    line = obj.get("log")
    if isinstance(line, str) and ("stream" in obj or "kubernetes" in obj):
        inner = None if nested else _parse(line, nested=True)
        if inner is not None:
            return inner
        return _extract(obj, fallback_message=line)
    if isinstance(obj.get("resourceLogs"), list):
        obj = _otlp_record(obj)
    return _extract(obj)


def _extract(obj: Mapping[str, Any], fallback_message: str | None = None) -> StructuredLog:
    scopes = _scopes(obj)
    message = _first_text(scopes, MESSAGE_KEYS) or _text(fallback_message)
    template = _first_text(scopes, TEMPLATE_KEYS)
    if message is None and template is not None and ("@mt" in obj or "MessageTemplate" in obj):
        message = _render_template(template, obj)
    error = _errors(scopes)
    if error.stack is None:
        for carrier in (message, _first_text(scopes, ("text",))):
            split = _split_stack(carrier) if carrier else None
            if split is not None:
                before, error.stack = split
                if carrier is message:
                    message = before or error.stack.split("\n", 1)[0]
                break
    if error.stack is not None:
        kind, text = _header(error.stack)
        if kind is not None and error.type is None:
            error.type = kind
        if error.type is None or kind in (None, error.type):
            error.message = error.message or text
    logger = None
    for key, candidate in _found(scopes, LOGGER_KEYS):
        text = _text(candidate)
        if text and not (key == "name" and text == error.type):
            logger = text
            break
    return StructuredLog(
        level=_level(scopes, obj),
        message=message,
        error_type=error.type,
        error_message=error.message,
        stack=error.stack,
        trace_id=_first_id(_id_scopes(obj, scopes), TRACE_KEYS, 32),
        span_id=_first_id(_id_scopes(obj, scopes), SPAN_KEYS, 16),
        template=template,
        logger=logger,
        fields=obj,
    )
