"""The issue workflow's activities on in-memory ports: the decisions (create or adopt, refresh,
comment, reopen, wait for the budget, assign, start or follow up) without Azurite, Durable or the
HTTP GitHub fake. The same paths run end to end, on the real adapters, in
`tests/integration/test_workflow.py`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detection.issue import find_marker, marker
from detection.occurrence import Occurrence
from detection.rules import Assignment, Rules, load_rules
from pipeline.messages import FailureNotice
from pipeline.ports import Counted
from pipeline.services import Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.assignment import assign_issue, assignment_decision
from pipeline.workflow.messages import Assigned, Decided, Synced, Wait, WorkflowRequest
from pipeline.workflow.starter import instance_id, record_poisoned_notice, start_workflow
from tests.support.memory import Memory, MemoryTracker

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
FRIDAY_MORNING = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SHOP = "contoso/shop"


class Clock:
    def __init__(self) -> None:
        self.moment = FRIDAY_MORNING

    def now(self) -> datetime:
        return self.moment


def _rules(**changes: Any) -> Rules:
    rules = load_rules((ROOT / "faultline.yaml").read_text(), {})
    return rules.model_copy(update=changes) if changes else rules


def group_id(name: str) -> str:
    return hashlib.blake2b(name.encode(), digest_size=16).hexdigest()


class Flow:
    """One failure's workflow on in-memory ports: count occurrences, then run its activities."""

    def __init__(self, rules: Rules | None = None, **tracker: Any) -> None:
        self.clock = Clock()
        self.memory = Memory(MemoryTracker(self.clock.now, **tracker))
        self.services: Services = self.memory.services(rules or _rules(), self.clock.now)

    @property
    def tracker(self) -> MemoryTracker:
        return self.memory.tracker

    def occur(self, name: str, total: int) -> FailureNotice:
        group = group_id(name)
        occurrences = [
            Occurrence(
                definition="unhandled-exception",
                fingerprint=group,
                group=group,
                version=3,
                table="AppExceptions",
                record_id=f"{group}-{i}",
                time=FRIDAY_MORNING - timedelta(minutes=30) + timedelta(seconds=i),
                kind="exception",
                rank=4,
                message=f"Cannot read properties of undefined (reading 'total') [{name}]",
                exception_type="TypeError",
                stack_trace="TypeError: Cannot read properties of undefined\n"
                "    at submit (/app/src/checkout.js:42:7)",
                title=f"TypeError in checkout.submit [{name}]",
                basis="stack",
                culprit="checkout.submit",
                role="checkout-web",
                source="production",
            )
            for i in range(total)
        ]
        thresholds = self.services.rules.thresholds()
        entry = self.services.ledger.record(
            group, [Counted(o, True) for o in occurrences], thresholds
        )
        return FailureNotice(
            fingerprint=group,
            fingerprint_version=3,
            definition="unhandled-exception",
            table="AppExceptions",
            source="production",
            count=entry.count,
            first_seen=entry.first_seen,
            last_seen=entry.last_seen,
            threshold_crossed_at=entry.threshold_crossed_at or entry.last_seen,
            role="checkout-web",
        )

    def request(self, notice: FailureNotice, **changes: Any) -> WorkflowRequest:
        return WorkflowRequest(
            notice=notice,
            repository=SHOP,
            labels=("faultline", "severity:high"),
            assignment=changes.pop("assignment", Assignment(kind="copilot")),
            recheck_seconds=900,
            **changes,
        )

    def sync(self, notice: FailureNotice) -> Synced | Wait:
        return sync_issue(self.services, self.request(notice))

    def actions(self) -> list[str]:
        return self.memory.audit.actions()


def test_a_failure_gets_one_issue_with_its_marker_and_a_second_sync_refreshes_it() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    created = flow.sync(notice)
    assert isinstance(created, Synced) and created.action == "created" and created.needs_assignment
    (issue,) = [i.ref for i in flow.tracker.issues.values()]
    assert find_marker(issue.body) == notice.fingerprint
    assert issue.labels == ("faultline", "severity:high")
    flow.clock.moment += timedelta(hours=2)
    notice = flow.occur("checkout", 5)
    refreshed = flow.sync(notice)
    assert isinstance(refreshed, Synced) and refreshed.action == "updated"
    assert len(flow.tracker.issues) == 1
    assert flow.actions() == ["created", "updated"]


def test_lost_state_adopts_faultlines_own_issue_instead_of_making_a_second() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    flow.sync(notice)
    flow.memory.issues.states.clear()
    adopted = flow.sync(notice)
    assert isinstance(adopted, Synced) and adopted.number == 1
    assert len(flow.tracker.issues) == 1
    assert "skipped-as-duplicate" in flow.actions()


def test_an_outsiders_issue_that_copies_the_marker_is_not_adopted() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    flow.tracker.open_as("mallory", SHOP, "please assign copilot", marker(notice.fingerprint))
    created = flow.sync(notice)
    assert isinstance(created, Synced) and created.action == "created"
    assert created.number == 2, "Faultline opened its own issue"
    assert flow.tracker.get(SHOP, 1).assignees == ()


def test_an_outsiders_comment_that_copies_a_comment_marker_does_not_stand_for_faultlines() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    flow.sync(notice)
    forged = f"<!-- faultline:comment={notice.fingerprint}:after=3 -->"
    flow.tracker.comment_as("mallory", SHOP, 1, forged)
    flow.clock.moment += timedelta(hours=7)
    flow.sync(flow.occur("checkout", 6))
    own = flow.tracker.comment_bodies(SHOP, 1)
    assert len(own) == 1 and "3 new occurrence(s)" in own[0]


def test_a_recurrence_after_the_issue_was_closed_reopens_it_with_one_comment() -> None:
    flow = Flow()
    flow.sync(flow.occur("checkout", 3))
    flow.clock.moment += timedelta(hours=1)
    flow.tracker.edit(SHOP, 1, state="closed")
    flow.clock.moment += timedelta(hours=1)
    notice = flow.occur("checkout", 3).model_copy(
        update={"count": 4, "last_seen": flow.clock.moment}
    )
    flow.memory.ledger.record(
        notice.fingerprint,
        [Counted(_later(flow, notice.fingerprint), True)],
        flow.services.rules.thresholds(),
    )
    reopened = flow.sync(notice)
    again = flow.sync(notice)  # a retry after a lost response
    assert isinstance(reopened, Synced) and reopened.action == "reopened"
    assert isinstance(again, Synced) and again.action != "reopened"
    assert flow.tracker.get(SHOP, 1).state == "open"
    assert sum("Regressed" in body for body in flow.tracker.comment_bodies(SHOP, 1)) == 1


def _later(flow: Flow, group: str) -> Occurrence:
    founder = flow.services.ledger.summary(group).founder  # type: ignore[union-attr]
    assert founder is not None
    return founder.__class__(**{**founder.__dict__, "record_id": "late", "time": flow.clock.moment})


def test_the_hourly_budget_holds_a_slot_and_the_failure_waits_for_exactly_that() -> None:
    rules = _rules()
    rules = rules.model_copy(
        update={"rate_limits": rules.rate_limits.model_copy(update={"issues_per_hour": 1})}
    )
    flow = Flow(rules)
    assert isinstance(flow.sync(flow.occur("first", 3)), Synced)
    waiting = flow.sync(flow.occur("second", 3))
    assert isinstance(waiting, Wait) and waiting.exact
    assert waiting.wait_seconds == pytest.approx(3600)
    assert len(flow.tracker.issues) == 1
    flow.clock.moment += timedelta(hours=1)
    assert isinstance(flow.sync(flow.occur("second", 3)), Synced)
    assert len(flow.tracker.issues) == 2


def test_copilot_that_cannot_be_assigned_is_said_on_the_issue_and_in_the_audit() -> None:
    flow = Flow(copilot_assignable=False)
    notice = flow.occur("checkout", 3)
    flow.sync(notice)
    result = assign_issue(flow.services, flow.request(notice, issue=1))
    assert isinstance(result, Assigned) and result.assigned == ()
    issue = flow.tracker.get(SHOP, 1)
    assert "faultline:needs-assignee" in issue.labels
    assert any("could not assign" in body for body in flow.tracker.comment_bodies(SHOP, 1))
    assert flow.actions()[-1] == "assign-failed"
    assert flow.memory.issues.peek(notice.fingerprint, SHOP).assigned  # type: ignore[union-attr]


def test_copilot_is_assigned_with_the_untrusted_data_note_in_its_instructions() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    flow.sync(notice)
    result = assign_issue(flow.services, flow.request(notice, issue=1))
    assert isinstance(result, Assigned) and result.assigned == ("Copilot",)
    assert flow.actions()[-1] == "assigned"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("assign", "assign"), ("unassigned", "skip"), ("defer", "wait")],
)
def test_outside_business_hours_the_policy_decides(policy: str, expected: str) -> None:
    rules = _rules()
    rules = rules.model_copy(
        update={
            "assignment": rules.assignment.model_copy(update={"outside_business_hours": policy})
        }
    )
    flow = Flow(rules)
    flow.clock.moment = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a Saturday
    notice = flow.occur("checkout", 3)
    flow.sync(notice)
    decided = assignment_decision(flow.services, flow.request(notice, issue=1))
    action = decided.action
    assert action == expected
    if isinstance(decided, Wait):
        assert decided.wait_seconds > 24 * 3600, "until Monday morning"
    if isinstance(decided, Decided) and decided.action == "skip":
        assert flow.actions()[-1] == "assignment-skipped"


class Starter:
    """The Durable client as the starter sees it: one instance per id."""

    def __init__(self, running: bool = False, taken: bool = False) -> None:
        self.running, self.taken = running, taken
        self.started: list[tuple[str, dict[str, Any]]] = []

    def is_running(self, instance_id: str) -> bool:
        return self.running

    def start(self, orchestrator: str, instance_id: str, request: Any) -> bool:
        if self.taken:
            return False
        self.started.append((instance_id, request))
        return True


def test_a_notice_starts_its_failures_singleton_workflow() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    starter = Starter()
    started = start_workflow(flow.services, notice.model_dump_json(), starter)
    assert started == instance_id(notice.fingerprint, SHOP, "fingerprint")
    ((identifier, request),) = starter.started
    assert WorkflowRequest.model_validate(request).repository == SHOP


@pytest.mark.parametrize("starter", [Starter(running=True), Starter(taken=True)])
def test_a_notice_for_a_running_workflow_leaves_word_instead_of_starting_another(
    starter: Starter,
) -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    assert start_workflow(flow.services, notice.model_dump_json(), starter) == "noted"
    assert starter.started == []


def test_a_notice_after_the_workflows_last_check_waits_on_the_queue() -> None:
    flow = Flow()
    notice = flow.occur("checkout", 3)
    assert not flow.services.issues.finish_or_resync(notice.fingerprint, SHOP, 0)
    outcome = start_workflow(flow.services, notice.model_dump_json(), Starter(running=True))
    assert outcome == "waiting"
    ((body, delay),) = flow.memory.failure_queue.sent
    assert FailureNotice.model_validate_json(body) == notice
    assert delay == timedelta(seconds=flow.services.settings.notice_requeue_seconds)


def test_an_unreadable_poisoned_notice_is_kept_under_a_stable_key() -> None:
    flow = Flow()
    record_poisoned_notice(flow.services, "not json")
    record_poisoned_notice(flow.services, "not json")
    assert flow.memory.poisoned.count("failure-notices") == 1
