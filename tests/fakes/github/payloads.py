"""The JSON GitHub sends: error bodies, and issues, comments, labels and users complete enough
for githubkit's models (``.parsed_data`` validates). Rendering lives here so that every endpoint
and the search index answer in the same shapes."""

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from tests.fakes.github.state import (
    ROLES,
    Comment,
    Issue,
    Label,
    Repository,
    TimelineEvent,
    User,
)

DOCS = "https://docs.github.com/rest"
HTML = "https://github.com"

Result = tuple[int, Any, dict[str, str]]  # status, JSON payload, extra headers


class ApiError(Exception):
    """An error answer in GitHub's ``{"message", "documentation_url", "status"}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        documentation_url: str = DOCS,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.payload: dict[str, Any] = {
            "message": message,
            "documentation_url": documentation_url,
            "status": str(status),
        }
        if errors is not None:
            self.payload["errors"] = errors


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(resource: str, field_name: str, code: str = "invalid", **extra: Any) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": resource, "field": field_name, "code": code, **extra}],
    )


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


def error_response(error: ApiError, headers: dict[str, str]) -> Response:
    return json_response(error.status, error.payload, {**headers, **error.headers})


def paginate(request: Request, items: list[Any]) -> Result:
    """One page plus GitHub's ``Link`` header (absolute URLs, rel next/last/first/prev)."""
    args = request.args
    per_page = min(max(_int_arg(args.get("per_page"), 30), 1), 100)
    page = max(_int_arg(args.get("page"), 1), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    links = []

    def link(number: int, rel: str) -> str:
        query = {**args.to_dict(), "per_page": str(per_page), "page": str(number)}
        return f'<{request.base_url}?{urlencode(query)}>; rel="{rel}"'

    if page > 1:
        links += [link(min(page - 1, last), "prev"), link(1, "first")]
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    headers = {"Link": ", ".join(links)} if links else {}
    return 200, items[(page - 1) * per_page : page * per_page], headers


def _int_arg(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def _timestamp(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Payloads:
    """Renders state as GitHub's JSON, with URLs under ``base_url()`` (the fake's address, known
    once it listens) and author associations from ``collaborators``."""

    def __init__(self, base_url: Callable[[], str], collaborators: Mapping[str, User]) -> None:
        self._base_url = base_url
        self._collaborators = collaborators

    def _api(self) -> str:
        return self._base_url().rstrip("/")

    def api(self) -> str:
        """The API's root URL, as links in answers use it."""
        return self._api()

    def user(self, user: User) -> dict[str, Any]:
        url = f"{self._api()}/users/{quote(user.login)}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": user.node_id,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": user.html_url or f"{HTML}/{user.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def collaborator(self, user: User, role: str) -> dict[str, Any]:
        """A collaborator as the permission endpoint embeds it: the user, the role's name and
        the cumulative permissions it grants."""
        granted = ROLES[: ROLES.index(role) + 1] if role in ROLES else ("read",)
        permissions = {
            "pull": "read" in granted,
            "triage": "triage" in granted,
            "push": "write" in granted,
            "maintain": "maintain" in granted,
            "admin": "admin" in granted,
        }
        return {**self.user(user), "permissions": permissions, "role_name": role}

    def repository(self, repository: Repository, owner: User) -> dict[str, Any]:
        """The repository object a webhook payload carries (its identifying part)."""
        url = f"{self._api()}/repos/{repository.full_name}"
        return {
            "id": repository.id,
            "node_id": f"R_kgDO{repository.id:08d}",
            "name": repository.name,
            "full_name": repository.full_name,
            "private": False,
            "owner": self.user(owner),
            "html_url": f"{HTML}/{repository.full_name}",
            "url": url,
            "issues_url": f"{url}/issues{{/number}}",
            "default_branch": "main",
        }

    def label(self, repository: Repository, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": f"LA_kwDO{label.id:08d}",
            "url": f"{self._api()}/repos/{repository.full_name}/labels/{quote(label.name)}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
            "archived_at": None,
            "archived_by": None,
        }

    @staticmethod
    def _reactions(url: str) -> dict[str, Any]:
        counts = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
        return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(counts, 0)}

    def _association(self, repository: Repository, user: User) -> str:
        if user.login.lower() == repository.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if self._collaborators.get(user.login.lower()) == user else "NONE"

    def issue(
        self, api_version: str | None, repository: Repository, issue: Issue
    ) -> dict[str, Any]:
        """The issue as an answer in ``api_version``, or with ``None`` as the search index holds
        it."""
        repo_url = f"{self._api()}/repos/{repository.full_name}"
        url = f"{repo_url}/issues/{issue.number}"
        assignees = [self.user(u) for u in issue.assignees]
        payload: dict[str, Any] = {
            "url": url,
            "repository_url": repo_url,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{HTML}/{repository.full_name}/issues/{issue.number}",
            "id": issue.id,
            "node_id": f"I_kwDO{issue.id:08d}",
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(repository, label) for label in issue.labels],
            "state": issue.state,
            "locked": False,
            "assignees": assignees,
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": _timestamp(issue.created_at),
            "updated_at": _timestamp(issue.updated_at),
            "closed_at": _timestamp(issue.closed_at),
            "author_association": self._association(repository, issue.user),
            "type": None,
            "active_lock_reason": None,
            "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
            "body": issue.body,
            "closed_by": self.user(issue.closed_by) if issue.closed_by else None,
            "reactions": self._reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
        }
        if issue.pull_request:
            # "Pull requests have a pull_request property in the issue object"
            # (https://docs.github.com/rest/using-the-rest-api/issue-event-types).
            html = f"{HTML}/{repository.full_name}/pull/{issue.number}"
            payload["html_url"] = html
            payload["pull_request"] = {
                "url": f"{repo_url}/pulls/{issue.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": None,
            }
        if api_version in (None, "2022-11-28"):
            # The singular ``assignee`` is gone from API version 2026-03-10 onwards.
            payload["assignee"] = assignees[0] if assignees else None
        return payload

    def timeline_event(
        self, api_version: str | None, repository: Repository, issue: Issue, event: TimelineEvent
    ) -> dict[str, Any]:
        """A linking event as ``GET .../issues/{n}/timeline`` lists it
        (https://docs.github.com/rest/issues/timeline, event shapes in
        https://docs.github.com/rest/using-the-rest-api/issue-event-types): ``cross-referenced``
        has no ``id`` or ``url`` of its own, only ``actor``, ``created_at``, ``updated_at`` and
        the referencing issue or pull request as ``source``; ``connected`` has the common
        properties and does not name the pull request."""
        if event.event == "cross-referenced" and event.source is not None:
            source_repository, source = event.source
            return {
                "event": "cross-referenced",
                "actor": self.user(event.actor),
                "created_at": _timestamp(event.created_at),
                "updated_at": _timestamp(event.created_at),
                "source": {
                    "type": "issue",
                    "issue": self.issue(api_version, source_repository, source),
                },
            }
        url = f"{self._api()}/repos/{repository.full_name}/issues/events/{event.id}"
        return {
            "id": event.id,
            "node_id": f"CE_lADO{event.id:08d}",
            "url": url,
            "actor": self.user(event.actor),
            "event": event.event,
            "commit_id": None,
            "commit_url": None,
            "created_at": _timestamp(event.created_at),
            "performed_via_github_app": None,
        }

    def timeline_comment(
        self, repository: Repository, issue: Issue, comment: Comment
    ) -> dict[str, Any]:
        """A comment as the timeline lists it: the comment with ``event: commented`` and its
        author again as ``actor``."""
        return {
            **self.comment(repository, issue, comment),
            "event": "commented",
            "actor": self.user(comment.user),
        }

    def comment(self, repository: Repository, issue: Issue, comment: Comment) -> dict[str, Any]:
        repo_url = f"{self._api()}/repos/{repository.full_name}"
        url = f"{repo_url}/issues/comments/{comment.id}"
        return {
            "url": url,
            "html_url": f"{HTML}/{repository.full_name}/issues/{issue.number}"
            f"#issuecomment-{comment.id}",
            "issue_url": f"{repo_url}/issues/{issue.number}",
            "id": comment.id,
            "node_id": f"IC_kwDO{comment.id:08d}",
            "user": self.user(comment.user),
            "created_at": _timestamp(comment.created_at),
            "updated_at": _timestamp(comment.updated_at),
            "author_association": self._association(repository, comment.user),
            "body": comment.body,
            "reactions": self._reactions(url),
            "performed_via_github_app": None,
        }
