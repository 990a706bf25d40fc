"""The dry-run issue sink: issues written as Markdown files instead of created on GitHub.

It behaves like the GitHub adapter (numbers per repository, open/closed, labels, assignees,
comments, the hidden marker for dedup), so the workflow runs unchanged; a person reads the
result under `<folder>/<owner>/<repo>/<number>.md` (a GitLab project's under
`<folder>/gitlab/<group>/<project>/<number>.md`). Each issue's state sits beside it as
`<number>.json`, so a second run continues where the first stopped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detection.markers import carries_marker
from pipeline.ports import COPILOT_LOGIN, IssueRef, TrackerBudget


def issue_folder(repository: str) -> str:
    """Where a repository's issues are written: `owner/repo`, or `gitlab/group/.../project` for
    `gitlab:group/.../project` (no colon in a path, which Windows refuses)."""
    return repository.replace(":", "/", 1)


def issue_files(directory: Path, suffix: str) -> list[Path]:
    """Every issue's file with `suffix` under the sink's folder, at any depth (a GitLab
    project's subgroups nest deeper than `owner/repo`)."""
    return [path for path in directory.rglob(f"*{suffix}") if path.stem.isdigit()]


@dataclass
class _Issue:
    repository: str
    number: int
    title: str
    body: str
    labels: list[str]
    state: str = "open"
    created_at: str = ""
    closed_at: str | None = None
    assignees: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    agent_assignment: dict[str, Any] | None = None

    def ref(self) -> IssueRef:
        return IssueRef(
            repository=self.repository,
            number=self.number,
            url=f"dry-run://{self.repository}/{self.number}",
            state=self.state,
            created_at=datetime.fromisoformat(self.created_at),
            closed_at=datetime.fromisoformat(self.closed_at) if self.closed_at else None,
            assignees=tuple(self.assignees),
            labels=tuple(self.labels),
            body=self.body,
        )


class MarkdownIssueSink:
    """An issue tracker on disk, for local runs without a GitHub token."""

    def __init__(
        self, directory: Path, now: Callable[[], datetime], marker_key: bytes | None = None
    ) -> None:
        self._directory = directory
        self._now = now
        self._marker_key = marker_key
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self._issues: dict[str, _Issue] = {}
        for state in issue_files(directory, ".json"):
            issue = _Issue(**json.loads(state.read_text(encoding="utf-8")))
            self._issues[self._key(issue.repository, issue.number)] = issue

    @staticmethod
    def _key(repository: str, number: int) -> str:
        return f"{repository}#{number}"

    def budget(self) -> list[TrackerBudget]:
        """None: writing files spends no request budget."""
        return []

    def issues(self) -> list[IssueRef]:
        with self._lock:
            return [issue.ref() for issue in self._issues.values()]

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        with self._lock:
            return list(self._issues[self._key(repository, number)].comments)

    def get(self, repository: str, number: int) -> IssueRef:
        with self._lock:
            return self._issues[self._key(repository, number)].ref()

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        with self._lock:
            for issue in self._issues.values():
                if issue.repository == repository and carries_marker(
                    issue.body, repository, fingerprint, self._marker_key
                ):
                    return issue.ref()
        return None

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]:
        with self._lock:
            return [
                issue.ref()
                for issue in self._issues.values()
                if issue.repository == repository
                and carries_marker(issue.body, repository, fingerprint, self._marker_key)
            ]

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        with self._lock:
            number = 1 + max(
                (i.number for i in self._issues.values() if i.repository == repository), default=0
            )
            issue = _Issue(
                repository,
                number,
                title,
                body,
                list(labels),
                created_at=self._now().astimezone(UTC).isoformat(),
            )
            self._issues[self._key(repository, number)] = issue
            self._write(issue)
            return issue.ref()

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        with self._lock:
            issue = self._issues[self._key(repository, number)]
            if "body" in changes:
                issue.body = changes["body"]
            if "title" in changes:
                issue.title = changes["title"]
            if changes.get("state") == "closed" and issue.state != "closed":
                issue.state, issue.closed_at = "closed", self._now().astimezone(UTC).isoformat()
            elif changes.get("state") == "open":
                issue.state, issue.closed_at = "open", None
            self._write(issue)
            return issue.ref()

    def comment(self, repository: str, number: int, body: str) -> None:
        with self._lock:
            issue = self._issues[self._key(repository, number)]
            issue.comments.append(body)
            self._write(issue)

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        with self._lock:
            issue = self._issues[self._key(repository, number)]
            issue.labels.extend(label for label in labels if label not in issue.labels)
            self._write(issue)

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Record the assignment as asked (a dry run cannot know what the token may do)."""
        with self._lock:
            issue = self._issues[self._key(repository, number)]
            names = ["Copilot" if login == COPILOT_LOGIN else login for login in logins]
            issue.assignees.extend(name for name in names if name not in issue.assignees)
            issue.agent_assignment = agent or issue.agent_assignment
            self._write(issue)
            return tuple(issue.assignees)

    def _write(self, issue: _Issue) -> None:
        path = self._directory / issue_folder(issue.repository) / f"{issue.number}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [
            f"# {issue.title}",
            "",
            f"- state: {issue.state}",
            f"- labels: {', '.join(issue.labels) or '(none)'}",
            f"- assignees: {', '.join(issue.assignees) or '(none)'}",
            "",
            "---",
            "",
        ]
        comments = [
            f"\n---\n\n**Comment {n}**\n\n{text}" for n, text in enumerate(issue.comments, 1)
        ]
        path.write_text("\n".join(header) + issue.body + "".join(comments) + "\n", encoding="utf-8")
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(issue)), encoding="utf-8")
        temporary.replace(path.with_suffix(".json"))
