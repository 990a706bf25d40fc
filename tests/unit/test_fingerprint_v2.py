"""Fingerprint version 2 stays what version 2 deployments stored: golden values, pinned when
version 2 was current. A failure here means the frozen copy changed, and an upgrade would no
longer find the issues version 2 made."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detection.fingerprint_v2.fingerprint import fingerprint
from detection.records import LogRecord
from detection.rules import FieldPath

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, tzinfo=UTC)

DOTNET = """System.NullReferenceException: Object reference not set to an instance of an object.
   at Contoso.Orders.Pricing.CouponService+<ApplyAsync>d__7.MoveNext() in /src/Orders/Pricing/CouponService.cs:line 118
   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)
   at Contoso.Orders.Api.Controllers.CartController.<>c__DisplayClass4_0.<Price>b__0(Item i) in /src/Orders.Api/Controllers/CartController.cs:line 41"""  # noqa: E501
JAVA = """com.contoso.payments.psp.PspClientException: Capture request for payment pay_1 timed out after 10000 ms
\tat com.contoso.payments.psp.PspClient.capture(PspClient.java:142)
\tat com.contoso.payments.capture.CaptureService.lambda$capture$0(CaptureService.java:77)
\tat org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept(CglibAopProxy.java:704)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
Caused by: java.net.SocketTimeoutException: Read timed out
\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)
\t... 12 more"""  # noqa: E501
PYTHON = """Traceback (most recent call last):
  File "/home/site/wwwroot/function_app.py", line 57, in reserve_stock
    reservation = parse_reservation(msg.get_json())
  File "/home/site/wwwroot/inventory/reservations.py", line 31, in parse_reservation
    sku = payload["sku"]
KeyError: 'sku'"""
NODE = """TypeError: Cannot read properties of undefined (reading 'total')
    at computeTotals (/home/site/wwwroot/src/cart/totals.js:42:31)
    at Array.reduce (<anonymous>)
    at buildSummary (/home/site/wwwroot/src/cart/summary.js:17:18)
    at async submitCheckout (/home/site/wwwroot/src/routes/checkout.js:88:21)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)"""
GO = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1]

goroutine 7 [running]:
github.com/contoso/catalog/internal/pricing.(*Service).Price(0xc000128000, {0xc0001a2000, 0x24})
\t/app/internal/pricing/service.go:88 +0x2a
github.com/contoso/catalog/internal/api.(*Handler).GetItem.func1(0xc0000a4000)
\t/app/internal/api/handler.go:57 +0x1d4
net/http.HandlerFunc.ServeHTTP(0xc000010000, {0x7f8, 0xc0000b4000}, 0xc0000a4000)
\t/usr/local/go/src/net/http/server.go:2136 +0x29"""


def _record(
    table: str,
    message: str,
    exception_type: str | None = None,
    stack: str | None = None,
    role: str | None = None,
) -> LogRecord:
    return LogRecord(
        table=table,
        record_id="r",
        time_generated=T0,
        ingested_at=None,
        message=message,
        exception_type=exception_type,
        stack_trace=stack,
        role=role,
        fields={"Message": message, "ServiceName": "orders-processor"},
    )


GOLDEN = {
    "dotnet": (
        "unhandled-exception",
        _record(
            "AppExceptions",
            "Object reference not set to an instance of an object.",
            "System.NullReferenceException",
            DOTNET,
            "orders-api",
        ),
        "61a6c7e3a2ea27e2c0aab5b2a155102f",
    ),
    "java": (
        "unhandled-exception",
        _record(
            "AppExceptions",
            "Capture request for payment pay_1 timed out after 10000 ms",
            "com.contoso.payments.psp.PspClientException",
            JAVA,
            "payments-worker",
        ),
        "2260f53c7117b510d78159b60fa8a62b",
    ),
    "python": (
        "function-error",
        _record("FunctionAppLogs", "KeyError: 'sku'", "KeyError", PYTHON, "inventory-func"),
        "4d2abca699e7399cf1db40699f94cb60",
    ),
    "node trace in a console message": (
        "console-error",
        _record("AppServiceConsoleLogs", NODE, role="CHECKOUT-WEB"),
        "4eef45bf4188258d81788711e18c1ee8",
    ),
    "go panic in a container line": (
        "container-error",
        _record("ContainerLogV2", GO, role="catalog-svc"),
        "c0a71e5078aa08ba12f05e27cb5c5771",
    ),
    "message template": (
        "error-trace",
        _record(
            "AppTraces",
            "Pricing failed for cart cart_d219bef1460f with coupon WELCOME10",
            role="orders-api",
        ),
        "5b0285e6d6387df22ce52e646e105828",
    ),
    "request": (
        "failed-request",
        _record("AppRequests", "POST Orders/Create failed with 500", role="orders-api"),
        "2b8308027ae18de8771a1efe1ec0561a",
    ),
}


@pytest.mark.parametrize(("definition", "record", "value"), GOLDEN.values(), ids=GOLDEN.keys())
def test_version_2_values_do_not_change(definition: str, record: LogRecord, value: str) -> None:
    assert fingerprint(definition, record).value == value


def test_version_2_pinned_fields_do_not_change() -> None:
    record = _record("OrdersService_CL", "Payment for order BE-1 declined")
    pinned = fingerprint("order-processing-failure", record, [FieldPath.parse("ServiceName")])
    assert pinned.value == "ce2a9af4749108718b7a1052209d448d"
