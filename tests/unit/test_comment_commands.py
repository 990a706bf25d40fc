"""`/faultline` commands in comments, through the webhook's endpoint and queue on in-memory ports:
who may run them (checked against the tracker, refused and audited otherwise), what each does
to the issue, its state and the grouping, the reply each gets (once, whatever is redelivered),
and comment text treated as hostile."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from detection.commands import may_steer
from pipeline.messages import FailureNotice
from pipeline.ports import Counted, IssueRef, TrackerRateLimited
from pipeline.webhook import handle
from pipeline.workflow.messages import Synced
from tests.support.failures import group_id, occurrences
from tests.support.webhooks import issue_payload, signed
from tests.unit.test_issue_workflow import SHOP, Flow
from tests.unit.test_webhook import SECRET, answer, deliver, recur

pytestmark = pytest.mark.unit

_ids = itertools.count(5000)


def _flow(*roles: tuple[str, str]) -> Flow:
    flow = Flow()
    flow.sync(flow.occur("checkout", 3))
    flow.tracker.roles.update({"alice": "write", **dict(roles)})
    return flow


def _comment(
    flow: Flow, text: str, author: str = "alice", number: int = 1, kind: str = "User"
) -> int:
    """`author` comments `text` on issue `number`; GitHub delivers the event."""
    flow.tracker.comment_as(author, SHOP, number, text)
    comment_id = next(_ids)
    payload = issue_payload(
        "created",
        flow.tracker.issues[(SHOP, number)].ref,
        author,
        sender_type=kind,
        comment=(author, text),
        comment_type=kind,
        comment_id=comment_id,
    )
    deliver(flow, "issue_comment", payload)
    return comment_id


def _replies(flow: Flow, number: int = 1) -> list[str]:
    return [b for b in flow.tracker.comment_bodies(SHOP, number) if "faultline:reply=" in b]


def _state(flow: Flow, name: str = "checkout"):  # type: ignore[no-untyped-def]
    state = flow.memory.issues.peek(group_id(name), SHOP)
    assert state is not None
    return state


def _audit(flow: Flow, action: str) -> list[str]:
    return [e.reason for e in flow.memory.audit.rows if e.action == action]


# -- who may steer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        ("admin", "admin", True),
        ("maintain", "write", True),
        ("write", "write", True),
        ("triage", "read", True),
        ("read", "read", False),
        ("release-manager", "write", True),  # a custom role built on write
        ("auditor", "read", False),
    ],
)
def test_who_may_steer(role: str, permission: str, allowed: bool) -> None:
    assert may_steer(role, permission) is allowed


@pytest.mark.parametrize("author", ["mallory", "reader"])
def test_a_command_from_someone_without_triage_or_write_is_refused_and_audited(
    author: str,
) -> None:
    flow = _flow(("reader", "read"))
    _comment(flow, "/faultline mute", author=author)
    (reply,) = _replies(flow)
    assert "was not run" in reply
    assert _state(flow).status == "active"
    assert flow.tracker.get(SHOP, 1).labels == ("faultline", "severity:high")
    (refused,) = _audit(flow, "command-refused")
    assert refused.startswith(f"/faultline mute by {author}: ")
    assert refused.endswith("read" if author == "reader" else "not a collaborator")
    _comment(flow, "/faultline resolve", author=author)
    assert len(_replies(flow)) == 1, "a refusal is said once per person and issue"
    assert len(_audit(flow, "command-refused")) == 2, "and audited every time"
    assert flow.tracker.get(SHOP, 1).state == "open"


def test_bots_and_faultline_itself_are_never_obeyed_and_never_answered() -> None:
    flow = _flow(("renovate[bot]", "write"))
    _comment(flow, "/faultline mute", author="renovate[bot]", kind="Bot")
    _comment(flow, "/faultline mute", author=flow.tracker.login)
    assert _replies(flow) == [] and _state(flow).status == "active"
    assert not any(a.startswith("command") for a in flow.actions())


def test_comments_that_are_not_commands_are_left_alone() -> None:
    flow = _flow()
    requests = flow.tracker.requests
    _comment(flow, "Looking into it. Will `/faultline mute` it if it is noise.")
    assert flow.tracker.requests == requests, "not even a permission check"
    assert _replies(flow) == []


# -- what each command does -----------------------------------------------------------------


def test_mute_for_a_week_labels_the_issue_and_the_next_syncs_leave_it_alone() -> None:
    flow = _flow()
    _comment(flow, "/faultline mute 7d\n\nknown, the vendor fixes it next week")
    state = _state(flow)
    until = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert (state.status, state.muted_until) == ("muted", until)
    assert flow.tracker.get(SHOP, 1).labels == (
        "faultline",
        "severity:high",
        "faultline:mute",
        "faultline:mute-until:2026-11-27T09:30Z",
    )
    (reply,) = _replies(flow)
    assert reply.startswith("Muted until 2026-11-27 09:30 UTC.")
    assert _audit(flow, "command")[0].startswith("/faultline mute 1w by alice: Muted until")
    flow.clock.moment += timedelta(hours=7)
    outcome = flow.sync(recur(flow, 9))
    assert isinstance(outcome, Synced) and outcome.action == "unchanged"
    assert _state(flow).status == "muted", "the labels' event and the sync agree with the command"


def test_a_mute_that_github_will_not_label_is_not_a_mute() -> None:
    flow = _flow()
    edit = flow.tracker.edit

    def without_push_access(repository: str, number: int, **changes: object) -> IssueRef:
        changes.pop("labels", None)  # what GitHub does for a token without push access
        return edit(repository, number, **changes)

    flow.tracker.edit = without_push_access  # type: ignore[method-assign]
    _comment(flow, "/faultline mute 7d")
    assert _replies(flow)[0].startswith("Not muted: GitHub did not set the `faultline:mute`")
    state = _state(flow)
    assert (state.status, state.muted_until) == ("active", None)


def test_mute_until_100_more_ends_at_that_count() -> None:
    flow = _flow()
    _comment(flow, "/faultline mute until 100 more")
    assert _state(flow).mute_until_count == 103
    flow.clock.moment += timedelta(hours=7)
    assert flow.sync(recur(flow, 102)).action == "unchanged"  # type: ignore[union-attr]
    flow.clock.moment += timedelta(hours=7)
    outcome = flow.sync(recur(flow, 103))
    assert isinstance(outcome, Synced) and outcome.action in ("updated", "commented")
    assert "faultline:mute" not in flow.tracker.get(SHOP, 1).labels
    assert (_state(flow).status, _state(flow).mute_until_count) == ("active", None)


def test_resolve_in_a_version_closes_the_issue_and_keeps_the_version() -> None:
    flow = _flow()
    _comment(flow, "/faultline resolve in 2.14.0")
    issue = flow.tracker.get(SHOP, 1)
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    closed = issue_payload("closed", issue, "alice")
    deliver(flow, "issues", closed)  # the close's own event agrees
    state = _state(flow)
    assert (state.status, state.resolved_in) == ("resolved", "2.14.0")
    assert _replies(flow)[0].startswith("Resolved in version `2.14.0`")
    flow.clock.moment += timedelta(hours=2)
    assert flow.sync(recur(flow, 4)).action == "reopened"  # type: ignore[union-attr]
    assert (_state(flow).status, _state(flow).resolved_in) == ("active", None)


def _recur_from(flow: Flow, total: int, version: str) -> FailureNotice:
    """Occurrences up to `total`, the new ones now and from app version `version`."""
    group = group_id("checkout")
    summary = flow.services.ledger.summary(group)
    assert summary is not None and summary.founder is not None
    later = [
        Counted(
            replace(
                summary.founder,
                record_id=f"{version}-{i}",
                time=flow.clock.moment,
                app_version=version,
            ),
            True,
        )
        for i in range(total - summary.count)
    ]
    entry = flow.services.ledger.record(group, later, flow.services.rules.thresholds())
    return FailureNotice.of(entry)


@pytest.mark.parametrize(
    ("version", "regressed"),
    [("2.13.0", False), ("v2.13.9", False), ("2.14.0rc1", False), ("2.14.0", True)],
)
def test_after_resolve_in_a_version_only_that_version_or_later_reopens(
    version: str, regressed: bool
) -> None:
    flow = _flow()
    _comment(flow, "/faultline resolve in 2.14.0")
    flow.clock.moment += timedelta(hours=2)
    outcome = flow.sync(_recur_from(flow, 5, version))
    assert isinstance(outcome, Synced)
    assert outcome.action == ("reopened" if regressed else "updated")
    assert flow.tracker.get(SHOP, 1).state == ("open" if regressed else "closed")
    assert _state(flow).resolved_in == (None if regressed else "2.14.0")


def test_an_earlier_version_recurs_on_the_closed_issue_until_the_fixed_one_regresses() -> None:
    flow = _flow()
    _comment(flow, "/faultline resolve in 2.14.0")
    flow.clock.moment += timedelta(hours=2)
    assert flow.sync(_recur_from(flow, 5, "2.13.0")).action == "updated"  # type: ignore[union-attr]
    issue = flow.tracker.get(SHOP, 1)
    assert issue.state == "closed" and "**Occurrences** | 5" in issue.body
    assert "(version `2.13.0`)" in issue.body, "the last version it occurred in"
    assert "earlier versions: not a regression" in flow.memory.audit.rows[-1].reason
    assert not any("Regressed" in c for c in flow.comments(1))
    flow.clock.moment += timedelta(hours=1)
    assert flow.sync(_recur_from(flow, 6, "2.14.1")).action == "reopened"  # type: ignore[union-attr]
    (regressed,) = [c for c in flow.comments(1) if c.startswith("Regressed")]
    assert regressed.startswith("Regressed in version 2.14.1")


def test_why_shows_the_components_with_log_text_made_inert() -> None:
    flow = Flow()
    flow.tracker.roles["alice"] = "triage"
    group = group_id("checkout")
    components = {
        "version": 3,
        "basis": "stack",
        "components": [
            {"name": "type", "value": "TypeError", "contributes": True, "hint": "root"},
            {
                "name": "message",
                "value": "user @octocat | <b>x</b> #12",
                "contributes": False,
                "hint": "stack traces group by their frames",
            },
        ],
    }
    counted = [
        Counted(replace(o, components=json.dumps(components)), True) for o in occurrences(group, 3)
    ]
    entry = flow.services.ledger.record(group, counted, flow.services.rules.thresholds())
    flow.sync(FailureNotice.of(entry))
    _comment(flow, "/faultline why")
    (reply,) = _replies(flow)
    assert f"group is `{group}`" in reply and "algorithm v3 from its stack" in reply
    assert "| type | `TypeError` | yes | root |" in reply
    (value,) = [line for line in reply.splitlines() if line.startswith("| message |")]
    assert value.startswith("| message | `user @octocat \\| <b>x</b> #12` | no |")
    outside_code = reply.replace(value, "")
    assert "@octocat" not in outside_code and "<b>" not in outside_code


def test_an_invalid_command_gets_the_usage_and_never_its_own_text_back() -> None:
    flow = _flow()
    _comment(flow, "/faultline mute @everyone <img src=x onerror=alert(1)> [x](http://evil)")
    (reply,) = _replies(flow)
    assert "`mute` takes nothing, a duration" in reply
    for hostile in ("@everyone", "<img", "evil"):
        assert hostile not in reply
    assert _audit(flow, "command-invalid") == ["/faultline (not a command) by alice: not a command"]


def test_a_redelivered_command_is_answered_and_run_once() -> None:
    flow = _flow()
    flow.tracker.comment_as("alice", SHOP, 1, "/faultline resolve")
    payload = issue_payload(
        "created", flow.tracker.get(SHOP, 1), "alice", comment=("alice", "/faultline resolve")
    )
    headers, body = signed(SECRET, "issue_comment", payload)
    answer(flow, headers, body)
    message, _ = flow.memory.github_event_queue.sent.pop()
    handle(flow.services, message)
    handle(flow.services, message)  # the queue's redelivery
    assert len(_replies(flow)) == 1 and len(_audit(flow, "command")) == 1


# -- merge and unmerge ------------------------------------------------------------------------


def _two_issues() -> Flow:
    flow = _flow()
    flow.sync(flow.occur("payment", 3))
    assert flow.tracker.get(SHOP, 2).body
    return flow


def test_merge_folds_this_failure_into_the_other_issue_visibly_and_for_good() -> None:
    flow = _two_issues()
    checkout, payment = group_id("checkout"), group_id("payment")
    _comment(flow, "/faultline merge #2")
    assert flow.services.grouping.resolve(checkout) == payment
    merged = flow.tracker.get(SHOP, 1)
    assert (merged.state, merged.state_reason) == ("closed", "duplicate")
    assert _replies(flow)[0].startswith("Merged into #2")
    assert any("#1 was merged into this issue" in c for c in flow.comments(2))
    state = _state(flow)
    assert (state.folded_into, state.merged_into) == (2, payment)
    (notice, _) = flow.memory.failure_queue.sent[-1]
    assert FailureNotice.model_validate_json(notice).fingerprint == payment
    # the survivor's workflow folds the counts onto #2; the absorbed one hands over to it
    flow.clock.moment += timedelta(hours=7)
    flow.sync(FailureNotice.model_validate_json(notice))
    assert flow.services.ledger.summary(payment).count == 6  # type: ignore[union-attr]
    assert flow.sync(flow.occur("checkout", 3)).action == "folded"  # type: ignore[union-attr]
    assert flow.tracker.get(SHOP, 1).state == "closed", "the merged issue stays closed"


def test_merge_refuses_issues_faultline_does_not_track_and_itself() -> None:
    flow = _flow()
    flow.tracker.open_as("bob", SHOP, "a feature request", "please add dark mode")
    _comment(flow, "/faultline merge #2")
    _comment(flow, "/faultline merge #1")
    _comment(flow, "/faultline merge #99")
    assert [r.partition("\n")[0] for r in _replies(flow)] == [
        "#2 is not an issue Faultline tracks here; nothing was merged.",
        "This is that issue; nothing was merged.",
        "#99 is not an issue Faultline tracks here; nothing was merged.",
    ]
    assert flow.services.grouping.resolve(group_id("checkout")) == group_id("checkout")


def test_unmerge_on_the_merged_issue_undoes_the_merge() -> None:
    flow = _two_issues()
    checkout = group_id("checkout")
    _comment(flow, "/faultline merge #2")
    _comment(flow, "/faultline mute")  # a merged issue is steered on its survivor
    assert "continues on #2" in _replies(flow)[-1]
    _comment(flow, "/faultline unmerge")
    assert flow.services.grouping.resolve(checkout) == checkout
    assert flow.tracker.get(SHOP, 1).state == "open"
    state = _state(flow)
    assert (state.folded_into, state.merged_into, state.number) == (None, None, 1)
    assert _replies(flow)[-1].startswith("Unmerged from #2")
    assert any("#1 was unmerged" in c for c in flow.comments(2))
    flow.clock.moment += timedelta(hours=7)
    outcome = flow.sync(recur(flow, 5))
    assert isinstance(outcome, Synced) and outcome.number == 1


def test_a_merge_interrupted_by_a_rate_limit_finishes_once_when_the_event_comes_back() -> None:
    flow = _two_issues()
    comment, limited = flow.tracker.comment, [True]

    def once_limited(repository: str, number: int, body: str) -> None:
        if limited.pop() if limited else False:
            raise TrackerRateLimited(timedelta(seconds=60), "secondary rate limit", secondary=True)
        comment(repository, number, body)

    flow.tracker.comment = once_limited  # type: ignore[method-assign]
    # rate-limited at its comment on #2 with the state already saved, then re-queued and run
    _comment(flow, "/faultline merge #2")
    assert limited == []
    assert [r.partition("\n")[0][:14] for r in _replies(flow)] == ["Merged into #2"]
    assert sum("#1 was merged into this issue" in c for c in flow.comments(2)) == 1
    assert flow.tracker.get(SHOP, 1).state_reason == "duplicate"
    assert flow.services.grouping.resolve(group_id("checkout")) == group_id("payment")


def test_an_unmerge_interrupted_by_a_rate_limit_finishes_once() -> None:
    flow = _two_issues()
    _comment(flow, "/faultline merge #2")
    comment, limited = flow.tracker.comment, [True]

    def once_limited(repository: str, number: int, body: str) -> None:
        if number == 2 and (limited.pop() if limited else False):
            raise TrackerRateLimited(timedelta(seconds=60), "secondary rate limit", secondary=True)
        comment(repository, number, body)

    flow.tracker.comment = once_limited  # type: ignore[method-assign]
    _comment(flow, "/faultline unmerge")  # rate-limited at its comment on #2, then re-queued
    assert limited == []
    assert sum("#1 was unmerged" in c for c in flow.comments(2)) == 1
    assert _replies(flow)[-1].startswith("Unmerged from #2")
    assert (_state(flow).folded_into, flow.tracker.get(SHOP, 1).state) == (None, "open")
