"""The local run's progress: the fraction of the simulated span covered and the wall time left,
drawn as a bar on a terminal and as a plain line per tenth of the span in a CI log."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest

from local_host.progress import Estimate, Progress, duration, estimate

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=10)


@pytest.mark.parametrize(
    ("now", "elapsed", "expected"),
    [
        (START, 3.0, Estimate(0.0, 3.0, None)),  # nothing covered yet: no pace to go by
        (START + timedelta(hours=2, minutes=30), 10.0, Estimate(0.25, 10.0, 30.0)),
        (START + timedelta(hours=8), 40.0, Estimate(0.8, 40.0, 10.0)),
        (END, 50.0, Estimate(1.0, 50.0, 0.0)),
        (END + timedelta(minutes=15), 52.0, Estimate(1.0, 52.0, 0.0)),  # the last tick overshoots
        (START - timedelta(minutes=5), 1.0, Estimate(0.0, 1.0, None)),
    ],
    ids=["start", "quarter", "four-fifths", "end", "past-the-end", "before-the-start"],
)
def test_the_estimate_is_the_rest_of_the_span_at_the_pace_so_far(
    now: datetime, elapsed: float, expected: Estimate
) -> None:
    got = estimate(START, END, now, elapsed)
    assert got.fraction == pytest.approx(expected.fraction)
    assert got.elapsed == expected.elapsed
    if expected.remaining is None:
        assert got.remaining is None
    else:
        assert got.remaining == pytest.approx(expected.remaining)


def test_a_phase_with_nothing_to_cover_is_done() -> None:
    assert estimate(START, START, START, 0.5) == Estimate(1.0, 0.5, 0.0)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "0 s"),
        (44.6, "45 s"),
        (125, "2 min 05 s"),
        (3599.6, "1 h 00 min"),
        (3720, "1 h 02 min"),
    ],
)
def test_wall_time_is_said_as_a_person_says_it(seconds: float, said: str) -> None:
    assert duration(seconds) == said


class Wall:
    """A wall clock the test moves: two seconds of wall time per simulated half hour."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def __call__(self) -> float:
        return self.seconds


def _replay(progress: Progress, wall: Wall, end: datetime = END) -> None:
    progress.start("replay", START, end)
    moment = START
    while moment <= end:
        wall.seconds += 2
        progress.update(moment, "3 query jobs")
        moment += timedelta(minutes=30)
    progress.finish("60 query jobs")


def test_without_a_terminal_each_tenth_of_the_span_is_one_plain_line() -> None:
    out, wall = io.StringIO(), Wall()
    with Progress(out, tty=False, wall=wall) as progress:
        _replay(progress, wall)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in lines] == [
        *(f"{tenth}0%" for tenth in range(1, 10)),
        "100%",
    ]
    assert lines[0] == (
        "  replay    10%  about 54 s left, 6 s so far, simulated Fri 01:00 UTC; 3 query jobs"
    )
    assert lines[4] == (
        "  replay    50%  about 22 s left, 22 s so far, simulated Fri 05:00 UTC; 3 query jobs"
    )
    assert lines[-1] == "  replay   100%  done in 42 s; 60 query jobs"


def test_a_phase_that_covers_its_span_in_a_moment_prints_only_its_end() -> None:
    """The settling often jumps from timer to timer through hours in a second."""
    out, wall = io.StringIO(), Wall()
    with Progress(out, tty=False, wall=wall) as progress:
        progress.start("settling", START, END)
        for hour in range(11):
            wall.seconds += 0.1
            progress.update(START + timedelta(hours=hour), "waiting")
        progress.finish("every workflow finished")
    assert out.getvalue().splitlines() == [
        "  settling  10%  about 2 s left, 0 s so far, simulated Fri 01:00 UTC; waiting",
        "  settling 100%  done in 1 s; every workflow finished",
    ]


def test_settling_whose_horizon_moves_on_keeps_its_lines_in_order() -> None:
    """A workflow that sets a later timer pushes the settling's end out: the fraction falls
    back, and no line repeats a tenth already printed."""
    out, wall = io.StringIO(), Wall()
    with Progress(out, tty=False, wall=wall) as progress:
        progress.start("settling", START, START + timedelta(hours=1))
        wall.seconds += 1
        progress.update(START + timedelta(minutes=30), "waiting")
        progress.extend(START + timedelta(hours=5))
        progress.extend(START + timedelta(hours=2))  # an earlier end changes nothing
        wall.seconds += 1
        where = progress.update(START + timedelta(hours=1), "waiting")
        assert where.fraction == pytest.approx(0.2)
        wall.seconds += 1
        progress.update(START + timedelta(hours=3), "waiting")
    percentages = [line.split()[1] for line in out.getvalue().splitlines()]
    assert percentages == ["50%", "60%"], "the phase left open prints no 100%"


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_log_lines_go_above_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run logs to stdout (skipped rows, errors); written straight after a bar's text, a log
    line would continue the bar's line. tqdm takes the bar down, writes the line, and redraws."""
    out, wall = io.StringIO(), Wall()
    monkeypatch.setattr("sys.stdout", out)
    handler = logging.StreamHandler(out)
    logging.getLogger().addHandler(handler)
    try:
        with Progress(out, tty=True, wall=wall) as progress:
            progress.start("replay", START, END)
            wall.seconds += 5
            progress.update(START + timedelta(hours=5), "halfway")
            logging.getLogger("faultline-progress-test").warning("skipped malformed row 8")
            progress.finish("60 query jobs")
    finally:
        logging.getLogger().removeHandler(handler)
    written = out.getvalue()
    before, logged, after = written.partition("skipped malformed row 8\n")
    assert logged, "the log line is written whole"
    assert before.endswith("\r"), "at the start of a line the bar gave up"
    assert "  replay " in before and "  replay " in after, "the bar, before and redrawn after"
    last = written.rsplit("\r", 1)[-1]
    assert last.startswith("  replay   100% |")
    assert last.rstrip().endswith("| done in 5 s; 60 query jobs")


def test_updating_before_a_phase_started_is_a_mistake() -> None:
    with pytest.raises(RuntimeError, match="before a phase started"):
        Progress(io.StringIO(), tty=False).update(START)
