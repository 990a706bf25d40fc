"""Notifications: the workflow drops events on a queue; a queue-triggered dispatcher sends them.

Why a queue and not a step of the issue workflow: a channel that is slow, throttling or gone must
never hold up or fail an issue, and an orchestrator that waited on Slack's Retry-After would
replay that wait on every step. So `emit` only enqueues (one Storage write, its failure logged and
swallowed: the issue matters more than the message), and `dispatch` runs in its own trigger with
its own retries, outside the workflow's history.

Exactly once per event: every event carries an idempotency key (issue and event, plus what makes
the event distinct, e.g. the closing a regression follows); before sending to a channel, the
dispatcher claims `<event key>|<rule>|<channel>` with an insert-if-absent in Table Storage. A
retried workflow step that emits again, or a redelivered queue message, finds the claim and sends
nothing. A storage failure before the send gives the claim back and fails the message, so the
host's retry sends it; from the send on, the claim stays, so a worker that dies between sending
and auditing loses that audit row rather than sending twice (at most once, as the rules promise).

Throttling and storms: each rule and channel's throttle state is read and saved under its ETag
(concurrent dispatchers converge); a held message is counted, and the first hold of a storm
queues one flush message, delayed until a slot frees, that sends the summary ("97 held back") if
no later message has carried the count already.

Every outcome is an audit row (`notified`, `notification-held`, `notification-failed`) on the
failure's fingerprint, keyed so a retry writes it once.

Faultline's own trouble that lasts (`watch_lag` on the timer's tick, `watch_token` after each
issue sync) is told once per episode: an episode is a row inserted if absent in the same table,
so of every tick or step that sees the trouble only the first emits, and the row is deleted when
the trouble is seen gone, so the next one is told again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict

from detection.notify import (
    NotificationEvent,
    admit,
    delivery_key,
    flush,
    lagging,
    matching_rules,
    throttle_key,
    token_expiring,
    trouble_event,
)
from detection.notify_payloads import Message
from detection.routing import tracker_of
from detection.rules import Channel, NotificationEventKind, NotificationRule
from pipeline.ports import DeliveryFailed, IssueTracker, TokenExpiry, TrackerRefused
from pipeline.services import NotificationPorts, Services

log = logging.getLogger(__name__)

FLUSH_FINGERPRINT = "faultline-notifications"
"""The audit partition of storm summaries, which belong to no one failure."""


class NotificationJob(BaseModel):
    """A message on the notification queue: an event to send, or a storm's flush to try."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["event", "flush"]
    event: NotificationEvent | None = None
    rule: str | None = None
    channel: str | None = None


def emit(services: Services, event: NotificationEvent) -> None:
    """Hand an event to the dispatcher, if any rule wants it; never raise into the workflow."""
    ports = services.notifications
    if ports is None or not matching_rules(services.rules.notifications, event):
        return
    try:
        ports.queue.send(NotificationJob(kind="event", event=event).model_dump_json())
    except Exception:  # the issue workflow must go on whatever the queue does
        log.exception("could not queue the %s notification of %s", event.kind, event.fingerprint)


def emit_trouble(services: Services, key: str, what: str, reason: str) -> None:
    """Faultline's own trouble (a poisoned job or notice, a refused workflow) as a `job-poisoned`
    event, once per `key`; never raises into the recorder."""
    event = NotificationEvent(
        kind="job-poisoned",
        at=services.clock.now(),
        fingerprint=key,
        title=what,
        reason=reason,
        occasion=key,
    )
    emit(services, event)


def _wanted(services: Services, kind: NotificationEventKind) -> bool:
    """Whether any enabled rule fires on `kind`: if none does, the trouble is not even looked
    at, so an unwatched kind costs no storage round trip."""
    rules = services.rules.notifications.rules
    return services.notifications is not None and any(
        rule.enabled and kind in rule.events for rule in rules
    )


def _episode(
    services: Services,
    key: str,
    troubled: bool,
    event: Callable[[datetime], NotificationEvent],
    *,
    closes: bool = True,
) -> None:
    """Tell trouble `key` once per episode: open one (and emit `event(start)`) when troubled and
    none is open, end it when not (unless it never `closes`: once per key for good). The
    episode is saved before the event is queued, so a lost queue write loses that one message
    rather than repeating it every tick."""
    ports = services.notifications
    if ports is None:
        return
    try:
        if not troubled:
            if closes:
                ports.state.close_episode(key)
            return
        opened = ports.state.open_episode(key, services.clock.now())
    except Exception:  # watching Faultline's health must never break what it watches
        log.exception("could not keep the trouble episode %s", key)
        return
    if opened is not None:
        emit(services, event(opened))


def watch_lag(services: Services) -> None:
    """Tell of each table read more than the rules' `lag_bound` behind now, once per episode,
    and again only after it caught up. The timer's tick calls it before it fans out: right
    after, a first poll's backfill (`initial_backfill` behind now, just queued) would count as
    lag before any job had a chance to read it.

    Behind by the read mark, not the checkpoint `GET /api/health` shows: the checkpoint says
    what was queued, which moves on while the query jobs fail or are throttled, so it would miss
    the lag that matters (rows not read); the read mark is never ahead of it, so a fan-out that
    falls behind shows too."""
    if not _wanted(services, "query-lagging"):
        return
    bound = services.rules.notifications.trouble.lag_bound
    now = services.clock.now()
    for source in services.rules.enabled_sources:
        for table in source.watched:
            subject = f"{source.name}/{table.name}"
            try:
                through = services.checkpoints.read_through(source.name, table.name)
            except Exception:  # watching Faultline's health must never break what it watches
                log.exception("could not read the read mark of %s to watch its lag", subject)
                continue
            event = partial(_lag_event, subject, through, now, bound)
            _episode(services, f"lag|{subject}", lagging(through, now, bound), event)


def _lag_event(
    subject: str, through: datetime | None, now: datetime, bound: timedelta, since: datetime
) -> NotificationEvent:
    behind = now - through if through else timedelta(0)
    return trouble_event(
        "query-lagging",
        subject,
        f"{since:%Y-%m-%dT%H:%M:%S}",
        now,
        f"{subject} is {_whole(behind)} behind",
        f"its rows are read through {through:%Y-%m-%d %H:%M:%S} UTC, more than the bound of "
        f"{bound} behind now; told once until it catches up",
    )


def watch_token(
    services: Services,
    tracker: IssueTracker | None,
    repository: str,
    refused: TrackerRefused | None,
) -> None:
    """After a workflow step on `repository`: tell of a GitHub token whose stated expiry is near
    (once per expiry date) and of a token GitHub refused (once per episode, which the next step
    GitHub answers ends; a step on GitLab says nothing of GitHub's token)."""
    now = services.clock.now()
    expires = tracker.token_expires() if isinstance(tracker, TokenExpiry) else None
    warning = services.rules.notifications.trouble.token_warning
    if expires is not None and _wanted(services, "github-token-expiring"):
        # an episode per expiry date, never closed: told once, not on every step until then
        expiring = partial(_expiry_event, expires, now)
        key = f"github-token-expiring|{expires:%Y-%m-%d}"
        _episode(services, key, token_expiring(expires, now, warning), expiring, closes=False)
    if tracker is None or tracker_of(repository) != "github":
        return
    if not _wanted(services, "github-token-refused"):
        return
    credentials = refused is not None and refused.kind == "credentials"  # any other answer
    # (a success, a 403, a 404, a rate limit) means GitHub took the token: the episode is over

    def event(since: datetime) -> NotificationEvent:
        return trouble_event(
            "github-token-refused",
            "github-token",
            f"{since:%Y-%m-%dT%H:%M:%S}",
            now,
            "GitHub answered 401 to the token, and again after asking for it anew",
            f"{refused}"[:500] + "; no issue is filed or updated until the token is replaced",
        )

    _episode(services, "github-token-refused", credentials, event)


def _expiry_event(expires: datetime, now: datetime, since: datetime) -> NotificationEvent:
    return trouble_event(
        "github-token-expiring",
        "github-token",
        f"{expires:%Y-%m-%d}",
        now,
        f"it expires {expires:%Y-%m-%d %H:%M} UTC",
        "GitHub says so (github-authentication-token-expiration); rotate the token within "
        f"{_whole(expires - now)}, or issues stop being filed",
    )


def _whole(span: timedelta) -> timedelta:
    """A span to the whole second, as people read it."""
    return timedelta(seconds=round(span.total_seconds()))


def record_poisoned_notification(services: Services, body: str) -> str:
    """A notification the host gave up on (storage kept failing, or a message that is not
    one): kept where operators look and logged loudly. Not notified about, since the channel
    it would go to may be what failed."""
    try:
        job = NotificationJob.model_validate_json(body)
        event = job.event
        key = event.key if event else f"flush|{job.rule}|{job.channel}"
        description = f"{event.kind} of {event.fingerprint}" if event else f"flush of {job.rule}"
    except ValueError:
        key = "unreadable-" + hashlib.sha256(body.encode()).hexdigest()[:24]
        description = "(not a notification)"
    row = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    reason = "the notification could not be dispatched after repeated attempts"
    services.poisoned_jobs.add(row, description, reason, body, kind="notifications")
    log.error("poisoned notification %s (%s): %s", key, description, reason)
    return row


def dispatch(services: Services, body: str) -> int:
    """The notification queue's trigger: send an event to every channel its rules name, or run
    a storm's flush. Returns how many messages went out."""
    ports = services.notifications
    if ports is None:
        raise RuntimeError("a notification arrived but notifications are not wired")
    job = NotificationJob.model_validate_json(body)
    notifications = services.rules.notifications
    if job.kind == "flush":
        if job.rule is None or job.channel is None:
            raise ValueError("a flush names its rule and channel")
        rule = next((r for r in notifications.rules if r.name == job.rule), None)
        if rule is None or job.channel not in rule.channels:
            log.warning("flush for %s on %s: no such rule or channel now", job.rule, job.channel)
            return 0
        return _flush(services, ports, rule, notifications.channel(job.channel))
    if job.event is None:
        raise ValueError("an event job carries its event")
    sent = 0
    for rule in matching_rules(notifications, job.event):
        for name in rule.channels:
            channel = notifications.channel(name)
            sent += _offer(services, ports, rule, channel, job.event)
    return sent


def _offer(
    services: Services,
    ports: NotificationPorts,
    rule: NotificationRule,
    channel: Channel,
    event: NotificationEvent,
) -> int:
    key = delivery_key(event, rule.name, channel.name)
    now = services.clock.now()
    if not ports.state.claim(key, now):
        return 0  # sent (or held) before: a redelivered message or a retried step
    try:
        while True:
            state, etag = ports.state.throttle(throttle_key(rule.name, channel.name))
            admission, after = admit(state, now, rule.throttle)
            if ports.state.save_throttle(throttle_key(rule.name, channel.name), after, etag):
                break
    except Exception:  # nothing was sent: let the host's retry of this message try again
        ports.state.release(key)
        raise
    if not admission.send:
        _audit(services, event, "notification-held", f"{_where(rule, channel)}: throttled", key)
        if admission.flush_at is not None:
            _queue_flush(ports, rule, channel, now, admission.flush_at)
        return 0
    message = Message(rule.name, channel.name, event, admission.held_back, admission.held_since)
    return _send(services, ports, rule, channel, message, key)


def _flush(
    services: Services, ports: NotificationPorts, rule: NotificationRule, channel: Channel
) -> int:
    now = services.clock.now()
    while True:
        state, etag = ports.state.throttle(throttle_key(rule.name, channel.name))
        outcome, after = flush(state, now, rule.throttle)
        if ports.state.save_throttle(throttle_key(rule.name, channel.name), after, etag):
            break
    if outcome.retry_at is not None:
        _queue_flush(ports, rule, channel, now, outcome.retry_at)
        return 0
    if not outcome.held_back:
        return 0
    message = Message(rule.name, channel.name, None, outcome.held_back, outcome.held_since)
    since = f"{outcome.held_since:%Y%m%dT%H%M%S}" if outcome.held_since else "-"
    return _send(
        services, ports, rule, channel, message, f"flush|{rule.name}|{channel.name}|{since}"
    )


def _queue_flush(
    ports: NotificationPorts,
    rule: NotificationRule,
    channel: Channel,
    now: datetime,
    at: datetime,
) -> None:
    job = NotificationJob(kind="flush", rule=rule.name, channel=channel.name)
    ports.queue.send(job.model_dump_json(), delay=max(at - now, timedelta(0)))


def _send(
    services: Services,
    ports: NotificationPorts,
    rule: NotificationRule,
    channel: Channel,
    message: Message,
    key: str,
) -> int:
    event = message.event
    issue = f"{event.repository}#{event.issue}" if event and event.issue is not None else ""
    thread = ports.state.thread(channel.name, issue) if issue and _threads(channel) else None
    delivery_id = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    where = _where(rule, channel)
    try:
        delivery = ports.notifier.deliver(channel, message, thread=thread, delivery_id=delivery_id)
    except DeliveryFailed as failed:
        why = "refused" if failed.permanent else f"failed after {failed.attempts} attempt(s)"
        _audit(services, event, "notification-failed", f"{where}: {why}: {failed.reason}", key)
        log.warning("notification %s to %s %s: %s", key, channel.name, why, failed.reason)
        return 0
    if issue and _threads(channel) and delivery.thread and thread is None:
        ports.state.save_thread(channel.name, issue, delivery.thread)
    held = f", telling {message.held_back} held back" if message.held_back else ""
    reply = " (in the issue's thread)" if thread else ""
    answer = f"answered {delivery.status}" if delivery.status else "written as a file (dry run)"
    reason = f"{where}: {answer} after {delivery.attempts} attempt(s){reply}{held}"
    _audit(services, event, "notified", reason, key)
    return 1


def _threads(channel: Channel) -> bool:
    """Only a Slack bot can reply in a thread (an incoming webhook cannot)."""
    return channel.kind == "slack" and channel.bot_token_secret is not None


def _where(rule: NotificationRule, channel: Channel) -> str:
    return f"{channel.kind} channel {channel.name} (rule {rule.name})"


def _audit(
    services: Services, event: NotificationEvent | None, action: str, reason: str, key: str
) -> None:
    services.audit.record(
        event.fingerprint if event else FLUSH_FINGERPRINT,
        action,
        event.repository if event else "",
        event.issue if event else None,
        reason,
        services.clock.now(),
        key=f"{action}|{key}",
    )
