"""The issue workflow's notification events: built where the workflow changes an issue (created,
reopened or regressed, assignment failed) and handed to `pipeline.notify.emit`, which queues
them for the dispatcher. Kept apart from the dispatcher so the query path, which only reports
poisoned jobs, does not load the issue view."""

from __future__ import annotations

import logging

from detection.issue import title
from detection.notify import NotificationEvent
from detection.routing import route_failure
from detection.rules import NotificationEventKind
from pipeline.messages import FailureNotice
from pipeline.notify import emit
from pipeline.services import Services
from pipeline.workflow.view import issue_view

log = logging.getLogger(__name__)


def emit_issue_event(
    services: Services,
    kind: NotificationEventKind,
    notice: FailureNotice,
    repository: str,
    number: int | None,
    url: str | None,
    *,
    occasion: str = "",
    reason: str = "",
) -> None:
    """Emit an event about a failure's issue, from the workflow step that made it happen. Reads
    what the message shows (title, severity, route, query link) only when a rule could want it,
    and never raises: a notification must not fail the step that changed the issue."""
    if services.notifications is None or not services.rules.notifications.rules:
        return
    try:
        rules = services.rules
        definition = rules.definition(notice.definition)
        view = issue_view(services, notice, notice.count)
        route = route_failure(
            rules,
            definition=notice.definition,
            table=notice.table,
            role=notice.role,
            severity=definition.severity,
            category=definition.category,
            fields=notice.fields,
        )
        event = NotificationEvent(
            kind=kind,
            at=services.clock.now(),
            fingerprint=notice.fingerprint,
            repository=repository,
            issue=number,
            issue_url=url,
            title=title(view.name or notice.definition),
            definition=notice.definition,
            severity=definition.severity,
            category=definition.category,
            route=route.name,
            count=notice.count,
            first_seen=notice.first_seen,
            last_seen=notice.last_seen,
            query_url=view.portal_url,
            reason=reason,
            occasion=occasion,
        )
    except Exception:  # the step that changed the issue must not fail for its notification
        log.exception("could not build the %s notification of %s", kind, notice.fingerprint)
        return
    emit(services, event)
