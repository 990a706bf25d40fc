"""Sliding-window budgets ("N per hour"): the earliest slot at which one more reservation fits."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta


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
