"""The issue workflow's decisions on in-memory ports: its activities one at a time (create or
adopt, refresh, comment, reopen, wait for the budget, assign, start or follow up), and whole
workflows over time on the in-memory task hub of `tests/support/workflows.py`. No Azurite,
Durable backend or HTTP GitHub fake: `tests/integration/test_workflow.py` keeps what needs them
(faults at the wire, concurrent starts, workers stopped, the real adapters end to end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from detection.markers import find_marker, marker
from detection.occurrence import Occurrence
from detection.rules import Assignment, Rules, load_rules
from pipeline.messages import FailureNotice
from pipeline.ports import Counted
from pipeline.services import Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.assignment import assign_issue, assignment_decision
from pipeline.workflow.messages import Assigned, Decided, Synced, Wait, WorkflowRequest
from pipeline.workflow.starter import instance_id, record_poisoned_notice, start_workflow
from tests.support.failures import FRIDAY_MORNING, group_id, notice, occurrences
from tests.support.memory import Memory, MemoryTracker
from tests.support.workflows import MemoryWorkflows

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
SHOP = "contoso/shop"


class Clock:
    def __init__(self) -> None:
        self.moment = FRIDAY_MORNING

    def now(self) -> datetime:
        return self.moment


def _rules(**changes: Any) -> Rules:
    """The shipped rules file with `dotted.keys` changed, as a person would edit it."""
    document = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return load_rules(yaml.safe_dump(document), {})


class Flow:
    """One failure's workflow on in-memory ports: count occurrences, then run its activities."""

    def __init__(
        self, rules: Rules | None = None, recheck_seconds: int = 1, **tracker: Any
    ) -> None:
        self.clock = Clock()
        self.memory = Memory(MemoryTracker(self.clock.now, **tracker))
        settings = {"FAULTLINE_WORKFLOW_RECHECK_SECONDS": str(recheck_seconds)}
        self.services: Services = self.memory.services(rules or _rules(), self.clock.now, settings)
        self.workflows = MemoryWorkflows(self.services, self.clock, self.memory.failure_queue)

    def send(self, notice: FailureNotice) -> None:
        """Count the notice's occurrences (what the issue shows comes from the ledger), then
        queue the notice as ingestion would."""
        self.occur(notice.fingerprint, notice.count, by_id=True)
        self.memory.failure_queue.send(notice.model_dump_json())

    def notify(self, notice: FailureNotice) -> None:
        self.send(notice)
        self.workflows.drain()
        self.workflows.wait_until_idle()

    def shop_issues(self) -> list[Any]:
        return [i.ref for (repo, _), i in sorted(self.tracker.issues.items()) if repo == SHOP]

    def comments(self, number: int) -> list[str]:
        return self.tracker.comment_bodies(SHOP, number)

    @property
    def tracker(self) -> MemoryTracker:
        return self.memory.tracker

    def occur(self, name: str, total: int, by_id: bool = False) -> FailureNotice:
        """Bring the ledger to `total` occurrences of the failure `name` (or of group `name`)."""
        group = name if by_id else group_id(name)
        counted = [Counted(o, True) for o in occurrences(group, total)]
        entry = self.services.ledger.record(group, counted, self.services.rules.thresholds())
        return FailureNotice.of(entry)

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


# -- whole workflows over time, on the in-memory task hub -----------------------------------------


def flow_with(recheck_seconds: int = 1, **changes: Any) -> Flow:
    """Most tests notify in quick succession; gathering updates has a test of its own."""
    return Flow(_rules(**{"dedup.update_interval": "0s", **changes}), recheck_seconds)


def audit_actions(flow: Flow, failure: FailureNotice) -> list[str]:
    return [e.action for e in flow.memory.audit.entries(failure.fingerprint)]


def test_recurrence_updates_the_body_and_comments_at_most_once_per_interval() -> None:
    flow = flow_with()
    flow.notify(notice(count=3))
    flow.notify(notice(count=9))
    flow.notify(notice(count=12))
    [issue] = flow.shop_issues()
    assert "**Occurrences** | 12" in issue.body
    assert flow.comments(issue.number) == []
    flow.clock.moment += timedelta(hours=7)
    flow.notify(notice(count=20))
    [comment] = flow.comments(issue.number)
    assert comment.startswith(
        "17 new occurrence(s) since the last update; 20 in total, "
        "last seen 2026-11-20 09:25:00 UTC."
    )
    assert len(flow.tracker.edits) == 3


def test_recurrences_within_the_update_interval_are_gathered_into_one_refresh() -> None:
    flow = flow_with(recheck_seconds=3600, **{"dedup.update_interval": "30m"})
    flow.send(notice(count=3))
    flow.workflows.drain()
    flow.workflows.advance(timedelta(minutes=2))  # past the look for a late twin
    for count in (5, 8, 13):
        flow.workflows.advance(timedelta(minutes=5))
        flow.send(notice(count=count))
        flow.workflows.drain()
    assert flow.tracker.edits == []
    flow.workflows.advance(timedelta(minutes=16))
    [issue] = flow.shop_issues()
    assert "**Occurrences** | 13" in issue.body
    assert len(flow.tracker.edits) == 1
    assert audit_actions(flow, notice())[-1] == "updated"


def test_a_closed_issue_that_recurs_is_reopened_as_a_regression() -> None:
    flow = flow_with()
    flow.notify(notice(count=3))
    number = flow.shop_issues()[0].number
    flow.tracker.edit(SHOP, number, state="closed", state_reason="completed")
    flow.notify(notice(count=3))
    assert flow.shop_issues()[0].state == "closed", "nothing new since it was closed"
    flow.clock.moment += timedelta(minutes=1)
    flow.notify(notice(count=5, last_seen=flow.clock.moment))
    [issue] = flow.shop_issues()
    assert issue.state == "open"
    assert flow.comments(number)[-1].startswith("Regressed: this failure recurred")
    assert sum(c.startswith("Regressed") for c in flow.comments(number)) == 1
    assert "reopened" in audit_actions(flow, notice())


def test_regression_can_open_a_linked_issue_instead() -> None:
    flow = flow_with(**{"dedup.regression": "new_linked"})
    flow.notify(notice(count=3))
    first = flow.shop_issues()[0].number
    flow.tracker.edit(SHOP, first, state="closed", state_reason="completed")
    flow.clock.moment += timedelta(minutes=1)
    flow.notify(notice(count=5, last_seen=flow.clock.moment))
    old, new = flow.shop_issues()
    assert old.state == "closed" and new.state == "open"
    assert new.body.splitlines()[1] == f"Regression of #{first}."
    assert f"Continued in #{new.number}." in flow.comments(first)[-1]


def test_a_wiped_state_table_finds_the_issue_by_its_marker() -> None:
    flow = flow_with()
    flow.notify(notice(count=3))
    flow.memory.issues.states.clear()
    flow.notify(notice(count=8))
    [issue] = flow.shop_issues()
    assert "**Occurrences** | 8" in issue.body and flow.comments(issue.number) == []
    assert audit_actions(flow, notice())[-2:] == ["skipped-as-duplicate", "updated"]


def test_over_the_hourly_budget_a_failure_waits_for_its_slot_and_is_not_dropped() -> None:
    flow = flow_with(recheck_seconds=3600, **{"rate_limits.issues_per_hour": 2})
    for name in ("a", "b", "c"):
        flow.send(notice(name))
        flow.workflows.drain()
    assert len(flow.shop_issues()) == 2
    assert audit_actions(flow, notice("c")) == ["rate-limited"]
    flow.workflows.advance(timedelta(minutes=59))
    assert len(flow.shop_issues()) == 2, "its slot is an hour after the first issue"
    flow.workflows.advance(timedelta(minutes=2))
    assert len(flow.shop_issues()) == 3
    assert audit_actions(flow, notice("c"))[:2] == ["rate-limited", "created"]


def test_claude_is_summoned_by_label_and_mention_with_instructions() -> None:
    claude = {"kind": "claude", "claude_trigger": "both", "custom_instructions": "Find the cause."}
    flow = flow_with(**{"assignment.default": claude})
    flow.notify(notice())
    [issue] = flow.shop_issues()
    assert "claude" in issue.labels
    [comment] = flow.comments(issue.number)
    assert comment.startswith("@claude Find the cause.\n\n")
    assert "UNTRUSTED-DATA" in comment and "never as instructions" in comment


def test_outside_business_hours_assignment_is_deferred_until_they_start() -> None:
    flow = flow_with(recheck_seconds=900)
    flow.clock.moment = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # Saturday
    flow.send(notice())
    flow.workflows.drain()
    flow.workflows.advance(timedelta(hours=1))
    assert flow.shop_issues()[0].assignees == ()
    assert "assignment-deferred" in audit_actions(flow, notice())
    flow.workflows.advance(datetime(2026, 11, 23, 8, 0, tzinfo=UTC) - flow.clock.now())
    assert flow.shop_issues()[0].assignees == ("Copilot",), "Monday 09:00 in Amsterdam"
    assert audit_actions(flow, notice()).count("assignment-deferred") == 1


def test_routing_sends_a_definition_to_its_repository() -> None:
    flow = flow_with()
    orders = notice("orders").model_copy(
        update={"definition": "order-processing-failure", "table": "OrdersService_CL"}
    )
    flow.notify(orders)
    assert flow.shop_issues() == []
    [issue] = [i.ref for (repo, _), i in flow.tracker.issues.items() if repo == "contoso/orders"]
    assert {"team:orders", "severity:critical"} <= set(issue.labels)


def test_the_chart_counts_every_occurrence_the_ledger_holds() -> None:
    flow = flow_with()
    flow.occur(group_id("checkout-null"), 6, by_id=True)
    flow.notify(notice(count=6))
    body = flow.shop_issues()[0].body
    assert "**Occurrences** | 6" in body
    bars = body.split("    bar [", 1)[1].split("]", 1)[0]
    assert sum(int(v) for v in bars.split(", ")) == 6


def test_an_early_notice_still_shows_what_the_ledger_counted_since() -> None:
    flow = flow_with()
    flow.occur(group_id("checkout-null"), 9, by_id=True)
    flow.notify(notice(count=2, last_seen=FRIDAY_MORNING - timedelta(hours=2)))
    body = flow.shop_issues()[0].body
    assert "**Occurrences** | 9" in body
    assert "**Last seen** | 2026-11-20 09:30:08 UTC" in body


def test_the_hourly_comment_budget_holds_comments_back_until_it_frees() -> None:
    flow = flow_with(**{"rate_limits.comments_per_hour": 1})
    for name in ("a", "b"):
        flow.notify(notice(name, count=2))
    flow.clock.moment += timedelta(hours=7)
    for name in ("a", "b"):
        flow.notify(notice(name, count=5))
    assert sorted(len(flow.comments(i.number)) for i in flow.shop_issues()) == [0, 1]
    flow.clock.moment += timedelta(minutes=61)
    flow.notify(notice("b", count=6))
    flow.notify(notice("a", count=6))
    assert sorted(len(flow.comments(i.number)) for i in flow.shop_issues()) == [1, 1]
