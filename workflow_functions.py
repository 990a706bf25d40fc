"""The issue workflow's functions, on a Durable Blueprint that `function_app.py` registers.

failures queue -> `start_issue_workflow` (one orchestration per failure) -> `issue_workflow`
(the orchestrator) -> its activities, named as the orchestrator calls them. Each parses its
payload into the workflow's messages, calls one use case, and returns the answer as JSON; each
imports what it uses when it first runs, so indexing the app stays cheap.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df
import azure.functions as func

from bootstrap import services

if TYPE_CHECKING:
    from durabletask import task

blueprint = df.Blueprint()


@blueprint.queue_trigger(
    arg_name="message", queue_name="%FAULTLINE_FAILURE_QUEUE%", connection="AzureWebJobsStorage"
)
@blueprint.durable_client_input(client_name="client")
def start_issue_workflow(message: func.QueueMessage, client: df.SyncDurableFunctionsClient) -> None:
    """Start the failure's singleton orchestration (or queue the notice until it is free)."""
    from adapters.durable import DurableWorkflowStarter
    from pipeline.workflow.starter import start_workflow

    body = message.get_body().decode("utf-8", "replace")
    start_workflow(services(), body, DurableWorkflowStarter(client))


@blueprint.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_FAILURE_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_notice(message: func.QueueMessage) -> None:
    """Keep and loudly log every failure notice the workflow could not take."""
    from pipeline.workflow.starter import record_poisoned_notice as record

    record(services(), message.get_body().decode("utf-8", "replace"))


@blueprint.orchestration_trigger(context_name="ctx")
def issue_workflow(
    ctx: task.OrchestrationContext, request: dict[str, Any]
) -> Generator[Any, Any, Any]:
    """Dedup -> create or update -> assign, with durable waits; decisions live in activities."""
    from pipeline.workflow.orchestrator import issue_workflow as orchestrate

    return (yield from orchestrate(ctx, request))


@blueprint.activity_trigger(input_name="request")
def sync_issue(request: dict) -> dict:  # type: ignore[type-arg]
    from pipeline.workflow.activities import sync_issue as sync
    from pipeline.workflow.messages import WorkflowRequest

    return sync(services(), WorkflowRequest.model_validate(request)).payload()


@blueprint.activity_trigger(input_name="request")
def finish_or_resync(request: dict) -> bool:  # type: ignore[type-arg]
    from pipeline.workflow.activities import finish_or_resync as finish
    from pipeline.workflow.messages import FinishCheck

    return finish(services(), FinishCheck.model_validate(request))


@blueprint.activity_trigger(input_name="request")
def assignment_decision(request: dict) -> dict:  # type: ignore[type-arg]
    from pipeline.workflow.assignment import assignment_decision as decide
    from pipeline.workflow.messages import WorkflowRequest

    return decide(services(), WorkflowRequest.model_validate(request)).payload()


@blueprint.activity_trigger(input_name="request")
def assign_issue(request: dict) -> dict:  # type: ignore[type-arg]
    from pipeline.workflow.assignment import assign_issue as assign
    from pipeline.workflow.messages import WorkflowRequest

    return assign(services(), WorkflowRequest.model_validate(request)).payload()


@blueprint.activity_trigger(input_name="entry")
def record_audit(entry: dict) -> None:  # type: ignore[type-arg]
    from pipeline.workflow.activities import record_audit as record
    from pipeline.workflow.messages import AuditNote

    record(services(), AuditNote.model_validate(entry))


@blueprint.orchestration_trigger(context_name="ctx")
def undo_run(ctx: task.OrchestrationContext, plan: dict[str, Any]) -> Generator[Any, Any, Any]:
    """Close each issue a confirmed undo selected, paced, resumable; side effects in activities."""
    from pipeline.workflow.undo_orchestrator import undo_run as orchestrate

    return (yield from orchestrate(ctx, plan))


@blueprint.activity_trigger(input_name="step")
def undo_step(step: dict) -> dict:  # type: ignore[type-arg]
    from pipeline.undo import UndoStep
    from pipeline.undo import undo_issue as undo

    return undo(services(), UndoStep.model_validate(step)).payload()
