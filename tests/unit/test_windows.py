"""Window arithmetic: nothing skipped, nothing overlapping, deterministic job ids."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.windows import QueryWindow, due_range, job_id, slice_range

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_first_run_backfills_and_ends_before_the_ingestion_delay() -> None:
    now = T0 + timedelta(hours=3, seconds=7, microseconds=5)
    start, end = due_range(None, now, timedelta(minutes=2), timedelta(hours=1))
    assert end == T0 + timedelta(hours=2, minutes=58, seconds=7)
    assert start == end - timedelta(hours=1)


def test_next_run_starts_at_the_checkpoint_and_nothing_is_due_before_the_delay() -> None:
    checkpoint = T0 + timedelta(hours=1)
    assert (
        due_range(
            checkpoint, checkpoint + timedelta(minutes=1), timedelta(minutes=2), timedelta(hours=1)
        )
        is None
    )
    start, end = due_range(
        checkpoint, checkpoint + timedelta(minutes=7), timedelta(minutes=2), timedelta(hours=1)
    )
    assert (start, end) == (checkpoint, checkpoint + timedelta(minutes=5))


@given(
    span=st.integers(min_value=1, max_value=3 * 86400),
    max_window=st.integers(min_value=1, max_value=7200),
    limit=st.integers(min_value=1, max_value=50),
)
def test_slices_are_contiguous_bounded_and_cover_what_they_can(
    span: int, max_window: int, limit: int
) -> None:
    start, end = T0, T0 + timedelta(seconds=span)
    windows = slice_range(start, end, timedelta(seconds=max_window), timedelta(hours=1), limit)
    assert windows[0].start == start
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert all(w.duration <= timedelta(seconds=max_window) for w in windows)
    assert len(windows) <= limit
    if len(windows) < limit:
        assert windows[-1].end == end
    assert windows[-1].end <= end


@given(seconds=st.integers(min_value=2, max_value=86400))
def test_halves_split_exactly(seconds: int) -> None:
    window = QueryWindow(T0, T0 + timedelta(seconds=seconds))
    halves = window.halves()
    assert halves is not None
    left, right = halves
    assert left.start == window.start and left.end == right.start and right.end == window.end
    assert left.duration >= timedelta(seconds=1) and right.duration >= timedelta(seconds=1)


def test_a_one_second_window_cannot_be_halved() -> None:
    assert QueryWindow(T0, T0 + timedelta(seconds=1)).halves() is None


def test_windows_reject_empty_and_naive_bounds() -> None:
    with pytest.raises(ValueError, match="empty window"):
        QueryWindow(T0, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        QueryWindow(T0.replace(tzinfo=None), T0.replace(tzinfo=None) + timedelta(minutes=1))


def test_job_id_is_deterministic_and_distinguishes_windows() -> None:
    window = QueryWindow(T0, T0 + timedelta(minutes=15))
    assert job_id("prod", "AppRequests", window) == job_id("prod", "AppRequests", window)
    other = QueryWindow(T0, T0 + timedelta(minutes=14))
    assert (
        len(
            {
                job_id("prod", "AppRequests", window),
                job_id("prod", "AppRequests", other),
                job_id("prod", "AppTraces", window),
                job_id("dev", "AppRequests", window),
            }
        )
        == 4
    )


def test_time_generated_bounds_wrap_the_ingestion_window() -> None:
    window = QueryWindow(T0, T0 + timedelta(minutes=15), timedelta(hours=2))
    assert window.time_generated_from == T0 - timedelta(hours=2)
    assert window.time_generated_to > window.end
