"""Business hours across time zones, routing of failures to repositories, budget slots."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.budget import earliest_slot
from detection.routing import route_failure
from detection.rules import BusinessHours, load_rules
from detection.scheduling import in_business_hours, next_business_start

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


HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _fits_brute_force(taken: list[datetime], moment: datetime, limit: int) -> bool:
    """Every hour-long window [x, x + 1h) holding `moment`, checked minute by minute."""
    for offset in range(60):
        start = moment - timedelta(minutes=offset)
        if sum(start <= t < start + HOUR for t in taken) + 1 > limit:
            return False
    return True


def test_an_open_budget_grants_the_slot_now() -> None:
    taken = [T0 - timedelta(minutes=50), T0 - timedelta(minutes=10)]
    assert earliest_slot(taken, 3, T0, HOUR) == T0


def test_a_full_budget_grants_the_moment_the_oldest_reservation_leaves_the_hour() -> None:
    taken = [T0 - timedelta(minutes=50), T0 - timedelta(minutes=10)]
    assert earliest_slot(taken, 2, T0, HOUR) == T0 + timedelta(minutes=10)


def test_waiting_failures_queue_up_behind_future_slots() -> None:
    taken: list[datetime] = [T0 - timedelta(minutes=30)]
    slots = []
    for _ in range(4):
        slot = earliest_slot(taken, 1, T0, HOUR)
        slots.append(slot)
        taken.append(slot)
    assert slots == [T0 + timedelta(minutes=30 + 60 * n) for n in range(4)]


@given(
    offsets=st.lists(st.integers(min_value=-90, max_value=240), max_size=25),
    limit=st.integers(min_value=1, max_value=6),
    not_before=st.integers(min_value=0, max_value=120),
)
def test_the_slot_keeps_every_hour_within_budget_and_none_earlier_would(
    offsets: list[int], limit: int, not_before: int
) -> None:
    taken = [T0 + timedelta(minutes=m) for m in offsets]
    start = T0 + timedelta(minutes=not_before)
    slot = earliest_slot(taken, limit, start, HOUR)
    assert slot >= start
    assert _fits_brute_force(taken, slot, limit)
    earlier = start
    while earlier < slot:
        assert not _fits_brute_force(taken, earlier, limit)
        earlier += timedelta(minutes=1)
