"""The small interfaces the service layer needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from detection.records import Column
from detection.rules import Condition
from detection.windows import QueryWindow


@dataclass(frozen=True)
class QueryPlan:
    """What to ask a log source: the table, the window, the conditions and their KQL."""

    workspace_id: str
    table: str
    window: QueryWindow
    conditions: tuple[Condition, ...]
    kql: str


@dataclass(frozen=True)
class QueryOutcome:
    """Rows from a log source; `incomplete` says why the service did not return all of them."""

    columns: tuple[Column, ...]
    rows: Sequence[Sequence[Any]]
    incomplete: str | None = None


class Throttled(Exception):
    """The log source asked us to come back later."""

    def __init__(self, retry_after: timedelta, detail: str) -> None:
        super().__init__(f"throttled for {retry_after.total_seconds():.0f}s: {detail}")
        self.retry_after = retry_after


class QueryRejected(Exception):
    """The log source refused the query itself; retrying the same query cannot help."""


class LogSource(Protocol):
    def run(self, plan: QueryPlan) -> QueryOutcome: ...


class MessageQueue(Protocol):
    def send(self, body: str, delay: timedelta | None = None) -> None: ...


@dataclass(frozen=True)
class Checkpoint:
    source: str
    table: str
    ingested_through: datetime
    etag: str | None = field(default=None, compare=False)


class CheckpointStore(Protocol):
    def get(self, source: str, table: str) -> Checkpoint | None: ...

    def advance(self, previous: Checkpoint | None, source: str, table: str, to: datetime) -> bool:
        """Move the checkpoint if nobody else moved it since `previous` was read."""
        ...

    def all(self) -> list[Checkpoint]: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class IssueRef:
    """An issue as the workflow sees it, whichever tracker holds it."""

    repository: str
    number: int
    url: str
    state: str
    created_at: datetime
    closed_at: datetime | None
    assignees: tuple[str, ...]
    labels: tuple[str, ...]
    body: str
    id: int = 0
    author: str = ""
    """Who wrote the issue (GitHub's `user.login`): Faultline adopts only its own."""
    dropped_labels: tuple[str, ...] = ()
    """From `create`: labels asked for that GitHub left off (a token without push access)."""


class IssueTracker(Protocol):
    """Where issues live: GitHub, or the dry-run Markdown sink."""

    def get(self, repository: str, number: int) -> IssueRef: ...

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None: ...

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]: ...

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef: ...

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef: ...

    def comment(self, repository: str, number: int, body: str) -> None: ...

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        """Bodies of the comments the tracker's own identity wrote (anyone else's may quote
        a marker)."""
        ...

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None: ...

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]: ...
