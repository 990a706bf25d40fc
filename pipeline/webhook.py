"""GitHub's and GitLab's webhooks: `receive` and `receive_gitlab` answer the HTTP delivery fast
(verify, de-duplicate, queue); `handle` does the work from the queue (follow what people did to
Faultline's issues), the same for both: a GitLab hook is queued as the `IssueEvent` a GitHub
delivery makes (`detection.gitlab_webhook`).

`receive` refuses before it reads: a body over `MAX_BODY_BYTES` (413), then a missing or wrong
`X-Hub-Signature-256` (401; also when no secret is configured, since nothing can then be
verified). A `ping` is answered 200; other events than `issues` and `issue_comment` are
acknowledged and ignored (202). A delivery id seen before (GitHub's redelivery, or a retry of
ours) is acknowledged and dropped: the id is claimed in Table Storage, insert-if-absent, before
the event is queued, and released again if queueing fails, so GitHub's next redelivery is taken.

`receive_gitlab` does the same in GitLab's terms: the body bound, then `X-Gitlab-Token` equal to
the secret (401 otherwise), Issue and Note Hooks acted on (other hooks 202 ignored), a body that
is not such a hook 400 naming the problem, and the delivery claimed by its `Idempotency-Key`
(else `X-Gitlab-Event-UUID`) in the same table.

`handle` trusts only issues Faultline made and still tracks: the body's first line is the
group's marker (signed, once a marker key is configured), and the state table holds that issue
number for that group in that repository. Anyone can paste a marker; nobody else can put a row in
the state table.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from detection.gitlab_webhook import UnreadableDelivery, delivery_id, read_hook, token_valid
from detection.lifecycle import interpret
from detection.markers import carries_marker, find_marker
from detection.webhook import (
    EVENTS,
    MAX_BODY_BYTES,
    IssueEvent,
    NotAnIssueEvent,
    read_event,
    signature_valid,
)
from pipeline.commands import run_command
from pipeline.lifecycle import changed, describe, steer
from pipeline.metrics import POISONED
from pipeline.ports import IssueState, SecretUnavailable, TrackerRateLimited, TrackerRefused
from pipeline.services import Services

log = logging.getLogger(__name__)

_DELIVERY = re.compile(r"[0-9A-Za-z-]{1,64}")
"""GitHub's delivery ids are GUIDs; anything else cannot be a table key safely."""


@dataclass(frozen=True)
class Answer:
    status: int
    payload: dict[str, str]


class ConcurrentSteering(RuntimeError):
    """The issue's state changed between read and write; the queue delivers the event again."""


def receive(services: Services, headers: Mapping[str, str], body: bytes) -> Answer:
    """Verify and queue one delivery; the answer GitHub gets."""
    named = {key.lower(): value for key, value in headers.items()}
    declared = named.get("content-length", "")
    if len(body) > MAX_BODY_BYTES or (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        return Answer(413, {"error": f"deliveries are limited to {MAX_BODY_BYTES} bytes"})
    header = named.get("x-hub-signature-256")
    try:
        verified = _verified(
            services.github_webhook_secret,
            "GitHub",
            header,
            lambda secret: signature_valid(secret, body, header),
        )
    except SecretUnavailable as unavailable:  # GitHub shows the failed delivery; redeliver later
        log.error(
            "the GitHub webhook's secret is unavailable (%s): %s", unavailable.reason, unavailable
        )
        return Answer(503, {"error": "the webhook secret is unavailable"})
    if not verified:
        return Answer(401, {"error": "missing or invalid X-Hub-Signature-256"})
    event = named.get("x-github-event", "")
    delivery = named.get("x-github-delivery", "")
    if event == "ping":
        return Answer(200, {"status": "pong"})
    if event not in EVENTS:
        return Answer(202, {"status": "ignored", "reason": "not an issues or issue_comment event"})
    if not _DELIVERY.fullmatch(delivery):
        return Answer(400, {"error": "missing or malformed X-GitHub-Delivery"})
    try:
        summary = read_event(event, delivery, json.loads(body))
    except ValueError as error:  # NotAnIssueEvent, or a body that is not JSON
        if isinstance(error, NotAnIssueEvent):
            return Answer(202, {"status": "ignored", "reason": str(error)})
        return Answer(400, {"error": "the body is not JSON"})
    return _queue(services, summary)


def receive_gitlab(services: Services, headers: Mapping[str, str], body: bytes) -> Answer:
    """Verify and queue one GitLab delivery; the answer GitLab gets."""
    named = {key.lower(): value for key, value in headers.items()}
    declared = named.get("content-length", "")
    if len(body) > MAX_BODY_BYTES or (declared.isdigit() and int(declared) > MAX_BODY_BYTES):
        return Answer(413, {"error": f"deliveries are limited to {MAX_BODY_BYTES} bytes"})
    token = named.get("x-gitlab-token")
    try:
        verified = _verified(
            services.gitlab_webhook_secret,
            "GitLab",
            token,
            lambda secret: token_valid(secret, token),
        )
    except SecretUnavailable as unavailable:  # GitLab retries a failed delivery
        log.error(
            "the GitLab webhook's secret is unavailable (%s): %s", unavailable.reason, unavailable
        )
        return Answer(503, {"error": "the webhook secret is unavailable"})
    if not verified:
        return Answer(401, {"error": "missing or invalid X-Gitlab-Token"})
    event = named.get("x-gitlab-event", "")
    delivery = delivery_id(named)
    if not _DELIVERY.fullmatch(delivery):
        return Answer(
            400, {"error": "missing or malformed Idempotency-Key and X-Gitlab-Event-UUID"}
        )
    try:
        summary = read_hook(event, delivery, json.loads(body))
    except NotAnIssueEvent as ignored:
        return Answer(202, {"status": "ignored", "reason": str(ignored)})
    except UnreadableDelivery as unreadable:
        return Answer(400, {"error": str(unreadable)})
    except ValueError:
        return Answer(400, {"error": "the body is not JSON"})
    return _queue(services, summary)


def _queue(services: Services, summary: IssueEvent) -> Answer:
    """Claim the delivery, then queue its event: a delivery claimed before is a redelivery,
    acknowledged and dropped; a claim whose event could not be queued is released, so the
    sender's next redelivery is taken."""
    delivery = summary.delivery
    if not services.github_deliveries.claim(delivery, services.clock.now()):
        return Answer(200, {"status": "duplicate", "delivery": delivery})
    try:
        services.github_event_queue.send(summary.to_json())
    except Exception:
        services.github_deliveries.release(delivery)
        raise
    return Answer(202, {"status": "queued", "delivery": delivery})


def _verified(
    secret_of: Callable[[bool], bytes | None],
    sender: str,
    header: str | None,
    proves: Callable[[bytes], bool],
) -> bool:
    """Whether the delivery's `header` proves the webhook's secret (`proves`: GitHub's
    signature, GitLab's token). One that does not asks for the secret again (the sender may use
    a rotated one), which the vault adapter allows once a minute, so forgeries cannot make every
    request a vault read."""
    secret = secret_of(False)
    if secret is None:
        log.warning("a %s webhook delivery arrived but no webhook secret is configured", sender)
        return False
    if proves(secret):
        return True
    if not header:
        return False
    rotated = secret_of(True)
    return rotated is not None and rotated != secret and proves(rotated)


def handle(services: Services, message: str) -> None:
    """Act on one queued event, if it is about an issue Faultline tracks."""
    event = IssueEvent.from_json(message)
    commenting = event.event == "issue_comment" and event.action == "created"
    # a merged issue still takes `/faultline unmerge`; nothing else about it is followed
    state = tracked_issue(services, event, merged_too=commenting)
    if state is None:
        log.info(
            "webhook %s: %s#%d is not an issue Faultline tracks; ignored",
            event.delivery,
            event.repository,
            event.number,
        )
        return
    try:
        if event.event == "issues":
            follow(services, event, state)
        elif commenting:
            run_command(services, event, state)
    except TrackerRateLimited as limited:
        # back on the queue for exactly as long as GitHub asked; each step is found again
        services.github_event_queue.send(message, delay=limited.retry_after)
        log.warning(
            "webhook %s waits %s for GitHub: %s", event.delivery, limited.retry_after, limited
        )
    except TrackerRefused as refused:
        if not refused.permanent:
            raise
        services.audit.record(
            state.fingerprint,
            "refused",
            state.repository,
            state.number,
            f"webhook {event.event}.{event.action}: {refused}"[:1000],
            services.clock.now(),
            key=f"webhook-refused|{event.delivery}",
        )
        log.warning("webhook %s: GitHub refused: %s", event.delivery, refused)


def record_poisoned_event(services: Services, body: str) -> None:
    """An event the host gave up on (after `maxDequeueCount` attempts): log it loudly and keep
    it where operators look (`GET /api/health` counts them). What it asked is not lost: the
    workflow reads the issue's state on its next sync; a command goes unanswered."""
    try:
        event = IssueEvent.from_json(body)
        key = event.delivery
        description = f"{event.event}.{event.action} on {event.repository}#{event.number}"
    except (ValueError, TypeError):
        key = "unreadable-" + hashlib.sha256(body.encode()).hexdigest()[:24]
        description = "(not a GitHub event)"
    reason = "the GitHub event could not be handled after repeated attempts"
    services.poisoned_jobs.add(key, description, reason, body, kind="github-events")
    services.metrics.count(POISONED, kind="github-events")
    log.error("poisoned GitHub event %s (%s): %s", key, description, reason)


def tracked_issue(
    services: Services, event: IssueEvent, *, merged_too: bool = False
) -> IssueState | None:
    """The state of the group whose issue this is, if Faultline made it and still tracks it
    (`merged_too`: or merged it into another by command)."""
    fingerprint = find_marker(event.body_head)
    if fingerprint is None or not carries_marker(
        event.body_head, event.repository, fingerprint, services.marker_key()
    ):
        return None
    state = services.issues.peek(fingerprint, event.repository)
    if state is None or state.number != event.number:
        return None
    if state.folded_into is not None and not (merged_too and state.merged_into is not None):
        return None
    return state


def follow(services: Services, event: IssueEvent, state: IssueState) -> None:
    """Closed, reopened, (un)labelled: take on the status people set. Transferred or deleted:
    forget the issue, so the group's next occurrence opens a new one in the repository its route
    names (routing, not a transfer, decides where a failure's issues live; a transferred issue is
    left to the people who moved it)."""
    now = services.clock.now()
    key = f"webhook|{event.delivery}"
    if event.action in ("transferred", "deleted"):
        where = f" to {event.moved_to}" if event.moved_to else ""
        forgotten = IssueState(state.fingerprint, state.repository, etag=state.etag)
        if services.issues.save(forgotten) is None:
            raise ConcurrentSteering(f"issue state of {state.fingerprint} changed concurrently")
        reason = f"{event.action}{where} by {event.sender}: the next occurrence opens a new issue"
        services.audit.record(
            state.fingerprint, "forgotten", state.repository, state.number, reason, now, key=key
        )
        return
    steering = interpret(event.state, event.state_reason, event.labels)
    steered = steer(state, steering)
    if not changed(state, steered):
        return
    if services.issues.save(steered) is None:
        raise ConcurrentSteering(f"issue state of {state.fingerprint} changed concurrently")
    services.audit.record(
        state.fingerprint,
        "steered",
        state.repository,
        state.number,
        f"{event.action} by {event.sender}: {describe(steering)}",
        now,
        key=key,
    )
