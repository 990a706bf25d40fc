"""Faultline's Azure Functions: a table of contents. Each trigger parses, calls one thing, returns.

timer (fan-out) -> query-jobs queue -> query + detect + group + count -> failures queue ->
issue workflow (one Durable orchestration per group: sync issue -> wait if needed -> assign; its
functions are on the Blueprint in `workflow_functions.py`);
timer (settle) -> operations whose cause can no longer arrive are counted;
timer (pull requests) -> pull requests linked to open issues are announced;
timer (digests) -> each digest's pinned issue is updated and sent to its channels;
timer (daily) -> issues quiet for `dedup.resolve_after_quiet` are closed as resolved;
timer (hourly) -> escalated issues whose failure's rate fell back are calmed;
alert webhook (HTTP) -> alerts queue -> records detected, grouped and counted the same way
GitHub webhook (HTTP, signed) -> github-events queue -> follow what people did to an issue
GitLab webhook (HTTP, token)  -> github-events queue -> the same
undo (HTTP) -> preview, or a Durable orchestration that closes what a bad run opened

Each trigger imports its use case when it first runs, so indexing the app (every cold start)
loads only the Functions libraries, and the configuration check runs in a thread while the host
starts its listeners: the timer never loads the query SDK, and only the issue workflow loads
GitHub's client (`tests/unit/test_cold_start.py`).
"""

from __future__ import annotations

import json
import logging
import os

import azure.durable_functions as df
import azure.functions as func

from bootstrap import check_configuration_at_start_up, services
from workflow_functions import blueprint as workflow_blueprint

log = logging.getLogger("faultline")

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(workflow_blueprint)


@app.timer_trigger(arg_name="timer", schedule="%FAULTLINE_TIMER_SCHEDULE%", run_on_startup=False)
def fan_out_queries(timer: func.TimerRequest) -> None:
    """Queue a query job for every table window that is due."""
    from pipeline.fanout import fan_out

    if timer.past_due:
        log.warning("timer is past due; the checkpoint makes up for missed ticks")
    fan_out(services())


@app.timer_trigger(arg_name="timer", schedule="%FAULTLINE_TIMER_SCHEDULE%", run_on_startup=False)
def settle_operations(timer: func.TimerRequest) -> None:
    """Settle failing operations whose cause can no longer arrive, and count their rows."""
    from pipeline.counting import settle_due

    settle_due(services())


@app.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False)
def prune_occurrence_ledger(timer: func.TimerRequest) -> None:
    """Daily: forget occurrence rows older than the retention (counts stay)."""
    from pipeline.retention import prune_ledger

    prune_ledger(services())


@app.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False)
def watch_pull_requests(timer: func.TimerRequest) -> None:
    """Every 15 minutes: announce pull requests newly linked to Faultline's open issues."""
    from pipeline.pull_requests import watch_pull_requests as watch

    watch(services())


@app.timer_trigger(arg_name="timer", schedule="0 5 * * * *", run_on_startup=False)
def send_digests(timer: func.TimerRequest) -> None:
    """Hourly: make the digests that are due and not made yet (issue updated, then sent)."""
    from pipeline.digest import send_due_digests

    send_due_digests(services())


@app.timer_trigger(arg_name="timer", schedule="0 0 4 * * *", run_on_startup=False)
def resolve_quiet_issues(timer: func.TimerRequest) -> None:
    """Daily: close the issues whose failure has been quiet for `dedup.resolve_after_quiet`."""
    from pipeline.quiet import resolve_quiet_issues as resolve

    resolve(services())


@app.timer_trigger(arg_name="timer", schedule="0 5 * * * *", run_on_startup=False)
def calm_escalations(timer: func.TimerRequest) -> None:
    """Hourly: take `faultline:escalating` off the issues whose failure's rate fell back."""
    from pipeline.escalation import calm_escalations as calm

    calm(services())


@app.queue_trigger(
    arg_name="message", queue_name="%FAULTLINE_QUERY_QUEUE%", connection="AzureWebJobsStorage"
)
def query_and_detect(message: func.QueueMessage) -> None:
    """Run one query job: query, normalize, detect, fingerprint, count, hand off."""
    from pipeline.ingest import run_query_job

    run_query_job(
        services(), message.get_body().decode("utf-8", "replace"), message.dequeue_count or 1
    )


@app.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_QUERY_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_query(message: func.QueueMessage) -> None:
    """Keep and loudly log every job that could not be processed."""
    from pipeline.ingest import record_poisoned

    record_poisoned(services(), message.get_body().decode("utf-8", "replace"))


@app.queue_trigger(
    arg_name="message", queue_name="%FAULTLINE_NOTIFY_QUEUE%", connection="AzureWebJobsStorage"
)
def deliver_notifications(message: func.QueueMessage) -> None:
    """Send one event to the channels its rules name (or a storm's summary), audited."""
    from pipeline.notify import dispatch

    dispatch(services(), message.get_body().decode("utf-8", "replace"))


@app.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_NOTIFY_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_notification(message: func.QueueMessage) -> None:
    """Keep and loudly log every notification the dispatcher could not take."""
    from pipeline.notify import record_poisoned_notification as record

    record(services(), message.get_body().decode("utf-8", "replace"))


def _json(status: int, payload: object) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, indent=2), status_code=status, mimetype="application/json"
    )


@app.route(route="replay", methods=["POST"])
def replay_window(req: func.HttpRequest) -> func.HttpResponse:
    """Re-run detection over any past window: `{"source", "tables"?, "start", "end"}`."""
    from pydantic import ValidationError

    from pipeline.replay import ReplayRejected, ReplayRequest, replay

    try:
        request = ReplayRequest.model_validate_json(req.get_body() or b"")
        jobs = replay(services(), request)
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()]
        return _json(400, {"error": "invalid replay request", "problems": problems})
    except ReplayRejected as error:
        return _json(400, {"error": str(error)})
    run = jobs[0].run if jobs else None
    return _json(202, {"run": run, "queued": len(jobs), "jobs": [j.job_id for j in jobs]})


@app.route(route="undo", methods=["POST"])
@app.durable_client_input(client_name="client")
def undo_bad_run(req: func.HttpRequest, client: df.SyncDurableFunctionsClient) -> func.HttpResponse:
    """Undo a bad run: `{"run" | "definition" | "fingerprints" | "start"/"end", "groups"?,
    "confirm"?}`; previews unless confirmed, then closes in a Durable orchestration."""
    from pydantic import ValidationError

    from adapters.durable import DurableWorkflowStarter
    from pipeline.undo import UndoRejected, UndoRequest, plan_undo, preview, start_undo

    try:
        request = UndoRequest.model_validate_json(req.get_body() or b"")
        plan = plan_undo(services(), request)
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()]
        return _json(400, {"error": "invalid undo request", "problems": problems})
    except UndoRejected as error:
        return _json(400, {"error": str(error)})
    if not request.confirm:
        return _json(200, preview(plan))
    return _json(202, start_undo(services(), plan, DurableWorkflowStarter(client)))


@app.route(route="alerts/{source}", methods=["POST"])
def receive_alert(req: func.HttpRequest) -> func.HttpResponse:
    """An alert webhook (Sentry, Grafana, Alertmanager, Azure Monitor): authenticate, bound,
    claim by delivery id, queue; 202 when queued, 200 for a redelivery, 4xx naming the problem."""
    from pipeline.alerts import receive

    answer = receive(
        services(),
        req.route_params.get("source", ""),
        req.get_body() or b"",
        dict(req.headers),
        dict(req.params),
    )
    return _json(answer.status, dict(answer.body))


@app.queue_trigger(
    arg_name="message", queue_name="%FAULTLINE_ALERT_QUEUE%", connection="AzureWebJobsStorage"
)
def detect_alert(message: func.QueueMessage) -> None:
    """One alert webhook delivery: its records detected, grouped and counted like rows."""
    from pipeline.alerts import run_alert_job

    run_alert_job(services(), message.get_body().decode("utf-8", "replace"))


@app.route(route="github/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def github_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """GitHub's `issues` and `issue_comment` events: verified by their signature (GitHub cannot
    send a function key), queued, answered at once."""
    from pipeline.webhook import receive

    answer = receive(services(), req.headers, req.get_body())
    return _json(answer.status, answer.payload)


@app.route(route="gitlab/webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def gitlab_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """GitLab's Issue and Note Hooks: verified by their `X-Gitlab-Token` (GitLab cannot send a
    function key), queued as GitHub's events are, answered at once."""
    from pipeline.webhook import receive_gitlab

    answer = receive_gitlab(services(), req.headers, req.get_body())
    return _json(answer.status, answer.payload)


@app.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_GITHUB_WEBHOOK_QUEUE%",
    connection="AzureWebJobsStorage",
)
def handle_github_event(message: func.QueueMessage) -> None:
    """Follow what people did to one of Faultline's issues (on GitHub or GitLab)."""
    from pipeline.webhook import handle

    handle(services(), message.get_body().decode("utf-8", "replace"))


@app.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_ALERT_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_alert(message: func.QueueMessage) -> None:
    """Keep and loudly log every alert delivery whose job failed every attempt."""
    from pipeline.alerts import record_poisoned_alert as record

    record(services(), message.get_body().decode("utf-8", "replace"))


@app.queue_trigger(
    arg_name="message",
    queue_name="%FAULTLINE_GITHUB_WEBHOOK_QUEUE%-poison",
    connection="AzureWebJobsStorage",
)
def record_poisoned_github_event(message: func.QueueMessage) -> None:
    """Keep and loudly log every GitHub event that could not be handled."""
    from pipeline.webhook import record_poisoned_event

    record_poisoned_event(services(), message.get_body().decode("utf-8", "replace"))


@app.route(route="health", methods=["GET"])
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    """Configuration loaded, storage reachable, and how far behind each table is."""
    from adapters.tables import storage_error_category
    from pipeline.health import health

    healthy, report = health(services, storage_error_category)
    return _json(200 if healthy else 503, report)


configuration_check = check_configuration_at_start_up(os.environ)  # runs while the host starts
