"""The daily quiet-period pass (`dedup.resolve_after_quiet`): issues whose failure has not
recurred for that long are closed as completed, with a comment saying why, so the next
occurrence is a regression (the issue workflow's existing path reopens it).

The decision is `detection.lifecycle.quiet_close_due`, made on the issue as GitHub shows it (a
label or a close the webhook did not report still counts): `faultline:keep-open` and muted issues
are left alone. Each close is safe to repeat and to interrupt: the comment carries a marker and
is found again, closing a closed issue is not tried, the state is saved under its ETag and the
audit row is keyed, so a pass that crashed midway finishes the close on its next run. Its writes
share the workflow's budgets: GitHub's own pacing in the tracker adapter, and the hourly comment
budget (`rate_limits.comments_per_hour`); a pass that meets either stops, and the next pass
closes the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from detection.lifecycle import Steering, interpret, quiet_close_comment, quiet_close_due
from pipeline.lifecycle import changed, describe, steer
from pipeline.metrics import ISSUES
from pipeline.ports import IssueRef, IssueState, IssueTracker, TrackerRateLimited, TrackerRefused
from pipeline.services import Services
from pipeline.workflow.activities import report_budget

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 5
"""Saves of one issue's state that may lose to a concurrent workflow before the pass moves on
(the next pass finishes the close: it finds the issue closed with its comment)."""


@dataclass(frozen=True)
class QuietPass:
    """What one pass did: issues closed, and whether it stopped early for a budget."""

    closed: int = 0
    stopped: str | None = None


def resolve_quiet_issues(services: Services) -> QuietPass:
    """Close every tracked issue whose failure has been quiet for `dedup.resolve_after_quiet`."""
    quiet = services.rules.dedup.resolve_after_quiet
    if quiet is None:
        return QuietPass()
    now = services.clock.now()
    closed = 0
    github: IssueTracker | None = None
    try:
        for state in services.issues.tracked():
            last_seen = _quiet_since(services, state, now, quiet)
            if last_seen is None:
                continue
            github = github or services.issue_tracker()
            try:
                outcome = _close_if_quiet(services, github, state, last_seen, now, quiet)
            except TrackerRefused as refused:
                if not refused.permanent:
                    raise
                reason = f"quiet-period close: {refused}"[:1000]
                key = f"quiet-refused|{last_seen:%Y%m%dT%H%M%S}"  # once, not every day
                _audit(services, state, "refused", reason, now, key=key)
                continue
            if outcome == "budget":
                log.warning("quiet-period pass: the hourly comment budget is used; next pass")
                return QuietPass(closed, "the hourly comment budget is used")
            closed += outcome == "closed"
    except TrackerRateLimited as limited:
        log.warning("quiet-period pass: GitHub asked to wait %s; next pass", limited.retry_after)
        return QuietPass(closed, f"GitHub asked to wait {limited.retry_after}")
    finally:
        report_budget(services, github)
    log.info("quiet-period pass: %d issue(s) closed after %s without the failure", closed, quiet)
    return QuietPass(closed)


def _quiet_since(
    services: Services, state: IssueState, now: datetime, quiet: timedelta
) -> datetime | None:
    """When the group's failure was last seen, if its issue is a candidate by what Faultline
    knows (read before asking GitHub, so quiet-free issues cost no request): one quiet for long
    enough, or one whose close was under way when a pass stopped (a webhook may have marked it
    resolved since, but its close is not yet audited)."""
    if state.number is None or state.folded_into is not None:
        return None
    summary = services.ledger.summary(state.fingerprint)
    if summary is None or summary.folded_into is not None:
        return None
    if state.quiet_closing == summary.last_seen:
        return summary.last_seen
    steering = Steering("active", keep_open=state.keep_open)
    due = state.status == "active" and quiet_close_due(steering, summary.last_seen, now, quiet)
    return summary.last_seen if due else None


def _close_if_quiet(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    last_seen: datetime,
    now: datetime,
    quiet: timedelta,
) -> str:
    """Close one issue if GitHub agrees it is still active and not kept open: `closed`,
    `skipped`, or `budget` when the comment budget is used. The close is marked under way in
    the state before the first write, so a pass that stopped midway finishes it, while a close
    found done (its comment present) and the issue open again was undone by people."""
    if state.number is None:
        raise ValueError(f"{state.fingerprint} has no issue to close")
    issue = github.get(state.repository, state.number)
    mark = f"<!-- faultline:quiet={state.fingerprint}:last={last_seen:%Y%m%dT%H%M%S} -->"
    resuming = state.quiet_closing == last_seen
    steering = interpret(issue.state, issue.state_reason, issue.labels)
    if resuming and issue.state == "closed":
        _finish(services, state, issue, last_seen, now, quiet)
        return "closed"
    commented = _commented(github, issue, mark)
    if not quiet_close_due(steering, last_seen, now, quiet) or (commented and not resuming):
        steered = steer(state, steering).with_changes(quiet_closing=None)
        if changed(state, steered):
            _audit(services, state, "steered", f"read from the issue: {describe(steering)}", now)
        if steered != state:
            services.issues.save(steered)  # lost to a concurrent sync: it read the issue too
        return "skipped"
    if not resuming:
        per_hour = services.rules.rate_limits.comments_per_hour
        if not services.rate_limiter.reserve_comment(state.fingerprint, now, per_hour):
            return "budget"
        saved = services.issues.save(state.with_changes(quiet_closing=last_seen))
        if saved is None:
            return "skipped"  # a workflow synced meanwhile: the next pass looks again
        state = saved
    if not commented:
        github.comment(
            state.repository, issue.number, f"{quiet_close_comment(last_seen, quiet)}\n\n{mark}"
        )
    github.edit(state.repository, issue.number, state="closed", state_reason="completed")
    _finish(services, state, issue, last_seen, now, quiet)
    services.metrics.count(ISSUES, action="resolved", repository=state.repository)
    return "closed"


def _commented(github: IssueTracker, issue: IssueRef, mark: str) -> bool:
    return any(mark in body for body in github.comment_bodies(issue.repository, issue.number))


def _finish(
    services: Services,
    state: IssueState,
    issue: IssueRef,
    last_seen: datetime,
    now: datetime,
    quiet: timedelta,
) -> None:
    """Record the close: the state says resolved (saved over whatever a concurrent workflow
    wrote meanwhile), and one audit row per quiet period, however often a retry gets here."""
    current: IssueState | None = state
    for _ in range(SAVE_ATTEMPTS):
        if current is None:
            return  # forgotten meanwhile (deleted or transferred): nothing to resolve
        resolved = current.with_changes(
            status="resolved", muted_until=None, mute_until_count=None, quiet_closing=None
        )
        if services.issues.save(resolved) is not None:
            break
        current = services.issues.peek(state.fingerprint, state.repository)
    else:
        log.warning("quiet-period pass: %s kept changing; the next pass finishes", state.url)
        return
    _audit(
        services,
        state,
        "resolved-quiet",
        f"no occurrence since {last_seen:%Y-%m-%d %H:%M} UTC ({quiet}): closed as completed",
        now,
        key=f"quiet|{last_seen:%Y%m%dT%H%M%S}",
    )
    log.info("quiet-period pass closed %s (last seen %s)", issue.url, last_seen.isoformat())


def _audit(
    services: Services,
    state: IssueState,
    action: str,
    reason: str,
    now: datetime,
    key: str | None = None,
) -> None:
    services.audit.record(
        state.fingerprint, action, state.repository, state.number, reason, now, key=key
    )
