"""Which notifications go out, and when: pure decisions over an event, the rules and a throttle's
state, with the time passed in (the dispatcher keeps the state in Table Storage).

An event (an issue created, a regression, a failed assignment, a poisoned job) matches every
rule whose filters it passes; each rule sends it to each of its channels, at most `count` per
`within` per rule and channel. What the throttle holds back is not dropped: the next message on
that rule and channel, or a flush when a slot frees, says how many were held back, so a storm of
a hundred failures is `count` messages and one that says "and 97 more".

Each event carries an idempotency key; the dispatcher claims `delivery_key` once before it
sends, so a redelivered queue message or a retried workflow step never notifies twice.

Faultline's own trouble that lasts (a table lagging, a token refused) is told once per episode:
the episode's start is the event's occasion, and an episode ends only when the trouble is seen
gone (`lagging`, `token_expiring` and `trouble_event` decide; the dispatcher's state keeps the
open episodes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from detection.rules import (
    NotificationEventKind,
    NotificationRule,
    Notifications,
    NotificationThrottle,
)

EVENT_TITLES: dict[str, str] = {
    "issue-created": "New failure",
    "issue-regressed": "Regression",
    "assignment-failed": "Assignment failed",
    "escalated": "Escalated",
    "pull-request-opened": "Pull request opened",
    "job-poisoned": "Faultline's own trouble",
    "query-lagging": "Faultline's own trouble: queries behind",
    "github-token-expiring": "Faultline's own trouble: GitHub token expiring",
    "github-token-refused": "Faultline's own trouble: GitHub token refused",
}
"""How each event kind is headed in a message."""


class NotificationEvent(BaseModel):
    """Something worth telling people about, as the workflow saw it: the issue, its failure and
    its figures. It travels as JSON on the notification queue; every text in it that came from
    logs (`title`, `reason`) is untrusted and is escaped by each payload builder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: NotificationEventKind
    at: datetime
    fingerprint: str
    repository: str = ""
    issue: int | None = None
    issue_url: str | None = None
    title: str
    definition: str = ""
    severity: str = ""
    category: str = ""
    route: str | None = None
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    query_url: str | None = None
    reason: str = ""
    occasion: str = ""
    """What makes this event distinct from an earlier one of its kind on the same issue: the
    closing a regression follows, or the poisoned job's id."""

    @property
    def key(self) -> str:
        """The event's idempotency key: one notification per issue per event."""
        issue = self.issue if self.issue is not None else "-"
        return f"{self.kind}|{self.fingerprint}|{self.repository}|{issue}|{self.occasion}"


def delivery_key(event: NotificationEvent, rule: str, channel: str) -> str:
    """What the dispatcher claims before sending `event` for `rule` to `channel`."""
    return f"{event.key}|{rule}|{channel}"


def throttle_key(rule: str, channel: str) -> str:
    """Whose throttle a message counts against: one per rule and channel."""
    return f"{rule}|{channel}"


def matching_rules(
    notifications: Notifications, event: NotificationEvent
) -> tuple[NotificationRule, ...]:
    """The enabled rules that fire for `event`: its kind listed, and every filter given passing (a
    poisoned job has no severity, definition or repository, so only unfiltered rules take it)."""
    return tuple(
        rule
        for rule in notifications.rules
        if rule.enabled
        and event.kind in rule.events
        and (not rule.severities or event.severity in rule.severities)
        and (not rule.definitions or event.definition in rule.definitions)
        and (not rule.routes or event.route in rule.routes)
        and (not rule.repositories or event.repository in rule.repositories)
    )


@dataclass(frozen=True)
class ThrottleState:
    """One rule and channel's recent sends, and what it holds back since `held_since`."""

    sent: tuple[datetime, ...] = ()
    held: int = 0
    held_since: datetime | None = None
    flush_due: datetime | None = None
    """When a flush of the held messages is scheduled (None: none is)."""


@dataclass(frozen=True)
class Admission:
    """Send now (telling how many were held back before this one), or hold; on the first hold
    of a storm, `flush_at` says when a slot frees, for the caller to schedule one flush."""

    send: bool
    held_back: int = 0
    held_since: datetime | None = None
    flush_at: datetime | None = None


def _recent(sent: tuple[datetime, ...], now: datetime, within: timedelta) -> tuple[datetime, ...]:
    return tuple(moment for moment in sent if moment > now - within)


def next_slot(state: ThrottleState, now: datetime, throttle: NotificationThrottle) -> datetime:
    """The earliest moment, from `now`, when one more message fits in the window."""
    recent = sorted(_recent(state.sent, now, throttle.within))
    if len(recent) < throttle.count:
        return now
    return recent[len(recent) - throttle.count] + throttle.within


def admit(
    state: ThrottleState, now: datetime, throttle: NotificationThrottle
) -> tuple[Admission, ThrottleState]:
    """Decide one message: send it if the window has room (carrying the held-back count, which
    it then clears), else hold it."""
    recent = _recent(state.sent, now, throttle.within)
    if len(recent) < throttle.count:
        admission = Admission(send=True, held_back=state.held, held_since=state.held_since)
        return admission, ThrottleState(sent=(*recent, now))
    flush_at = None
    lost = state.flush_due is not None and state.flush_due + throttle.within < now
    if state.flush_due is None or lost:  # a flush long overdue was lost (a poisoned message)
        flush_at = next_slot(state, now, throttle)
    held = replace(
        state,
        sent=recent,
        held=state.held + 1,
        held_since=state.held_since or now,
        flush_due=flush_at or state.flush_due,
    )
    return Admission(send=False, flush_at=flush_at), held


@dataclass(frozen=True)
class Flush:
    """What a scheduled flush does: send one message saying `held_back` were held (since
    `held_since`), wait until `retry_at` for a slot, or nothing (the next message carried it)."""

    held_back: int = 0
    held_since: datetime | None = None
    retry_at: datetime | None = None


def flush(
    state: ThrottleState, now: datetime, throttle: NotificationThrottle
) -> tuple[Flush, ThrottleState]:
    """The storm's summary, once a slot is free; a message admitted meanwhile already told the
    count, leaving nothing to flush."""
    if state.held == 0:
        return Flush(), replace(state, flush_due=None)
    slot = next_slot(state, now, throttle)
    if slot > now:
        return Flush(retry_at=slot), replace(state, flush_due=slot)
    recent = _recent(state.sent, now, throttle.within)
    summary = Flush(held_back=state.held, held_since=state.held_since)
    return summary, ThrottleState(sent=(*recent, now))


def lagging(read_through: datetime | None, now: datetime, bound: timedelta) -> bool:
    """Whether a table's rows are read through a moment more than `bound` ago; one never polled
    yet is not (it has no mark to be behind with, and its first poll backfills)."""
    return read_through is not None and now - read_through > bound


def token_expiring(expires_at: datetime | None, now: datetime, warning: timedelta) -> bool:
    """Whether a token's stated expiry is within `warning` (or past): time to rotate it."""
    return expires_at is not None and expires_at - now <= warning


def trouble_event(
    kind: NotificationEventKind, subject: str, occasion: str, at: datetime, title: str, reason: str
) -> NotificationEvent:
    """Faultline's own trouble about `subject` (a table, the GitHub token) as an event, told once
    per `occasion` (the episode's start, or the expiry date). Its fingerprint is the audit's
    partition, and Table Storage refuses `/` in keys: a table's `source/table` is written
    `source~table` there."""
    return NotificationEvent(
        kind=kind,
        at=at,
        fingerprint=f"{kind}|{subject.replace('/', '~')}",
        title=title,
        reason=reason,
        occasion=occasion,
    )
