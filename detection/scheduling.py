"""Business hours: when the workflow may assign an issue, with time passed in."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from detection.rules import BusinessHours

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
