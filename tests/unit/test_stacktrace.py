"""Stack traces of each runtime reduce to exception chains and in-app frames."""

from __future__ import annotations

import pytest

from detection.stacktrace import FrameRules, looks_like_trace, parse_chain, root_cause
from tests.unit.test_fingerprint import (
    DOTNET_COUPON,
    GO_PRICE,
    JAVA_CAPTURE,
    NODE_TOTALS,
    PYTHON_PRICE,
)

pytestmark = pytest.mark.unit

PYTHON_CHAINED = """Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/httpcore/_exceptions.py", line 14, in map_exceptions
    raise to_exc(exc) from exc
httpcore.ConnectError: [Errno 104] Connection reset by peer

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/shipping/api/labels.py", line 41, in create_label
    label = await carrier.create_label(shipment)
  File "/usr/local/lib/python3.12/site-packages/httpx/_client.py", line 1905, in post
httpx.ConnectError: [Errno 104] Connection reset by peer"""

CASES = {
    "dotnet": (
        DOTNET_COUPON.format(root="/src", line=1, line2=2),
        ["System.NullReferenceException"],
        [
            "Contoso.Orders.Pricing.CouponService.ApplyAsync",
            "Contoso.Orders.Api.Controllers.CartController.Price",
        ],
    ),
    "java": (
        JAVA_CAPTURE.format(pay="p", line=1),
        ["com.contoso.payments.psp.PspClientException", "java.net.SocketTimeoutException"],
        [
            "com.contoso.payments.psp.PspClient.capture",
            "com.contoso.payments.capture.CaptureService.capture",
        ],
    ),
    "python chained": (
        PYTHON_CHAINED,
        ["httpx.ConnectError", "httpcore.ConnectError"],
        ["shipping.api.labels.create_label"],
    ),
    "python": (
        PYTHON_PRICE,
        ["KeyError"],
        ["function_app.reserve_stock", "inventory.pricing.apply_discount"],
    ),
    "node": (
        NODE_TOTALS.format(root="/app", line=1),
        ["TypeError"],
        ["computeTotals", "buildSummary", "submitCheckout"],
    ),
    "go": (
        GO_PRICE.format(pc="0x1", goroutine=1, line=1),
        ["panic"],
        [
            "github.com/contoso/catalog/internal/pricing.(*Service).Price",
            "github.com/contoso/catalog/internal/api.(*Handler).GetItem",
        ],
    ),
}


@pytest.mark.parametrize(("trace", "types", "in_app"), CASES.values(), ids=CASES.keys())
def test_traces_reduce_to_types_and_in_app_frames(
    trace: str, types: list[str], in_app: list[str]
) -> None:
    chain = parse_chain(trace)
    assert [c.type for c in chain] == types
    assert [f.function for c in chain for f in c.frames if f.in_app] == in_app
    assert looks_like_trace(trace)


def test_root_cause_is_the_innermost_exception_with_in_app_frames() -> None:
    dotnet = DOTNET_COUPON.format(root="/src", line=1, line2=2) + (
        "\n ---> System.InvalidOperationException: inner\n"
        "   at Contoso.Orders.Pricing.Coupon.Discount(Decimal total) in /src/Coupon.cs:line 22"
    )
    cause = root_cause(parse_chain(dotnet))
    assert cause is not None and cause.type == "System.InvalidOperationException"
    java = root_cause(parse_chain(JAVA_CAPTURE.format(pay="p", line=1)))
    assert java is not None and java.type == "com.contoso.payments.psp.PspClientException"


def test_library_rules_are_configurable() -> None:
    rules = FrameRules(library_prefixes=("Contoso.Orders.Pricing.",), library_paths=())
    frames = parse_chain(DOTNET_COUPON.format(root="/src", line=1, line2=2), rules)[0].frames
    assert [f.function for f in frames if f.in_app] == [
        "System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess",
        "Contoso.Orders.Api.Controllers.CartController.Price",
    ]


def test_plain_messages_are_not_traces() -> None:
    assert not looks_like_trace("at noon the job failed")
    assert parse_chain(None) == []
