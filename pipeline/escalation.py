"""Escalation on the issue (`escalation` in the rules; the decision is `detection.escalation`):
a failure whose hourly rate jumps well above its own baseline gets the `faultline:escalating`
label, one comment, an audit row and the `escalated` notification event; the label comes off
when the rate falls back.

The issue workflow's sync escalates (it runs when occurrences are counted); an hourly pass calms
the escalated issues whose failure stopped arriving, which no sync would otherwise revisit.
Escalating is resumable: the moment is saved in the state before the first write and keys the
comment's marker, the audit row and the event, and the label is put on last, so a step stopped
midway is finished by the next one without repeating anything.
"""

from __future__ import annotations

import logging
from datetime import datetime

from detection.escalation import ESCALATING_LABEL, Rate, hourly_rate
from pipeline.messages import FailureNotice
from pipeline.ports import (
    IssueRef,
    IssueState,
    IssueTracker,
    LedgerEntry,
    TrackerRateLimited,
    TrackerRefused,
)
from pipeline.services import Services
from pipeline.workflow.notify_events import emit_issue_event

log = logging.getLogger(__name__)


class EscalationConflict(RuntimeError):
    """The issue state changed between read and write; the step is retried."""


def follow_rate(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    issue: IssueRef,
    summary: LedgerEntry,
    now: datetime,
) -> IssueState:
    """Escalate or calm the open issue of a failure as its rate says; the state after."""
    rate = hourly_rate(summary.hourly, summary.first_seen, now, services.rules.escalation)
    labelled = ESCALATING_LABEL in issue.labels
    if rate is not None and rate.escalating:
        if labelled and state.escalated_at is not None:
            return state
        return _escalate(services, github, state, issue, summary, rate, now)
    if labelled or state.escalated_at is not None:
        return calm(services, github, state, issue, rate, now)
    return state


def _escalate(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    issue: IssueRef,
    summary: LedgerEntry,
    rate: Rate,
    now: datetime,
) -> IssueState:
    factor = services.rules.escalation.factor or 0.0
    if state.escalated_at is None:
        per_hour = services.rules.rate_limits.comments_per_hour
        if not services.rate_limiter.reserve_comment(state.fingerprint, now, per_hour):
            return state  # the next sync escalates, within the budget
        state = _save(services, state.with_changes(escalated_at=now))
    at = state.escalated_at
    if at is None:
        raise ValueError(f"{state.fingerprint}: escalation has no moment")
    key = f"{at:%Y%m%dT%H%M%S}"
    mark = f"<!-- faultline:escalated={state.fingerprint}:at={key} -->"
    said = rate.describe(factor)
    if not any(mark in body for body in github.comment_bodies(state.repository, issue.number)):
        github.comment(
            state.repository,
            issue.number,
            f"Escalating: this failure is occurring much faster than usual, {said}. The "
            f"`{ESCALATING_LABEL}` label comes off when the rate falls back.\n\n{mark}",
        )
    services.audit.record(
        state.fingerprint,
        "escalated",
        state.repository,
        issue.number,
        said,
        now,
        key=f"escalated|{key}",
    )
    emit_issue_event(
        services,
        "escalated",
        FailureNotice.of(summary),
        state.repository,
        issue.number,
        issue.url,
        occasion=key,
        reason=said,
    )
    github.add_labels(state.repository, issue.number, [ESCALATING_LABEL])
    log.info("escalated %s: %s", issue.url, said)
    return state


def calm(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    issue: IssueRef,
    rate: Rate | None,
    now: datetime,
) -> IssueState:
    """Take the label off and forget the escalation: the rate fell back (or the issue is no
    longer open, or escalation was turned off)."""
    if ESCALATING_LABEL in issue.labels:
        kept = [label for label in issue.labels if label != ESCALATING_LABEL]
        github.edit(state.repository, issue.number, labels=kept)
    at = state.escalated_at
    why = (
        f"the rate fell back: {rate.describe(services.rules.escalation.factor or 0.0)}"
        if rate is not None
        else "the rate is no longer measured (escalation off, or the issue not open)"
    )
    state = _save(services, state.with_changes(escalated_at=None))
    services.audit.record(
        state.fingerprint,
        "calmed",
        state.repository,
        issue.number,
        why,
        now,
        key=f"calmed|{at:%Y%m%dT%H%M%S}" if at else None,
    )
    return state


def calm_escalations(services: Services) -> int:
    """The hourly pass: calm each escalated issue whose failure's rate has fallen back (or that
    is closed or muted now); returns how many were calmed. A rate limit ends the pass; the next
    one goes on."""
    now = services.clock.now()
    calmed = 0
    github: IssueTracker | None = None
    try:
        for state in services.issues.escalated():
            if state.number is None:
                continue
            summary = services.ledger.summary(state.fingerprint)
            rules = services.rules.escalation
            rate = hourly_rate(summary.hourly, summary.first_seen, now, rules) if summary else None
            if rate is not None and rate.escalating and state.status == "active":
                continue
            github = github or services.issue_tracker()
            try:
                issue = github.get(state.repository, state.number)
                calm(services, github, state, issue, rate, now)
            except EscalationConflict:
                continue  # a sync saved meanwhile; it follows the rate itself
            except TrackerRefused as refused:
                if not refused.permanent:
                    raise
                log.warning("escalation pass: %s: %s", state.url, refused)
                continue  # deleted or out of reach: the workflow forgets it on its next sync
            calmed += 1
    except TrackerRateLimited as limited:
        log.warning("escalation pass: GitHub asked to wait %s; next pass", limited.retry_after)
    return calmed


def _save(services: Services, state: IssueState) -> IssueState:
    saved = services.issues.save(state)
    if saved is None:
        raise EscalationConflict(f"issue state of {state.fingerprint} changed concurrently")
    return saved
