"""Starting a failure's issue workflow: one orchestration per fingerprint (and repository, if
dedup says so) at a time, its instance id derived from them. A notice that arrives while the
workflow runs leaves word for it instead of starting a second one."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from detection.routing import route_failure
from pipeline.known_issues import audit_match, covering
from pipeline.messages import FailureNotice
from pipeline.metrics import POISONED, log_fields
from pipeline.notify import emit_trouble
from pipeline.ports import WorkflowStarter
from pipeline.services import Services
from pipeline.workflow.messages import WorkflowRequest

log = logging.getLogger(__name__)

ORCHESTRATOR = "issue_workflow"


def instance_id(fingerprint: str, repository: str, strategy: str) -> str:
    """The singleton orchestration id of a failure's issue."""
    if strategy == "fingerprint_and_repository":
        return f"faultline-{fingerprint}-{repository.replace('/', '-')}"
    return f"faultline-{fingerprint}"


def start_workflow(services: Services, body: str, starter: WorkflowStarter) -> str:
    """Start the failure's orchestration, or tell the running one that its failure recurred;
    a failure a `suppress` known issue covers starts nothing."""
    notice = FailureNotice.model_validate_json(body)
    rules = services.rules
    definition = rules.definition(notice.definition)
    route = route_failure(
        rules,
        definition=notice.definition,
        table=notice.table,
        role=notice.role,
        severity=definition.severity,
        category=definition.category,
        fields=notice.fields,
    )
    known = covering(services, notice.fingerprint, notice.definition)
    if known is not None and known.action == "suppress":
        # counted all the same (the ledger has it); only the issue is not made
        audit_match(services, known, notice.fingerprint, route.repository, None)
        return "suppressed"
    identifier = instance_id(notice.fingerprint, route.repository, rules.dedup.strategy)
    request = WorkflowRequest(
        notice=notice,
        repository=route.repository,
        labels=route.labels,
        assignment=route.assignment,
        recheck_seconds=services.settings.workflow_recheck_seconds,
    )
    if starter.is_running(identifier):
        return _follow_up(services, notice, route.repository)
    if not starter.start(ORCHESTRATOR, identifier, request.payload()):
        return _follow_up(services, notice, route.repository)
    return identifier


def _follow_up(services: Services, notice: FailureNotice, repository: str) -> str:
    """The failure recurred while its workflow runs: tell the workflow, which syncs again before
    it ends (the sync reads the latest counts from the ledger, so no notice needs to wait). Only
    when the workflow has already made its last check does the notice wait, re-queued, for it to
    end and a new one to start."""
    if services.issues.note_recurrence(notice.fingerprint, repository):
        return "noted"
    delay = timedelta(seconds=services.settings.notice_requeue_seconds)
    services.failure_queue.send(notice.model_dump_json(), delay=delay)
    return "waiting"


def record_poisoned_notice(services: Services, body: str) -> None:
    """A notice the host gave up on: log it loudly and keep it where operators look."""
    try:
        notice = FailureNotice.model_validate_json(body)
        key, description = notice.fingerprint, f"{notice.definition} ({notice.table})"
    except ValueError:
        key = "unreadable-" + hashlib.sha256(body.encode()).hexdigest()[:24]
        description = "(not a failure notice)"
    reason = "the issue workflow could not be started after repeated attempts"
    services.poisoned_jobs.add(key, description, reason, body, kind="failure-notices")
    services.metrics.count(POISONED, kind="failure-notices")
    emit_trouble(
        services, f"failure-notices|{key}", f"poisoned failure notice {description}", reason
    )
    log.error(
        "poisoned failure notice %s (%s): %s", key, description, reason, extra=log_fields(key)
    )
