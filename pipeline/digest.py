"""The periodic digest: gathered from the ledger, the issue states and the audit table, built by
`detection.digest`, kept as one issue per digest updated in place, and sent to its channels.

Why the pinned issue is found by its marker rather than remembered: the digest's issue carries
the same hidden, signed first line as every issue Faultline writes, with a fingerprint derived
from the digest's name, so the trackers' marker search (which already survives lost state and
retried creates) finds it; a retried or concurrent run edits it instead of opening another.

Each channel gets a digest once per period: the send is claimed in the notification table
(`digest|<name>|<period start>|<channel>`, insert-if-absent) before it goes, as the dispatcher
claims events, and audited as `notified` or `notification-failed`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from detection.digest import (
    Action,
    Digest,
    Failure,
    Health,
    Period,
    build_digest,
    digest_fingerprint,
    issue_title,
    render_markdown,
)
from detection.markers import marker, marker_signature
from detection.notify_payloads import Message
from detection.rules import DigestSchedule
from pipeline.ports import (
    DeliveryFailed,
    IssuePinning,
    IssueRef,
    IssueTracker,
    TrackersByRepository,
)
from pipeline.services import Services

log = logging.getLogger(__name__)

DIGEST_LABEL = "faultline:digest"
POISON_KINDS = ("query-jobs", "failure-notices", "github-events", "alert-jobs", "notifications")
"""Every kind of message Faultline keeps as poisoned (`PoisonLog`)."""


def send_due_digests(services: Services) -> int:
    """The hourly timer: make every enabled digest that is due and not made yet for its period;
    returns how many it made. Each is claimed for its period in the notification table first
    and the claim given back if making it fails, so the next hourly run tries again and a
    finished one is not made twice."""
    ports = services.notifications
    if ports is None:
        raise RuntimeError("digests are due but notifications are not wired")
    now = services.clock.now()
    made = 0
    for schedule in services.rules.notifications.digests:
        if not (schedule.enabled and schedule.due(now)):
            continue
        start, end = schedule.covered(now)
        key = f"digest-made|{schedule.name}|{start:%Y%m%d}"
        if not ports.state.claim(key, now):
            continue
        try:
            publish_digest(services, schedule, Period(start, end))
        except Exception:
            ports.state.release(key)  # the next hourly run makes it
            raise
        made += 1
    return made


def scope(services: Services, schedule: DigestSchedule) -> frozenset[str]:
    """The repositories whose failures the digest covers."""
    routed = {
        route.repository
        for route in services.rules.routing.routes
        if route.name is not None and route.name in schedule.routes
    }
    chosen = {*schedule.repositories, *routed}
    return frozenset(chosen or {schedule.repository})


def gather(services: Services, schedule: DigestSchedule, period: Period) -> Digest:
    """The digest's facts, read through the ports: each covered issue's failure and occurrences
    (from the period before on, for the trend), every audit row of the covered repositories up
    to the period's end (creation times of older issues included), and Faultline's health."""
    covered = scope(services, schedule)
    since = period.previous.start
    failures = []
    for state in services.issues.tracked():
        if state.repository not in covered or state.number is None:
            continue
        summary = services.ledger.summary(state.fingerprint)
        founder = summary.founder if summary else None
        name = (founder.title if founder else "") or (summary.definition if summary else "")
        times = _times(services, state.fingerprint, since, period.end)
        failures.append(
            Failure(
                state.fingerprint,
                name or state.fingerprint,
                state.repository,
                state.number,
                state.url,
                state.status,
                times,
                state.first_pull_request_at,
            )
        )
    actions = [
        Action(e.fingerprint, e.action, e.repository, e.issue, e.reason, e.at)
        for e in services.audit.entries()
        if e.repository in covered and e.at < period.end
    ]
    kept_back = {(a.fingerprint, a.repository) for a in actions if a.action == "suppressed"}
    suppressed = [  # no issue, so no issue state: the ledger alone knows them
        Failure(
            fingerprint,
            fingerprint,
            repository,
            occurrences=_times(services, fingerprint, since, period.end),
        )
        for fingerprint, repository in sorted(kept_back)
    ]
    health = _health(services)
    return build_digest(schedule.name, period, failures, actions, health, suppressed)


def _times(
    services: Services, fingerprint: str, since: datetime, end: datetime
) -> tuple[datetime, ...]:
    """The group's occurrence times in [since, end), from the ledger."""
    return tuple(
        moment
        for row in services.ledger.occurrences(fingerprint)
        if since <= (moment := _time(row["TimeGenerated"])) < end
    )


def _time(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _health(services: Services) -> Health:
    now = services.clock.now()
    lags = [(now - c.ingested_through).total_seconds() for c in services.checkpoints.all()]
    poisoned = sum(services.poisoned_jobs.count(kind) for kind in POISON_KINDS)
    return Health(lag_seconds=round(max(lags)) if lags else None, poisoned=poisoned)


def publish_digest(services: Services, schedule: DigestSchedule, period: Period) -> Digest:
    """Build the digest, write it to its issue, and send it to its channels."""
    digest = gather(services, schedule, period)
    tracker = services.issue_tracker()
    number, digest = _write_issue(services, tracker, schedule, digest)
    pinned = _pin(tracker, schedule.repository, number)
    services.audit.record(
        digest_fingerprint(schedule.name),
        "digest-published",
        schedule.repository,
        number,
        f"{schedule.period} digest {schedule.name} for {period.start:%Y-%m-%d}; {pinned}",
        services.clock.now(),
        key=f"digest-published|{schedule.name}|{period.start:%Y%m%d}",
    )
    _send(services, schedule, digest)
    return digest


def _write_issue(
    services: Services, tracker: IssueTracker, schedule: DigestSchedule, digest: Digest
) -> tuple[int, Digest]:
    """Update the digest's issue in place (reopened if someone closed it), or create it. The
    digest shows GitHub's core budget as its answer to the marker search stated it."""
    repository = schedule.repository
    fingerprint = digest_fingerprint(schedule.name)
    label = services.rules.labels.always[0] if services.rules.labels.always else "faultline"
    found: IssueRef | None = tracker.find_by_marker(repository, fingerprint, label, None)
    core = next((b for b in tracker.budget() if b.resource == "core"), None)
    if core is not None:
        health = replace(digest.health, budget_used=core.used, budget_limit=core.limit)
        digest = replace(digest, health=health)
    key = services.marker_key()
    signature = marker_signature(key, repository, fingerprint) if key else None
    body = render_markdown(digest, marker(fingerprint, signature))
    title = issue_title(digest)
    if found is not None:
        tracker.edit(repository, found.number, title=title, body=body, state="open")
        return found.number, digest
    created = tracker.create(repository, title, body, [label, DIGEST_LABEL])
    log.info("digest %s: created %s#%d", schedule.name, repository, created.number)
    return created.number, digest


def _pin(tracker: IssueTracker, repository: str, number: int) -> str:
    """Pin the digest's issue where the tracker can (again each time: a pin lost to a failed
    run, or undone by a person, comes back); says how it went, for the audit row."""
    pinning = tracker.pinning(repository) if isinstance(tracker, TrackersByRepository) else tracker
    if not isinstance(pinning, IssuePinning):
        return "not pinned: the tracker cannot pin issues"
    refused = pinning.pin(repository, number)
    if refused:
        log.warning("digest issue %s#%d not pinned: %s", repository, number, refused)
        return f"not pinned: {refused}"
    return "pinned"


def _send(services: Services, schedule: DigestSchedule, digest: Digest) -> None:
    ports = services.notifications
    if ports is None or not schedule.channels:
        return
    notifications = services.rules.notifications
    fingerprint = digest_fingerprint(schedule.name)
    for name in schedule.channels:
        channel = notifications.channel(name)
        key = f"digest|{schedule.name}|{digest.period.start:%Y%m%d}|{name}"
        now = services.clock.now()
        if not ports.state.claim(key, now):
            continue  # this period's digest went to this channel already
        message = Message(schedule.name, name, digest=digest)
        delivery_id = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        where = f"{channel.kind} channel {name} (digest {schedule.name})"
        try:
            sent = ports.notifier.deliver(channel, message, thread=None, delivery_id=delivery_id)
        except DeliveryFailed as failed:
            action, reason = "notification-failed", f"{where}: {failed.reason}"
            log.warning("digest %s to %s failed: %s", schedule.name, name, failed.reason)
        else:
            answer = f"answered {sent.status}" if sent.status else "written as a file (dry run)"
            action, reason = "notified", f"{where}: {answer} after {sent.attempts} attempt(s)"
        services.audit.record(
            fingerprint, action, schedule.repository, None, reason, now, key=f"{action}|{key}"
        )


def whole_days(start: datetime, end: datetime) -> Period:
    """The whole UTC days from `start`'s to `end`'s (the local run's digest covers its replay)."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return Period(first, last)
