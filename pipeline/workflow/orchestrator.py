"""The issue workflow's orchestrator: it only sequences, so Durable can replay it.

No I/O and no clock but `ctx.current_utc_datetime`: every decision that needs the clock, state
or GitHub is an activity. Waits (a slot in Faultline's hourly budget, GitHub's rate limits,
business hours) are durable timers, capped at the recheck interval, after which the activity
decides again; only a held budget slot or GitHub's own retry-after is waited for in full, since
asking again before it would get the same answer. Long waits restart the orchestration
(continue-as-new) every few rechecks so that its history, replayed on every step, stays short.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

from durabletask import task

from pipeline.workflow.messages import (
    ASSIGN_RESULT,
    DECISION,
    SYNC_RESULT,
    Assigned,
    AuditNote,
    Decided,
    FinishCheck,
    Synced,
    Wait,
    WorkflowRequest,
)

GITHUB_RETRY = task.RetryPolicy(
    first_retry_interval=timedelta(seconds=2),
    max_number_of_attempts=6,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(minutes=2),
)
STORAGE_RETRY = task.RetryPolicy(
    first_retry_interval=timedelta(seconds=1),
    max_number_of_attempts=5,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=30),
)
WAITS_PER_GENERATION = 10
LATE_WRITE_RECHECK = timedelta(minutes=2)
"""How soon after a create to look again for a second issue that a lost write made."""

Steps = Generator[task.Task[Any], Any, Any]


def issue_workflow(ctx: task.OrchestrationContext, payload: dict[str, Any]) -> Steps:
    """Sync the issue, assign it, and sync again if the failure recurred meanwhile."""
    request = WorkflowRequest.model_validate(payload)
    recheck = timedelta(seconds=request.recheck_seconds)
    outcome: Synced | None = None
    if request.assign is None:
        outcome = yield from _sync(ctx, request, recheck)
        if outcome is None:
            return None
        if outcome.needs_assignment:
            request = request.model_copy(update={"assign": outcome, "waits": 0})
    if request.assign is not None:
        outcome = yield from _assign(ctx, request, request.assign, recheck)
        if outcome is None:
            return None
    if outcome is None:
        raise RuntimeError("a workflow ran neither a sync nor an assignment")
    if outcome.action == "created" and not request.rechecked:
        # a create whose write GitHub performed late surfaces a little later: look once more,
        # as a full sync (it clears the noted recurrences, so it must also see their refresh)
        yield ctx.create_timer(ctx.current_utc_datetime + min(LATE_WRITE_RECHECK, recheck))
        request = request.model_copy(update={"assign": None, "waits": 0, "rechecked": True})
        if (yield from _sync(ctx, request, recheck)) is None:
            return None
    check = FinishCheck(
        fingerprint=request.fingerprint,
        repository=request.repository,
        generation=request.generation,
    )
    recurred = yield ctx.call_activity(
        "finish_or_resync", input=check.payload(), retry_policy=STORAGE_RETRY
    )
    if recurred:
        again = {"assign": None, "waits": 0, "failed_rounds": 0}
        ctx.continue_as_new(
            request.model_copy(update={**again, "generation": request.generation + 1}).payload()
        )
        return None
    return outcome.payload()


def _assign(
    ctx: task.OrchestrationContext, request: WorkflowRequest, outcome: Synced, recheck: timedelta
) -> Generator[task.Task[Any], Any, Synced | None]:
    """Assign once business hours allow; None when the orchestration continued as new."""
    if outcome.number is None:
        raise ValueError(f"{request.fingerprint}: a sync asked for assignment without an issue")
    on_issue = request.model_copy(update={"issue": outcome.number}).payload()
    waits = request.waits
    while True:
        decision: Decided | Assigned | Wait = DECISION.validate_python(
            (
                yield ctx.call_activity(
                    "assignment_decision", input=on_issue, retry_policy=STORAGE_RETRY
                )
            )
        )
        if isinstance(decision, Decided) and decision.action == "assign":
            decision = ASSIGN_RESULT.validate_python(
                (yield ctx.call_activity("assign_issue", input=on_issue, retry_policy=GITHUB_RETRY))
            )
            if isinstance(decision, Assigned):
                return outcome.model_copy(update={"assigned": decision.assigned})
            # GitHub asked to wait: wait as long as it said, then decide and assign again
        if not isinstance(decision, Wait):
            return outcome
        if waits == 0:
            action = "rate-limited" if decision.exact else "assignment-deferred"
            yield _audit(ctx, request, action, decision.reason, outcome.number)
        waits += 1
        yield ctx.create_timer(ctx.current_utc_datetime + _wait(decision, recheck))
        if waits % WAITS_PER_GENERATION == 0:
            ctx.continue_as_new(request.model_copy(update={"waits": waits}).payload())
            return None


def _sync(
    ctx: task.OrchestrationContext, request: WorkflowRequest, recheck: timedelta
) -> Generator[task.Task[Any], Any, Synced | None]:
    """`sync_issue` until it stops asking to wait; None when the orchestration continued as new.
    GitHub failing beyond the activity's retries is waited out too, backing off per round."""
    waits, failed_rounds = request.waits, request.failed_rounds
    while True:
        try:
            outcome = SYNC_RESULT.validate_python(
                (
                    yield ctx.call_activity(
                        "sync_issue", input=request.payload(), retry_policy=GITHUB_RETRY
                    )
                )
            )
        except task.TaskFailedError as error:
            failed_rounds += 1
            yield _audit(ctx, request, "retry-later", str(error))
            yield ctx.create_timer(ctx.current_utc_datetime + _backoff(failed_rounds, recheck))
        else:
            if isinstance(outcome, Synced):
                return outcome
            if waits == 0 and not outcome.quiet:
                yield _audit(ctx, request, "rate-limited", outcome.reason)
            waits += 1
            yield ctx.create_timer(ctx.current_utc_datetime + _wait(outcome, recheck))
        if (waits + failed_rounds) % WAITS_PER_GENERATION == 0:
            progress = {"waits": waits, "failed_rounds": failed_rounds}
            ctx.continue_as_new(request.model_copy(update=progress).payload())
            return None


def _audit(
    ctx: task.OrchestrationContext,
    request: WorkflowRequest,
    action: str,
    reason: str,
    issue: int | None = None,
) -> task.Task[Any]:
    """Record a decision the orchestrator made (once per wait, not once per recheck)."""
    note = AuditNote(
        fingerprint=request.fingerprint,
        repository=request.repository,
        action=action,
        reason=reason,
        issue=issue,
    )
    return ctx.call_activity("record_audit", input=note.payload(), retry_policy=STORAGE_RETRY)


def _backoff(failed_rounds: int, recheck: timedelta) -> timedelta:
    """After GitHub kept failing: a minute, doubling per failed round, at most the recheck."""
    return min(timedelta(minutes=2 ** min(failed_rounds - 1, 12)), recheck)


def _wait(wait: Wait, recheck: timedelta) -> timedelta:
    """Exactly as asked, or capped at the recheck (then the activity decides again)."""
    asked = timedelta(seconds=wait.wait_seconds)
    return asked if wait.exact else min(max(asked, timedelta(seconds=1)), recheck)
