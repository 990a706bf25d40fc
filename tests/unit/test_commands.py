"""The `/faultline` comment grammar: table-driven over what people type, and property tests that
every command round-trips, that a comment not starting with the command word is never one, and
that no error message ever carries the comment's text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.commands import (
    MAX_MUTE,
    Command,
    CommandError,
    Merge,
    Mute,
    Resolve,
    Unmerge,
    Why,
    parse,
    render,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("/faultline mute", Mute()),
        ("/faultline mute 7d", Mute(duration=timedelta(days=7))),
        ("/faultline mute 90m", Mute(duration=timedelta(minutes=90))),
        ("/faultline mute 2w\n\nwe are on it, see the incident doc", Mute(timedelta(weeks=2))),
        ("/faultline mute until 100 more", Mute(more=100)),
        ("  /faultline\tmute   12h  \r\n", Mute(duration=timedelta(hours=12))),
        ("/faultline resolve", Resolve()),
        ("/faultline resolve in 2.14.0", Resolve(version="2.14.0")),
        ("/faultline resolve in v2026.12.01+build-7", Resolve(version="v2026.12.01+build-7")),
        ("/faultline why", Why()),
        ("/faultline merge #12", Merge(number=12)),
        ("/faultline unmerge", Unmerge()),
        ("thanks! /faultline mute", None),
        ("> /faultline mute", None),  # a quote of someone's command is not one
        ("/faultlines mute", None),
        ("/Faultline mute", None),
        ("", None),
        ("\n\n/faultline why", Why()),
    ],
)
def test_what_people_type(comment: str, expected: Command | None) -> None:
    assert parse(comment) == expected


@pytest.mark.parametrize(
    "comment",
    [
        "/faultline",
        "/faultline mute 0d",
        "/faultline mute 367d",
        "/faultline mute 7 days",
        "/faultline mute until 0 more",
        "/faultline mute until 100",
        "/faultline resolve in",
        "/faultline resolve in 1.0 please",
        "/faultline resolve in <img src=x>",
        "/faultline merge 12",
        "/faultline merge #0",
        "/faultline merge #12 #13",
        "/faultline merge owner/repo#12",
        "/faultline why not",
        "/faultline Mute",
        "/faultline close",
    ],
)
def test_a_faultline_line_that_is_not_a_command_is_an_error(comment: str) -> None:
    assert isinstance(parse(comment), CommandError)


_versions = st.from_regex(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}", fullmatch=True)
_durations = st.builds(
    lambda n, unit: n * unit,
    st.integers(1, 500),
    st.sampled_from([timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)]),
).filter(lambda d: d <= MAX_MUTE)
_commands: st.SearchStrategy[Command] = st.one_of(
    st.just(Mute()),
    st.builds(lambda d: Mute(duration=d), _durations),
    st.builds(lambda n: Mute(more=n), st.integers(1, 1_000_000_000)),
    st.just(Resolve()),
    st.builds(lambda v: Resolve(version=v), _versions),
    st.just(Why()),
    st.builds(Merge, st.integers(1, 2_147_483_647)),
    st.just(Unmerge()),
)


@given(_commands, st.text())
def test_every_command_round_trips_whatever_follows_on_later_lines(
    command: Command, rest: str
) -> None:
    assert parse(render(command) + "\n" + rest) == command


@given(st.text())
def test_a_comment_not_starting_with_the_command_word_is_never_a_command(text: str) -> None:
    if not text.strip(" \t\r\n").startswith("/faultline"):
        assert parse(text) is None


_MESSAGES = {
    result.message
    for line in ("mute x", "resolve x", "merge x", "why x", "unmerge x", "x")
    if isinstance(result := parse(f"/faultline {line}"), CommandError)
}


@given(st.text(min_size=1))
def test_an_error_is_always_faultlines_own_fixed_text(text: str) -> None:
    """Replies quote only Faultline's own text: a comment is hostile input."""
    result = parse(f"/faultline {text}")
    assert len(_MESSAGES) == 6
    assert not isinstance(result, CommandError) or result.message in _MESSAGES
