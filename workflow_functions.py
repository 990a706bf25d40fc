"""The issue workflow's functions, on a Durable Blueprint that `function_app.py` registers.

failures queue -> `start_issue_workflow` (one orchestration per failure) -> `issue_workflow`
(the orchestrator) -> its activities, named as the orchestrator calls them. Each parses its
payload into the workflow's messages, calls one use case, and returns the answer as JSON.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from durabletask import task

from adapters.durable import DurableWorkflowStarter
from bootstrap import services
from pipeline.workflow import activities, assignment, orchestrator, starter
from pipeline.workflow.messages import AuditNote, FinishCheck, WorkflowRequest

blueprint = df.Blueprint()


@blueprint.queue_trigger(
    arg_name="message", queue_name="%FAULTLINE_FAILURE_QUEUE%", connection="AzureWebJobsStorage"
)
@blueprint.durable_client_input(client_name="client")
def start_issue_workflow(message: func.QueueMessage, client: df.SyncDurableFunctionsClient) -> None:
    """Start the failure's singleton orchestration (or queue the notice until it is free)."""
    body = message.get_body().decode("utf-8", "replace")
    starter.start_workflow(services(), body, DurableWorkflowStarter(client))


@blueprint.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_FAILURE_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_notice(message: func.QueueMessage) -> None:
    """Keep and loudly log every failure notice the workflow could not take."""
    starter.record_poisoned_notice(services(), message.get_body().decode("utf-8", "replace"))


@blueprint.orchestration_trigger(context_name="ctx")
def issue_workflow(
    ctx: task.OrchestrationContext, request: dict[str, Any]
) -> Generator[Any, Any, Any]:
    """Dedup -> create or update -> assign, with durable waits; decisions live in activities."""
    return (yield from orchestrator.issue_workflow(ctx, request))


@blueprint.activity_trigger(input_name="request")
def sync_issue(request: dict) -> dict:  # type: ignore[type-arg]
    return activities.sync_issue(services(), WorkflowRequest.model_validate(request)).payload()


@blueprint.activity_trigger(input_name="request")
def finish_or_resync(request: dict) -> bool:  # type: ignore[type-arg]
    return activities.finish_or_resync(services(), FinishCheck.model_validate(request))


@blueprint.activity_trigger(input_name="request")
def assignment_decision(request: dict) -> dict:  # type: ignore[type-arg]
    decided = assignment.assignment_decision(services(), WorkflowRequest.model_validate(request))
    return decided.payload()


@blueprint.activity_trigger(input_name="request")
def assign_issue(request: dict) -> dict:  # type: ignore[type-arg]
    return assignment.assign_issue(services(), WorkflowRequest.model_validate(request)).payload()


@blueprint.activity_trigger(input_name="entry")
def record_audit(entry: dict) -> None:  # type: ignore[type-arg]
    activities.record_audit(services(), AuditNote.model_validate(entry))
