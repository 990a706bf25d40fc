"""Occurrences per hour: kept on each group's summary as it is counted, and read back as the
series the issue's chart draws."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

TALLY_HOURS = 8 * 24
"""A week of baseline for escalation (`detection.escalation`), the previous and the current hour,
and a margin for late records."""


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def tally_hours(
    tally: Mapping[datetime, int], times: Iterable[datetime], newest: datetime
) -> dict[datetime, int]:
    """Occurrences per hour with `times` added, kept for the `TALLY_HOURS` hours up to `newest`,
    so a body's chart and an escalation's baseline are read from one summary row instead of a
    query over every occurrence of the week."""
    oldest = _hour(newest) - timedelta(hours=TALLY_HOURS - 1)
    counts = {hour: count for hour, count in tally.items() if hour >= oldest}
    for moment in times:
        hour = _hour(moment)
        if hour >= oldest:
            counts[hour] = counts.get(hour, 0) + 1
    return counts


def hourly_counts(
    tally: Mapping[datetime, int], end: datetime, hours: int = 24
) -> list[tuple[datetime, int]]:
    """Occurrences per hour over the last `hours` hours ending at `end` (for the chart)."""
    top = _hour(end)
    return [
        (hour, tally.get(hour, 0))
        for hour in (top - timedelta(hours=h) for h in reversed(range(hours)))
    ]
