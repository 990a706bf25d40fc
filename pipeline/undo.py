"""Undo a bad run: close the issues a bad rule or a replay over the wrong window opened.

`POST /api/undo` and `python -m scripts.undo` take the same request. It selects Faultline's
issues (from the issue state table) by failure definition, fingerprints, the time Faultline set
out to create them, or the replay run that created them; every selector given must hold. By
default it only previews: the issues it would close. Confirmed, it closes each one as not
planned with a comment and the `faultline:undone` label, and then either mutes its group (the
issue keeps its marker and gets `faultline:mute`: occurrences are still counted, nothing is
updated or reopened until someone takes the label off) or
forgets it (the marker comes off the issue and the state row is cleared: the next occurrence
opens a new issue, for a rule that has since been fixed).

The close runs as a Durable orchestration (`pipeline.workflow.undo_orchestrator`), one issue per
activity (`undo_step`, which calls `undo_issue`), so it is paced by the GitHub client's write
spacing, waits out GitHub's rate limits, resumes where it was after a crash, and is idempotent:
the issue is read first, Faultline's comment is found by its marker, and only what is missing
is written. Every issue's outcome, and the
request itself, is an audit row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from detection.lifecycle import MUTE_LABEL
from detection.markers import find_marker
from pipeline.ports import (
    IssueState,
    IssueTracker,
    SecretUnavailable,
    TrackerRateLimited,
    TrackerRefused,
    WorkflowStarter,
)
from pipeline.services import Services
from pipeline.workflow.activities import Auditor, report_budget, tracker_wait
from pipeline.workflow.messages import Wait

UNDONE_LABEL = "faultline:undone"
ORCHESTRATOR = "undo_run"
MAX_UNDO_ISSUES = 2_000
"""An undo's plan travels in the orchestration's input: bounded, so its history stays small."""

Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class UndoRequest(BaseModel):
    """What to undo; every selector given must hold, and at least one is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: str | None = Field(default=None, min_length=1, max_length=63)
    fingerprints: tuple[Fingerprint, ...] | None = Field(
        default=None, min_length=1, max_length=5000
    )
    start: AwareDatetime | None = None
    """Issues Faultline set out to create at or after this time."""
    end: AwareDatetime | None = None
    """... and before this time."""
    run: str | None = Field(default=None, pattern=r"^replay-[0-9a-f]{16}$")
    """The run id a replay's response named."""
    groups: Literal["mute", "forget"] = "mute"
    confirm: bool = False

    @model_validator(mode="after")
    def _selects_something(self) -> UndoRequest:
        if not (self.definition or self.fingerprints or self.start or self.end or self.run):
            raise ValueError(
                "name at least one of definition, fingerprints, start/end or run: an undo "
                "never selects every issue"
            )
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def selection(self) -> dict[str, object]:
        """The selectors alone, as JSON: what names this undo (confirming it is the same one)."""
        return self.model_dump(mode="json", exclude={"confirm"}, exclude_none=True)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def payload(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


class UndoTarget(_Payload):
    fingerprint: str
    repository: str
    number: int
    url: str | None = None


class UndoPlan(_Payload):
    """A confirmed undo, as its orchestration carries it (across continue-as-new)."""

    undo_id: str
    groups: Literal["mute", "forget"]
    reason: str
    targets: tuple[UndoTarget, ...]
    next: int = 0
    """How many targets are done (continue-as-new resumes from here)."""


class UndoStep(_Payload):
    undo_id: str
    groups: Literal["mute", "forget"]
    reason: str
    target: UndoTarget


class Undone(_Payload):
    action: Literal["undone"] = "undone"
    outcome: Literal["closed", "already-closed", "refused"]


UNDO_RESULT: TypeAdapter[Undone | Wait] = TypeAdapter(
    Annotated[Undone | Wait, Field(discriminator="action")]
)


class UndoRejected(ValueError):
    """The request selects more than one undo may close."""


def _selected(request: UndoRequest, state: IssueState) -> bool:
    created = state.intent_at
    return (
        state.number is not None
        and state.folded_into is None
        and (request.run is None or state.run == request.run)
        and (not request.fingerprints or state.fingerprint in request.fingerprints)
        and (request.start is None or (created is not None and created >= request.start))
        and (request.end is None or (created is not None and created < request.end))
    )


def plan_undo(services: Services, request: UndoRequest) -> UndoPlan:
    """The issues the request selects, in a stable order, under the undo's id."""
    states = [s for s in services.issues.tracked() if _selected(request, s)]
    if request.definition is not None:
        definitions = {e.fingerprint: e.definition for e in services.ledger.summaries()}
        states = [s for s in states if definitions.get(s.fingerprint) == request.definition]
    if len(states) > MAX_UNDO_ISSUES:
        raise UndoRejected(
            f"the request selects {len(states)} issues (max {MAX_UNDO_ISSUES}): narrow it"
        )
    selection = request.selection()
    digest = hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).hexdigest()
    described = ", ".join(f"{k} {_shown(v)}" for k, v in selection.items() if k != "groups")
    return UndoPlan(
        undo_id=f"undo-{digest[:16]}",
        groups=request.groups,
        reason=f"undo of {described}",
        targets=tuple(
            UndoTarget(
                fingerprint=s.fingerprint, repository=s.repository, number=s.number, url=s.url
            )
            for s in sorted(states, key=lambda s: (s.repository, s.number or 0))
            if s.number is not None
        ),
    )


def _shown(value: object) -> str:
    if isinstance(value, list):
        return f"{len(value)} fingerprint(s)" if len(value) > 3 else ", ".join(map(str, value))
    return str(value)


def preview(plan: UndoPlan) -> dict[str, object]:
    """What a confirmed undo would do."""
    return {
        "undo": plan.undo_id,
        "confirm": False,
        "would_close": len(plan.targets),
        "groups": plan.groups,
        "issues": [
            {"repository": t.repository, "number": t.number, "url": t.url, "group": t.fingerprint}
            for t in plan.targets
        ],
    }


def start_undo(services: Services, plan: UndoPlan, starter: WorkflowStarter) -> dict[str, object]:
    """Start the undo's orchestration (one per selection: confirming it twice while it runs
    starts nothing more, and again after it ended finds everything done)."""
    instance = f"faultline-{plan.undo_id}"
    started = starter.start(ORCHESTRATOR, instance, plan.payload())
    services.audit.record(
        plan.undo_id,
        "undo-started" if started else "undo-running",
        "",
        None,
        f"{plan.reason}: {len(plan.targets)} issue(s), groups {plan.groups}d",
        services.clock.now(),
    )
    return {
        "undo": plan.undo_id,
        "confirm": True,
        "instance": instance,
        "started": started,
        "closing": len(plan.targets),
        "groups": plan.groups,
    }


def undo_issue(services: Services, step: UndoStep) -> Undone | Wait:
    """Close one issue, label it, comment once, and mute or forget its group; each part is
    skipped when a previous attempt did it, so a retry after a lost response repeats nothing."""
    target = step.target
    now = services.clock.now()
    audit = Auditor(services, target.fingerprint, target.repository, now)
    github: IssueTracker | None = None
    try:
        github = services.issue_tracker()
        outcome = _close(github, step)
    except TrackerRateLimited as limited:
        return tracker_wait(limited)
    except (TrackerRefused, SecretUnavailable) as refused:
        if isinstance(refused, TrackerRefused) and not refused.permanent:
            raise
        audit.once(f"{step.undo_id}|refused", "undo-failed", target.number, str(refused)[:1000])
        return Undone(outcome="refused")
    finally:
        report_budget(services, github)
    _settle_group(services, step)
    audit.once(
        step.undo_id,
        "undone",
        target.number,
        f"{step.reason}: closed as not planned, group {step.groups}d"
        if outcome == "closed"
        else f"{step.reason}: already closed, group {step.groups}d",
    )
    return Undone(outcome=outcome)


def _close(github: IssueTracker, step: UndoStep) -> Literal["closed", "already-closed"]:
    target = step.target
    repository, number = target.repository, target.number
    issue = github.get(repository, number)
    marker = f"<!-- faultline:undo={step.undo_id} -->"
    if not any(marker in body for body in github.comment_bodies(repository, number)):
        github.comment(
            repository,
            number,
            f"Faultline closed this issue: {step.reason}. Its failure's occurrences are "
            + (
                "still counted, but this issue is no longer updated or reopened."
                if step.groups == "mute"
                else "forgotten here: a later occurrence opens a new issue."
            )
            + f"\n\n{marker}",
        )
    changes: dict[str, object] = {}
    # the mute label too: GitLab closes without a reason, and would read the close as resolved
    wanted = [UNDONE_LABEL, MUTE_LABEL] if step.groups == "mute" else [UNDONE_LABEL]
    missing = [label for label in wanted if label not in issue.labels]
    if missing:
        changes["labels"] = [*issue.labels, *missing]
    if issue.state == "open":
        changes.update(state="closed", state_reason="not_planned")
    if step.groups == "forget" and find_marker(issue.body) == target.fingerprint:
        _, _, rest = issue.body.partition("\n")
        changes["body"] = f"<!-- faultline:undone={target.fingerprint} -->\n{rest}"
    if changes:
        github.edit(repository, number, **changes)
    return "closed" if issue.state == "open" else "already-closed"


def _settle_group(services: Services, step: UndoStep) -> None:
    """Mute the group's state (as closing as not planned reads on the next sync), or clear it
    so the next occurrence opens a new issue; retried on a concurrent write."""
    target = step.target
    while True:
        state = services.issues.peek(target.fingerprint, target.repository)
        if state is None or state.number != target.number:
            return  # forgotten already, or the group has moved on to another issue
        if step.groups == "mute":
            if state.status == "muted":
                return
            changed = state.with_changes(status="muted", muted_until=None)
        else:
            changed = IssueState(state.fingerprint, state.repository, etag=state.etag)
        if services.issues.save(changed) is not None:
            return
