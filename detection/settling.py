"""When a failing operation's held symptoms may settle: on the data's clock, not the worker's.

Symptoms of an operation wait for its cause (`detection.correlation`). Waiting a fixed time on
the worker's clock made the root depend on job scheduling: when the cause's table was read late
(throttling, a slot wait, a retry), the symptoms settled first and a symptom became the issue.
Here the wait is on ingestion time instead. A cause ingested more than `correlation.wait` after
the operation's latest held row is a failure of its own (`joins_settled`), so once every table
that could hold the cause has been read past that bound, no cause can still join: the
operation settles, with the same root whatever order the jobs ran in.

Which tables could hold a cause: every table of the held rows' source that a failure
definition watches (the caller lists them). A cause may be an exception, an error line or a
dependency call, and which table writes which is the deployment's business, so no table of the
source is ruled out. Rows from a source that is not polled (an alert webhook) have no read
marks: `read_through` is empty, and the operation settles by the worker's clock, as it always
did, when it first falls due.

A table that is never read further (its jobs keep failing) must not hold issues back forever:
after `max_hold` on the worker's clock the operation settles anyway, marked `capped` so the
caller can say so loudly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Settle:
    """Settle now. `capped`: only because the hold reached `max_hold`; `waiting_on` names the
    tables not yet read past the bound (empty unless capped)."""

    capped: bool = False
    waiting_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recheck:
    """Not yet: look again at `at`. `waiting_on` names the tables not yet read past the bound."""

    at: datetime
    waiting_on: tuple[str, ...]


def cause_bound(latest_ingested: datetime, wait: timedelta) -> datetime:
    """The ingestion time through which a cause of the held rows may still arrive and join."""
    return latest_ingested + wait


def settle_decision(
    *,
    latest_ingested: datetime,
    wait: timedelta,
    read_through: Mapping[str, datetime | None],
    held_since: datetime,
    now: datetime,
    max_hold: timedelta,
    recheck: timedelta,
) -> Settle | Recheck:
    """Settle once every table in `read_through` is read through `cause_bound` (None: not read
    at all), or once the hold, started at `held_since` on the worker's clock, reached
    `max_hold`; else re-check after `recheck` (how often the tables are polled), never later
    than the cap."""
    bound = cause_bound(latest_ingested, wait)
    waiting = _behind(read_through, bound)
    if not waiting:
        return Settle()
    cap = held_since + max_hold
    if now >= cap:
        return Settle(capped=True, waiting_on=waiting)
    return Recheck(min(now + recheck, cap), waiting)


def _behind(read_through: Mapping[str, datetime | None], bound: datetime) -> tuple[str, ...]:
    return tuple(
        sorted(table for table, mark in read_through.items() if mark is None or mark < bound)
    )


def advance_read(
    read_through: datetime,
    ahead: Sequence[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
) -> tuple[datetime, tuple[tuple[datetime, datetime], ...]]:
    """A table's read mark after the window [start, end) was read.

    Jobs finish out of order (a throttled or split window finishes after later ones), so the
    mark moves only over windows that join it without a gap; windows read beyond a gap wait in
    `ahead`, merged into disjoint spans (so it stays as short as the number of gaps), until the
    gap is read."""
    spans = sorted([*ahead, (start, end)])
    merged: list[tuple[datetime, datetime]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    mark = read_through
    rest: list[tuple[datetime, datetime]] = []
    for low, high in merged:
        if low <= mark:
            mark = max(mark, high)
        else:
            rest.append((low, high))
    return mark, tuple(rest)
