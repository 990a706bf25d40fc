"""The quiet-period decision (`detection.lifecycle.quiet_close_due`) as properties over any
issue GitHub can show and any moments: only active issues people have not asked to keep open
close, exactly once their failure has been quiet for the period, and never while it is off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.lifecycle import interpret, quiet_close_comment, quiet_close_due

pytestmark = pytest.mark.unit

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
periods = st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=400))
states = st.sampled_from(["open", "closed"])
reasons = st.sampled_from([None, "completed", "not_planned", "duplicate", "reopened"])
labels = st.lists(
    st.sampled_from(
        [
            "faultline",
            "bug",
            "faultline:mute",
            "faultline:keep-open",
            "faultline:mute-until:2027-01-01",
        ]
    ),
    max_size=3,
)


@given(states, reasons, labels, moments, moments, periods)
def test_only_an_active_issue_not_kept_open_closes_once_quiet_for_the_period(
    state: str,
    reason: str | None,
    names: list[str],
    last_seen: datetime,
    now: datetime,
    quiet: timedelta,
) -> None:
    steering = interpret(state, reason, names)
    due = quiet_close_due(steering, last_seen, now, quiet)
    assert due == (
        state == "open"
        and "faultline:keep-open" not in names
        and not any(n.startswith("faultline:mute") for n in names)
        and now - last_seen >= quiet
    )


@given(
    labels, moments, periods, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
)
def test_once_due_it_stays_due_as_time_passes(
    names: list[str], last_seen: datetime, quiet: timedelta, later: timedelta
) -> None:
    steering = interpret("open", None, names)
    if quiet_close_due(steering, last_seen, last_seen + quiet, quiet):
        assert quiet_close_due(steering, last_seen, last_seen + quiet + later, quiet)
    assert not quiet_close_due(steering, last_seen, last_seen + quiet - timedelta(seconds=1), quiet)


@given(states, reasons, labels, moments, moments)
def test_off_never_closes(
    state: str, reason: str | None, names: list[str], last_seen: datetime, now: datetime
) -> None:
    assert not quiet_close_due(interpret(state, reason, names), last_seen, now, None)


@pytest.mark.parametrize(
    ("quiet", "said"),
    [
        (timedelta(days=14), "14 day(s)"),
        (timedelta(hours=36), "1.5 day(s)"),
        (timedelta(hours=6), "6 hour(s)"),
    ],
)
def test_the_comment_says_how_long_since_when_and_how_to_keep_an_issue_open(
    quiet: timedelta, said: str
) -> None:
    text = quiet_close_comment(datetime(2026, 11, 20, 9, 30, tzinfo=UTC), quiet)
    assert f"has not recurred for {said}" in text
    assert "2026-11-20 09:30:00 UTC" in text and "`faultline:keep-open`" in text
