"""The issue workflow's orchestrator, stepped by hand: every activity it calls, every timer it
sets and every restart it makes, with no Durable backend (the way the Durable samples test an
orchestrator, by driving its generator)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from durabletask import task

from detection.rules import Assignment
from pipeline.messages import FailureNotice
from pipeline.workflow.messages import WorkflowRequest
from pipeline.workflow.orchestrator import LATE_WRITE_RECHECK, WAITS_PER_GENERATION, issue_workflow

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RECHECK = timedelta(minutes=15)
FINGERPRINT = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Call:
    activity: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Timer:
    after: timedelta


class Failed(Exception):
    """An answer that makes the activity fail beyond its retries."""


@dataclass
class Context:
    """What the orchestrator sees of Durable: its calls become steps, its timers advance the
    orchestration's clock."""

    current_utc_datetime: datetime = START
    continued_with: dict[str, Any] | None = None

    def call_activity(self, activity: str, *, input: Any = None, retry_policy: Any = None) -> Call:
        return Call(activity, input)

    def create_timer(self, fire_at: datetime) -> Timer:
        return Timer(fire_at - self.current_utc_datetime)

    def continue_as_new(self, new_input: Any, *, save_events: bool = False) -> None:
        self.continued_with = new_input


@dataclass
class Run:
    steps: list[Call | Timer] = field(default_factory=list)
    output: Any = None
    continued_with: dict[str, Any] | None = None

    def activities(self) -> list[str]:
        return [s.activity for s in self.steps if isinstance(s, Call)]

    def audits(self) -> list[str]:
        return [
            s.input["action"]
            for s in self.steps
            if isinstance(s, Call) and s.activity == "record_audit"
        ]

    def timers(self) -> list[timedelta]:
        return [s.after for s in self.steps if isinstance(s, Timer)]


def run(payload: dict[str, Any], answer: Callable[[Call], Any], max_steps: int = 500) -> Run:
    """Drive the orchestrator to its end (or its restart), answering each activity call."""
    ctx = Context()
    steps = issue_workflow(ctx, payload)  # type: ignore[arg-type]
    result = Run()
    sent: Any = None
    thrown: BaseException | None = None
    try:
        for _ in range(max_steps):
            step = steps.throw(thrown) if thrown else steps.send(sent)
            thrown, sent = None, None
            result.steps.append(step)
            if isinstance(step, Timer):
                ctx.current_utc_datetime += step.after
                continue
            reply = answer(step)
            if isinstance(reply, Failed):
                thrown = task.TaskFailedError(str(reply), reply)
            else:
                sent = reply
        raise AssertionError(f"the orchestrator took more than {max_steps} steps")
    except StopIteration as stop:
        result.output = stop.value
    result.continued_with = ctx.continued_with
    return result


def request(**changes: Any) -> dict[str, Any]:
    notice = FailureNotice(
        fingerprint=FINGERPRINT,
        fingerprint_version=3,
        definition="unhandled-exception",
        table="AppExceptions",
        source="production",
        count=3,
        first_seen=START - timedelta(hours=1),
        last_seen=START,
        threshold_crossed_at=START - timedelta(hours=1),
    )
    base = WorkflowRequest(
        notice=notice,
        repository="contoso/shop",
        labels=("faultline",),
        assignment=Assignment(kind="copilot"),
        recheck_seconds=RECHECK.total_seconds(),
    )
    return base.model_copy(update=changes).payload()


CREATED = {"action": "created", "number": 7, "url": "u", "needs_assignment": True}
UPDATED = {"action": "updated", "number": 7, "url": "u", "needs_assignment": False}


def answers(**by_activity: Any) -> Callable[[Call], Any]:
    """Answer each activity from its queue of replies (the last reply repeats)."""
    queues = {
        name: list(replies) if isinstance(replies, list) else [replies]
        for name, replies in by_activity.items()
    }
    defaults = {
        "record_audit": None,
        "finish_or_resync": False,
        "assignment_decision": {"action": "assign"},
        "assign_issue": {"action": "assigned", "assigned": ["Copilot"]},
    }

    def answer(call: Call) -> Any:
        queue = queues.get(call.activity)
        if not queue:
            return defaults[call.activity]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return answer


def test_a_new_issue_is_assigned_then_looked_for_once_more_then_the_workflow_ends() -> None:
    result = run(request(), answers(sync_issue=[CREATED, UPDATED]))
    assert result.activities() == [
        "sync_issue",
        "assignment_decision",
        "assign_issue",
        "sync_issue",
        "finish_or_resync",
    ]
    assert result.timers() == [LATE_WRITE_RECHECK], "the look for a late twin waits a little"
    assert result.output["assigned"] == ["Copilot"]
    assert result.output["number"] == 7
    assert result.continued_with is None


def test_an_update_that_owes_no_assignment_ends_after_its_last_check() -> None:
    result = run(request(), answers(sync_issue=UPDATED))
    assert result.activities() == ["sync_issue", "finish_or_resync"]
    assert result.output == UPDATED


@pytest.mark.parametrize("outcome", ["folded", "refused"])
def test_a_folded_or_refused_failure_is_neither_assigned_nor_rechecked(outcome: str) -> None:
    result = run(request(), answers(sync_issue={"action": outcome, "reason": "why"}))
    assert result.activities() == ["sync_issue", "finish_or_resync"]
    assert result.timers() == []


def test_a_budget_slot_is_waited_for_exactly_and_audited_once() -> None:
    slot = {"action": "wait", "wait_seconds": 3600, "reason": "budget", "exact": True}
    result = run(request(), answers(sync_issue=[slot, slot, UPDATED]))
    assert result.timers() == [timedelta(hours=1), timedelta(hours=1)], "not capped at the recheck"
    assert result.audits() == ["rate-limited"], "once per wait, not once per recheck"


def test_an_open_ended_wait_is_capped_at_the_recheck_and_a_quiet_one_is_not_audited() -> None:
    loud = {"action": "wait", "wait_seconds": 7200, "reason": "later"}
    quiet = {"action": "wait", "wait_seconds": 1, "reason": "soon", "quiet": True}
    assert run(request(), answers(sync_issue=[loud, UPDATED])).timers() == [RECHECK]
    silent = run(request(), answers(sync_issue=[quiet, UPDATED]))
    assert silent.timers() == [timedelta(seconds=1)]
    assert silent.audits() == []


def test_long_waits_restart_the_history_and_the_restart_carries_on_where_it_was() -> None:
    wait = {"action": "wait", "wait_seconds": 60, "reason": "budget", "exact": True}
    first = run(request(), answers(sync_issue=wait))
    assert len(first.timers()) == WAITS_PER_GENERATION
    assert first.output is None and first.continued_with is not None
    assert first.continued_with["waits"] == WAITS_PER_GENERATION
    again = run(first.continued_with, answers(sync_issue=[wait, UPDATED]))
    assert again.audits() == [], "the restart does not audit the same wait again"
    assert again.activities()[-1] == "finish_or_resync"


def test_github_failing_beyond_retries_is_backed_off_doubling_up_to_the_recheck() -> None:
    failures = [Failed("GitHub answered 502")] * 5
    result = run(request(), answers(sync_issue=[*failures, UPDATED]))
    minutes = [t / timedelta(minutes=1) for t in result.timers()]
    assert minutes == [1, 2, 4, 8, 15]
    assert result.audits() == ["retry-later"] * 5
    assert result.output == UPDATED


def test_a_recurrence_noted_while_running_restarts_the_workflow_as_the_next_generation() -> None:
    result = run(request(), answers(sync_issue=UPDATED, finish_or_resync=True))
    assert result.output is None
    assert result.continued_with is not None
    assert result.continued_with["generation"] == 1
    assert "assign" not in result.continued_with and result.continued_with["waits"] == 0
    finish = [s for s in result.steps if isinstance(s, Call) and s.activity == "finish_or_resync"]
    assert finish[0].input == {
        "fingerprint": FINGERPRINT,
        "repository": "contoso/shop",
        "generation": 0,
    }


def test_outside_business_hours_the_assignment_waits_and_is_audited_once() -> None:
    closed = {"action": "wait", "wait_seconds": 48 * 3600, "reason": "weekend"}
    result = run(
        request(),
        answers(
            sync_issue=[CREATED, UPDATED],
            assignment_decision=[closed, closed, {"action": "assign"}],
        ),
    )
    assert result.audits() == ["assignment-deferred"]
    assert result.timers()[:2] == [RECHECK, RECHECK], "the decision is taken again each recheck"
    assert result.output["assigned"] == ["Copilot"]


def test_github_asking_to_wait_during_assignment_is_waited_out_exactly() -> None:
    limited = {"action": "wait", "wait_seconds": 90, "reason": "secondary limit", "exact": True}
    result = run(
        request(),
        answers(
            sync_issue=[CREATED, UPDATED],
            assign_issue=[limited, {"action": "assigned", "assigned": ["Copilot"]}],
        ),
    )
    assert result.timers()[0] == timedelta(seconds=90)
    assert result.audits() == ["rate-limited"]
    assert result.activities().count("assign_issue") == 2


def test_the_assignment_activities_are_told_which_issue() -> None:
    result = run(request(), answers(sync_issue=[CREATED, UPDATED]))
    assigning = [s for s in result.steps if isinstance(s, Call) and s.activity == "assign_issue"]
    assert assigning[0].input["issue"] == 7
    assert assigning[0].input["assign"]["number"] == 7


def test_replaying_the_same_answers_takes_the_same_steps() -> None:
    """Durable replays the orchestrator on every step: it must decide the same each time."""
    script = {"sync_issue": [CREATED, UPDATED]}
    assert run(request(), answers(**script)).steps == run(request(), answers(**script)).steps


def test_a_payload_that_drifts_from_its_model_fails_where_it_is_read() -> None:
    with pytest.raises(ValueError, match="action"):
        run(request(), answers(sync_issue={"action": "teleported"}))
