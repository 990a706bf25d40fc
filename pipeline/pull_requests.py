"""The pull request watch: which of Faultline's open issues have a pull request linked now.

Why a timer that reads timelines, not a webhook: GitHub's `issues` events do not say when a pull
request names an issue, and an agent's pull request ("Fixes #n") shows up on the issue's
timeline as a `cross-referenced` event whatever opened it. Each pass reads the timeline of every
issue still open to Faultline (active or muted) and, for each pull request it has not announced
yet, audits `pull-request-linked` and emits a `pull-request-opened` event.

Once per issue and pull request, whatever is retried: the audit row and the notification are
keyed by the issue and the pull request's key (the dispatcher claims the event's key before it
sends), and only then does the issue's state record the pull request as announced, with the
moment the first one was linked (the digest's time to first pull request). A pass that dies in
between announces again on the next pass, and the keys make that a no-op.
"""

from __future__ import annotations

import logging

from detection.issue import title
from detection.notify import NotificationEvent
from pipeline.notify import emit
from pipeline.ports import (
    IssueState,
    IssueTracker,
    LinkedPullRequest,
    PullRequestLinks,
    TrackersByRepository,
)
from pipeline.services import Services

log = logging.getLogger(__name__)

WATCHED = frozenset({"active", "muted"})
"""Statuses whose issues are open on the tracker (a resolved issue is closed)."""


def watch_pull_requests(services: Services) -> int:
    """One pass over the open issues; returns how many pull requests it announced."""
    tracker = services.issue_tracker()
    announced = 0
    for state in services.issues.tracked():
        if state.number is None or state.status not in WATCHED or state.folded_into:
            continue
        links = _links(tracker, state.repository)
        if links is None:
            continue  # a tracker that cannot tell (GitLab, the dry-run sink)
        try:
            found = links.linked_pull_requests(state.repository, state.number)
        except Exception:  # one issue's timeline must not stop the pass over the others
            log.exception("could not read the timeline of %s#%s", state.repository, state.number)
            continue
        fresh = [pr for pr in found if pr.key not in state.pull_requests]
        for pr in fresh:
            _announce(services, state, pr)
        if fresh or (found and state.first_pull_request_at is None):
            _remember(services, state, found)
        announced += len(fresh)
    return announced


def _links(tracker: IssueTracker, repository: str) -> PullRequestLinks | None:
    if isinstance(tracker, TrackersByRepository):
        return tracker.pull_request_links(repository)
    return tracker if isinstance(tracker, PullRequestLinks) else None


def _announce(services: Services, state: IssueState, pr: LinkedPullRequest) -> None:
    where = f"{state.repository}#{state.number}"
    what = f"pull request {pr.key}" if pr.number is not None else "a pull request (linked by hand)"
    by = f" by {pr.author}" if pr.author else ""
    reason = f"{what}{by} linked at {pr.linked_at:%Y-%m-%d %H:%M} UTC"
    services.audit.record(
        state.fingerprint,
        "pull-request-linked",
        state.repository,
        state.number,
        reason,
        pr.linked_at,
        key=f"pull-request-linked|{where}|{pr.key}",
    )
    summary = services.ledger.summary(state.fingerprint)
    known = {d.name: d for d in services.rules.failures}
    definition = known.get(summary.definition) if summary else None
    founder = summary.founder if summary else None
    name = (founder.title if founder else "") or (summary.definition if summary else "")
    event = NotificationEvent(
        kind="pull-request-opened",
        at=services.clock.now(),
        fingerprint=state.fingerprint,
        repository=state.repository,
        issue=state.number,
        issue_url=state.url,
        title=title(name or where),
        definition=summary.definition if summary else "",
        route=_route(services, state.repository),
        severity=definition.severity if definition else "",
        category=definition.category if definition else "",
        count=summary.count if summary else 0,
        first_seen=summary.first_seen if summary else None,
        last_seen=summary.last_seen if summary else None,
        reason=f"{what}{by}: {pr.title}" if pr.title else f"{what}{by}",
        occasion=pr.key,
    )
    emit(services, event)


def _route(services: Services, repository: str) -> str | None:
    """The named route that sends issues to the repository, for rules filtered by route (the
    watch sees the issue, not the row that routed it; the first such route stands for it)."""
    routes = services.rules.routing.routes
    return next((r.name for r in routes if r.name and r.repository == repository), None)


def _remember(services: Services, state: IssueState, found: list[LinkedPullRequest]) -> None:
    """Record the pull requests as announced and the first one's time, under the state's ETag
    (the issue workflow may be saving the same row: read again and retry)."""
    current: IssueState | None = state
    while current is not None:
        first = min(pr.linked_at for pr in found)
        earlier = current.first_pull_request_at
        keys = tuple(dict.fromkeys((*current.pull_requests, *(pr.key for pr in found))))
        saved = services.issues.save(
            current.with_changes(
                first_pull_request_at=min(first, earlier) if earlier else first,
                pull_requests=keys,
            )
        )
        if saved is not None:
            return
        current = services.issues.peek(state.fingerprint, state.repository)
