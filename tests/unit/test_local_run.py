"""The local run fires the app's daily timers when the simulated clock passes them."""

from datetime import UTC, datetime

import pytest

from local_host.run import _next_daily

pytestmark = pytest.mark.unit

NIGHT = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)


def test_a_daily_schedule_fires_next_at_its_time_today_or_tomorrow() -> None:
    assert _next_daily("0 30 3 * * *", NIGHT) == NIGHT.replace(hour=3, minute=30)
    assert _next_daily("0 0 0 * * *", NIGHT) == datetime(2026, 11, 21, tzinfo=UTC)


def test_a_schedule_that_is_not_once_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="not a once-a-day schedule"):
        _next_daily("0 */5 * * * *", NIGHT)
