"""The undo's orchestrator: one `undo_step` activity per selected issue, in order.

It only sequences, like the issue workflow's: GitHub's rate limits come back from the activity
as a wait (a durable timer of exactly the asked length), GitHub failing beyond the activity's
retries is waited out with backoff, and every few issues (or failed rounds) the orchestration
continues as new with how far it got, so its replayed history stays short and a crash resumes at
the issue it was on. The activity is idempotent, so an issue retried after a lost response is
not closed twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from durabletask import task

from pipeline.undo import UNDO_RESULT, UndoPlan, UndoStep
from pipeline.workflow.messages import Wait
from pipeline.workflow.orchestrator import GITHUB_RETRY, Steps

ISSUES_PER_GENERATION = 25
FAILED_ROUNDS_PER_GENERATION = 10
MAX_BACKOFF = timedelta(minutes=15)


def undo_run(ctx: task.OrchestrationContext, payload: dict[str, Any]) -> Steps:
    """Undo each planned issue from where the plan got to."""
    plan = UndoPlan.model_validate(payload)
    done, failed_rounds = plan.next, 0
    while done < len(plan.targets):
        step = UndoStep(
            undo_id=plan.undo_id, groups=plan.groups, reason=plan.reason, target=plan.targets[done]
        )
        try:
            result = UNDO_RESULT.validate_python(
                (
                    yield ctx.call_activity(
                        "undo_step", input=step.payload(), retry_policy=GITHUB_RETRY
                    )
                )
            )
        except task.TaskFailedError:
            failed_rounds += 1
            backoff = min(timedelta(minutes=2 ** min(failed_rounds - 1, 8)), MAX_BACKOFF)
            yield ctx.create_timer(ctx.current_utc_datetime + backoff)
            if failed_rounds % FAILED_ROUNDS_PER_GENERATION == 0:  # a long outage: keep it short
                ctx.continue_as_new(plan.model_copy(update={"next": done}).payload())
                return None
            continue
        if isinstance(result, Wait):  # GitHub asked to wait: exactly that long
            yield ctx.create_timer(
                ctx.current_utc_datetime + timedelta(seconds=max(result.wait_seconds, 1))
            )
            continue
        done, failed_rounds = done + 1, 0
        if done % ISSUES_PER_GENERATION == 0 and done < len(plan.targets):
            ctx.continue_as_new(plan.model_copy(update={"next": done}).payload())
            return None
    return {"undo": plan.undo_id, "done": done}
