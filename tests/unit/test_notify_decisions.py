"""Which notification rules fire, and the throttle with storm folding, over simulated time.

The throttle is driven as the dispatcher drives it: each event is admitted at its time, and the
flush its first hold asks for runs at the time it names (re-scheduled while no slot is free).
Whatever the arrival pattern, no window carries more than `count` messages, and every event is
either sent or counted in exactly one "held back" figure."""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.notify import (
    NotificationEvent,
    ThrottleState,
    admit,
    delivery_key,
    flush,
    lagging,
    matching_rules,
    token_expiring,
    trouble_event,
)
from detection.rules import Notifications, NotificationThrottle

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _event(**changes: object) -> NotificationEvent:
    fields: dict[str, object] = {
        "kind": "issue-created",
        "at": T0,
        "fingerprint": "fp1",
        "repository": "contoso/shop",
        "issue": 7,
        "title": "KeyError in reservations.parse",
        "definition": "unhandled-exception",
        "severity": "critical",
        "route": "orders",
    }
    fields.update(changes)
    return NotificationEvent.model_validate(fields)


NOTIFICATIONS = Notifications.model_validate(
    {
        "channels": [
            {"name": "oncall", "kind": "slack", "webhook_url_secret": "slack-oncall"},
            {"name": "ops", "kind": "teams", "webhook_url_secret": "teams-ops"},
        ],
        "rules": [
            {
                "name": "critical",
                "events": ["issue-created", "issue-regressed"],
                "severities": ["critical"],
                "channels": ["oncall"],
            },
            {
                "name": "orders-team",
                "events": ["issue-created"],
                "routes": ["orders"],
                "repositories": ["contoso/orders"],
                "channels": ["ops"],
            },
            {"name": "own-trouble", "events": ["job-poisoned"], "channels": ["ops"]},
        ],
    }
)


@pytest.mark.parametrize(
    ("changes", "fired"),
    [
        ({}, ["critical"]),
        ({"severity": "high"}, []),
        ({"kind": "issue-regressed"}, ["critical"]),
        ({"kind": "assignment-failed"}, []),
        ({"repository": "contoso/orders"}, ["critical", "orders-team"]),
        ({"repository": "contoso/orders", "route": None, "severity": "low"}, []),
        (
            {"kind": "job-poisoned", "severity": "", "repository": "", "issue": None},
            ["own-trouble"],
        ),
    ],
)
def test_rules_fire_on_their_events_and_filters(
    changes: dict[str, object], fired: list[str]
) -> None:
    assert [rule.name for rule in matching_rules(NOTIFICATIONS, _event(**changes))] == fired


def test_an_event_is_keyed_per_issue_per_event() -> None:
    created, again = _event(), _event(at=T0 + timedelta(hours=1), count=40)
    assert created.key == again.key  # a retried step, later and with newer figures
    regressions = {
        _event(kind="issue-regressed", occasion=closed).key
        for closed in ("20261201T01", "20261202T01")
    }
    assert len(regressions) == 2  # each closing's regression is its own event
    assert _event(issue=8).key != created.key
    assert delivery_key(created, "critical", "oncall") != delivery_key(created, "critical", "ops")


def _drive(
    arrivals: list[datetime], throttle: NotificationThrottle
) -> tuple[list[tuple[datetime, int, str]], ThrottleState]:
    """Messages sent (time, how many held back it reports, event or flush), with flushes run
    when due."""
    state = ThrottleState()
    sent: list[tuple[datetime, int, str]] = []
    queue: list[tuple[datetime, int, str]] = [(t, i, "event") for i, t in enumerate(arrivals)]
    heapq.heapify(queue)
    order = len(arrivals)
    while queue:
        now, _, what = heapq.heappop(queue)
        if what == "event":
            admission, state = admit(state, now, throttle)
            if admission.send:
                sent.append((now, admission.held_back, what))
            if admission.flush_at is not None:
                order += 1
                heapq.heappush(queue, (admission.flush_at, order, "flush"))
        else:
            outcome, state = flush(state, now, throttle)
            if outcome.held_back:
                sent.append((now, outcome.held_back, what))
            if outcome.retry_at is not None:
                order += 1
                heapq.heappush(queue, (outcome.retry_at, order, "flush"))
    return sent, state


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=4 * 3600), max_size=80),
    count=st.integers(min_value=1, max_value=6),
    within_minutes=st.integers(min_value=1, max_value=90),
)
def test_throttle_bounds_every_window_and_loses_nothing(
    offsets: list[int], count: int, within_minutes: int
) -> None:
    throttle = NotificationThrottle(count=count, within=timedelta(minutes=within_minutes))
    arrivals = sorted(T0 + timedelta(seconds=s) for s in offsets)
    sent, final = _drive(arrivals, throttle)
    times = [t for t, _, _ in sent]
    for start in times:
        in_window = [t for t in times if start <= t < start + throttle.within]
        assert len(in_window) <= count
    events_sent = sum(1 for _, _, what in sent if what == "event")
    reported = sum(held for _, held, _ in sent)
    assert final.held == 0  # every storm was told in the end
    assert events_sent + reported == len(arrivals)  # each event sent or counted once
    assert events_sent >= min(count, len(arrivals))


def test_a_storm_becomes_count_messages_and_one_summary() -> None:
    throttle = NotificationThrottle(count=3, within=timedelta(minutes=10))
    storm = [T0 + timedelta(seconds=i) for i in range(100)]
    sent, final = _drive(storm, throttle)
    assert sent == [
        (T0, 0, "event"),
        (T0 + timedelta(seconds=1), 0, "event"),
        (T0 + timedelta(seconds=2), 0, "event"),
        (T0 + timedelta(minutes=10), 97, "flush"),
    ]
    assert final.held == 0


def test_a_message_after_the_storm_carries_the_held_count_and_the_flush_sends_nothing() -> None:
    throttle = NotificationThrottle(count=1, within=timedelta(minutes=10))
    first, state = admit(ThrottleState(), T0, throttle)
    held, state = admit(state, T0 + timedelta(minutes=1), throttle)
    assert first.send and not held.send
    assert held.flush_at == T0 + timedelta(minutes=10)
    later, state = admit(state, T0 + timedelta(minutes=10), throttle)
    assert (later.send, later.held_back, later.held_since) == (
        True,
        1,
        T0 + timedelta(minutes=1),
    )
    outcome, state = flush(state, T0 + timedelta(minutes=10), throttle)
    assert outcome.held_back == 0 and outcome.retry_at is None


def test_a_lost_flush_is_scheduled_again_by_the_next_hold() -> None:
    """A flush whose message was lost (poisoned) would leave a storm untold: a hold long after
    its due time asks for another; one merely waiting for its turn does not."""
    throttle = NotificationThrottle(count=1, within=timedelta(minutes=10))
    now = T0 + timedelta(minutes=25)
    full = (T0 + timedelta(minutes=24),)
    since = T0 + timedelta(minutes=1)
    lost = ThrottleState(sent=full, held=2, held_since=since, flush_due=T0 + timedelta(minutes=10))
    admission, after = admit(lost, now, throttle)
    assert not admission.send and admission.flush_at == T0 + timedelta(minutes=34)
    assert (after.held, after.held_since, after.flush_due) == (3, since, admission.flush_at)
    waiting = replace(lost, flush_due=T0 + timedelta(minutes=20))
    admission, after = admit(waiting, now, throttle)
    assert admission.flush_at is None and after.flush_due == T0 + timedelta(minutes=20)


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("read_through", "lags"),
    [
        (None, False),  # never polled: its first poll backfills, nothing to be behind with
        (T0 - HOUR, False),  # exactly at the bound is not beyond it
        (T0 - HOUR - timedelta(seconds=1), True),
        (T0 - timedelta(minutes=10), False),
    ],
)
def test_a_table_lags_when_read_beyond_the_bound(read_through: datetime | None, lags: bool) -> None:
    assert lagging(read_through, T0, HOUR) is lags


@pytest.mark.parametrize(
    ("expires", "warns"),
    [
        (None, False),  # a token without an expiry states none
        (T0 + timedelta(days=8), False),
        (T0 + timedelta(days=7), True),
        (T0 - HOUR, True),  # expired already: GitHub refuses it next
    ],
)
def test_a_token_warns_within_its_warning(expires: datetime | None, warns: bool) -> None:
    assert token_expiring(expires, T0, timedelta(days=7)) is warns


def test_trouble_is_one_event_per_occasion_and_only_unfiltered_rules_take_it() -> None:
    notifications = Notifications.model_validate(
        {
            "channels": [{"name": "ops", "kind": "slack", "webhook_url_secret": "ops-hook"}],
            "rules": [
                {"name": "lag", "events": ["query-lagging"], "channels": ["ops"]},
                {
                    "name": "critical-lag",
                    "events": ["query-lagging"],
                    "severities": ["critical"],
                    "channels": ["ops"],
                },
            ],
        }
    )
    first = trouble_event("query-lagging", "prod/AppRequests", "2026-12-01T02:00:00", T0, "t", "r")
    again = trouble_event("query-lagging", "prod/AppRequests", "2026-12-01T02:00:00", T0, "u", "s")
    later = trouble_event("query-lagging", "prod/AppRequests", "2026-12-01T05:00:00", T0, "t", "r")
    assert first.key == again.key != later.key
    assert [rule.name for rule in matching_rules(notifications, first)] == ["lag"]
