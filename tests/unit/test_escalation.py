"""Escalation: the pure decision (`detection.escalation.hourly_rate`: a failure's hourly rate
against the median of its own hourly counts, with a minimum so 1 -> 3 is not an escalation), and
the issue it changes on in-memory ports: labelled `faultline:escalating`, one comment, one audit
row and the `escalated` event, however often the sync runs; the label comes off when the rate
falls back, by the next sync or by the hourly pass when no occurrence arrives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.notify_files import NotificationFileSink
from detection.escalation import ESCALATING_LABEL, hourly_rate
from detection.rules import Escalation
from pipeline.escalation import calm_escalations
from pipeline.messages import FailureNotice
from pipeline.notify import NotificationJob
from pipeline.ports import Counted
from pipeline.services import NotificationPorts
from tests.support.failures import FRIDAY_MORNING, group_id, occurrences
from tests.support.memory import MemoryQueue
from tests.support.notify import MemoryNotificationState
from tests.unit.test_issue_workflow import SHOP, Flow, _rules

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
ON = Escalation(factor=5, min_count=10)


def _steady(per_hour: int, days: int = 7) -> dict[datetime, int]:
    """`per_hour` occurrences in every hour of the `days` before the previous hour."""
    top = NOW.replace(minute=0)
    return {top - HOUR * h: per_hour for h in range(2, days * 24 + 2)}


@pytest.mark.parametrize(
    ("hourly", "rules", "first_seen", "expected"),
    [
        ({**_steady(2), NOW.replace(minute=0): 30}, ON, NOW - timedelta(days=8), (30, 2.0, True)),
        ({**_steady(2), NOW.replace(minute=0): 10}, ON, NOW - timedelta(days=8), (10, 2.0, False)),
        ({NOW.replace(minute=0): 3}, ON, NOW - timedelta(days=8), (3, 0.0, False)),  # 1 -> 3
        ({NOW.replace(minute=0): 12}, ON, NOW - timedelta(days=8), (12, 0.0, True)),
        ({NOW.replace(minute=0) - HOUR: 40}, ON, NOW - timedelta(days=8), (40, 0.0, True)),
        ({**_steady(8), NOW.replace(minute=0): 39}, ON, NOW - timedelta(days=8), (39, 8.0, False)),
    ],
    ids=["jump", "under-factor", "small", "from-nothing", "previous-hour", "steady"],
)
def test_the_rate_against_its_own_baseline(
    hourly: dict[datetime, int],
    rules: Escalation,
    first_seen: datetime,
    expected: tuple[int, float, bool],
) -> None:
    rate = hourly_rate(hourly, first_seen, NOW, rules)
    assert rate is not None and (rate.current, rate.baseline, rate.escalating) == expected


def test_off_or_too_new_has_no_rate() -> None:
    jump = {NOW.replace(minute=0): 500}
    assert hourly_rate(jump, NOW - timedelta(days=8), NOW, Escalation()) is None
    assert hourly_rate(jump, NOW - timedelta(hours=20), NOW, ON) is None


def test_hours_before_the_failure_was_first_seen_are_not_its_baseline() -> None:
    """Seen for two days at 20 an hour: its baseline is 20, not the week's median of 0."""
    top = NOW.replace(minute=0)
    hourly = {top - HOUR * h: 20 for h in range(2, 50)} | {top: 60}
    rate = hourly_rate(hourly, top - HOUR * 49, NOW, ON)
    assert rate is not None and rate.baseline == 20 and not rate.escalating


@given(
    st.dictionaries(st.integers(0, 24 * 8), st.integers(0, 200), max_size=60),
    st.floats(1.1, 20),
    st.integers(1, 50),
)
def test_an_escalation_is_always_above_the_minimum_and_the_multiple(
    counts: dict[int, int], factor: float, min_count: int
) -> None:
    top = NOW.replace(minute=0)
    hourly = {top - HOUR * h: n for h, n in counts.items()}
    rules = Escalation(factor=factor, min_count=min_count)
    rate = hourly_rate(hourly, NOW - timedelta(days=9), NOW, rules)
    assert rate is not None
    assert rate.escalating == (rate.current >= min_count and rate.current > factor * rate.baseline)
    more = hourly_rate({**hourly, top: rate.current + 1000}, NOW - timedelta(days=9), NOW, rules)
    assert more is not None and more.escalating, "a far higher rate always escalates"


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"factor": 1}, "greater than 1"),
        ({"factor": 5, "baseline": "10d"}, "baseline must be between 1d and 7d"),
        ({"factor": 5, "min_count": 0}, "greater than or equal to 1"),
    ],
)
def test_the_settings_are_validated(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Escalation.model_validate(settings)


# -- on the issue --------------------------------------------------------------------------


def _occur(flow: Flow, hours: dict[int, int]) -> FailureNotice:
    """Occurrences of the checkout failure: `hours[h]` of them `h` hours before now."""
    group = group_id("checkout")
    (template,) = occurrences(group, 1)
    counted = [
        Counted(replace(template, record_id=f"h{h}-{i}", time=flow.clock.moment - HOUR * h), True)
        for h, n in hours.items()
        for i in range(n)
    ]
    entry = flow.services.ledger.record(group, counted, flow.services.rules.thresholds())
    return FailureNotice.of(entry)


def _escalating_flow(tmp_path: Path) -> tuple[Flow, MemoryQueue]:
    """An issue for a failure that ran at 1 an hour for three days, then jumped to 30."""
    rules = _rules(
        escalation={"factor": 5, "min_count": 10},
        notifications={
            "channels": [{"name": "oncall", "kind": "slack", "webhook_url_secret": "s"}],
            "rules": [{"name": "all", "events": ["escalated"], "channels": ["oncall"]}],
        },
    )
    flow = Flow(rules)
    flow.clock.moment = FRIDAY_MORNING + timedelta(days=3)
    events = MemoryQueue()
    flow.services.notifications = NotificationPorts(
        queue=events, state=MemoryNotificationState(), notifier=NotificationFileSink(tmp_path)
    )
    flow.sync(_occur(flow, {h: 1 for h in range(2, 72)}))
    return flow, events


def _escalations(flow: Flow) -> list[str]:
    return [c for c in flow.comments(1) if "faultline:escalated=" in c]


def test_a_jump_labels_the_issue_comments_once_audits_and_notifies(tmp_path: Path) -> None:
    flow, events = _escalating_flow(tmp_path)
    assert ESCALATING_LABEL not in flow.tracker.get(SHOP, 1).labels
    flow.sync(_occur(flow, {0: 30}))
    flow.clock.moment += timedelta(minutes=10)
    flow.sync(_occur(flow, {0: 5}))  # still escalating: nothing repeated
    assert ESCALATING_LABEL in flow.tracker.get(SHOP, 1).labels
    (comment,) = _escalations(flow)
    assert comment.startswith("Escalating: ") and "baseline of 1 an hour" in comment
    assert flow.actions().count("escalated") == 1
    kinds = [NotificationJob.model_validate_json(b).event for b, _ in events.sent]
    assert [e.kind for e in kinds if e is not None] == ["escalated"]


def test_the_label_comes_off_when_the_rate_falls_back_on_the_next_sync(tmp_path: Path) -> None:
    flow, _ = _escalating_flow(tmp_path)
    flow.sync(_occur(flow, {0: 30}))
    flow.clock.moment += timedelta(hours=3)
    flow.sync(_occur(flow, {0: 1}))
    assert ESCALATING_LABEL not in flow.tracker.get(SHOP, 1).labels
    assert flow.actions().count("calmed") == 1
    state = flow.memory.issues.peek(group_id("checkout"), SHOP)
    assert state is not None and state.escalated_at is None


def test_the_hourly_pass_calms_an_issue_whose_failure_stopped_arriving(tmp_path: Path) -> None:
    flow, _ = _escalating_flow(tmp_path)
    flow.sync(_occur(flow, {0: 30}))
    assert calm_escalations(flow.services) == 0, "still escalating"
    flow.clock.moment += timedelta(hours=3)
    assert calm_escalations(flow.services) == 1
    assert calm_escalations(flow.services) == 0
    assert ESCALATING_LABEL not in flow.tracker.get(SHOP, 1).labels
    assert flow.actions().count("calmed") == 1 and len(_escalations(flow)) == 1


def test_a_sync_stopped_midway_finishes_the_escalation_without_repeating_it(
    tmp_path: Path,
) -> None:
    """The comment landed, then the step stopped before the label: the retry labels it."""
    flow, _ = _escalating_flow(tmp_path)
    add_labels = flow.tracker.add_labels

    def crash(*args: object, **kwargs: object) -> None:
        raise TimeoutError("stopped before the label")

    flow.tracker.add_labels = crash  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        flow.sync(_occur(flow, {0: 30}))
    flow.tracker.add_labels = add_labels  # type: ignore[method-assign]
    flow.clock.moment += timedelta(minutes=5)
    flow.sync(_occur(flow, {0: 2}))
    assert ESCALATING_LABEL in flow.tracker.get(SHOP, 1).labels
    assert len(_escalations(flow)) == 1 and flow.actions().count("escalated") == 1
