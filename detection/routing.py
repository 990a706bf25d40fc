"""Where a failure's issue goes: the first route whose conditions match names the repository,
the labels and the assignee; otherwise the defaults. The repository's name says which tracker
holds it: `gitlab:group/project` is on GitLab, `owner/repo` on GitHub."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from detection.conditions import matches
from detection.rules import GITLAB_PREFIX, Assignment, Rules

Tracker = Literal["github", "gitlab"]


def tracker_of(repository: str) -> Tracker:
    """Which tracker holds a route's repository."""
    return "gitlab" if repository.startswith(GITLAB_PREFIX) else "github"


def gitlab_project(repository: str) -> str:
    """The GitLab project path (`group/sub/project`) a `gitlab:` repository names."""
    if tracker_of(repository) != "gitlab":
        raise ValueError(f"{repository!r} is not a GitLab project (gitlab:group/project)")
    return repository.removeprefix(GITLAB_PREFIX)


@dataclass(frozen=True)
class IssueRoute:
    """Where a failure's issue goes and who gets it."""

    repository: str
    labels: tuple[str, ...]
    assignment: Assignment
    name: str | None = None
    """The route's name, if it has one (notification rules filter on it)."""


def route_failure(
    rules: Rules,
    *,
    definition: str,
    table: str,
    role: str | None,
    severity: str,
    category: str,
    fields: dict[str, object] | None = None,
) -> IssueRoute:
    """The first route whose every `when_*` matches, else the default repository."""
    labels = [
        *rules.labels.always,
        f"{rules.labels.severity_prefix}{severity}",
        f"{rules.labels.category_prefix}{category}",
    ]
    for route in rules.routing.routes:
        if route.when_definitions and definition not in route.when_definitions:
            continue
        if route.when_tables and table not in route.when_tables:
            continue
        if route.when_roles and role not in route.when_roles:
            continue
        if route.when is not None and not matches(route.when, fields or {}):
            continue
        return IssueRoute(
            route.repository,
            tuple(dict.fromkeys([*labels, *route.labels])),
            route.assignment or rules.assignment.default,
            route.name,
        )
    return IssueRoute(
        rules.routing.default_repository, tuple(dict.fromkeys(labels)), rules.assignment.default
    )
