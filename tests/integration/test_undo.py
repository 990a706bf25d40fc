"""Undo a bad run for real: `POST /api/undo` through the app's own handler, its orchestration on
durabletask's in-memory backend, state in Azurite, 200 issues on the GitHub wire fake. Timeouts
after GitHub did the work are injected midway (a close, a comment); every issue of the run ends
closed as not planned, labelled and commented exactly once, and the issues of no run are left
alone. The selection and each step's decisions are in `tests/unit/test_undo.py`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from detection.markers import marker
from local_host.host import FunctionTable, http_request
from pipeline.ports import IssueState
from tests.fakes.github import SecondaryRateLimit, TimeoutAfterSuccess
from tests.integration.test_workflow import Workflow, make_workflow, occur
from tests.support.failures import FRIDAY_MORNING, group_id

pytestmark = pytest.mark.integration

__all__ = ["make_workflow"]  # the fixture, shared with the workflow's tests

RUN = "replay-0123456789abcdef"
SHOP = "contoso/shop"


def _made_by_the_run(flow: Workflow, count: int, run: str | None) -> list[str]:
    """Issues as the workflow leaves them (written by Faultline's login, marker first) and
    their state rows, naming the issue and the run."""
    groups = []
    for index in range(count):
        group = group_id(f"{run}-{index}")
        occur(flow, 3, group)
        body = f"{marker(group)}\nbody"
        number = flow.github.seed_issue("contoso", "shop", f"failure {index}", body)
        state = IssueState(group, SHOP, number=number, intent_at=FRIDAY_MORNING, run=run)
        assert flow.services.issues.save(state) is not None
        groups.append(group)
    return groups


def _run_to_the_end(flow: Workflow) -> None:
    """Run the orchestration on simulated time: each wait (GitHub's secondary limit on content
    creation, a retry's backoff) passes as soon as nothing else can happen."""
    while True:
        flow.durable.run_due_work(timeout=300)
        due = flow.durable.next_timer_due()
        if due is None:
            return
        flow.clock.advance(max(due - flow.clock.now(), timedelta(0)))


def _undo(functions: FunctionTable, flow: Workflow, **body: object) -> tuple[int, dict]:
    response = functions.user_function("undo_bad_run")(
        http_request("POST", "undo", json.dumps(body).encode()), flow.durable.binding
    )
    return response.status_code, json.loads(response.get_body())


def test_an_undo_of_a_200_issue_run_closes_each_exactly_once_through_timeouts(
    make_workflow, functions: FunctionTable
) -> None:
    flow = make_workflow(simulated_timers=True)
    groups = _made_by_the_run(flow, 200, RUN)
    bystanders = _made_by_the_run(flow, 2, None)
    status, shown = _undo(functions, flow, run=RUN)
    assert (status, shown["would_close"], shown["confirm"]) == (200, 200, False)
    assert flow.github.calls("PATCH") == [], "a preview changes nothing"

    flow.github.fail_next(
        TimeoutAfterSuccess(delay_seconds=2), method="PATCH", path="/repos/contoso/shop/issues/60"
    )
    flow.github.fail_next(
        TimeoutAfterSuccess(delay_seconds=2),
        method="POST",
        path="/repos/contoso/shop/issues/120/comments",
    )
    flow.github.fail_next(
        SecondaryRateLimit(retry_after=1), method="PATCH", path="/repos/contoso/shop/issues/150"
    )
    status, started = _undo(functions, flow, run=RUN, confirm=True)
    assert status == 202 and started["started"] and started["closing"] == 200
    _run_to_the_end(flow)

    faulted = [c.path for c in flow.github.requests if c.fault is not None]
    assert sorted(faulted) == [
        "/repos/contoso/shop/issues/120/comments",
        "/repos/contoso/shop/issues/150",
        "/repos/contoso/shop/issues/60",
    ], "the faults were met midway"
    issues = {i["number"]: i for i in flow.shop_issues()}
    undone = [i for i in issues.values() if "faultline:undone" in i["labels"]]
    assert len(undone) == 200
    assert all((i["state"], i["state_reason"]) == ("closed", "not_planned") for i in undone)
    assert all(len(i["comments"]) == 1 for i in undone)
    closes = Counter(
        c.path
        for c in flow.github.calls("PATCH", "/repos/contoso/shop/issues/*")
        if c.status == 200 and (c.json or {}).get("state") == "closed"
    )
    assert len(closes) == 200 and set(closes.values()) == {1}, "each closed exactly once"
    comments = Counter(
        c.path
        for c in flow.github.calls("POST", "/repos/contoso/shop/issues/*/comments")
        if c.status == 201
    )
    assert len(comments) == 200 and set(comments.values()) == {1}
    assert [issues[n]["state"] for n in (201, 202)] == ["open", "open"]
    for group in groups:
        assert [e.action for e in flow.services.audit.entries(group)].count("undone") == 1
        state = flow.services.issues.peek(group, SHOP)
        assert state is not None and state.status == "muted"
    assert all(flow.services.issues.peek(g, SHOP).status == "active" for g in bystanders)  # type: ignore[union-attr]

    writes = len([c for c in flow.github.requests if c.is_write])
    status, again = _undo(functions, flow, run=RUN, confirm=True)
    assert status == 202 and again["undo"] == started["undo"]
    _run_to_the_end(flow)
    assert len([c for c in flow.github.requests if c.is_write]) == writes, "nothing twice"


def test_a_bad_undo_request_is_a_400_naming_the_field(
    make_workflow, functions: FunctionTable
) -> None:
    flow = make_workflow()
    status, body = _undo(functions, flow, run=RUN, groups="delete", confirm=True)
    assert status == 400 and body["error"] == "invalid undo request"
    assert [p for p in body["problems"] if p.startswith("groups:")]
    status, body = _undo(functions, flow, confirm=True)
    assert status == 400 and "name at least one of" in body["problems"][0]
    assert flow.github.calls("PATCH") == []
