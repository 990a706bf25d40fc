"""`/faultline` commands from issue comments (`detection.commands`), run for people who may steer.

Who: comments by bots and by Faultline's own login are never commands; anyone else's role is
asked of the tracker (GitHub: triage, write, maintain, admin, or a custom role built on write;
GitLab: Developer, Maintainer, Owner), so a person without it is refused, with a reply and an
audit row. Each command gets a reply comment, which carries a marker naming the comment it
answers (a retried event finds it and does not reply twice), and an audit row keyed by that
comment.

What:
- `mute`: the state is muted first, then the labels are set (`faultline:mute`, and
  `faultline:mute-until:<time>` for a duration), so the `labeled` event that follows agrees;
  `until <n> more` keeps the total at which the mute ends.
- `resolve [in <version>]`: the issue is closed as completed, the version kept.
- `why`: what the fingerprint was built from.
- `merge #N`: this group is folded into #N's in the grouping log (so every later occurrence of
  either fingerprint counts on #N, and ingestion learns it), this issue is closed as a duplicate
  of #N with a comment on both, and #N's workflow is woken to fold the counts.
- `unmerge`, on an issue merged by command: the grouping log's alias is undone (a `split`
  entry), the issue reopened and followed again; counts already moved stay on #N.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from detection import markdown
from detection.commands import (
    USAGE,
    Command,
    CommandError,
    Merge,
    Mute,
    Resolve,
    Unmerge,
    Why,
    explain,
    may_steer,
    parse,
    render,
)
from detection.lifecycle import MUTE_LABEL, interpret, mute_labels, mute_until_label
from detection.markers import carries_marker, find_marker
from detection.routing import tracker_of
from detection.webhook import IssueEvent
from pipeline.lifecycle import steer
from pipeline.messages import FailureNotice
from pipeline.ports import (
    Collaborators,
    IssueState,
    IssueTracker,
    TrackerRefused,
    TrackersByRepository,
)
from pipeline.services import Services

log = logging.getLogger(__name__)


_WHO_MAY = {
    "github": "Faultline takes commands only from people with triage, write, maintain or admin "
    "access to this repository.",
    "gitlab": "Faultline takes commands only from members of this project with the Developer "
    "role or higher.",
}


class ConcurrentCommand(RuntimeError):
    """The issue's state changed while a command ran; the queue delivers the event again."""


def run_command(services: Services, event: IssueEvent, state: IssueState) -> None:
    """Run the comment's command, if it is one and its author may steer."""
    command = parse(event.comment_body)
    if command is None or event.comment_author_type == "Bot" or event.comment_id is None:
        return
    tracker = services.issue_tracker()
    people = _collaborators(tracker, event.repository)
    if people is None:
        log.warning(
            "the tracker of %s cannot tell who may steer; command ignored", event.repository
        )
        return
    own = people.own_login()
    if own is not None and own.casefold() == event.comment_author.casefold():
        return
    reply = _Reply(services, tracker, event, state)
    if reply.sent():
        return
    role = people.role_of(event.repository, event.comment_author)
    if role is None or not may_steer(role.role, role.permission):
        if not reply.refused_before():  # a refusal is said once per person and issue, not spammed
            reply(
                f"This command was not run: {_WHO_MAY[tracker_of(event.repository)]}", refusal=True
            )
        reply.audit("command-refused", f"{role.role if role else 'not a collaborator'}")
        return
    if isinstance(command, CommandError):
        reply(f"{command.message}\n\nCommands: {USAGE}.")
        reply.audit("command-invalid", "not a command")
        return
    resuming = isinstance(command, Merge) and command.number == state.folded_into
    if state.folded_into is not None and not (isinstance(command, Unmerge) or resuming):
        reply(
            f"This issue's failure continues on #{state.folded_into}; steer it there "
            "(or undo a merge made here with `/faultline unmerge`)."
        )
        reply.audit("command-invalid", f"merged into #{state.folded_into}")
        return
    text = _run(services, tracker, event, state, command)
    reply(text)
    reply.audit("command", text.partition("\n")[0][:300])


def _collaborators(tracker: IssueTracker, repository: str) -> Collaborators | None:
    if isinstance(tracker, TrackersByRepository):
        return tracker.collaborators(repository)
    return tracker if isinstance(tracker, Collaborators) else None


def _run(
    services: Services,
    tracker: IssueTracker,
    event: IssueEvent,
    state: IssueState,
    command: Command,
) -> str:
    match command:
        case Mute():
            return _mute(services, tracker, state, command)
        case Resolve():
            return _resolve(services, tracker, state, command)
        case Why():
            summary = services.ledger.summary(state.fingerprint)
            founder = summary.founder if summary else None
            return explain(
                state.fingerprint,
                founder.components if founder else "",
                services.grouping.absorbed_by(state.fingerprint),
            )
        case Merge():
            return _merge(services, tracker, event, state, command)
        case Unmerge():
            return _unmerge(services, tracker, event, state)
    raise ValueError(f"not a command: {command!r}")


def _save(services: Services, state: IssueState) -> IssueState:
    saved = services.issues.save(state)
    if saved is None:
        raise ConcurrentCommand(f"issue state of {state.fingerprint} changed concurrently")
    return saved


def _mute(services: Services, tracker: IssueTracker, state: IssueState, command: Mute) -> str:
    now = services.clock.now()
    until: datetime | None = None
    total: int | None = None
    if command.duration is not None:
        # to the minute, as the label says it, so the label's event agrees with the state
        until = (now + command.duration + timedelta(seconds=59)).replace(second=0, microsecond=0)
    if command.more is not None:
        summary = services.ledger.summary(state.fingerprint)
        total = (summary.count if summary else 0) + command.more
    number = _number(state)
    saved = _save(
        services,
        state.with_changes(
            status="muted",
            muted_until=until,
            mute_until_count=total,
            resolved_in=None,
            resolved_count=0,
            resolved_versions={},
        ),
    )
    issue = tracker.get(state.repository, number)
    kept = [label for label in issue.labels if label not in mute_labels(issue.labels)]
    wanted = [MUTE_LABEL, *([mute_until_label(until)] if until else [])]
    labelled = tracker.edit(state.repository, number, labels=[*kept, *wanted])
    if MUTE_LABEL not in {label.casefold() for label in labelled.labels}:
        # GitHub drops labels silently for a token without push access; the labels are the
        # mute people see and the next sync reads, so without them there is no mute
        _save(services, steer(saved, interpret(labelled.state, labelled.state_reason, [])))
        return (
            "Not muted: GitHub did not set the `faultline:mute` label (Faultline's token needs "
            "write access to label issues)."
        )
    if until is not None:
        end = f"until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    elif total is not None:
        end = f"until {command.more} more occurrence(s) are counted (a total of {total})"
    else:
        end = "until the `faultline:mute` label is removed"
    return (
        f"Muted {end}. Occurrences are still counted, but this issue gets no updates, comments "
        "or reopens meanwhile. Remove the `faultline:mute` label to unmute sooner."
    )


def _resolve(services: Services, tracker: IssueTracker, state: IssueState, command: Resolve) -> str:
    number = _number(state)
    summary = services.ledger.summary(state.fingerprint) if command.version else None
    _save(
        services,
        state.with_changes(
            status="resolved",
            resolved_in=command.version,
            # what the group had counted, per version, when it was fixed: occurrences after are
            # told apart by the versions they came from (`detection.releases`)
            resolved_count=summary.count if summary else 0,
            resolved_versions=dict(summary.facets.get("versions", {})) if summary else {},
            muted_until=None,
            mute_until_count=None,
        ),
    )
    issue = tracker.get(state.repository, number)
    if issue.state != "closed":
        tracker.edit(state.repository, number, state="closed", state_reason="completed")
    release = f" in version {markdown.inline_code(command.version)}" if command.version else ""
    return (
        f"Resolved{release}: the next occurrence of this failure reopens this issue as a "
        "regression" + (", unless it comes from an earlier version." if command.version else ".")
    )


def _merge(
    services: Services,
    tracker: IssueTracker,
    event: IssueEvent,
    state: IssueState,
    command: Merge,
) -> str:
    number = _number(state)
    if state.folded_into == command.number and state.merged_into is not None:
        survivor = state.merged_into  # this very merge, retried after a step failed
    else:
        if command.number == number:
            return "This is that issue; nothing was merged."
        target = _tracked(services, tracker, state.repository, command.number)
        if target is None:
            return f"#{command.number} is not an issue Faultline tracks here; nothing was merged."
        survivor = services.grouping.resolve(target.fingerprint)
        if services.grouping.resolve(state.fingerprint) == survivor:
            return f"This failure is already grouped with #{command.number}."
        # first, so that #N's workflow, woken by the alias, does not fold this issue its own way
        _save(services, state.with_changes(folded_into=command.number, merged_into=survivor))
    reason = f"/faultline merge #{command.number} by {event.comment_author} on #{number}"
    services.grouping.alias([(state.fingerprint, survivor, reason)])
    kept = tracker.get(state.repository, command.number)
    marker = f"<!-- faultline:merged={state.fingerprint}:into={survivor} -->"
    if not any(marker in body for body in tracker.comment_bodies(state.repository, kept.number)):
        tracker.comment(
            state.repository,
            kept.number,
            f"#{number} was merged into this issue by command: every later occurrence of its "
            f"failure is counted here. `/faultline unmerge` on #{number} undoes it.\n\n{marker}",
        )
    tracker.edit(
        state.repository,
        number,
        state="closed",
        state_reason="duplicate",
        duplicate_issue_id=kept.id,
    )
    entry = services.ledger.summary(survivor)
    if entry is not None and entry.founder is not None:
        services.failure_queue.send(FailureNotice.of(entry).model_dump_json())
    now = services.clock.now()
    services.audit.record(
        survivor, "merged", state.repository, kept.number, f"#{number} merged in", now
    )
    return (
        f"Merged into #{command.number}: every later occurrence of this failure is counted "
        f"there, with its counts, and grouping keeps it so. `/faultline unmerge` undoes it."
    )


def _unmerge(
    services: Services, tracker: IssueTracker, event: IssueEvent, state: IssueState
) -> str:
    if state.merged_into is None or state.folded_into is None:
        return "Only a merge made with `/faultline merge` on this issue can be undone here."
    number, into = _number(state), state.folded_into
    reason = f"/faultline unmerge by {event.comment_author} on #{number}"
    services.grouping.split(state.fingerprint, state.merged_into, reason)
    issue = tracker.get(state.repository, number)
    if issue.state == "closed":
        tracker.edit(state.repository, number, state="open", state_reason="reopened")
    marker = f"<!-- faultline:unmerged={state.fingerprint}:from={state.merged_into} -->"
    if not any(marker in body for body in tracker.comment_bodies(state.repository, into)):
        tracker.comment(
            state.repository,
            into,
            f"#{number} was unmerged by command: its failure is counted there again.\n\n{marker}",
        )
    # last: until then a retried event still finds this issue merged, and finishes the steps
    _save(services, state.with_changes(folded_into=None, merged_into=None, status="active"))
    return (
        f"Unmerged from #{into}: this failure is its own group again, and its later occurrences "
        f"are counted here (those counted before stay on #{into})."
    )


def _number(state: IssueState) -> int:
    if state.number is None:
        raise ValueError(f"{state.fingerprint} has no issue to run a command on")
    return state.number


def _tracked(
    services: Services, tracker: IssueTracker, repository: str, number: int
) -> IssueState | None:
    """The state of the group whose issue #`number` is, if Faultline made it and tracks it."""
    try:
        issue = tracker.get(repository, number)
    except TrackerRefused as refused:
        if refused.status in (404, 410):
            return None
        raise
    fingerprint = find_marker(issue.body)
    if fingerprint is None or not carries_marker(
        issue.body, repository, fingerprint, services.marker_key()
    ):
        return None
    state = services.issues.peek(fingerprint, repository)
    if state is None or state.number != number or state.folded_into is not None:
        return None
    return state


class _Reply:
    """The reply to one command comment, found again by its marker; and its audit row."""

    def __init__(
        self, services: Services, tracker: IssueTracker, event: IssueEvent, state: IssueState
    ) -> None:
        self._services, self._tracker, self._event, self._state = services, tracker, event, state
        self._marker = f"<!-- faultline:reply={event.comment_id} -->"
        login = re.sub(r"[^a-z0-9\[\]-]", "", event.comment_author.casefold())
        self._refusal = f"<!-- faultline:refused={login} -->"
        self._bodies: list[str] = []

    def sent(self) -> bool:
        """Whether this comment was answered already (Faultline's own comments, read once)."""
        number = _number(self._state)
        self._bodies = self._tracker.comment_bodies(self._state.repository, number)
        return any(self._marker in body for body in self._bodies)

    def refused_before(self) -> bool:
        return any(self._refusal in body for body in self._bodies)

    def __call__(self, text: str, *, refusal: bool = False) -> None:
        who = markdown.prose(self._event.comment_author)
        markers = f"{self._marker}{self._refusal if refusal else ''}"
        self._tracker.comment(
            self._state.repository,
            _number(self._state),
            f"{text}\n\n<sub>In reply to {who}'s command.</sub>\n\n{markers}",
        )

    def audit(self, action: str, reason: str) -> None:
        command = parse(self._event.comment_body)
        if command is None or isinstance(command, CommandError):
            said = "/faultline (not a command)"
        else:
            said = render(command)
        self._services.audit.record(
            self._state.fingerprint,
            action,
            self._state.repository,
            self._state.number,
            f"{said} by {self._event.comment_author}: {reason}",
            self._services.clock.now(),
            key=f"command|{self._event.comment_id}",
        )
