"""Structured log lines, as real libraries write them, read into the parts a failure needs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.structured import (
    LEVEL_KEYS,
    MESSAGE_KEYS,
    SPAN_KEYS,
    STACK_KEYS,
    TRACE_KEYS,
    StructuredLog,
    normalize_level,
    parse_structured,
)

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "structured"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
REDIS = "Command timed out after 5000ms: GET session:42"
REDIS_WITH_CAUSE = REDIS + ": connect ETIMEDOUT 10.0.0.7:6379"
GO_REDIS = "redis GET session:42: dial tcp 10.0.0.1:6379: i/o timeout"
JAVA = {
    "error_type": "java.lang.IllegalStateException",
    "error_message": "Could not load order 1042",
    "stack": "java.lang.IllegalStateException: Could not load order 1042\n\tat com.contoso",
}
DOTNET = {
    "error_type": "System.InvalidOperationException",
    "error_message": "Could not load order 1042",
    "stack": "System.InvalidOperationException: Could not load order 1042\n"
    " ---> System.TimeoutException: The operation has timed out.\n"
    "   at Contoso.Orders.Data.OrderRepository.LoadAsync",
}
PAYMENT_DECLINED = {
    "error_type": "PaymentDeclined",
    "error_message": "card missing for order 1042",
    "stack": 'Traceback (most recent call last):\n  File "/srv/orders/app/checkout.py", line 10',
}


def line(name: str, number: int) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()[number - 1]


# (file, line, expected): every part not named must be None; `stack` is the stack's beginning.
CASES: list[tuple[str, int, dict[str, Any]]] = [
    # pino: numeric level, msg, err {type, message, stack}; its serializer joins the cause
    (
        "node.jsonl",
        1,
        dict(
            level="error",
            message="checkout failed",
            error_type="RedisTimeoutError",
            error_message=REDIS_WITH_CAUSE,
            stack=f"RedisTimeoutError: {REDIS}\n    at fail (/srv/orders/src/checkout.js:5:26)",
            trace_id=TRACE,
            span_id=SPAN,
        ),
    ),
    (
        "node.jsonl",
        2,
        dict(
            level="error",
            message="Cannot read properties of undefined (reading 'id')",
            error_type="TypeError",
            error_message="Cannot read properties of undefined (reading 'id')",
            stack="TypeError: Cannot read properties of undefined (reading 'id')\n    at Object",
        ),
    ),
    ("node.jsonl", 3, dict(level="warning", message="cache miss rate high")),
    (
        "node.jsonl",
        4,
        dict(
            level="critical",
            message="payments worker crashed",
            error_type="RedisTimeoutError",
            error_message=REDIS_WITH_CAUSE,
            stack=f"RedisTimeoutError: {REDIS}\n",
        ),
    ),
    # bunyan: err {name, message, stack}; `name` at the top is the logger
    (
        "node.jsonl",
        5,
        dict(
            level="error",
            message="checkout failed",
            error_type="RedisTimeoutError",
            error_message=REDIS,
            stack=f"RedisTimeoutError: {REDIS}\n",
            logger="orders-api",
        ),
    ),
    ("node.jsonl", 6, dict(level="warning", message="slow query: 1200ms", logger="orders-api")),
    (
        "node.jsonl",
        7,
        dict(
            level="critical",
            message="Invalid array length",
            error_type="RangeError",
            error_message="Invalid array length",
            stack="RangeError: Invalid array length\n    at Object.<anonymous>",
            logger="orders-api",
        ),
    ),
    # winston errors() + json(): `name` is the error's, not a logger; the type from the stack
    (
        "node.jsonl",
        8,
        dict(
            level="error",
            message=REDIS,
            error_type="RedisTimeoutError",
            error_message=REDIS,
            stack=f"RedisTimeoutError: {REDIS}\n",
        ),
    ),
    ("node.jsonl", 9, dict(level="error", message="checkout failed", trace_id=TRACE)),
    ("node.jsonl", 10, dict(level="warning", message="disk space low")),
    # winston's json() drops an Error's non-enumerable message and stack: only the name is left
    (
        "node.jsonl",
        11,
        dict(level="error", message="payment declined", error_type="RedisTimeoutError"),
    ),
    # winston logstash(): @message, with everything else under @fields
    (
        "node.jsonl",
        12,
        dict(
            level="error",
            message=REDIS,
            error_type="RedisTimeoutError",
            error_message=REDIS,
            stack=f"RedisTimeoutError: {REDIS}\n",
        ),
    ),
    # python-json-logger: levelname, message, exc_info (a chained traceback), name
    (
        "python.jsonl",
        1,
        dict(
            level="error",
            message="checkout failed",
            **PAYMENT_DECLINED,
            trace_id=TRACE,
            span_id=SPAN,
            logger="orders.checkout",
        ),
    ),
    (
        "python.jsonl",
        2,
        dict(level="warning", message="retrying payment 3", logger="orders.checkout"),
    ),
    (
        "python.jsonl",
        3,
        dict(
            level="error", message="checkout failed", **PAYMENT_DECLINED, logger="orders.checkout"
        ),
    ),
    # structlog: event; exception as dict tracebacks (rendered) or as text
    (
        "python.jsonl",
        4,
        dict(
            level="error",
            message="checkout_failed",
            error_type="PaymentDeclined",
            error_message="card missing for order 1042",
            stack="Traceback (most recent call last):\n"
            '  File "/srv/orders/app/checkout.py", line 10, in charge\n'
            "KeyError: 'card'\n\nThe above exception was the direct cause",
        ),
    ),
    ("python.jsonl", 5, dict(level="error", message="checkout_failed", **PAYMENT_DECLINED)),
    ("python.jsonl", 6, dict(level="warning", message="cache_miss")),
    (
        "python.jsonl",
        7,
        dict(
            level="critical",
            message="db_down",
            error_message="dial tcp 10.0.0.5:5432: connect: connection refused",
        ),
    ),
    # loguru: record.{level, message, exception}, the traceback split off `text`
    (
        "loguru.jsonl",
        1,
        dict(
            level="error",
            message="checkout failed",
            error_type="ValueError",
            error_message="card missing for order 1042",
            stack='Traceback (most recent call last):\n  File "/srv/orders/app/loguru_logs.py"',
            trace_id=TRACE,
            logger="__main__",
        ),
    ),
    ("loguru.jsonl", 2, dict(level="warning", message="slow payment provider", logger="__main__")),
    # OpenTelemetry SDK console JSON: body, severity, attributes.exception.*, 0x-prefixed ids
    (
        "opentelemetry_python.jsonl",
        1,
        dict(
            level="error",
            message="checkout failed for order 1042",
            error_type="KeyError",
            error_message="card",
            stack="Traceback (most recent call last):\n",
            trace_id="0d473bfa3d840fe8845585ae2e6ae909",
            span_id="127b267f53a50f0f",
        ),
    ),
    (
        "opentelemetry_python.jsonl",
        2,
        dict(
            level="warning",
            message="slow payment provider",
            trace_id="0d473bfa3d840fe8845585ae2e6ae909",
            span_id="127b267f53a50f0f",
        ),
    ),
    # Cloud Logging: severity; the traceback inside the message is split off
    (
        "cloud_logging.jsonl",
        1,
        dict(level="info", logger="google.cloud.logging_v2.handlers.structured_log"),
    ),
    (
        "cloud_logging.jsonl",
        2,
        dict(
            level="error",
            message="checkout failed",
            error_type="KeyError",
            error_message="'card'",
            stack="Traceback (most recent call last):\n",
            trace_id=TRACE,
            span_id=SPAN,
            logger="orders.checkout",
        ),
    ),
    ("cloud_logging.jsonl", 3, dict(level="warning", message="slow", logger="orders.checkout")),
    # zap: error is a string (no type); errorVerbose (the error's stack) before stacktrace
    (
        "go.jsonl",
        1,
        dict(
            level="error",
            message="checkout failed",
            error_message=GO_REDIS,
            stack="dial tcp 10.0.0.1:6379: i/o timeout\nmain.dial\n\t",
            trace_id=TRACE,
        ),
    ),
    ("go.jsonl", 2, dict(level="warning", message="cache miss")),
    (
        "go.jsonl",
        3,
        dict(
            level="error",
            message="charge failed",
            error_message="i/o timeout",
            stack="main.main\n\t/tmp/cap/go/src/checkout/main.go:24\n",
            logger="payments",
        ),
    ),
    # zerolog: message, error, stack as pkgerrors frames (rendered as Go prints frames)
    (
        "go.jsonl",
        4,
        dict(
            level="error",
            message="checkout failed",
            error_message=GO_REDIS,
            stack="dial(...)\n\tmain.go:16\nmain(...)\n\tmain.go:31\n",
        ),
    ),
    ("go.jsonl", 5, dict(level="error", error_message="context deadline exceeded")),
    ("go.jsonl", 6, dict(level="critical", message="cannot reach postgres")),
    ("go.jsonl", 7, dict(level="critical", message="nil map write")),
    # logrus JSON
    ("go.jsonl", 8, dict(level="error", message="checkout failed", error_message=GO_REDIS)),
    ("go.jsonl", 9, dict(level="warning", message="slow query")),
    ("go.jsonl", 10, dict(level="critical", message="config missing", trace_id=TRACE)),
    # slog JSON: err; an upper-case trace id; ERROR+2 and INFO+3 offsets
    (
        "go_text.log",
        1,
        dict(
            level="error",
            message="checkout failed",
            error_message="dial tcp 10.0.0.1:6379: i/o timeout",
            trace_id=TRACE,
        ),
    ),
    ("go_text.log", 2, dict(level="warning", message="cache miss")),
    ("go_text.log", 3, dict(level="error", message="disk full")),
    ("go_text.log", 4, dict(level="info", message="between info and warn")),
    # logfmt: slog TextHandler, logrus TextFormatter
    (
        "go_text.log",
        5,
        dict(
            level="error",
            message="checkout failed",
            error_message="dial tcp 10.0.0.1:6379: i/o timeout",
        ),
    ),
    (
        "go_text.log",
        6,
        dict(
            level="error",
            message="checkout failed",
            error_message="dial tcp 10.0.0.1:6379: i/o timeout",
        ),
    ),
    ("go_text.log", 7, dict(level="warning", message="slow request took 2.3s")),
    # log4j2 JsonLayout: thrown {name, message, extendedStackTrace, cause} rendered as Java
    (
        "log4j2_jsonlayout.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **JAVA,
            trace_id=TRACE,
            span_id=SPAN,
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    (
        "log4j2_jsonlayout.jsonl",
        2,
        dict(
            level="warning",
            message="Payment provider slow: 2300 ms",
            trace_id=TRACE,
            span_id=SPAN,
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    # logstash-logback-encoder: stack_trace, the type and message from its header
    (
        "logback_logstash.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **JAVA,
            trace_id=TRACE,
            span_id=SPAN,
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    (
        "logback_logstash.jsonl",
        2,
        dict(
            level="warning",
            message="Payment provider slow: 2300 ms",
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    # ECS: dotted keys (log4j2 EcsLayout.json, ecs-logging-java) and nested (ecs-pino-format)
    (
        "ecs.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **JAVA,
            trace_id=TRACE,
            span_id=SPAN,
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    (
        "ecs.jsonl",
        2,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **JAVA,
            trace_id=TRACE,
            logger="com.contoso.orders.CheckoutService",
        ),
    ),
    (
        "ecs.jsonl",
        3,
        dict(
            level="error",
            message="checkout failed",
            error_type="RedisTimeoutError",
            error_message=REDIS,
            stack=f"RedisTimeoutError: {REDIS}\n",
            trace_id=TRACE,
            span_id=SPAN,
        ),
    ),
    # Serilog CLEF: @mt rendered when @m is absent, @l absent means Information, @x, @tr, @sp
    (
        "serilog.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **DOTNET,
            trace_id=TRACE,
            span_id=SPAN,
            template="Checkout failed for order {OrderId}",
            logger="Contoso.Orders.CheckoutService",
        ),
    ),
    (
        "serilog.jsonl",
        2,
        dict(
            level="info",
            message='Processed { Latitude: 25, Longitude: 134 } in 034 ms for "nblumhardt"',
            template="Processed {@Position} in {Elapsed:000} ms for {User}",
        ),
    ),
    ("serilog.jsonl", 3, dict(level="warning", message='Payment provider "Adyen" slow')),
    (
        "serilog.jsonl",
        4,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **DOTNET,
            trace_id=TRACE,
            span_id=SPAN,
            template="Checkout failed for order {OrderId}",
            logger="Contoso.Orders.CheckoutService",
        ),
    ),
    # MEL JSON console: one-line Exception gets its line breaks back; ids from the request scope
    (
        "mel_json_console.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **DOTNET,
            trace_id=TRACE,
            span_id=SPAN,
            template="Checkout failed for order {OrderId}",
            logger="Contoso.Orders.CheckoutService",
        ),
    ),
    (
        "mel_json_console.jsonl",
        2,
        dict(
            level="warning",
            message="Payment provider slow: 2300 ms",
            template="Payment provider slow: {Elapsed} ms",
            logger="Contoso.Orders.PaymentClient",
        ),
    ),
    # Datadog: dd.trace_id (flat or nested) and a decimal trace_id are not W3C ids
    (
        "datadog.jsonl",
        1,
        dict(level="error", message="checkout failed", logger="orders.checkout"),
    ),
    ("datadog.jsonl", 2, dict(level="error", message="checkout failed")),
    (
        "datadog.jsonl",
        3,
        dict(
            level="error",
            message="charge failed",
            error_type="PaymentDeclined",
            error_message="card expired",
            stack=f"RedisTimeoutError: {REDIS}\n",
        ),
    ),
    # OTLP/JSON: one record in its envelope, AnyValue body, attribute list, upper-case ids
    (
        "otlp.jsonl",
        1,
        dict(
            level="error",
            message="Checkout failed for order 1042",
            **DOTNET,
            trace_id=TRACE,
            span_id=SPAN,
            template="Checkout failed for order {OrderId}",
        ),
    ),
]
PINO_CHECKOUT = CASES[0][2]
CASES += [
    # the same pino line as the container runtimes hand it over
    ("containers.log", 1, PINO_CHECKOUT),  # CRI: <time> stderr F <line>
    ("containers.log", 2, PINO_CHECKOUT),  # Docker json-file: {"log": "<line>\n", ...}
    ("containers.log", 3, dict(message="Segmentation fault (core dumped)")),
    (
        "containers.log",
        4,
        dict(
            level="error",
            message="checkout failed",
            error_message="dial tcp 10.0.0.1:6379: i/o timeout",
        ),
    ),
    ("containers.log", 5, PINO_CHECKOUT),  # a timestamp prefix
]


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    CASES,
    ids=[f"{name.split('.')[0]}:{number}" for name, number, _ in CASES],
)
def test_real_lines(name: str, number: int, expected: dict[str, Any]) -> None:
    parsed = parse_structured(line(name, number))
    assert parsed is not None
    expected_stack = expected.get("stack")
    assert (parsed.stack or "").startswith(expected_stack or "") and (
        (parsed.stack is None) == (expected_stack is None)
    ), parsed.stack
    got = {k: v for k, v in vars(parsed).items() if k not in ("stack", "fields") and v is not None}
    assert got == {k: v for k, v in expected.items() if k != "stack"}


def test_fields_hold_the_decoded_object() -> None:
    parsed = parse_structured(line("node.jsonl", 1))
    assert parsed is not None and parsed.fields["orderId"] == 1042
    wrapped = parse_structured(line("containers.log", 2))
    assert wrapped is not None and wrapped.fields["orderId"] == 1042  # the line, not the wrapper
    logfmt = parse_structured(line("go_text.log", 6))
    assert logfmt is not None and logfmt.fields["order_id"] == "1042"


def test_a_decoded_object_reads_as_its_line() -> None:
    for name in ("node.jsonl", "python.jsonl", "serilog.jsonl", "ecs.jsonl", "otlp.jsonl"):
        text = line(name, 1)
        assert parse_structured(json.loads(text)) == parse_structured(text)


def test_structlog_dict_tracebacks_render_as_python_prints_the_chain() -> None:
    parsed = parse_structured(line("python.jsonl", 4))
    assert parsed is not None
    assert parsed.stack == (
        "Traceback (most recent call last):\n"
        '  File "/srv/orders/app/checkout.py", line 10, in charge\n'
        "KeyError: 'card'\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/orders/app/checkout.py", line 32, in <module>\n'
        '  File "/srv/orders/app/checkout.py", line 12, in charge\n'
        "PaymentDeclined: card missing for order 1042"
    )


def test_log4j_thrown_renders_as_java_prints_it() -> None:
    parsed = parse_structured(line("log4j2_jsonlayout.jsonl", 1))
    assert parsed is not None
    assert parsed.stack == (
        "java.lang.IllegalStateException: Could not load order 1042\n"
        "\tat com.contoso.orders.CheckoutService.checkout(CheckoutService.java:23)\n"
        "\tat com.contoso.orders.CheckoutService.main(CheckoutService.java:31)\n"
        "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not"
        " available, request timed out after 30000ms.\n"
        "\tat com.contoso.orders.CheckoutService$OrderRepository.load(CheckoutService.java:15)\n"
        "\tat com.contoso.orders.CheckoutService.checkout(CheckoutService.java:21)"
    )


def test_mel_one_line_exception_gets_its_line_breaks_back() -> None:
    mel = parse_structured(line("mel_json_console.jsonl", 1))
    serilog = parse_structured(line("serilog.jsonl", 1))
    assert mel is not None and serilog is not None
    assert mel.stack == serilog.stack  # Serilog's @x keeps the line breaks MEL replaced


# --- levels -------------------------------------------------------------------------------------

LEVELS: list[tuple[Any, str | None, str | None]] = [
    # names, any case, abbreviated, padded
    ("ERR", None, "error"),
    ("eror", None, "error"),
    ("ERRO", None, "error"),
    ("fail", None, "error"),
    ("SEVERE", None, "error"),
    ("Warn", None, "warning"),
    (" WARN", None, "warning"),  # ECS allows padding
    ("[WRN]", None, "warning"),
    ("Information", None, "info"),
    ("NOTICE", None, "info"),
    ("Verbose", None, "trace"),
    ("TRACE", None, "trace"),
    ("dbug", None, "debug"),
    ("FINE", None, "debug"),
    ("FATAL", None, "critical"),
    ("CRIT", None, "critical"),
    ("dpanic", None, "critical"),
    ("panic", None, "critical"),
    ("EMERGENCY", None, "critical"),
    ("ERROR+2", None, "error"),  # slog
    ("INFO+3", None, "info"),
    ("WARN4", None, "warning"),  # OpenTelemetry short names
    ("DEFAULT", "severity", None),  # Cloud Logging: no level
    ("ok", "status", None),
    ("", None, None),
    ("banana", None, None),
    # pino / bunyan
    (10, "level", "trace"),
    (20, "level", "debug"),
    (30, "level", "info"),
    (35, "level", "info"),
    (40, "level", "warning"),
    (50, "level", "error"),
    (60, "level", "critical"),
    (50, None, "error"),
    ("50", "level", "error"),
    (50.0, "level", "error"),
    # logback / log4j 1 level_value
    (5000, "level_value", "trace"),
    (10000, "level_value", "debug"),
    (20000, "level_value", "info"),
    (30000, "level_value", "warning"),
    (40000, "level_value", "error"),
    (50000, "level_value", "critical"),
    (40000, "level", "error"),
    # Python logging numbers only from levelno (and loguru's level.no)
    (10, "levelno", "debug"),
    (20, "levelno", "info"),
    (25, "levelno", "info"),
    (30, "levelno", "warning"),
    (40, "levelno", "error"),
    (50, "levelno", "critical"),
    (5, "levelno", "trace"),
    ({"name": "ERROR", "no": 40, "icon": "x"}, "level", "error"),
    ({"no": 30}, "level", "warning"),
    # OpenTelemetry severity_number
    (1, "severity_number", "trace"),
    (5, "severityNumber", "debug"),
    (9, "severity_number", "info"),
    (13, "severity_number", "warning"),
    (17, "severity_number", "error"),
    (20, "severity_number", "error"),
    (21, "severity_number", "critical"),
    (24, "severity_number", "critical"),
    (25, "severity_number", None),
    # syslog severity only when the key says so
    (0, "syslog.severity", "critical"),
    (2, "severity", "critical"),
    (3, "severity", "error"),
    (4, "log.syslog.severity.code", "warning"),
    (6, "severity", "info"),
    (7, "severity", "debug"),
    (3, "level", None),
    (3, None, None),
    (500, "severity", "error"),  # Cloud Logging's LogSeverity numbers
    # not levels
    (500, "status", None),
    (True, "level", None),
    (None, "level", None),
    (12.5, "level", None),
    (float("nan"), "level", None),
    (float("inf"), "level", None),
    ([50], "level", None),
    ("٣", "level", None),  # a digit, but not an ASCII one
]


@pytest.mark.parametrize(("value", "key", "expected"), LEVELS, ids=[repr(c[:2]) for c in LEVELS])
def test_normalize_level(value: Any, key: str | None, expected: str | None) -> None:
    assert normalize_level(value, key=key) == expected


def test_a_number_is_read_by_its_key() -> None:
    assert parse_structured({"level": 30, "msg": "x"}) == _log(level="info", message="x")
    assert parse_structured({"levelno": 30, "msg": "x"}) == _log(level="warning", message="x")
    assert parse_structured({"severity": 3, "msg": "x"}) == _log(level="error", message="x")
    # an HTTP status is no level, and a Datadog status name is
    assert parse_structured({"status": 500, "msg": "x"}) == _log(message="x")
    assert parse_structured({"status": "warn", "msg": "x"}) == _log(level="warning", message="x")
    # the name wins over logback's number when both are there (they agree in practice)
    assert parse_structured({"level": "WARN", "level_value": 40000}) == _log(level="warning")


def _log(**parts: Any) -> Any:
    class Matches:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, StructuredLog) and all(
                getattr(other, name) == parts.get(name) for name in vars(other) if name != "fields"
            )

        def __repr__(self) -> str:
            return f"StructuredLog({parts})"

    return Matches()


# --- conflicts and shapes -----------------------------------------------------------------------


def test_msg_wins_over_a_message_field() -> None:
    pino = {"level": 50, "msg": "checkout failed", "message": "user supplied"}
    assert parse_structured(pino) == _log(level="error", message="checkout failed")
    assert parse_structured({"message": "only message"}) == _log(message="only message")
    assert parse_structured({"message": {"nested": 1}, "msg": "text"}) == _log(message="text")


def test_a_nested_message_is_found() -> None:
    assert parse_structured({"log": {"level": "error", "message": "boom"}}) == _log(
        level="error", message="boom"
    )
    assert parse_structured({"jsonPayload": {"message": "boom"}, "severity": "ERROR"}) == _log(
        level="error", message="boom"
    )
    # the object itself wins over an envelope
    assert parse_structured({"message": "top", "log": {"message": "inner"}}) == _log(message="top")


def test_an_error_string_is_a_message_without_a_type() -> None:
    parsed = parse_structured({"level": "error", "error": "dial tcp 10.0.0.1:6379: i/o timeout"})
    assert parsed == _log(level="error", error_message="dial tcp 10.0.0.1:6379: i/o timeout")


def test_an_error_string_holding_a_stack_is_the_stack() -> None:
    stack = "Error: connect ECONNREFUSED\n    at TCPConnectWrap.afterConnect (node:net:1555:16)"
    parsed = parse_structured({"level": "error", "err": stack, "msg": "db down"})
    assert parsed == _log(
        level="error",
        message="db down",
        error_type="Error",
        error_message="connect ECONNREFUSED",
        stack=stack,
    )


def test_a_go_panic_in_a_message_is_split_off() -> None:
    text = (
        "worker died\npanic: runtime error: index out of range [3] with length 3\n\n"
        "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d"
    )
    parsed = parse_structured({"severity": "CRITICAL", "message": text})
    assert parsed is not None
    assert parsed.message == "worker died"
    assert parsed.stack is not None and parsed.stack.startswith("panic: runtime error")
    assert parsed.error_message == "runtime error: index out of range [3] with length 3"
    assert parsed.error_type is None


def test_a_node_stack_in_a_message_keeps_its_header_as_the_message() -> None:
    text = "TypeError: x is not a function\n    at main (/app/index.js:3:5)"
    parsed = parse_structured({"severity": "ERROR", "message": text})
    assert parsed == _log(
        level="error",
        message="TypeError: x is not a function",
        error_type="TypeError",
        error_message="x is not a function",
        stack=text,
    )


def test_serilog_template_escapes_and_missing_properties() -> None:
    clef = {"@t": "2026-01-01T00:00:00Z", "@mt": "{{literal}} {Missing} {Flag} {Name:l}"}
    parsed = parse_structured({**clef, "Flag": True, "Name": "plain"})
    assert parsed is not None and parsed.message == "{literal} {Missing} True plain"
    assert parsed.level == "info" and parsed.template == clef["@mt"]


# --- trace ids ----------------------------------------------------------------------------------

TRACE_IDS: list[tuple[dict[str, Any], str | None, str | None]] = [
    ({"trace_id": TRACE}, TRACE, None),
    ({"traceId": TRACE.upper()}, TRACE, None),
    ({"traceid": TRACE}, TRACE, None),
    ({"TraceId": TRACE}, TRACE, None),
    ({"otelTraceID": TRACE, "otelSpanID": SPAN}, TRACE, SPAN),
    ({"trace.id": TRACE, "span.id": SPAN}, TRACE, SPAN),
    ({"trace": {"id": TRACE}, "span": {"id": SPAN}}, TRACE, SPAN),
    ({"@tr": TRACE, "@sp": SPAN}, TRACE, SPAN),
    ({"logging.googleapis.com/trace": f"projects/shop/traces/{TRACE}"}, TRACE, None),
    ({"traceparent": f"00-{TRACE}-{SPAN}-01"}, TRACE, SPAN),
    ({"trace_id": "0x" + TRACE, "span_id": "0x" + SPAN}, TRACE, SPAN),
    ({"trace_id": "0" * 32, "span_id": "0" * 16}, None, None),  # invalid W3C ids
    ({"trace_id": "1008221678123776104"}, None, None),  # Datadog's decimal id
    ({"trace_id": 1008221678123776104}, None, None),
    ({"trace_id": TRACE[:16]}, None, None),  # a 64-bit id is not a W3C trace id
    ({"trace_id": TRACE[:31] + "g"}, None, None),
    ({"dd.trace_id": TRACE, "dd": {"trace_id": TRACE}}, None, None),  # Datadog's, even in hex
    ({"trace_id": "zzz", "traceId": TRACE}, TRACE, None),  # a bad one does not hide a good one
]


@pytest.mark.parametrize(("fields", "trace", "span"), TRACE_IDS)
def test_trace_ids(fields: dict[str, Any], trace: str | None, span: str | None) -> None:
    parsed = parse_structured({"msg": "x", **fields})
    assert parsed is not None and (parsed.trace_id, parsed.span_id) == (trace, span)


# --- what is not a structured line --------------------------------------------------------------

NOT_STRUCTURED = [
    None,
    42,
    b'{"level": "error"}',
    ["level", "error"],
    "",
    "   ",
    "plain text: connection reset by peer",
    "[1, 2, 3]",
    "42",
    "null",
    '"a string"',
    '"{not json}"',
    '{"level": "error"',  # cut short
    '{"level": "error"} trailing',
    'level=error msg="unterminated',
    "user login failed level=high",  # a sentence that happens to hold a pair
    "a=1",  # one pair, and no level or message key
    "x=1 y=2",  # pairs, but no level or message key
    'level=error data={"a": 1}',  # prefix with = before a JSON object: not a prefix
    "a" * 200 + ' {"level": "error"}',  # too long a prefix
]


@pytest.mark.parametrize("value", NOT_STRUCTURED, ids=[repr(v)[:40] for v in NOT_STRUCTURED])
def test_not_structured(value: Any) -> None:
    assert parse_structured(value) is None


def test_any_json_object_is_structured_even_without_known_keys() -> None:
    assert parse_structured("{}") == _log()
    assert parse_structured('{"a": 1}') == _log()


# --- hostile input ------------------------------------------------------------------------------

HOSTILE = [
    "[" * 200_000,
    '{"a":' * 200_000,
    '{"msg": ' + "[" * 100_000 + "]" * 100_000 + "}",
    " {" * 500_000,
    'a="' * 300_000,
    "a=b " * 250_000 + "level=error",
    json.dumps({"level": "error", "err": "a" + "$" * 300_000 + "!\n    at x"}),
    json.dumps({"level": "error", "stack": "\n\tat " * 200_000}),
    json.dumps({"level": "error", "stack": "\n\t" + "x" * 500_000 + ".go:"}),
    json.dumps({"level": "error", "stack": "\n\tx.go" * 200_000}),
    json.dumps({"LogLevel": "Error", "Exception": "   at" * 200_000}),
    json.dumps({"@t": "t", "@mt": "{a:" * 300_000}),
    json.dumps({"@t": "t", "@mt": "{a}" * 300_000, "a": "x"}),
    json.dumps({"message": "x\n" + "\n    at y" * 100_000}),
    json.dumps({"level": "error", "message": "m" * 1_000_000}),
    json.dumps({"traceparent": "0" * 1_000_000}),
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"{t[:24]!r}..{len(t)}" for t in HOSTILE])
def test_hostile_lines_finish_quickly(text: str) -> None:
    started = time.process_time()
    parse_structured(text)
    assert time.process_time() - started < 2.0  # quadratic work at this size takes minutes


def test_lone_surrogates_pass_through() -> None:
    escaped = parse_structured('{"level": "error", "msg": "bad \\ud800 byte"}')
    assert escaped is not None and escaped.message == "bad \ud800 byte"
    raw = parse_structured('{"level": "error", "msg": "raw \udcff"}')
    assert raw is not None and raw.message == "raw \udcff"
    assert parse_structured('level=error msg="raw \udcff"') is not None


def test_deep_and_cyclic_objects_do_not_raise() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["err"] = node["record"] = node["name"] = {}
        node = node["err"]
    assert parse_structured(deep) is not None
    cyclic: dict[str, Any] = {"msg": "loop"}
    cyclic.update(record=cyclic, err=cyclic, thrown=cyclic, cause=cyclic, level=cyclic)
    assert parse_structured(cyclic) is not None
    nested_frames = {"stack": [{"func": [[[[["deep"]]]]], "line": {"a": [1]}}], "msg": "x"}
    parsed = parse_structured(nested_frames)
    assert parsed is not None and parsed.stack == "?(...)\n\t?:?"


KNOWN_KEYS = sorted(
    {*LEVEL_KEYS, *MESSAGE_KEYS, *TRACE_KEYS, *SPAN_KEYS, *STACK_KEYS}
    | {"err", "error", "exception", "Exception", "@x", "thrown", "record", "log", "@fields"}
    | {"attributes", "Scopes", "State", "@t", "@mt", "@r", "Properties", "resourceLogs", "name"}
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["error", "50", TRACE, f"00-{TRACE}-{SPAN}-01", "Error: x\n    at y"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=30,
)
OBJECTS = st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), JSON_VALUES)


@settings(max_examples=300, deadline=None)
@given(OBJECTS)
def test_any_object_parses_the_same_decoded_or_as_text(obj: dict[str, Any]) -> None:
    decoded = parse_structured(obj)
    assert decoded is not None
    text = json.dumps(obj)
    assert parse_structured(text) == _log(**{k: v for k, v in vars(decoded).items()})
    assert decoded.level in (None, "trace", "debug", "info", "warning", "error", "critical")
    for value, length in ((decoded.trace_id, 32), (decoded.span_id, 16)):
        assert value is None or (len(value) == length and value == value.lower())


@settings(max_examples=300, deadline=None)
@given(st.text() | st.sampled_from(["level=error msg=", '{"msg": "', "stdout F {", "Traceback"]))
def test_any_text_never_raises(text: str) -> None:
    result = parse_structured(text)
    assert result is None or isinstance(result, StructuredLog)


def test_a_lambda_text_line_gives_its_level_and_message_and_keeps_the_request_id() -> None:
    line = (
        "[ERROR]\t2026-11-20T01:00:10.012Z\t1f6c0000-0000-4000-8000-000000000000\t"
        "payment capture failed for order 4711: ReadTimeout\n"
    )
    parsed = parse_structured(line)
    assert parsed is not None
    assert parsed.level == "error"
    assert parsed.message == "payment capture failed for order 4711: ReadTimeout"
    assert parsed.fields["requestId"] == "1f6c0000-0000-4000-8000-000000000000"
    assert parse_structured(line.replace("\t", " ")) is None, "Lambda's separators are tabs"


def test_an_nginx_error_line_gives_its_level_and_message() -> None:
    line = (
        "2026/11/20 00:54:12 [error] 38#38: *795266 upstream timed out (110: Operation timed out)"
        " while reading response header from upstream, client: 10.244.1.182"
    )
    parsed = parse_structured(line)
    assert parsed is not None and parsed.level == "error"
    assert parsed.message is not None
    assert parsed.message.startswith("upstream timed out (110: Operation timed out) while")
    assert parsed.fields["connection"] == "795266"
    crit = parse_structured("2026/11/20 00:54:12 [crit] 7#7: worker process exited on signal 9")
    assert crit is not None and crit.level == "critical" and "connection" not in crit.fields
