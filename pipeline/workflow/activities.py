"""The issue workflow's sync activity: find or create the failure's issue and keep it current.

`sync_issue` finds the issue (state table, else the hidden marker on GitHub: the repository's
strongly consistent issue list first, then search), or creates it if the hourly budget allows; an
existing issue gets its body refreshed, a comment at most once per interval, and is reopened (or
a linked issue opened) when a closed failure recurs. Folded groups end on one issue.

Every step is idempotent: a retried create finds the issue its lost response made, a comment is
found again by its marker, an audit row by its key.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from detection import markdown
from detection.escalation import ESCALATING_LABEL
from detection.issue import title
from detection.lifecycle import interpret, mute_labels, muted
from detection.releases import regressed_since, versions_since
from pipeline.escalation import follow_rate
from pipeline.known_issues import audit_match
from pipeline.lifecycle import changed, describe, steer
from pipeline.messages import FailureNotice
from pipeline.metrics import GITHUB_BUDGET, ISSUES, POISONED, TIME_TO_ISSUE, log_fields
from pipeline.notify import emit_trouble, watch_token
from pipeline.ports import (
    IssueRef,
    IssueState,
    IssueTracker,
    LedgerEntry,
    SecretUnavailable,
    TrackerRateLimited,
    TrackerRefused,
)
from pipeline.services import Services
from pipeline.workflow.messages import AuditNote, FinishCheck, Synced, Wait, WorkflowRequest
from pipeline.workflow.notify_events import emit_issue_event
from pipeline.workflow.view import issue_body, issue_view

if TYPE_CHECKING:
    from detection.issue import IssueView
    from detection.occurrence import Occurrence

log = logging.getLogger(__name__)

LATE_WRITE_WINDOW = timedelta(hours=1)
"""How long after a create a write it lost could still surface as a second issue."""


class ConcurrentUpdate(RuntimeError):
    """Someone changed the issue state between our read and write; the activity retries."""


def record_audit(services: Services, note: AuditNote) -> None:
    services.audit.record(
        note.fingerprint,
        note.action,
        note.repository,
        note.issue,
        note.reason,
        services.clock.now(),
    )


def sync_issue(services: Services, request: WorkflowRequest) -> Synced | Wait:
    """Create, refresh, comment on or reopen the failure's issue; idempotent under retries."""
    repository = request.repository
    fingerprint = request.fingerprint
    survivor = services.grouping.resolve(fingerprint)
    if survivor != fingerprint:
        return _hand_to_survivor(services, survivor)
    absorbed = services.grouping.absorbed_by(fingerprint)
    for group in absorbed:
        services.ledger.fold(fingerprint, group)
    state = services.issues.begin_sync(fingerprint, repository) or IssueState(
        fingerprint, repository
    )
    entry = services.ledger.summary(fingerprint)
    notice = _latest(request.notice, entry)
    now = services.clock.now()
    founder = entry.founder if entry else None
    audit = Auditor(services, notice.fingerprint, repository, now, founder=founder)
    github: IssueTracker | None = None
    try:
        github = services.issue_tracker()
        if absorbed:
            state = _fold_issues(services, github, state, absorbed, audit)
        if state.number is None:
            outcome = _create_or_adopt(services, github, request, notice, state, audit)
        else:
            outcome = _refresh(services, github, request, notice, state, audit)
    except TrackerRateLimited as limited:
        watch_token(services, github, repository, None)  # GitHub took the token, and asked to wait
        return tracker_wait(limited)
    except (TrackerRefused, SecretUnavailable) as refused:
        if isinstance(refused, TrackerRefused):
            watch_token(services, github, repository, refused)
            if not refused.permanent:
                raise
        return _refused(services, audit, state, refused)
    finally:
        report_budget(services, github)
    watch_token(services, github, repository, None)
    services.poisoned_jobs.remove(f"{fingerprint}|{repository.replace('/', '~')}", kind="refused")
    return outcome


def report_budget(services: Services, github: IssueTracker | None) -> None:
    """Record the share of each GitHub rate-limit window used, as the step's last answers said."""
    if github is None:
        return
    for budget in github.budget():
        services.metrics.record(GITHUB_BUDGET, budget.share_used, resource=budget.resource)


def tracker_wait(limited: TrackerRateLimited) -> Wait:
    """Wait exactly as long as the tracker asked: asking again earlier counts against us."""
    return Wait(
        wait_seconds=limited.retry_after.total_seconds(),
        reason=f"{limited.tracker} asked to wait {limited.retry_after} ({limited.detail})",
        exact=True,
    )


def _refused(
    services: Services,
    audit: Auditor,
    state: IssueState,
    refused: TrackerRefused | SecretUnavailable,
) -> Synced:
    """GitHub (or the vault) refused for good: stop retrying, and say so where people look. The
    audit says why (once per refusal); health lists the failure until a later sync succeeds,
    which the next notice tries (after the token, the permissions or the rules are fixed)."""
    kind = refused.kind if isinstance(refused, TrackerRefused) else f"secret-{refused.reason}"
    reason = str(refused)[:1000]
    audit.once(f"refused|{kind}|{reason[:200]}", "refused", state.number, reason)
    services.poisoned_jobs.add(
        f"{state.fingerprint}|{state.repository.replace('/', '~')}",
        f"{state.repository} {kind}",
        reason,
        "",
        kind="refused",
    )
    services.metrics.count(POISONED, kind="refused")
    emit_trouble(
        services,
        f"refused|{state.fingerprint}|{state.repository}|{kind}|{audit.now:%Y-%m-%d}",
        f"{state.repository} refused the issue workflow ({kind})",
        reason,
    )
    log.warning(
        "%s: %s refused the issue workflow (%s): %s",
        state.fingerprint,
        state.repository,
        kind,
        reason,
        extra=audit.log_fields(state.url or ""),
    )
    return Synced(action="refused", reason=reason)


def _close_late_duplicates(
    services: Services, github: IssueTracker, state: IssueState, issue: IssueRef, audit: Auditor
) -> None:
    """A create that GitHub performed after the client gave up (and after the retry had looked
    for it) surfaces as a second issue with the same marker: close it as a duplicate of the one
    the workflow keeps. Looked for while writes could still be landing after the create."""
    if state.intent_at is None:
        raise ValueError(f"#{issue.number} has no create intent to look for late twins after")
    label = services.rules.labels.always[0] if services.rules.labels.always else "faultline"
    since = state.intent_at - timedelta(minutes=5)
    for late in github.issues_with_marker(state.repository, state.fingerprint, label, since):
        if late.number != issue.number and late.state == "open":
            _close_as_duplicate(
                github, state.repository, late.number, issue, state.fingerprint, state.fingerprint
            )
            audit.once(
                f"late|{late.number}", "folded", late.number, f"duplicate of #{issue.number}"
            )


def _hand_to_survivor(services: Services, survivor: str) -> Synced:
    """This group was folded into another: the survivor's workflow owns the issue now (it closes
    this group's issue as a duplicate), so wake it."""
    entry = services.ledger.summary(survivor)
    if entry is not None and entry.founder is not None:
        services.failure_queue.send(FailureNotice.of(entry).model_dump_json())
    return Synced(action="folded", into=survivor)


def _fold_issues(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    absorbed: list[str],
    audit: Auditor,
) -> IssueState:
    """One issue for the folded groups: the oldest issue among theirs and this group's survives
    (this group adopts it); every other is closed as its duplicate, with a comment that links it.
    Each step is idempotent: a retry finds the issue closed, the comment present (by its marker),
    the absorbed state marked, the audit row written (by its key)."""
    repository = state.repository
    others = {
        group: found
        for group in absorbed
        if (found := services.issues.peek(group, repository)) is not None
        and found.number is not None
        and found.folded_into is None
    }
    numbers = {found.number for found in others.values() if found.number is not None}
    if state.number is not None:
        numbers.add(state.number)
    if not others:
        return state
    keep = github.get(repository, min(numbers))
    for group, found in others.items():
        if found.number is not None and found.number != keep.number:
            _close_as_duplicate(github, repository, found.number, keep, group, state.fingerprint)
            audit.once(f"fold|{group}", "folded", found.number, f"duplicate of #{keep.number}")
            _announce_fold(services, github, keep, found.number, group, state.fingerprint, audit)
        services.issues.save(found.with_changes(folded_into=keep.number))
    if state.number is not None and state.number != keep.number:
        _close_as_duplicate(
            github, repository, state.number, keep, state.fingerprint, state.fingerprint
        )
        audit.once(f"fold|{state.number}", "folded", state.number, f"duplicate of #{keep.number}")
        _announce_fold(
            services, github, keep, state.number, state.fingerprint, state.fingerprint, audit
        )
    if state.number != keep.number:
        audit("adopted", keep.number, "the surviving issue of the folded groups")
        state = _save(
            services,
            state.with_changes(
                number=keep.number, url=keep.url, synced_count=0, synced_at=None, adopted=True
            ),
        )
    return state


def _announce_fold(
    services: Services,
    github: IssueTracker,
    keep: IssueRef,
    number: int,
    group: str,
    survivor: str,
    audit: Auditor,
) -> None:
    """Say on the surviving issue which issue an automatic merge folded into it: its watchers
    see the counts jump and the other issue close, and a merge nobody can see is the complaint
    users of other trackers make most. Before the absorbed state is marked folded, so a retry
    that stopped in between still gets here; the comment is found again by its marker, the
    audit row by its key. The definition's name comes from the rules file, so it is made inert
    like any text an issue shows."""
    marker = f"<!-- faultline:absorbed={group}:into={survivor} -->"
    repository = audit.repository
    if not any(marker in body for body in github.comment_bodies(repository, keep.number)):
        entry = services.ledger.summary(group)
        of = f" ({markdown.prose(entry.definition)})" if entry and entry.definition else ""
        github.comment(
            repository,
            keep.number,
            f"Faultline merged #{number}{of} into this issue automatically: it found the same "
            f"root cause under fingerprint {markdown.inline_code(group)}. #{number} is closed as "
            f"a duplicate, its counts are added here, and every later occurrence of its failure "
            f"is counted on this issue.\n\n{marker}",
        )
    audit.once(f"absorbed|{group}", "merged", keep.number, f"#{number} merged in automatically")


def _close_as_duplicate(
    github: IssueTracker, repository: str, number: int, keep: IssueRef, group: str, survivor: str
) -> None:
    marker = f"<!-- faultline:fold={group}:into={survivor} -->"
    if not any(marker in body for body in github.comment_bodies(repository, number)):
        github.comment(
            repository,
            number,
            f"Faultline now groups this failure with #{keep.number} (same root cause), so it "
            f"continues there: every later occurrence is counted on #{keep.number}, and the "
            f"counts of this issue have moved to it.\n\n{marker}",
        )
    github.edit(
        repository,
        number,
        state="closed",
        state_reason="duplicate",
        duplicate_issue_id=keep.id,
    )


def _create_or_adopt(
    services: Services,
    github: IssueTracker,
    request: WorkflowRequest,
    notice: FailureNotice,
    state: IssueState,
    audit: Auditor,
) -> Synced | Wait:
    limits = services.rules.rate_limits
    slot = services.rate_limiter.reserve_issue(
        notice.fingerprint,
        state.repository,
        audit.now,
        limits.issues_per_hour,
        limits.issues_per_hour_per_repository,
    )
    if slot > audit.now:
        return Wait(
            wait_seconds=(slot - audit.now).total_seconds(),
            reason=f"hourly issue budget used; its slot is at {slot:%Y-%m-%d %H:%M} UTC",
            exact=True,
        )
    label = services.rules.labels.always[0] if services.rules.labels.always else "faultline"
    since = state.intent_at - timedelta(minutes=5) if state.intent_at else None
    found = github.find_by_marker(state.repository, notice.fingerprint, label, since)
    if found is not None and not _here(found, state.repository):
        found = None  # transferred away; search, lagging, still names it under its old place
    if found is not None:
        reason = (
            "a previous attempt created it" if state.intent_at else "found by its marker on GitHub"
        )
        audit("skipped-as-duplicate", found.number, reason)
        count = notice.count
        adopted = state.with_changes(
            number=found.number,
            url=found.url,
            synced_count=0,
            commented_count=count,
            last_comment_at=audit.now,
        )
        state = _save(services, adopted)
        return _refresh(services, github, request, notice, state, audit, adopted=found)
    if state.intent_at is None:
        state = _save(services, state.with_changes(intent_at=audit.now))
    count = notice.count
    view = issue_view(services, notice, count)
    issue = github.create(
        state.repository,
        title(view.name or notice.definition),
        issue_body(services, view, state.repository),
        list(request.labels),
    )
    _save(services, _showing(state, issue, count, audit.now).with_changes(run=notice.run))
    by_run = f" (run {notice.run})" if notice.run else ""
    audit("created", issue.number, f"{count} occurrence(s) of {notice.definition}{by_run}")
    _annotated(services, view, state.repository, issue.number)
    _changed(services, audit, "created", issue)
    emit_issue_event(services, "issue-created", notice, state.repository, issue.number, issue.url)
    waited = services.clock.now() - notice.first_seen  # a row stamped ahead of our clock: 0
    services.metrics.record(
        TIME_TO_ISSUE,
        max(waited.total_seconds(), 0.0),
        definition=notice.definition,
        repository=state.repository,
    )
    if issue.dropped_labels:
        audit(
            "labels-dropped",
            issue.number,
            "the tracker left off "
            + ", ".join(issue.dropped_labels)
            + ": the token needs write access to label and assign (GitHub: push; GitLab: the "
            "Reporter role)",
        )
    return _result("created", issue, needs_assignment=True)


def _refresh(
    services: Services,
    github: IssueTracker,
    request: WorkflowRequest,
    notice: FailureNotice,
    state: IssueState,
    audit: Auditor,
    adopted: IssueRef | None = None,
) -> Synced | Wait:
    if state.number is None:
        raise ValueError(f"{state.fingerprint} has no issue to sync")
    try:
        issue = adopted or github.get(state.repository, state.number)
    except TrackerRefused as refused:
        if refused.status not in (404, 410):
            raise
        return _forget(services, github, request, notice, state, audit, "deleted")
    if not _here(issue, state.repository) or issue.number != state.number:
        return _forget(services, github, request, notice, state, audit, f"moved to {issue.url}")
    recent = state.intent_at is not None and audit.now - state.intent_at < LATE_WRITE_WINDOW
    if recent and issue.state == "open":  # a closed one's newer twin is its linked regression
        _close_late_duplicates(services, github, state, issue, audit)
    count = notice.count
    state, issue, silenced = _follow_people(services, github, state, issue, count, audit)
    if silenced:
        return _result("unchanged", issue)
    if issue.state == "closed":
        regressed = issue.closed_at is not None and notice.last_seen > issue.closed_at
        if not regressed or count <= state.synced_count:
            return _result("unchanged", issue)
        if state.resolved_in is not None:
            versions = _versions_since_resolved(services, state)
            if not regressed_since(state.resolved_in, versions):
                return _recur_before_release(services, github, notice, state, issue, count, audit)
        return _regress(services, github, request, notice, state, issue, count, audit)
    # before the refresh interval's wait: an escalation is news now
    escalation = services.rules.escalation.factor is not None
    if escalation or state.escalated_at is not None or ESCALATING_LABEL in issue.labels:
        summary = services.ledger.summary(notice.fingerprint)
        if summary is not None:
            state = follow_rate(services, github, state, issue, summary, audit.now)
    action = "unchanged"
    if count > state.synced_count:
        refresh_every = services.rules.dedup.update_interval
        refresh_at = state.synced_at + refresh_every if state.synced_at else None
        if refresh_at is not None and refresh_at > audit.now:
            return Wait(
                wait_seconds=(refresh_at - audit.now).total_seconds(),
                reason=f"#{issue.number} is next refreshed at {refresh_at:%H:%M} UTC",
                quiet=True,
            )
        view = issue_view(services, notice, count)
        renamed = {"title": title(view.name or notice.definition)} if state.adopted else {}
        github.edit(
            state.repository,
            issue.number,
            body=issue_body(services, view, state.repository),
            **renamed,
        )
        state = _save(
            services, state.with_changes(synced_count=count, synced_at=audit.now, adopted=False)
        )
        action = "updated"
        audit(
            "updated",
            issue.number,
            f"{count} occurrence(s), last seen {notice.last_seen:%Y-%m-%d %H:%M} UTC",
        )
        _annotated(services, view, state.repository, issue.number)
        _changed(services, audit, "updated", issue)
    interval = services.rules.dedup.comment_interval
    due = state.last_comment_at is None or audit.now - state.last_comment_at >= interval
    if (
        count > state.commented_count
        and due
        and services.rate_limiter.reserve_comment(
            notice.fingerprint, audit.now, services.rules.rate_limits.comments_per_hour
        )
    ):
        new = count - state.commented_count
        # keyed by what the last comment covered, so a retry after a lost response finds it
        marker = f"<!-- faultline:comment={notice.fingerprint}:after={state.commented_count} -->"
        if not any(
            marker in body for body in github.comment_bodies(state.repository, issue.number)
        ):
            github.comment(
                state.repository,
                issue.number,
                f"{new} new occurrence(s) since the last update; {count} in total, last seen "
                f"{notice.last_seen:%Y-%m-%d %H:%M:%S} UTC.\n\n{marker}",
            )
        state = _save(
            services, state.with_changes(commented_count=count, last_comment_at=audit.now)
        )
        action = "commented"
        audit("commented", issue.number, f"{new} new occurrence(s)")
        _changed(services, audit, "commented", issue)
    # an assignment owed since creation survives an interrupted workflow (a wait, a crash)
    return _result(action, issue, needs_assignment=not state.assigned and not issue.assignees)


def _forget(
    services: Services,
    github: IssueTracker,
    request: WorkflowRequest,
    notice: FailureNotice,
    state: IssueState,
    audit: Auditor,
    what: str,
) -> Synced | Wait:
    """The issue was deleted (GitHub answers 404 or 410) or transferred (GitHub redirects to its
    new place): forget it, as the webhook handler does when told, and open the failure's issue
    where its route says. Should the 404 mean lost access instead, the marker finds the issue
    again once access is back."""
    audit("forgotten", state.number, f"#{state.number} was {what}: a new issue is opened")
    forgotten = _save(services, IssueState(state.fingerprint, state.repository, etag=state.etag))
    return _create_or_adopt(services, github, request, notice, forgotten, audit)


def _here(issue: IssueRef, repository: str) -> bool:
    """Whether the issue is still in `repository`: GitHub answers a transferred issue's old
    address with the issue at its new place."""
    return issue.repository.casefold() == repository.casefold()


def _follow_people(
    services: Services,
    github: IssueTracker,
    state: IssueState,
    issue: IssueRef,
    count: int,
    audit: Auditor,
) -> tuple[IssueState, IssueRef, bool]:
    """Take on what people set on the issue (closed as not planned, mute labels, keep-open), as
    the webhook handler does when it is configured (`pipeline.lifecycle`), and say whether the
    issue is muted now (with the issue as it stands after). A mute that has run out (its date
    passed, or the count it waited for reached) has its labels taken off, and the issue is
    followed again as its state says (a closed one regresses)."""
    steering = interpret(issue.state, issue.state_reason, issue.labels)
    steered = steer(state, steering)
    silenced = muted(steering, audit.now, count, steered.mute_until_count)
    if steering.status == "muted" and not silenced:
        kept = [label for label in issue.labels if label not in mute_labels(issue.labels)]
        issue = github.edit(state.repository, issue.number, labels=kept)
        steered = steer(state, interpret(issue.state, issue.state_reason, issue.labels))
        ended = (
            f"its end, {steering.muted_until:%Y-%m-%d %H:%M} UTC, passed"
            if steering.muted_until is not None and audit.now >= steering.muted_until
            else f"the failure reached {count} occurrence(s)"
        )
        audit("unmuted", issue.number, f"the mute ran out: {ended}")
    elif changed(state, steered):
        audit("steered", issue.number, f"read from the issue: {describe(steering)}")
    if changed(state, steered):
        state = _save(services, steered)
    return state, issue, silenced


def _versions_since_resolved(services: Services, state: IssueState) -> list[str | None]:
    """The versions of the occurrences counted since the issue was resolved in a version."""
    summary = services.ledger.summary(state.fingerprint)
    if summary is None:
        return []
    return versions_since(
        state.resolved_versions,
        summary.facets.get("versions", {}),
        state.resolved_count,
        summary.count,
    )


def _recur_before_release(
    services: Services,
    github: IssueTracker,
    notice: FailureNotice,
    state: IssueState,
    issue: IssueRef,
    count: int,
    audit: Auditor,
) -> Synced:
    """Occurrences only from versions before the one the issue was resolved in (instances not
    yet upgraded): a normal recurrence. The closed issue's counts are brought up to date; it is
    not reopened, and the version it was resolved in stays."""
    view = issue_view(services, notice, count)
    github.edit(state.repository, issue.number, body=issue_body(services, view, state.repository))
    _save(services, state.with_changes(synced_count=count, synced_at=audit.now))
    audit(
        "updated",
        issue.number,
        f"{count} occurrence(s); those since it was resolved in {state.resolved_in} come from "
        "earlier versions: not a regression",
    )
    _changed(services, audit, "updated", issue)
    return _result("updated", issue)


def _regress(
    services: Services,
    github: IssueTracker,
    request: WorkflowRequest,
    notice: FailureNotice,
    state: IssueState,
    issue: IssueRef,
    count: int,
    audit: Auditor,
) -> Synced:
    """Reopen the closed issue, or open a linked one (`dedup.regression`); each step found again
    rather than repeated when a retry follows a lost response."""
    view = issue_view(services, notice, count)
    release = f" in version {view.last_version}" if view.last_version else ""
    note = (
        f"Regressed{release}: this failure recurred after the issue was closed "
        f"(last seen {notice.last_seen:%Y-%m-%d %H:%M:%S} UTC, {count} occurrence(s) in total)."
    )
    closed = f"{issue.closed_at:%Y%m%dT%H%M%S}" if issue.closed_at else "unknown"
    mark = f"<!-- faultline:regressed={notice.fingerprint}:closed={closed} -->"
    if services.rules.dedup.regression == "reopen":
        body = issue_body(services, view, state.repository)
        reopened = github.edit(
            state.repository, issue.number, state="open", state_reason="reopened", body=body
        )
        if not any(mark in text for text in github.comment_bodies(state.repository, issue.number)):
            github.comment(state.repository, issue.number, f"{note}\n\n{mark}")
        _save(
            services,
            state.with_changes(
                synced_count=count,
                synced_at=audit.now,
                commented_count=count,
                last_comment_at=audit.now,
                assigned=False,
                status="active",
                resolved_in=None,
                resolved_count=0,
                resolved_versions={},
            ),
        )
        audit("reopened", issue.number, note)
        _annotated(services, view, state.repository, issue.number)
        _changed(services, audit, "reopened", reopened)
        emit_issue_event(
            services,
            "issue-regressed",
            notice,
            state.repository,
            issue.number,
            issue.url,
            occasion=closed,
        )
        return _result("reopened", reopened, needs_assignment=True)
    label = services.rules.labels.always[0] if services.rules.labels.always else "faultline"
    found = github.find_by_marker(state.repository, notice.fingerprint, label, issue.closed_at)
    if found is not None and found.number != issue.number:
        linked, action = found, "skipped-as-duplicate"
    else:
        body = issue_body(
            services, replace(view, preface=f"Regression of #{issue.number}."), state.repository
        )
        linked = github.create(
            state.repository, title(view.name or notice.definition), body, list(request.labels)
        )
        action = "created"
    if not any(mark in text for text in github.comment_bodies(state.repository, issue.number)):
        github.comment(
            state.repository,
            issue.number,
            f"{note} Continued in #{linked.number}.\n\n{mark}",
        )
    _save(services, _showing(state, linked, count, audit.now))
    audit(action, linked.number, f"regression of #{issue.number}")
    _annotated(services, view, state.repository, linked.number)
    if action == "created":
        _changed(services, audit, "created", linked)
        emit_issue_event(
            services,
            "issue-regressed",
            notice,
            state.repository,
            linked.number,
            linked.url,
            occasion=closed,
        )
    return _result("created", linked, needs_assignment=True)


def finish_or_resync(services: Services, check: FinishCheck) -> bool:
    """The workflow's last check: whether its failure recurred since its last sync."""
    return services.issues.finish_or_resync(check.fingerprint, check.repository, check.generation)


# -- helpers -----------------------------------------------------------------------------------


class Auditor:
    """Audit rows for one failure's issue, stamped with the time its activity started; and the
    fields its log records carry (`founder`: the group's founding occurrence, whose operation
    id they name)."""

    def __init__(
        self,
        services: Services,
        fingerprint: str,
        repository: str,
        now: datetime,
        founder: Occurrence | None = None,
    ) -> None:
        self._services, self._fingerprint, self._repository, self.now = (
            services,
            fingerprint,
            repository,
            now,
        )
        self.founder = founder

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def repository(self) -> str:
        return self._repository

    def log_fields(self, issue: str = "") -> dict[str, str]:
        return log_fields(self._fingerprint, issue=issue, founder=self.founder)

    def __call__(self, action: str, issue: int | None, reason: str) -> None:
        self._services.audit.record(
            self._fingerprint, action, self._repository, issue, reason, self.now
        )

    def once(self, key: str, action: str, issue: int | None, reason: str) -> None:
        """Record an action that a retry may repeat, once (keyed)."""
        self._services.audit.record(
            self._fingerprint, action, self._repository, issue, reason, self.now, key=key
        )


def _changed(services: Services, audit: Auditor, action: str, issue: IssueRef) -> None:
    """Count and log a change made to the failure's issue on the tracker."""
    services.metrics.count(ISSUES, action=action, repository=issue.repository)
    log.info(
        "%s %s#%d for %s",
        action,
        issue.repository,
        issue.number,
        audit.fingerprint,
        extra=audit.log_fields(issue.url),
    )


def _showing(state: IssueState, issue: IssueRef, count: int, now: datetime) -> IssueState:
    """The state of an issue just created with `count` occurrences in its body, which is owed
    its assignment."""
    return state.with_changes(
        number=issue.number,
        url=issue.url,
        synced_count=count,
        synced_at=now,
        commented_count=count,
        last_comment_at=now,
        assigned=False,
    )


def _annotated(services: Services, view: IssueView, repository: str, number: int) -> None:
    """Audit, once per group, that its issue carries a known issue's section."""
    if view.known_issue is not None:
        audit_match(services, view.known_issue, view.fingerprint, repository, number)


def _save(services: Services, state: IssueState) -> IssueState:
    saved = services.issues.save(state)
    if saved is None:
        raise ConcurrentUpdate(f"issue state of {state.fingerprint} changed concurrently")
    return saved


def _latest(notice: FailureNotice, summary: LedgerEntry | None) -> FailureNotice:
    """The notice brought up to date from the ledger: a workflow that waited (or covered later
    notices) shows every occurrence counted since, not the ones its first notice knew."""
    if summary is None or summary.count <= notice.count:
        return notice
    return notice.model_copy(
        update={
            "count": summary.count,
            "first_seen": min(notice.first_seen, summary.first_seen),
            "last_seen": max(notice.last_seen, summary.last_seen),
        }
    )


def _result(action: str, issue: IssueRef, needs_assignment: bool = False) -> Synced:
    return Synced.model_validate(
        {
            "action": action,
            "number": issue.number,
            "url": issue.url,
            "needs_assignment": needs_assignment,
        }
    )
