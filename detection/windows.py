"""Window arithmetic for incremental polling on ingestion time.

A table's checkpoint is the ingestion time up to which every record has been queued for
detection. Each tick queries [checkpoint, now - ingestion_delay) on `ingestion_time()`, so a
record that arrives late still falls into a later window; TimeGenerated is only bounded (by the
source's lookback) to keep the query cheap. Slices never exceed the source's max window, and a
slice that returns too much is halved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MIN_SLICE = timedelta(seconds=1)
FUTURE_SKEW = timedelta(minutes=15)
"""How far a producer's clock may run ahead: TimeGenerated may exceed ingestion time by this."""


@dataclass(frozen=True, order=True)
class QueryWindow:
    """A half-open ingestion-time interval [start, end) and the TimeGenerated range around it."""

    start: datetime
    end: datetime
    lookback: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} >= {self.end.isoformat()}")

    @property
    def time_generated_from(self) -> datetime:
        return self.start - self.lookback

    @property
    def time_generated_to(self) -> datetime:
        return self.end + FUTURE_SKEW

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[QueryWindow, QueryWindow] | None:
        """Two halves on whole seconds, or None when the window is too short to split."""
        if self.duration < 2 * MIN_SLICE:
            return None
        seconds = int(self.duration.total_seconds()) // 2
        middle = self.start + timedelta(seconds=seconds)
        return (
            QueryWindow(self.start, middle, self.lookback),
            QueryWindow(middle, self.end, self.lookback),
        )


def floor_to_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def due_range(
    checkpoint: datetime | None,
    now: datetime,
    ingestion_delay: timedelta,
    initial_backfill: timedelta,
) -> tuple[datetime, datetime] | None:
    """The ingestion-time range not yet queued: from the checkpoint to now minus the delay."""
    end = floor_to_second(now - ingestion_delay)
    start = checkpoint if checkpoint is not None else end - initial_backfill
    return (start, end) if start < end else None


def slice_range(
    start: datetime,
    end: datetime,
    max_window: timedelta,
    lookback: timedelta,
    max_slices: int,
) -> list[QueryWindow]:
    """Consecutive windows covering [start, end), each at most max_window, at most max_slices.

    A caller that gets fewer slices than the range needs advances its checkpoint only to the
    end of the last one and catches up on the next tick.
    """
    windows: list[QueryWindow] = []
    cursor = start
    while cursor < end and len(windows) < max_slices:
        slice_end = min(cursor + max_window, end)
        windows.append(QueryWindow(cursor, slice_end, lookback))
        cursor = slice_end
    return windows


def job_id(source: str, table: str, window: QueryWindow) -> str:
    """Deterministic id of a query job, so a repeated tick or replay names the same job."""
    key = f"{source}|{table}|{window.start.isoformat()}|{window.end.isoformat()}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
