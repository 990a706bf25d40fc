"""GitHub issues through githubkit: create, find by marker, update, comment, reopen, assign.

Errors are mapped to what the workflow decides on: `GitHubRateLimited` carries the wait GitHub
asked for (primary or secondary limit; the orchestration sleeps on a durable timer rather than in
the activity), `GitHubUnavailable` is worth retrying (5xx, timeouts: the activity's retry policy
does that), anything else is a bug or a configuration error. githubkit's own retries are off so
no activity sleeps. A 401 refreshes the token once (rotated secret) before giving up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout
from githubkit_schemas.latest.models import Issue

from detection.issue import MARKER_PREFIX, find_marker
from pipeline.ports import IssueRef

log = logging.getLogger(__name__)

COPILOT_LOGIN = "copilot-swe-agent[bot]"
COPILOT_REPORTED_LOGINS = frozenset({"copilot-swe-agent[bot]", "copilot-swe-agent", "Copilot"})
RECENT_PAGES = 3
RECENT_WITHOUT_INTENT = 30
T = TypeVar("T")


class GitHubRateLimited(Exception):
    def __init__(self, retry_after: timedelta, detail: str) -> None:
        super().__init__(f"GitHub rate limit: retry after {retry_after}: {detail}")
        self.retry_after = retry_after


class GitHubUnavailable(Exception):
    """A 5xx or a timeout: the request may or may not have taken effect."""


def _issue_ref(repository: str, issue: Any) -> IssueRef:
    """From any of githubkit's issue shapes (get, create and update differ in type only)."""
    return IssueRef(
        repository=repository,
        number=issue.number,
        url=issue.html_url,
        state=issue.state,
        created_at=issue.created_at,
        closed_at=issue.closed_at,
        assignees=tuple(a.login for a in (issue.assignees or [])),
        labels=tuple(
            label if isinstance(label, str) else (label.name or "") for label in issue.labels
        ),
        body=issue.body or "",
    )


def _split(repository: str) -> tuple[str, str]:
    owner, name = repository.split("/", 1)
    return owner, name


class GitHubIssues:
    """One client for an activity's lifetime; `token` is asked again after a 401."""

    def __init__(
        self,
        token: Callable[[bool], str],
        base_url: str = "https://api.github.com/",
        timeout: float = 20.0,
    ) -> None:
        self._token = token
        self._base_url = base_url
        self._timeout = timeout
        self._client = self._connect(refresh=False)

    def _connect(self, refresh: bool) -> GitHub[Any]:
        return GitHub(
            TokenAuthStrategy(self._token(refresh)),
            base_url=self._base_url,
            auto_retry=False,
            timeout=self._timeout,
            http_cache=False,
        )

    def _call(self, what: str, request: Callable[[GitHub[Any]], T]) -> T:
        for attempt in range(2):
            try:
                return request(self._client)
            except RateLimitExceeded as error:
                raise GitHubRateLimited(error.retry_after, what) from error
            except RequestFailed as error:
                status = error.response.status_code
                if status == 401 and attempt == 0:
                    log.warning("GitHub refused the token during %s; refreshing it once", what)
                    self._client = self._connect(refresh=True)
                    continue
                if status >= 500:
                    raise GitHubUnavailable(f"{what}: GitHub answered {status}") from error
                raise
            except RequestTimeout as error:
                raise GitHubUnavailable(f"{what}: timed out") from error
            except RequestError as error:
                if isinstance(error.exc, httpx.TransportError):
                    raise GitHubUnavailable(f"{what}: {error.exc}") from error
                raise
        raise AssertionError("unreachable")

    def get(self, repository: str, number: int) -> IssueRef:
        owner, name = _split(repository)
        issue = self._call(
            "get issue", lambda gh: gh.rest.issues.get(owner, name, number).parsed_data
        )
        return _issue_ref(repository, issue)

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        """The issue carrying this fingerprint's marker, looked up two ways.

        The repository's issue list (newest first, filtered by the Faultline label) is strongly
        consistent, so an issue created seconds ago by a request that timed out is found there;
        search covers older issues, but lags behind new ones.
        """
        for issue in self._recent(repository, label, since):
            if find_marker(issue.body) == fingerprint:
                return issue
        owner, name = _split(repository)
        query = f'repo:{owner}/{name} is:issue in:body "{MARKER_PREFIX}{fingerprint}"'
        results = self._call(
            "search issues",
            lambda gh: gh.rest.search.issues_and_pull_requests(q=query, per_page=10).parsed_data,
        )
        for item in results.items:
            body = item.body if isinstance(item.body, str) else None
            if find_marker(body) == fingerprint and not item.pull_request:
                return self.get(repository, item.number)
        return None

    def _recent(self, repository: str, label: str, since: datetime | None) -> Iterator[IssueRef]:
        owner, name = _split(repository)
        # After a create attempt (`since`), every issue made since then; otherwise the newest few,
        # which covers search's indexing lag (seconds), while older issues are found by search.
        pages, per_page = (RECENT_PAGES, 100) if since else (1, RECENT_WITHOUT_INTENT)
        for page in range(1, pages + 1):

            def list_page(gh: GitHub[Any], page: int = page) -> list[Any]:
                return gh.rest.issues.list_for_repo(
                    owner,
                    name,
                    labels=label,
                    state="all",
                    sort="created",
                    direction="desc",
                    per_page=per_page,
                    page=page,
                ).parsed_data

            issues = self._call("list issues", list_page)
            for issue in issues:
                if not issue.pull_request:
                    yield _issue_ref(repository, issue)
            if len(issues) < per_page or (since and issues and issues[-1].created_at < since):
                return

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        owner, name = _split(repository)
        issue = self._call(
            "create issue",
            lambda gh: (
                gh.rest.issues.create(
                    owner, name, title=title, body=body, labels=labels
                ).parsed_data
            ),
        )
        return _issue_ref(repository, issue)

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        owner, name = _split(repository)
        issue = self._call(
            "update issue",
            lambda gh: gh.rest.issues.update(owner, name, number, **changes).parsed_data,
        )
        return _issue_ref(repository, issue)

    def comment(self, repository: str, number: int, body: str) -> None:
        owner, name = _split(repository)
        self._call(
            "comment",
            lambda gh: gh.rest.issues.create_comment(owner, name, number, body=body),
        )

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        """The issue's comments (the first hundred: Faultline comments at most once an interval)."""
        owner, name = _split(repository)

        def first_page(gh: GitHub[Any]) -> list[Any]:
            return gh.rest.issues.list_comments(owner, name, number, per_page=100).parsed_data

        return [c.body or "" for c in self._call("list comments", first_page)]

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        owner, name = _split(repository)
        self._call(
            "add labels",
            lambda gh: gh.rest.issues.add_labels(owner, name, number, labels=labels),
        )

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Add assignees; returns who GitHub actually assigned (it drops whom it cannot)."""
        owner, name = _split(repository)
        payload: dict[str, Any] = {"assignees": logins}
        if agent:
            payload["agent_assignment"] = agent
        url = f"/repos/{owner}/{name}/issues/{number}/assignees"
        issue = self._call(
            "assign",
            lambda gh: gh.request("POST", url, json=payload, response_model=Issue).parsed_data,
        )
        return tuple(a.login for a in (issue.assignees or []))
