"""Fingerprint v3 over realistic failures from each runtime: what must group, what must not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.fingerprint import FINGERPRINT_VERSION, fingerprint, message_template
from detection.records import LogRecord

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _record(
    message: str,
    exception_type: str | None = None,
    stack: str | None = None,
    role: str | None = "orders-api",
    level: str | None = None,
) -> LogRecord:
    return LogRecord(
        table="AppExceptions",
        record_id=message[:40],
        time_generated=T0,
        ingested_at=None,
        message=message,
        exception_type=exception_type,
        stack_trace=stack,
        role=role,
        level=level,
        fields={"Message": message},
    )


def _nginx(error: str, request: str, client: str = "10.244.2.126") -> LogRecord:
    """An ingress controller's error line, as ContainerLogV2 keeps it (level from LogLevel)."""
    line = (
        f"2026/11/17 00:59:19 [error] 38#38: *263852 {error} while reading response header from "
        f'upstream, client: {client}, server: api.contoso-shop.com, request: "{request}", '
        f'upstream: "http://10.244.1.23:8080{request.split()[1]}", host: "api.contoso-shop.com"'
    )
    return _record(line, role="ingress-nginx", level="error")


def _access(request: str, status: int) -> LogRecord:
    """An API server's access line at info level (OpenStack's nova-api writes these)."""
    line = f'10.11.10.1 "{request}" status: {status} len: 1893 time: 0.2477829'
    return _record(line, role="nova-api", level="INFO")


DOTNET_COUPON = """System.NullReferenceException: Object reference not set to an instance of an object.
   at Contoso.Orders.Pricing.CouponService+<ApplyAsync>d__7.MoveNext() in {root}/Orders/Pricing/CouponService.cs:line {line}
   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)
   at Contoso.Orders.Api.Controllers.CartController.<>c__DisplayClass4_0.<Price>b__0(Item i) in {root}/Orders.Api/Controllers/CartController.cs:line {line2}"""  # noqa: E501
DOTNET_SHIPPING = """System.NullReferenceException: Object reference not set to an instance of an object.
   at Contoso.Orders.Shipping.QuoteService.Quote(Cart cart) in /src/Orders/Shipping/QuoteService.cs:line 52
   at Contoso.Orders.Api.Controllers.CartController.Price() in /src/Orders.Api/Controllers/CartController.cs:line 41"""  # noqa: E501
JAVA_CAPTURE = """com.contoso.payments.psp.PspClientException: Capture request for payment {pay} timed out after 10000 ms
\tat com.contoso.payments.psp.PspClient.capture(PspClient.java:{line})
\tat com.contoso.payments.capture.CaptureService.lambda$capture$0(CaptureService.java:77)
\tat org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept(CglibAopProxy.java:704)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)
\t... 12 more"""  # noqa: E501
JAVA_REFUND = """com.contoso.payments.psp.PspClientException: Refund request for payment pay_x1 timed out after 10000 ms
\tat com.contoso.payments.psp.PspClient.refund(PspClient.java:201)
\tat com.contoso.payments.refunds.RefundService.refund(RefundService.java:40)
\tat java.base/java.lang.Thread.run(Thread.java:1583)"""  # noqa: E501
PYTHON_SKU = """Traceback (most recent call last):
  File "{root}/function_app.py", line {line}, in reserve_stock
    reservation = parse_reservation(msg.get_json())
  File "{root}/inventory/reservations.py", line 31, in parse_reservation
    sku = payload["sku"]
KeyError: '{key}'"""
PYTHON_PRICE = """Traceback (most recent call last):
  File "/home/site/wwwroot/function_app.py", line 57, in reserve_stock
    price = apply_discount(item)
  File "/home/site/wwwroot/inventory/pricing.py", line 12, in apply_discount
    return item["price"] * rate
KeyError: 'price'"""
NODE_TOTALS = """TypeError: Cannot read properties of undefined (reading 'total')
    at computeTotals ({root}/src/cart/totals.js:{line}:31)
    at Array.reduce (<anonymous>)
    at buildSummary ({root}/src/cart/summary.js:17:18)
    at async submitCheckout ({root}/src/routes/checkout.js:88:21)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)"""
NODE_ITEMS = """TypeError: Cannot read properties of undefined (reading 'items')
    at loadCart (/home/site/wwwroot/src/cart/store.js:9:12)
    at async submitCheckout (/home/site/wwwroot/src/routes/checkout.js:80:3)"""
GO_PRICE = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc={pc}]

goroutine {goroutine} [running]:
github.com/contoso/catalog/internal/pricing.(*Service).Price(0xc000128000, {{0xc0001a2000, 0x24}})
\t/app/internal/pricing/service.go:{line} +0x2a
github.com/contoso/catalog/internal/api.(*Handler).GetItem.func1(0xc0000a4000)
\t/app/internal/api/handler.go:57 +0x1d4
net/http.HandlerFunc.ServeHTTP(0xc000010000, {{0x7f8, 0xc0000b4000}}, 0xc0000a4000)
\t/usr/local/go/src/net/http/server.go:2136 +0x29"""
GO_FEED = """panic: runtime error: index out of range [3] with length 3

goroutine 7 [running]:
github.com/contoso/catalog/internal/feed.(*Indexer).Build(0xc000222000)
\t/app/internal/feed/indexer.go:120 +0x3b"""


def _dotnet(root: str, line: int, line2: int) -> LogRecord:
    stack = DOTNET_COUPON.format(root=root, line=line, line2=line2)
    return _record(stack.split("\n")[0], "System.NullReferenceException", stack)


def _java(pay: str, line: int) -> LogRecord:
    stack = JAVA_CAPTURE.format(pay=pay, line=line)
    return _record(stack.split("\n")[0], "com.contoso.payments.psp.PspClientException", stack)


def _python(root: str, line: int, key: str) -> LogRecord:
    stack = PYTHON_SKU.format(root=root, line=line, key=key)
    return _record(f"KeyError: '{key}'", "KeyError", stack, role="inventory-func")


def _node(root: str, line: int) -> LogRecord:
    message = NODE_TOTALS.format(root=root, line=line)
    return _record(message, role="checkout-web")


def _go(pc: str, goroutine: int, line: int) -> LogRecord:
    return _record(GO_PRICE.format(pc=pc, goroutine=goroutine, line=line), role="catalog-svc")


SAME_FAILURE = {
    "dotnet: release moved lines, other build root": (
        _dotnet("/src", 118, 41),
        _dotnet("/home/vsts/work/1/s/src", 131, 44),
    ),
    "java: other payment id and line": (_java("pay_p3hdcrw9spf5q5iw", 142), _java("pay_x7", 150)),
    "python: other line and install path": (
        _python("/home/site/wwwroot", 57, "sku"),
        _python("/opt/app", 60, "sku"),
    ),
    "node: trace inside a console message, other columns": (
        _node("/home/site/wwwroot", 42),
        _node("/var/app", 44),
    ),
    "go: other goroutine, addresses and line": (
        _go("0x6b8f2a", 42, 88),
        _go("0x7c9d11", 1337, 91),
    ),
    "message only: ids, e-mails, durations": (
        _record("Order 1042 not found for user ann@example.com after 30s", role=None),
        _record("Order 77 not found for user bob@contoso.org after 5s", role=None),
    ),
    "message only: urls, guids, ip:port, timestamps": (
        _record("GET https://api.contoso.com/v1/items?id=9 failed at 2026-11-20T00:01:02Z"),
        _record("GET https://api.contoso.com/v2/x?q=1 failed at 2026-11-21 10:00:00"),
    ),
    "proxy error line: one route, other ids and clients": (
        _nginx(
            "upstream timed out (110: Operation timed out)", "GET /api/tracking/3SC503 HTTP/2.0"
        ),
        _nginx(
            "upstream timed out (110: Operation timed out)",
            "GET /api/tracking/3SC999 HTTP/1.1",
            client="10.244.0.7",
        ),
    ),
    "access lines at info level: a route is a value of one template": (
        _access("GET /v2/54fadb41/servers/detail HTTP/1.1", 200),
        _access("GET /v2/e9746973/os-server-external-events HTTP/1.1", 200),
    ),
    "message only: lock owner and host": (
        _record("lock 3f2a9c1e-0000-4d8e-9f1e-2a7c1d9e8b10 held by 10.0.0.4:5432 (db-1.internal)"),
        _record("lock 9e2a9c1e-1111-4d8e-9f1e-2a7c1d9e8b10 held by 10.0.0.17:6432 (db-7.internal)"),
    ),
}

DIFFERENT_FAILURES = {
    "dotnet: same exception, other code path": (
        _dotnet("/src", 118, 41),
        _record("Object reference not set", "System.NullReferenceException", DOTNET_SHIPPING),
    ),
    "java: same exception type, other operation": (
        _java("pay_1", 142),
        _record(
            "Refund request for payment pay_x1 timed out after 10000 ms",
            "com.contoso.payments.psp.PspClientException",
            JAVA_REFUND,
        ),
    ),
    "python: same KeyError, other function": (
        _python("/home/site/wwwroot", 57, "sku"),
        _record("KeyError: 'price'", "KeyError", PYTHON_PRICE, role="inventory-func"),
    ),
    "node: same TypeError text shape, other property and frame": (
        _node("/home/site/wwwroot", 42),
        _record(NODE_ITEMS, role="checkout-web"),
    ),
    "go: another panic": (_go("0x6b8f2a", 42, 88), _record(GO_FEED, role="catalog-svc")),
    "message only: refused vs timed out": (
        _record("Connection to db-primary refused"),
        _record("Connection to db-primary timed out"),
    ),
    "proxy error line: one upstream error, other routes (one upstream per route)": (
        _nginx("upstream timed out (110: Operation timed out)", "GET /api/search?q=boots HTTP/2.0"),
        _nginx("upstream timed out (110: Operation timed out)", "GET /api/products/7 HTTP/2.0"),
    ),
    "proxy error line: one route, other upstream errors": (
        _nginx("connect() failed (111: Connection refused)", "POST /api/labels HTTP/2.0"),
        _nginx("upstream timed out (110: Operation timed out)", "POST /api/labels HTTP/2.0"),
    ),
    "message only: same text, other service": (
        _record("Payment provider returned 502", role="checkout-web"),
        _record("Payment provider returned 502", role="orders-api"),
    ),
}

KNOWN_MISGROUPINGS = {
    "one message, two root causes: the record alone cannot tell them apart": (
        _record("Capture failed for payment pay_p3hd (order BE-679743)", role="payments-worker"),
        _record("Capture failed for payment pay_6oax (order AT-260813)", role="payments-worker"),
    ),
    "host names are masked, so two dependencies of one service share a template": (
        _record("HTTP call to api.sendgrid.com POST /v3/mail/send failed with 401"),
        _record("HTTP call to payments.contoso-shop.com POST /v1/sessions failed with 502"),
    ),
}

KNOWN_SPLITS = {
    "an unmasked code (3 reasons) splits the stateless fingerprint; the merge step joins codes": (
        _record("Payment for order BE-807041 was declined permanently (reason: fraud_suspected)"),
        _record("Payment for order NL-695364 was declined permanently (reason: stolen_card)"),
    ),
}


@pytest.mark.parametrize(("first", "second"), SAME_FAILURE.values(), ids=SAME_FAILURE.keys())
def test_occurrences_of_one_failure_share_a_fingerprint(
    first: LogRecord, second: LogRecord
) -> None:
    assert fingerprint("d", first).value == fingerprint("d", second).value


@pytest.mark.parametrize(
    ("first", "second"), DIFFERENT_FAILURES.values(), ids=DIFFERENT_FAILURES.keys()
)
def test_different_root_causes_get_different_fingerprints(
    first: LogRecord, second: LogRecord
) -> None:
    assert fingerprint("d", first).value != fingerprint("d", second).value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(*pair, marks=pytest.mark.xfail(reason=why, strict=True), id=why)
        for why, pair in KNOWN_MISGROUPINGS.items()
    ],
)
def test_known_misgroupings(first: LogRecord, second: LogRecord) -> None:
    assert fingerprint("d", first).value != fingerprint("d", second).value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(*pair, marks=pytest.mark.xfail(reason=why, strict=True), id=why)
        for why, pair in KNOWN_SPLITS.items()
    ],
)
def test_known_splits_of_the_stateless_fingerprint(first: LogRecord, second: LogRecord) -> None:
    assert fingerprint("d", first).value == fingerprint("d", second).value


def test_components_say_what_counted_and_why() -> None:
    print_ = fingerprint("d", _java("pay_1", 142))
    parts = {c.name: c for c in print_.components}
    assert parts["exception_type"].value == "com.contoso.payments.psp.PspClientException"
    assert parts["frames"].value == (
        "com.contoso.payments.psp.PspClient.capture | "
        "com.contoso.payments.capture.CaptureService.capture"
    ), "the culprit, and where the code path began"
    assert "library frames ignored" in parts["frames"].hint
    assert print_.basis == "stack"
    assert print_.culprit == "com.contoso.payments.psp.PspClient.capture"
    assert print_.title.startswith("PspClientException in PspClient.capture: Capture request")
    assert parts["message"].value == "Capture request for payment <*> timed out after <*>"
    assert print_.mergeable, "message variants of one stack merge online"
    assert fingerprint("d", _record("Order 1 not found")).mergeable


def test_value_is_a_short_hex_partition_key_and_versioned() -> None:
    print_ = fingerprint("d", _record("x"))
    assert len(print_.value) == 32 and int(print_.value, 16) >= 0
    assert print_.version == FINGERPRINT_VERSION == 3


def test_message_template_names_the_masks() -> None:
    assert message_template("Invalid user bob from 10.0.0.1 port 22\nmore") == (
        "Invalid user <user> from <ip> port <int>"
    )


_TEMPLATES = (
    "Order {} not found for tenant {}",
    "Timeout talking to {} after {} while reserving {}",
    "Cannot open {} for job {}: permission denied",
)
_VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.integers(0, 2**64).map(lambda x: f"0x{x:x}"),
    st.uuids().map(str),
    st.ip_addresses(v=4).map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}@[a-z]{2,8}\.(com|org|net)", fullmatch=True),
    st.from_regex(
        r"https://[a-z]{2,8}\.(com|io)/[a-z0-9/]{0,20}(\?[a-z]=[0-9]{1,4})?", fullmatch=True
    ),
    st.from_regex(r"/(var|srv|home)/[a-z0-9_]{1,8}/[a-z0-9_.]{1,12}", fullmatch=True),
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.isoformat()),
    st.integers(1, 10**6).flatmap(lambda n: st.sampled_from([f"{n}ms", f"{n}s", f"{n}MB"])),
    st.from_regex(r"[a-z]{2,6}_[a-z0-9]{0,6}[0-9][a-z0-9]{0,6}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(
    template=st.sampled_from(_TEMPLATES),
    first=st.lists(_VALUES, min_size=3, max_size=3),
    second=st.lists(_VALUES, min_size=3, max_size=3),
)
def test_substituting_any_masked_value_leaves_the_fingerprint_unchanged(
    template: str, first: list[str], second: list[str]
) -> None:
    a = fingerprint("d", _record(template.format(*first)))
    b = fingerprint("d", _record(template.format(*second)))
    assert a.value == b.value


_PROBE = """
import json, sys
from datetime import UTC, datetime
from detection.fingerprint import fingerprint
from detection.records import LogRecord
cases = json.loads(sys.stdin.read())
out = [fingerprint("d", LogRecord("T", "r", datetime(2026, 1, 1, tzinfo=UTC), None, m,
       exception_type=t, stack_trace=s, role=r, level=l)).value for m, t, s, r, l in cases]
print(json.dumps(out))
"""


def test_fingerprints_are_the_same_in_other_processes_and_hash_seeds() -> None:
    records = [r for pair in SAME_FAILURE.values() for r in pair]
    cases = [[r.message, r.exception_type, r.stack_trace, r.role, r.level] for r in records]
    here = [fingerprint("d", r).value for r in records]
    for seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
        )
        assert json.loads(result.stdout) == here


def test_golden_fingerprint_changes_only_with_the_version() -> None:
    """If this fails, the algorithm changed: bump FINGERPRINT_VERSION and write the changelog."""
    assert fingerprint("payments", _java("pay_1", 142)).value == GOLDEN_JAVA
    assert fingerprint("orders", _record("Order 1042 not found")).value == GOLDEN_MESSAGE


GOLDEN_JAVA = "a612252da8cf5b4c3a1e36b9a51d9c34"
GOLDEN_MESSAGE = "0b9ad7cb1ee74c6c116b93001f01029a"
