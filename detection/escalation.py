"""Escalation: a failure whose hourly rate jumps well above its own normal.

The rate is the larger of the current and the previous hour's count (so an escalation is not
lost, nor ended, at the top of an hour); the baseline is the median hourly count over the
configured period before the previous hour, hours without occurrences counted as 0 and hours
before the failure was first seen left out. A failure escalates when its rate is at least
`min_count` and more than `factor` times its baseline, and calms when it no longer is. A failure
seen for less than `MIN_HISTORY` has no normal to compare with and does not escalate (its issue
is new anyway).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from detection.rules import Escalation

ESCALATING_LABEL = "faultline:escalating"
MIN_HISTORY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rate:
    """A failure's hourly rate against its baseline, and whether that is an escalation."""

    current: int
    baseline: float
    escalating: bool

    def describe(self, factor: float) -> str:
        return (
            f"{self.current} occurrence(s) an hour against a baseline of {self.baseline:g} an "
            f"hour (the median of its hourly counts; the threshold is {factor:g} times it)"
        )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hourly_rate(
    hourly: Mapping[datetime, int], first_seen: datetime, now: datetime, rules: Escalation
) -> Rate | None:
    """The failure's rate now against its baseline; None when escalation is off or the failure
    is too new to have a baseline."""
    if rules.factor is None or now - first_seen < MIN_HISTORY:
        return None
    current_hour = _hour(now)
    current = max(hourly.get(current_hour, 0), hourly.get(current_hour - HOUR, 0))
    start = max(current_hour - HOUR - rules.baseline, _hour(first_seen))
    hours = int((current_hour - HOUR - start) / HOUR)
    counts = [hourly.get(start + HOUR * h, 0) for h in range(hours)]
    if not counts:
        return None
    baseline = float(statistics.median(counts))
    escalating = current >= rules.min_count and current > rules.factor * baseline
    return Rate(current, baseline, escalating)
