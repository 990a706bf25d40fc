"""When held symptoms may settle: on the tables' read marks (ingestion time), whatever order the
jobs ran in, with a hard cap on the worker's clock; and how a read mark moves over windows
that finish out of order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.rules import Correlation
from detection.settling import Recheck, Settle, advance_read, cause_bound, settle_decision

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
WAIT = timedelta(minutes=30)
MAX_HOLD = timedelta(hours=4)
RECHECK = timedelta(minutes=5)
INGESTED = T0 + timedelta(minutes=2)
BOUND = INGESTED + WAIT


def _decide(marks: dict[str, datetime | None], now: datetime, since: datetime = T0):
    return settle_decision(
        latest_ingested=INGESTED,
        wait=WAIT,
        read_through=marks,
        held_since=since,
        now=now,
        max_hold=MAX_HOLD,
        recheck=RECHECK,
    )


@pytest.mark.parametrize(
    ("marks", "now", "expected"),
    [
        pytest.param(
            {"p/AppRequests": BOUND, "p/AppExceptions": BOUND},
            T0 + WAIT,
            Settle(),
            id="every table read through the bound",
        ),
        pytest.param(
            {"p/AppRequests": BOUND, "p/AppExceptions": BOUND - timedelta(seconds=1)},
            T0 + WAIT,
            Recheck(T0 + WAIT + RECHECK, ("p/AppExceptions",)),
            id="the cause's table lags: look again after a poll",
        ),
        pytest.param(
            {"p/AppRequests": BOUND, "p/AppExceptions": None},
            T0 + WAIT,
            Recheck(T0 + WAIT + RECHECK, ("p/AppExceptions",)),
            id="a table never read holds it too",
        ),
        pytest.param(
            {"p/AppExceptions": T0},
            T0 + MAX_HOLD - timedelta(minutes=2),
            Recheck(T0 + MAX_HOLD, ("p/AppExceptions",)),
            id="the recheck is never after the cap",
        ),
        pytest.param(
            {"p/AppExceptions": T0},
            T0 + MAX_HOLD,
            Settle(capped=True, waiting_on=("p/AppExceptions",)),
            id="at the cap it settles, saying which table it did not wait for",
        ),
        pytest.param({}, T0 + WAIT, Settle(), id="no polled table (a webhook): the clock decides"),
    ],
)
def test_held_symptoms_settle_when_no_cause_can_still_arrive(marks, now, expected) -> None:
    assert _decide(marks, now) == expected


moments = st.integers(min_value=0, max_value=600).map(lambda m: T0 + timedelta(minutes=m))
marks = st.dictionaries(
    st.sampled_from(["p/AppExceptions", "p/AppRequests", "p/AppTraces", "p/AppDependencies"]),
    st.none() | moments,
    max_size=4,
)


@given(marks=marks, now=moments, since=moments)
def test_it_never_settles_before_every_table_passed_the_bound_unless_capped(
    marks, now, since
) -> None:
    decision = _decide(marks, now, since)
    passed = all(m is not None and m >= cause_bound(INGESTED, WAIT) for m in marks.values())
    if isinstance(decision, Settle):
        assert passed or (decision.capped and now >= since + MAX_HOLD)
    else:
        assert not passed and now < decision.at <= since + MAX_HOLD


@given(marks=marks, now=moments, since=moments, table=st.sampled_from(["p/AppExceptions"]))
def test_reading_further_never_turns_a_settle_into_a_wait(marks, now, since, table) -> None:
    later = {**marks, table: (marks.get(table) or T0) + timedelta(minutes=45)}
    if isinstance(_decide(marks, now, since), Settle) and table in marks:
        assert isinstance(_decide(later, now, since), Settle)


def test_the_read_mark_moves_only_over_windows_read_without_a_gap() -> None:
    minute = timedelta(minutes=1)
    mark, ahead = advance_read(T0, (), T0 + 5 * minute, T0 + 10 * minute)
    assert (mark, ahead) == (T0, ((T0 + 5 * minute, T0 + 10 * minute),)), "a gap: wait"
    mark, ahead = advance_read(mark, ahead, T0 + 10 * minute, T0 + 15 * minute)
    assert (mark, ahead) == (T0, ((T0 + 5 * minute, T0 + 15 * minute),)), "spans merge"
    mark, ahead = advance_read(mark, ahead, T0, T0 + 5 * minute)
    assert (mark, ahead) == (T0 + 15 * minute, ()), "the gap is read: the mark jumps"
    assert advance_read(mark, ahead, T0, T0 + 5 * minute) == (mark, ()), "a replay moves nothing"


@given(order=st.permutations(list(range(12))))
def test_any_order_of_finishing_reaches_the_same_mark(order) -> None:
    step = timedelta(minutes=5)
    mark, ahead = T0, ()
    for index in order:
        mark, ahead = advance_read(mark, ahead, T0 + index * step, T0 + (index + 1) * step)
    assert (mark, ahead) == (T0 + 12 * step, ())


def test_the_hold_must_outlast_the_wait() -> None:
    with pytest.raises(ValueError, match="max_hold"):
        Correlation(wait=timedelta(hours=1), max_hold=timedelta(minutes=45))
