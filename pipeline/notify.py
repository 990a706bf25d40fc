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
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from detection.notify import (
    NotificationEvent,
    admit,
    delivery_key,
    flush,
    matching_rules,
    throttle_key,
)
from detection.notify_payloads import Message
from detection.rules import Channel, NotificationRule
from pipeline.ports import DeliveryFailed
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
