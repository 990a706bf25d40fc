"""Business hours and issue routing: pure decisions the workflow takes with time passed in."""

from __future__ import annotations

import bisect
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from detection.conditions import matches
from detection.rules import Assignment, BusinessHours, Rules

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_business_hours(moment: datetime, hours: BusinessHours) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(hours.timezone))
    return _WEEKDAYS[local.weekday()] in hours.days and hours.start <= local.time() < hours.end


def next_business_start(moment: datetime, hours: BusinessHours) -> datetime:
    """The next moment (at or after `moment`) inside business hours, as an aware UTC datetime."""
    if in_business_hours(moment, hours):
        return moment
    zone = zoneinfo.ZoneInfo(hours.timezone)
    local = moment.astimezone(zone)
    for days_ahead in range(8):
        day = (local + timedelta(days=days_ahead)).date()
        start = datetime.combine(day, hours.start, tzinfo=zone)
        if _WEEKDAYS[day.weekday()] in hours.days and start >= local:
            return start.astimezone(moment.tzinfo)
    raise ValueError("business hours name no day of the week")


@dataclass(frozen=True)
class IssueRoute:
    """Where a failure's issue goes and who gets it."""

    repository: str
    labels: tuple[str, ...]
    assignment: Assignment


def route_failure(
    rules: Rules,
    *,
    definition: str,
    table: str,
    role: str | None,
    severity: str,
    category: str,
    fields: dict[str, object] | None = None,
) -> IssueRoute:
    """The first route whose every `when_*` matches, else the default repository."""
    labels = [
        *rules.labels.always,
        f"{rules.labels.severity_prefix}{severity}",
        f"{rules.labels.category_prefix}{category}",
    ]
    for route in rules.routing.routes:
        if route.when_definitions and definition not in route.when_definitions:
            continue
        if route.when_tables and table not in route.when_tables:
            continue
        if route.when_roles and role not in route.when_roles:
            continue
        if route.when is not None and not matches(route.when, fields or {}):
            continue
        return IssueRoute(
            route.repository,
            tuple(dict.fromkeys([*labels, *route.labels])),
            route.assignment or rules.assignment.default,
        )
    return IssueRoute(
        rules.routing.default_repository, tuple(dict.fromkeys(labels)), rules.assignment.default
    )


def earliest_slot(
    taken: Sequence[datetime], limit: int, not_before: datetime, span: timedelta
) -> datetime:
    """The earliest moment at or after `not_before` at which one more reservation keeps every
    `span`-long stretch of time holding at most `limit` of them.

    A budget of "N per hour" is a sliding window, and slots already handed out may lie in the
    future (failures waiting their turn), so the answer is either `not_before` or the moment an
    earlier reservation leaves the window.
    """
    if limit < 1:
        raise ValueError("a budget needs room for at least one reservation")
    times = sorted(taken)
    candidates = sorted({not_before, *(t + span for t in times if t + span > not_before)})
    for candidate in candidates:
        if _fits(times, candidate, limit, span):
            return candidate
    raise AssertionError("the last candidate is past every reservation's window, so it fits")


def _fits(times: list[datetime], candidate: datetime, limit: int, span: timedelta) -> bool:
    """Whether every window [start, start + span) holding `candidate` keeps room for it; the
    fullest such window starts at a reservation or at the candidate itself."""
    starts = [t for t in times if candidate - span < t <= candidate] + [candidate]
    for start in starts:
        inside = bisect.bisect_left(times, start + span) - bisect.bisect_left(times, start)
        if inside + 1 > limit:
            return False
    return True
