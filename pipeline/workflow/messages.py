"""What the issue workflow's orchestrator and activities pass each other, typed.

Durable carries them as JSON: each side dumps a model (`model_dump(mode="json")`) and the other
validates it back, so a payload that drifts from its model fails loudly where it is read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from detection.rules import Assignment
from pipeline.messages import FailureNotice


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def payload(self) -> dict[str, object]:
        """The JSON-ready form Durable stores in the orchestration's history."""
        return self.model_dump(mode="json", exclude_none=True)


class Wait(_Payload):
    """Come back later: after `wait_seconds` exactly when `exact` (a budget slot, GitHub's own
    retry-after), else after at most the recheck interval."""

    action: Literal["wait"] = "wait"
    wait_seconds: float
    reason: str
    exact: bool = False
    quiet: bool = False
    """Not worth an audit row (the next refresh of an issue updated a moment ago)."""


class Synced(_Payload):
    """What a sync did to the failure's issue."""

    action: Literal["created", "updated", "commented", "unchanged", "reopened", "folded", "refused"]
    number: int | None = None
    url: str | None = None
    needs_assignment: bool = False
    into: str | None = None
    """For `folded`: the group whose issue this failure continues on."""
    reason: str | None = None
    """For `refused`: why GitHub (or the vault) refused."""
    assigned: tuple[str, ...] | None = None
    """Who the issue went to, once the assignment step ran."""


class Assigned(_Payload):
    action: Literal["assigned"] = "assigned"
    assigned: tuple[str, ...]


class Decided(_Payload):
    """Assign now, or skip the assignment (policy `none`, or unassigned outside hours)."""

    action: Literal["assign", "skip"]


SyncResult = Annotated[Synced | Wait, Field(discriminator="action")]
AssignResult = Annotated[Assigned | Wait, Field(discriminator="action")]
Decision = Annotated[Decided | Wait, Field(discriminator="action")]
SYNC_RESULT: TypeAdapter[Synced | Wait] = TypeAdapter(SyncResult)
ASSIGN_RESULT: TypeAdapter[Assigned | Wait] = TypeAdapter(AssignResult)
DECISION: TypeAdapter[Decided | Wait] = TypeAdapter(Decision)


class WorkflowRequest(_Payload):
    """One failure's workflow: its notice, where its issue goes, and how far the workflow got
    (carried across continue-as-new, so a restarted history resumes where it was)."""

    notice: FailureNotice
    repository: str
    labels: tuple[str, ...]
    assignment: Assignment
    recheck_seconds: float
    generation: int = 0
    """How many times the workflow synced again because its failure recurred meanwhile."""
    rechecked: bool = False
    """Whether the look for a create that GitHub performed late has been made."""
    waits: int = 0
    failed_rounds: int = 0
    assign: Synced | None = None
    """The synced issue the workflow is assigning (set once a sync says it needs assignment)."""
    issue: int | None = None
    """The issue an assignment activity acts on."""

    @property
    def fingerprint(self) -> str:
        return self.notice.fingerprint


class AuditNote(_Payload):
    """A decision the orchestrator made, for the audit trail."""

    fingerprint: str
    repository: str
    action: str
    reason: str
    issue: int | None = None


class FinishCheck(_Payload):
    """The workflow's last look: did its failure recur since this generation synced?"""

    fingerprint: str
    repository: str
    generation: int
