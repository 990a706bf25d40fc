"""Business hours across time zones and routing of failures to repositories."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from detection.rules import BusinessHours, load_rules
from detection.scheduling import in_business_hours, next_business_start, route_failure

pytestmark = pytest.mark.unit

AMSTERDAM = BusinessHours(timezone="Europe/Amsterdam", start="08:00", end="18:00")
RULES = load_rules((Path(__file__).parents[2] / "faultline.yaml").read_text(), {})


@pytest.mark.parametrize(
    ("moment", "inside", "next_start"),
    [
        (
            datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
            True,
            datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 20, 6, 59, tzinfo=UTC),
            False,
            datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 20, 17, 0, tzinfo=UTC),
            False,
            datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            False,
            datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        ),
        (datetime(2026, 7, 1, 6, 30, tzinfo=UTC), True, datetime(2026, 7, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_business_hours_in_the_configured_zone(
    moment: datetime, inside: bool, next_start: datetime
) -> None:
    assert in_business_hours(moment, AMSTERDAM) is inside
    assert next_business_start(moment, AMSTERDAM) == next_start


def test_routes_pick_the_repository_labels_and_assignment() -> None:
    orders = route_failure(
        RULES,
        definition="order-processing-failure",
        table="OrdersService_CL",
        role=None,
        severity="critical",
        category="bug",
    )
    assert orders.repository == "contoso/orders"
    assert orders.labels == ("faultline", "severity:critical", "category:bug", "team:orders")
    other = route_failure(
        RULES,
        definition="failed-request",
        table="AppRequests",
        role="checkout-web",
        severity="high",
        category="bug",
    )
    assert other.repository == "contoso/shop" and other.assignment.kind == "copilot"
