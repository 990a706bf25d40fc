"""The quiet-period close (`dedup.resolve_after_quiet`) on in-memory ports: which issues the daily
pass closes (quiet long enough, active, not kept open, not muted, as GitHub shows them), what it
says, that the next occurrence is a regression, and that it is idempotent, resumable after a
stop midway and within the comment budget. The pure decision's properties are in
`tests/unit/test_lifecycle_quiet.py`; the pass on Azurite and the GitHub fake, through the timer,
in `tests/integration/test_quiet.py`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from detection.rules import Dedup
from pipeline.quiet import resolve_quiet_issues
from pipeline.workflow.messages import Synced
from tests.support.failures import group_id
from tests.support.memory import MemoryTracker
from tests.unit.test_issue_workflow import SHOP, Flow, _rules

pytestmark = pytest.mark.unit

QUIET = timedelta(days=14)
LATER = QUIET + timedelta(minutes=1)
"""A moment the failures made on Friday morning have been quiet for longer than `QUIET`."""


def _flow(*names: str, **rules: Any) -> Flow:
    """Each failure in `names` with its issue, made on Friday morning."""
    flow = Flow(_rules(**{"dedup.resolve_after_quiet": "14d", **rules}))
    for name in names or ("checkout",):
        flow.sync(flow.occur(name, 3))
    return flow


def _quiet_comments(flow: Flow, number: int = 1) -> list[str]:
    return [c for c in flow.comments(number) if "faultline:quiet=" in c]


def _state(flow: Flow, name: str = "checkout"):  # type: ignore[no-untyped-def]
    state = flow.memory.issues.peek(group_id(name), SHOP)
    assert state is not None
    return state


def test_an_issue_quiet_for_the_period_is_closed_as_completed_with_a_comment_and_audited() -> None:
    flow = _flow()
    flow.clock.moment += LATER
    passed = resolve_quiet_issues(flow.services)
    assert passed.closed == 1 and passed.stopped is None
    issue = flow.tracker.get(SHOP, 1)
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    (comment,) = _quiet_comments(flow)
    assert "has not recurred for 14 day(s)" in comment
    assert "faultline:keep-open" in comment
    assert _state(flow).status == "resolved" and _state(flow).quiet_closing is None
    (row,) = [r for r in flow.memory.audit.rows if r.action == "resolved-quiet"]
    assert row.issue == 1 and "closed as completed" in row.reason


def test_the_next_occurrence_after_a_quiet_close_reopens_it_as_a_regression() -> None:
    flow = _flow()
    flow.clock.moment += LATER
    resolve_quiet_issues(flow.services)
    flow.clock.moment += timedelta(days=1)
    later = flow.occur("checkout", 4).model_copy(update={"last_seen": flow.clock.moment})
    synced = flow.sync(later)
    assert isinstance(synced, Synced) and synced.action == "reopened"
    assert flow.tracker.get(SHOP, 1).state == "open"
    assert _state(flow).status == "active"


def test_it_is_off_by_default_and_the_setting_is_validated() -> None:
    flow = Flow()
    flow.sync(flow.occur("checkout", 3))
    flow.clock.moment += timedelta(days=365)
    assert resolve_quiet_issues(flow.services).closed == 0
    assert flow.tracker.get(SHOP, 1).state == "open"
    assert Dedup().resolve_after_quiet is None
    with pytest.raises(ValidationError, match="resolve_after_quiet must be at least 1h"):
        Dedup.model_validate({"resolve_after_quiet": "30m"})
    with pytest.raises(ValidationError, match="has no unit"):
        Dedup.model_validate({"resolve_after_quiet": 14})


def test_a_failure_seen_within_the_period_stays_open_and_costs_no_request() -> None:
    flow = _flow()
    flow.clock.moment += QUIET - timedelta(minutes=1)  # last seen a few seconds after nine thirty
    requests = flow.tracker.requests
    assert resolve_quiet_issues(flow.services).closed == 0
    assert flow.tracker.requests == requests
    assert flow.tracker.get(SHOP, 1).state == "open"


@pytest.mark.parametrize(
    ("labels", "status"),
    [
        (["faultline:keep-open"], "active"),
        (["faultline:mute"], "muted"),
        (["faultline:mute-until:2027-01-31"], "muted"),
    ],
)
def test_issues_labelled_keep_open_or_muted_on_github_are_left_open(
    labels: list[str], status: str
) -> None:
    """Labels set without the webhook: the pass reads them from the issue, and remembers them."""
    flow = _flow()
    flow.tracker.edit(SHOP, 1, labels=[*flow.tracker.get(SHOP, 1).labels, *labels])
    flow.clock.moment += LATER
    assert resolve_quiet_issues(flow.services).closed == 0
    assert flow.tracker.get(SHOP, 1).state == "open" and _quiet_comments(flow) == []
    assert _state(flow).status == status
    assert _state(flow).keep_open == ("faultline:keep-open" in labels)
    assert flow.actions()[-1] == "steered"


def test_an_issue_closed_as_not_planned_is_left_muted() -> None:
    flow = _flow()
    flow.tracker.edit(SHOP, 1, state="closed", state_reason="not_planned")
    flow.clock.moment += LATER
    assert resolve_quiet_issues(flow.services).closed == 0
    assert flow.tracker.get(SHOP, 1).state_reason == "not_planned"
    assert _state(flow).status == "muted" and _quiet_comments(flow) == []


def test_a_second_pass_changes_nothing() -> None:
    flow = _flow()
    flow.clock.moment += LATER
    resolve_quiet_issues(flow.services)
    requests, rows = flow.tracker.requests, len(flow.memory.audit.rows)
    flow.clock.moment += timedelta(days=1)
    assert resolve_quiet_issues(flow.services).closed == 0
    assert (flow.tracker.requests, len(flow.memory.audit.rows)) == (requests, rows)


def test_an_issue_people_reopened_after_a_quiet_close_is_not_closed_again() -> None:
    flow = _flow()
    flow.clock.moment += LATER
    resolve_quiet_issues(flow.services)
    flow.tracker.edit(SHOP, 1, state="open", state_reason="reopened")  # someone disagrees
    state = _state(flow)
    flow.memory.issues.save(state.with_changes(status="active"))  # as the webhook steers it
    flow.clock.moment += timedelta(days=1)
    assert resolve_quiet_issues(flow.services).closed == 0
    assert flow.tracker.get(SHOP, 1).state == "open"
    assert _state(flow).status == "active" and len(_quiet_comments(flow)) == 1
    assert flow.actions().count("resolved-quiet") == 1


class _FailsToClose(MemoryTracker):
    """The close times out (the comment before it landed), `times` times: the pass stops."""

    def __init__(self, *args: Any, times: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.times = times

    def edit(self, repository: str, number: int, **changes: Any):  # type: ignore[no-untyped-def]
        if changes.get("state") == "closed" and self.times:
            self.times -= 1
            raise TimeoutError("GitHub did not answer the close")
        return super().edit(repository, number, **changes)


def test_a_pass_that_stopped_midway_finishes_the_close_once_on_the_next_run() -> None:
    flow = _flow()
    tracker = _FailsToClose(flow.clock.now)
    tracker.issues, flow.memory.tracker = flow.tracker.issues, tracker
    flow.clock.moment += LATER
    with pytest.raises(TimeoutError):
        resolve_quiet_issues(flow.services)
    assert tracker.get(SHOP, 1).state == "open" and len(_quiet_comments(flow)) == 1
    assert _state(flow).quiet_closing is not None, "the close is marked under way"
    flow.clock.moment += timedelta(days=1)
    assert resolve_quiet_issues(flow.services).closed == 1
    assert tracker.get(SHOP, 1).state == "closed"
    assert len(_quiet_comments(flow)) == 1, "the comment is found again, not repeated"
    assert flow.actions().count("resolved-quiet") == 1


def test_a_close_that_landed_before_the_pass_stopped_is_finished_and_audited_once() -> None:
    """The close reached GitHub, then the pass stopped (and the webhook may have marked the
    state resolved): the next pass records it without writing to GitHub again."""
    flow = _flow()
    flow.clock.moment += LATER
    state = _state(flow)
    last_seen = flow.services.ledger.summary(state.fingerprint).last_seen  # type: ignore[union-attr]
    flow.memory.issues.save(state.with_changes(quiet_closing=last_seen, status="resolved"))
    flow.tracker.edit(SHOP, 1, state="closed", state_reason="completed")
    edits = len(flow.tracker.edits)
    assert resolve_quiet_issues(flow.services).closed == 1
    assert len(flow.tracker.edits) == edits
    assert flow.actions().count("resolved-quiet") == 1
    assert _state(flow).quiet_closing is None


def test_the_pass_stops_when_the_hourly_comment_budget_is_used_and_the_next_closes_the_rest() -> (
    None
):
    flow = _flow("a", "b", "c", **{"rate_limits.comments_per_hour": 2})
    flow.clock.moment += LATER
    first = resolve_quiet_issues(flow.services)
    assert first.closed == 2 and first.stopped == "the hourly comment budget is used"
    flow.clock.moment += timedelta(days=1)
    assert resolve_quiet_issues(flow.services).closed == 1
    assert [flow.tracker.get(SHOP, n).state for n in (1, 2, 3)] == ["closed"] * 3


def test_a_deleted_issue_is_audited_as_refused_and_the_pass_goes_on() -> None:
    flow = _flow("a", "b")
    flow.tracker.delete(SHOP, 1)
    flow.clock.moment += LATER
    assert resolve_quiet_issues(flow.services).closed == 1
    assert flow.tracker.get(SHOP, 2).state == "closed"
    assert "refused" in [r.action for r in flow.memory.audit.rows if r.issue == 1]
