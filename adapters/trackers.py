"""One issue tracker port over several trackers: each call goes to the tracker that holds its
repository (`gitlab:group/project` on GitLab, `owner/repo` on GitHub), so the workflow passes
repositories as before and never asks which tracker it talks to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from detection.routing import Tracker, tracker_of
from pipeline.ports import (
    Collaborators,
    IssuePinning,
    IssueRef,
    IssueTracker,
    PullRequestLinks,
    TokenExpiry,
    TrackerBudget,
)


class TrackerByRepository:
    """The port for one activity. Each tracker's client is built when a repository on it is
    first used, so an activity that only touches GitHub never reads GitLab's token (and the
    reverse); `budget` reports every tracker this activity spoke to."""

    def __init__(self, trackers: Mapping[Tracker, Callable[[], IssueTracker]]) -> None:
        self._build = trackers
        self._built: dict[Tracker, IssueTracker] = {}

    def _for(self, repository: str) -> IssueTracker:
        tracker = tracker_of(repository)
        if tracker not in self._built:
            self._built[tracker] = self._build[tracker]()
        return self._built[tracker]

    def collaborators(self, repository: str) -> Collaborators | None:
        """The repository's tracker when it can tell who may steer by comment (GitHub's and
        GitLab's; the dry-run sink takes no comments)."""
        tracker = self._for(repository)
        return tracker if isinstance(tracker, Collaborators) else None

    def pull_request_links(self, repository: str) -> PullRequestLinks | None:
        """The repository's tracker when it can tell linked pull requests (GitHub)."""
        tracker = self._for(repository)
        return tracker if isinstance(tracker, PullRequestLinks) else None

    def pinning(self, repository: str) -> IssuePinning | None:
        """The repository's tracker when it can pin issues (GitHub)."""
        tracker = self._for(repository)
        return tracker if isinstance(tracker, IssuePinning) else None

    def budget(self) -> list[TrackerBudget]:
        return [budget for tracker in self._built.values() for budget in tracker.budget()]

    def token_expires(self) -> datetime | None:
        """The soonest expiry any tracker used so far stated (GitHub's; GitLab's states none)."""
        stated = [
            expiry
            for tracker in self._built.values()
            if isinstance(tracker, TokenExpiry) and (expiry := tracker.token_expires())
        ]
        return min(stated, default=None)

    def get(self, repository: str, number: int) -> IssueRef:
        return self._for(repository).get(repository, number)

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        return self._for(repository).find_by_marker(repository, fingerprint, label, since)

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]:
        return self._for(repository).issues_with_marker(repository, fingerprint, label, since)

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        return self._for(repository).create(repository, title, body, labels)

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        return self._for(repository).edit(repository, number, **changes)

    def comment(self, repository: str, number: int, body: str) -> None:
        self._for(repository).comment(repository, number, body)

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        return self._for(repository).comment_bodies(repository, number)

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        self._for(repository).add_labels(repository, number, labels)

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        return self._for(repository).assign(repository, number, logins, agent)
