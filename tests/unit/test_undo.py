"""Undo a bad run on in-memory ports: what a request selects (run, definition, fingerprints,
time), the preview, one issue's undo (closed as not planned, labelled, one comment, its group
muted or forgotten) repeated without effect, and the CLI over the same code. The orchestration
against Durable, Azurite and the GitHub wire fake is `tests/integration/test_undo.py`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from durabletask import task
from pydantic import ValidationError

from detection.markers import find_marker
from pipeline.ports import IssueState
from pipeline.undo import (
    UNDONE_LABEL,
    Undone,
    UndoPlan,
    UndoRequest,
    UndoStep,
    UndoTarget,
    plan_undo,
    preview,
    undo_issue,
)
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.messages import Synced, Wait
from pipeline.workflow.undo_orchestrator import ISSUES_PER_GENERATION, undo_run
from scripts.undo import main
from tests.support.failures import group_id
from tests.unit.test_issue_workflow import SHOP, Flow
from tests.unit.test_orchestrator import Call, Context, Failed, Timer

pytestmark = pytest.mark.unit

RUN = "replay-00112233445566aa"


def _issues(flow: Flow, names: list[str], run: str | None = RUN) -> list[str]:
    """Issues made by the workflow for these failures, `run` recorded as a replay's notice
    carries it."""
    groups = []
    for name in names:
        notice = flow.occur(name, 3).model_copy(update={"run": run})
        created = sync_issue(flow.services, flow.request(notice))
        assert isinstance(created, Synced) and created.action == "created"
        groups.append(notice.fingerprint)
    return groups


def test_the_workflow_records_the_run_that_created_the_issue() -> None:
    flow = Flow()
    (group,) = _issues(flow, ["checkout"])
    state = flow.services.issues.peek(group, SHOP)
    assert state is not None and state.run == RUN
    (created,) = flow.memory.audit.entries(group)
    assert created.reason.endswith(f"(run {RUN})")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "name at least one of definition, fingerprints, start/end or run"),
        ({"run": "replay-xyz"}, "String should match pattern"),
        (
            {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T09:00:00Z"},
            "end must be after start",
        ),
        ({"run": RUN, "groups": "delete"}, "Input should be 'mute' or 'forget'"),
    ],
    ids=["nothing", "run", "order", "groups"],
)
def test_a_request_that_selects_nothing_or_badly_is_refused(
    body: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        UndoRequest.model_validate(body)


def test_an_undo_selects_by_run_definition_fingerprints_and_time() -> None:
    flow = Flow()
    bad = _issues(flow, ["a", "b", "c"])
    flow.clock.moment += timedelta(hours=3)
    (other,) = _issues(flow, ["d"], run=None)

    def selected(**body: Any) -> set[str]:
        plan = plan_undo(flow.services, UndoRequest.model_validate(body))
        return {t.fingerprint for t in plan.targets}

    assert selected(run=RUN) == set(bad)
    assert selected(definition="unhandled-exception") == {*bad, other}
    assert selected(definition="failed-request") == set()
    assert selected(fingerprints=[bad[0], other]) == {bad[0], other}
    later = (flow.clock.moment - timedelta(hours=1)).isoformat()
    assert selected(start=later) == {other}
    assert selected(end=later, definition="unhandled-exception") == set(bad)


def test_the_preview_lists_what_it_would_close_and_changes_nothing() -> None:
    flow = Flow()
    _issues(flow, ["a", "b"])
    edits = len(flow.tracker.edits)
    shown = preview(plan_undo(flow.services, UndoRequest(run=RUN)))
    assert shown["would_close"] == 2 and shown["confirm"] is False
    assert [i["number"] for i in shown["issues"]] == [1, 2]  # type: ignore[index]
    assert len(flow.tracker.edits) == edits and flow.memory.audit.actions() == ["created"] * 2


def _step(flow: Flow, groups: str = "mute") -> UndoStep:
    plan = plan_undo(flow.services, UndoRequest(run=RUN, groups=groups))  # type: ignore[arg-type]
    (target,) = plan.targets
    return UndoStep(undo_id=plan.undo_id, groups=plan.groups, reason=plan.reason, target=target)


def test_one_issue_is_closed_labelled_and_commented_once_and_its_group_muted() -> None:
    flow = Flow()
    (group,) = _issues(flow, ["checkout"])
    step = _step(flow)
    assert undo_issue(flow.services, step) == Undone(outcome="closed")
    issue = flow.tracker.get(SHOP, 1)
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    assert {UNDONE_LABEL, "faultline:mute", "faultline"} <= set(issue.labels)
    writes = (len(flow.tracker.edits), len(flow.comments(1)))
    assert undo_issue(flow.services, step) == Undone(outcome="already-closed")
    assert (len(flow.tracker.edits), len(flow.comments(1))) == writes, "a retry writes nothing"
    (comment,) = flow.comments(1)
    assert f"undo of run {RUN}" in comment
    state = flow.services.issues.peek(group, SHOP)
    assert state is not None and state.status == "muted" and state.number == 1
    undone = [e for e in flow.memory.audit.entries(group) if e.action == "undone"]
    assert len(undone) == 1 and "closed as not planned, group muted" in undone[0].reason
    flow.clock.moment += timedelta(hours=2)
    again = sync_issue(flow.services, flow.request(flow.occur("checkout", 9)))
    assert isinstance(again, Synced) and again.action == "unchanged", "muted: left alone"


def test_a_forgotten_group_loses_its_marker_and_the_next_occurrence_opens_a_new_issue() -> None:
    flow = Flow()
    (group,) = _issues(flow, ["checkout"])
    undo_issue(flow.services, _step(flow, "forget"))
    assert find_marker(flow.tracker.get(SHOP, 1).body) is None
    assert flow.services.issues.peek(group, SHOP) == IssueState(
        group,
        SHOP,
        etag=flow.services.issues.peek(group, SHOP).etag,  # type: ignore[union-attr]
    )
    flow.clock.moment += timedelta(hours=2)
    created = sync_issue(flow.services, flow.request(flow.occur("checkout", 9)))
    assert isinstance(created, Synced) and (created.action, created.number) == ("created", 2)


def test_the_cli_previews_then_closes_through_the_same_code(capsys) -> None:
    flow = Flow()
    groups = _issues(flow, ["a", "b"])
    assert main(["--run", RUN], services=flow.services) == 0
    assert '"would_close": 2' in capsys.readouterr().out
    assert all(i.ref.state == "open" for i in flow.tracker.issues.values())
    assert main(["--run", RUN, "--groups", "forget", "--confirm"], services=flow.services) == 0
    assert '"closed": 2' in capsys.readouterr().out
    assert all(i.ref.state == "closed" for i in flow.tracker.issues.values())
    assert all(flow.services.issues.peek(g, SHOP).number is None for g in groups)  # type: ignore[union-attr]
    assert main(["--run", "nope"], services=flow.services) == 2
    assert group_id("a") in groups


def _orchestrate(plan: UndoPlan, answers: list[Any]) -> tuple[list[Any], Any, Context]:
    """Step the undo's orchestrator, answering its activity calls in order (then `undone`)."""
    ctx = Context()
    steps = undo_run(ctx, plan.payload())  # type: ignore[arg-type]
    taken: list[Any] = []
    sent: Any = None
    thrown: BaseException | None = None
    try:
        while True:
            step = steps.throw(thrown) if thrown else steps.send(sent)
            thrown, sent = None, None
            taken.append(step)
            if isinstance(step, Timer):
                ctx.current_utc_datetime += step.after
                continue
            reply = answers.pop(0) if answers else Undone(outcome="closed").payload()
            if isinstance(reply, Failed):
                thrown = task.TaskFailedError(str(reply), reply)  # type: ignore[arg-type]
            else:
                sent = reply
    except StopIteration as stop:
        return taken, stop.value, ctx


def _plan(targets: int, next_: int = 0) -> UndoPlan:
    return UndoPlan(
        undo_id="undo-0011223344556677",
        groups="mute",
        reason=f"undo of run {RUN}",
        targets=tuple(
            UndoTarget(fingerprint=group_id(str(i)), repository=SHOP, number=i + 1)
            for i in range(targets)
        ),
        next=next_,
    )


def test_the_orchestrator_restarts_its_history_every_few_issues_and_resumes_there() -> None:
    taken, output, ctx = _orchestrate(_plan(60), [])
    numbers = [s.input["target"]["number"] for s in taken if isinstance(s, Call)]
    assert numbers == list(range(1, ISSUES_PER_GENERATION + 1)) and output is None
    assert ctx.continued_with is not None and ctx.continued_with["next"] == ISSUES_PER_GENERATION
    taken, output, _ = _orchestrate(_plan(60, next_=50), [])
    assert [s.input["target"]["number"] for s in taken] == list(range(51, 61))
    assert output == {"undo": "undo-0011223344556677", "done": 60}


def test_the_orchestrator_waits_as_github_asks_and_backs_off_when_it_keeps_failing() -> None:
    wait = Wait(wait_seconds=42, reason="secondary limit", exact=True).payload()
    taken, output, _ = _orchestrate(_plan(2), [wait, Failed("down"), Failed("down")])
    assert [type(s).__name__ for s in taken] == [
        "Call", "Timer", "Call", "Timer", "Call", "Timer", "Call", "Call",
    ]  # fmt: skip
    timers = [s.after for s in taken if isinstance(s, Timer)]
    assert timers == [timedelta(seconds=42), timedelta(minutes=1), timedelta(minutes=2)]
    first = [s.input["target"]["number"] for s in taken if isinstance(s, Call)]
    assert first == [1, 1, 1, 1, 2], "the same issue until it is done"
    assert output["done"] == 2


def test_a_long_outage_restarts_the_history_at_the_issue_it_was_on() -> None:
    taken, output, ctx = _orchestrate(_plan(3, next_=1), [Failed("down")] * 10)
    assert output is None and ctx.continued_with is not None
    assert ctx.continued_with["next"] == 1
    assert [s.after for s in taken if isinstance(s, Timer)][-1] == timedelta(minutes=15)
