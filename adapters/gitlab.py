"""GitLab issues over its REST API v4 (httpx): the same tracker port as `adapters.github`.

A route's repository `gitlab:group/project` (subgroups allowed) names a GitLab project; the
adapter keeps that full name in every `IssueRef.repository`, so the workflow's state, markers
and signatures read the same whichever tracker holds the issue. `number` is the issue's `iid`
(its number within the project), `id` its instance-wide id, and GitLab's `opened` is reported
as `open`.

Why httpx and not python-gitlab: python-gitlab sleeps on a 429 by default and, once told not
to, raises an error that carries the status and body but not the response's headers, so
`Retry-After` and `RateLimit-Reset` (what the workflow's durable timer must wait for) would be
lost; httpx is already in the app through githubkit.

Errors map as GitHub's do:

- `TrackerRateLimited`: a 429. GitLab's throttles send `Retry-After` (seconds); some endpoint
  limits send only `RateLimit-Reset` (epoch seconds), and older releases neither, when a minute
  is waited.
- `GitLabUnavailable`: a 5xx, a timeout or a broken connection; the activity's retry policy
  retries, and a create whose response was lost is found by its marker on the retry.
- `TrackerRefused`: what a retry does not change: 400 (a parameter GitLab refused), 401 after the
  one token refresh (a revoked or expired token), 403 (a token without the `api` scope, a role
  that may not edit the issue), 404 (no such project, or one the token's user cannot see), 409.

Finding issues after lost state: the project's issue list filtered by author is strongly
consistent (a database query) and finds every issue made since a create was attempted. Older
issues are found by issue search for the fingerprint, restricted to the description and the
token's own user; GitLab documents search as matching the title and description, not hidden
HTML comments, which an instance's search index may strip, so the search is for the fingerprint
as a word, which the built-in issue body also shows visibly (a custom template should keep
`{{ fingerprint }}`). Every candidate is checked by `carries_marker` on its first line.

Who may steer by comment (`Collaborators`): a member's access level, Developer and up, asked
of the project's members API with inherited memberships.

Assignment: GitLab has no Copilot. Its agent hand-off is a GitLab Duo flow trigger, which runs
when its service account user is assigned or mentioned (docs.gitlab.com, Duo Agent Platform,
"Triggers"): that is a named user, so `assign` takes usernames, resolved to ids.
"""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from detection.markers import carries_marker
from detection.routing import gitlab_project
from pipeline.ports import (
    IssueRef,
    RepositoryRole,
    TrackerBudget,
    TrackerRateLimited,
    TrackerRefused,
)

log = logging.getLogger(__name__)

TRACKER = "GitLab"
RECENT_PAGES = 3
NOTE_PAGES = 10
"""Pages of notes (a hundred each) read for Faultline's own comments: GitLab's system notes
come with them, one per refresh of the body."""
RECENT_WITHOUT_INTENT = 30
SEARCH_RESULTS = 20
DEFAULT_WAIT = timedelta(minutes=1)
RESET_MARGIN = timedelta(seconds=1)  # RateLimit-Reset is whole seconds; clocks drift a little
REASON_LIMIT = 300
TITLE_LIMIT = 255
_REFUSAL_KINDS = {
    400: "invalid",
    401: "credentials",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    410: "gone",
    422: "invalid",
}
_STATES = {"opened": "open", "closed": "closed"}
ROLES = {
    5: RepositoryRole("minimal access", "none"),
    10: RepositoryRole("guest", "read"),
    15: RepositoryRole("planner", "read"),
    20: RepositoryRole("reporter", "read"),
    30: RepositoryRole("developer", "write"),
    40: RepositoryRole("maintainer", "write"),
    50: RepositoryRole("owner", "admin"),
}
"""GitLab's member access levels (docs.gitlab.com/api/members) as GitHub's roles and the
permission they are built on, which `detection.commands.may_steer` judges: from Developer up
(write), a person may steer; a Reporter (read) may not, though GitLab lets one close and label
issues, because steering also merges groups and mutes failures for everyone."""

# The username behind each token, per instance: `GET /user` costs a request per activity.
_USERNAMES: dict[tuple[str, str], str] = {}
_USERNAMES_LOCK = threading.Lock()


class GitLabUnavailable(Exception):
    """A 5xx, a timeout or a broken connection: the request may or may not have taken effect."""


def _project_path(repository: str) -> str:
    """`gitlab:group/sub/project` as a URL path segment: GitLab takes the path URL-encoded."""
    return urllib.parse.quote(gitlab_project(repository), safe="")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _issue_ref(repository: str, issue: dict[str, Any], dropped: tuple[str, ...] = ()) -> IssueRef:
    created = _parse_time(issue["created_at"])
    if created is None:
        raise ValueError(f"{repository}#{issue.get('iid')}: GitLab sent no created_at")
    return IssueRef(
        repository=repository,
        number=int(issue["iid"]),
        url=str(issue["web_url"]),
        state=_STATES.get(issue["state"], issue["state"]),
        created_at=created,
        closed_at=_parse_time(issue.get("closed_at")),
        assignees=tuple(a["username"] for a in issue.get("assignees") or []),
        labels=tuple(issue.get("labels") or []),
        body=issue.get("description") or "",
        id=int(issue["id"]),
        author=(issue.get("author") or {}).get("username", ""),
        dropped_labels=dropped,
    )


def _same_user(a: str, b: str) -> bool:
    """GitLab usernames are case-insensitive."""
    return a.casefold() == b.casefold()


def _reason(response: httpx.Response, token: str) -> str:
    """GitLab's message in one line: `message` (a string, or field -> errors), or `error` with
    its `error_description` and the scope a token lacks; never the token itself."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    parts: list[str] = []
    if isinstance(payload, dict):
        message = payload.get("message")
        if isinstance(message, dict):
            parts += [f"{k} {'; '.join(map(str, v))}" for k, v in message.items()]
        elif message:
            parts.append(str(message))
        for key in ("error", "error_description"):
            if payload.get(key):
                parts.append(str(payload[key]))
        if payload.get("scope"):
            parts.append(f"the token needs the {payload['scope']} scope")
    if not parts:
        parts.append(response.text[:200] or response.reason_phrase)
    text = " ".join(": ".join(parts).split())
    if token:
        text = text.replace(token, "***")
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def gitlab_client(base_url: str, timeout: float, verify: str | bool = True) -> httpx.Client:
    """The HTTP client for one instance; a process shares it (and its connections) across
    activities, each with its own `GitLabIssues`. Redirects are not followed: a private token
    must not be sent on to wherever a proxy points. `verify` may name a CA bundle (a
    self-managed instance under a private CA)."""
    trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.Client(
        base_url=base_url.rstrip("/"), timeout=timeout, verify=trust, follow_redirects=False
    )


class GitLabIssues:
    """One client for an activity's lifetime; `token` is asked again after a 401.

    `base_url` is the API root, `https://gitlab.com/api/v4` or a self-managed instance's
    (`https://host/gitlab/api/v4` under a relative URL root); `verify` a CA bundle for an
    instance with a private CA. `clock` gives epoch seconds, to turn `RateLimit-Reset` into a
    wait. `client` is a process's shared `gitlab_client`; without one the adapter makes its own.
    """

    def __init__(
        self,
        token: Callable[[bool], str],
        base_url: str = "https://gitlab.com/api/v4",
        timeout: float = 20.0,
        *,
        verify: str | bool = True,
        marker_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ) -> None:
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._marker_key = marker_key
        self._clock = clock
        self._budget: TrackerBudget | None = None
        self._token_value = token(False)
        self._client = client or gitlab_client(self._base_url, timeout, verify)

    def budget(self) -> list[TrackerBudget]:
        """The authenticated API limit as GitLab's latest answer stated it."""
        return [self._budget] if self._budget else []

    def _note_budget(self, response: httpx.Response) -> None:
        try:
            limit = int(response.headers["RateLimit-Limit"])
            remaining = int(response.headers["RateLimit-Remaining"])
        except (KeyError, ValueError):
            return  # an instance with its rate-limit headers off
        self._budget = TrackerBudget("gitlab", limit, max(limit - remaining, 0))

    def _send(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        for attempt in range(2):
            try:
                response = self._client.request(
                    method,
                    path,
                    params=params,
                    json=body,
                    headers={"PRIVATE-TOKEN": self._token_value},
                )
            except httpx.TimeoutException as error:
                raise GitLabUnavailable(f"{what}: timed out") from error
            except httpx.TransportError as error:
                raise GitLabUnavailable(f"{what}: {error}") from error
            self._note_budget(response)
            status = response.status_code
            if status < 400:
                return response
            if status == 429:
                raise self._rate_limited(what, response)
            if status == 401 and attempt == 0:
                log.warning("GitLab refused the token during %s; refreshing it once", what)
                self._token_value = self._token(True)
                continue
            if status >= 500:
                raise GitLabUnavailable(f"{what}: GitLab answered {status}")
            raise TrackerRefused(
                status,
                _reason(response, self._token_value),
                permanent=status != 409,
                what=what,
                kind=_REFUSAL_KINDS.get(status, "refused"),
                tracker=TRACKER,
            )
        raise AssertionError("unreachable")

    def _rate_limited(self, what: str, response: httpx.Response) -> TrackerRateLimited:
        """Wait as GitLab says: `Retry-After` (seconds or an HTTP date), else until
        `RateLimit-Reset`, else a minute."""
        wait: timedelta | None = None
        retry_after = response.headers.get("Retry-After", "").strip()
        if retry_after.isdigit():
            wait = timedelta(seconds=int(retry_after))
        elif retry_after:
            try:
                moment = parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                wait = moment - datetime.fromtimestamp(self._clock(), UTC) + RESET_MARGIN
        if wait is None and response.headers.get("RateLimit-Reset", "").isdigit():
            reset = int(response.headers["RateLimit-Reset"])
            wait = timedelta(seconds=math.ceil(reset - self._clock())) + RESET_MARGIN
        wait = max(wait or DEFAULT_WAIT, timedelta(seconds=1))
        detail = f"{what}: {_reason(response, self._token_value)}"
        log.warning("GitLab rate limit during %s: wait %s", what, wait)
        return TrackerRateLimited(wait, detail, tracker=TRACKER)

    def _issues_path(self, repository: str) -> str:
        return f"/projects/{_project_path(repository)}/issues"

    def login(self) -> str:
        """The username the token acts as (a person, a project or group access token's bot
        user, or a service account), asked once per token."""
        key = (self._base_url, hashlib.sha256(self._token_value.encode()).hexdigest())
        with _USERNAMES_LOCK:
            if key in _USERNAMES:
                return _USERNAMES[key]
        username = str(self._send("who am I", "GET", "/user").json()["username"])
        key = (self._base_url, hashlib.sha256(self._token_value.encode()).hexdigest())
        with _USERNAMES_LOCK:  # under the token that answered: a 401 on the way refreshes it
            _USERNAMES[key] = username
        return username

    def own_login(self) -> str | None:
        """The username Faultline comments as, so its own notes are never commands."""
        return self.login()

    def role_of(self, repository: str, login: str) -> RepositoryRole | None:
        """The person's access to the project, inherited from its groups included (`GET
        /projects/:id/members/all/:user_id`, after `GET /users?username=` for the id); None for
        an unknown user or one who is not a member (404). An access level GitLab adds later is
        read by the permission of the highest known level below it."""
        users = self._send(f"look up user {login}", "GET", "/users", params={"username": login})
        found = [u for u in users.json() if _same_user(str(u.get("username", "")), login)]
        if not found:
            return None
        path = f"/projects/{_project_path(repository)}/members/all/{int(found[0]['id'])}"
        try:
            member = self._send(f"access of {login} to {repository}", "GET", path).json()
        except TrackerRefused as refused:
            if refused.status == 404:
                return None
            raise
        level = int(member.get("access_level") or 0)
        known = [known for known in ROLES if known <= level]
        return ROLES[max(known)] if known else None

    def get(self, repository: str, number: int) -> IssueRef:
        path = f"{self._issues_path(repository)}/{number}"
        return _issue_ref(
            repository, self._send(f"get issue {repository}#{number}", "GET", path).json()
        )

    def _pages(
        self, what: str, path: str, params: dict[str, Any], pages: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Up to `pages` pages of a list, following GitLab's `x-next-page`."""
        page: str | None = "1"
        for _ in range(pages):
            if not page:
                return
            response = self._send(what, "GET", path, params={**params, "page": page})
            yield response.json()
            page = response.headers.get("x-next-page")

    def _recent(self, repository: str, since: datetime | None) -> Iterator[IssueRef]:
        """The issues the token's user wrote, newest first: since `since` (every one made after
        a create was attempted), else the newest few."""
        params: dict[str, Any] = {
            "author_username": self.login(),
            "state": "all",
            "order_by": "created_at",
            "sort": "desc",
            "per_page": 100 if since else RECENT_WITHOUT_INTENT,
        }
        if since:
            params["created_after"] = since.astimezone(UTC).isoformat()
        pages = RECENT_PAGES if since else 1
        path = self._issues_path(repository)
        for issues in self._pages(f"list issues in {repository}", path, params, pages):
            for issue in issues:
                yield _issue_ref(repository, issue)

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        """The issue the token's user wrote that carries this fingerprint's marker: the
        strongly consistent list first, then search for the fingerprint (older issues).
        `label` is not needed: GitLab filters lists by author for any token."""
        for issue in self._recent(repository, since):
            if carries_marker(issue.body, repository, fingerprint, self._marker_key):
                return issue
        author = self.login()
        params = {
            "author_username": author,
            "state": "all",
            "search": fingerprint,
            "in": "description",
            "per_page": SEARCH_RESULTS,
        }
        what = f"search issues in {repository}"
        [found] = self._pages(what, self._issues_path(repository), params, 1)
        for item in found:
            issue = _issue_ref(repository, item)
            if _same_user(issue.author, author) and carries_marker(
                issue.body, repository, fingerprint, self._marker_key
            ):
                return issue
        return None

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]:
        """Every issue the token's user wrote since `since` with the fingerprint's marker (the
        strongly consistent list only): a create that landed after its retry had looked
        leaves a second one, which this finds."""
        return [
            issue
            for issue in self._recent(repository, since)
            if carries_marker(issue.body, repository, fingerprint, self._marker_key)
            and issue.created_at >= since
        ]

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        """Open the issue; `dropped_labels` names labels GitLab left off (a Guest's labels are
        dropped silently)."""
        if len(title) > TITLE_LIMIT:
            title = title[: TITLE_LIMIT - 1] + "…"
        payload: dict[str, Any] = {"title": title, "description": body}
        if labels:
            payload["labels"] = ",".join(labels)
        response = self._send(
            f"create issue in {repository}", "POST", self._issues_path(repository), body=payload
        )
        issue = response.json()
        present = {label.casefold() for label in issue.get("labels") or []}
        dropped = tuple(label for label in labels if label.casefold() not in present)
        if dropped:
            log.warning(
                "GitLab created %s#%s without the labels %s (the token's role is below Planner "
                "or Reporter?)",
                repository,
                issue.get("iid"),
                ", ".join(dropped),
            )
        return _issue_ref(repository, issue, dropped)

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        """Apply the workflow's changes, named as on GitHub: `title`, `body`, `state`
        (`open`/`closed`, sent as `state_event` reopen/close) and `labels`. GitLab closes
        without a reason, so `state_reason` and `duplicate_issue_id` are dropped: the
        comment the workflow posts first says which issue a duplicate continues in."""
        payload: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "title":
                payload["title"] = value
            elif name == "body":
                payload["description"] = value
            elif name == "state":
                payload["state_event"] = {"closed": "close", "open": "reopen"}[value]
            elif name == "labels":
                payload["labels"] = ",".join(value)
            elif name not in ("state_reason", "duplicate_issue_id"):
                raise ValueError(f"GitLab issues cannot take {name!r}")
        path = f"{self._issues_path(repository)}/{number}"
        response = self._send(f"update issue {repository}#{number}", "PUT", path, body=payload)
        return _issue_ref(repository, response.json())

    def comment(self, repository: str, number: int, body: str) -> None:
        path = f"{self._issues_path(repository)}/{number}/notes"
        self._send(f"comment on {repository}#{number}", "POST", path, body={"body": body})

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        """The comments the token's user wrote on the issue, newest first, without GitLab's
        system notes ("closed", "changed the description").

        GitLab lists its system notes with the comments and cannot leave them out, and every
        refresh of the body adds one: on an issue refreshed for months the first hundred notes
        are all old, so a retried step would not find the comment it just made and would post
        it again. Newest first, the comment a retry looks for is on the first page; older
        ones are found up to `NOTE_PAGES` pages back."""
        author = self.login()
        path = f"{self._issues_path(repository)}/{number}/notes"
        what = f"list comments of {repository}#{number}"
        params = {"sort": "desc", "order_by": "created_at", "per_page": 100}
        return [
            note.get("body") or ""
            for notes in self._pages(what, path, params, NOTE_PAGES)
            for note in notes
            if not note.get("system") and _same_user(note["author"]["username"], author)
        ]

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        path = f"{self._issues_path(repository)}/{number}"
        self._send(
            f"add labels to {repository}#{number}",
            "PUT",
            path,
            body={"add_labels": ",".join(labels)},
        )

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Add the users (by username) to the issue's assignees; returns who GitLab reports
        assigned, so a username that does not exist, or one GitLab drops (GitLab Free keeps
        one assignee), is missing from it. `agent` has no GitLab counterpart (see the module's
        docstring) and is not sent."""
        if agent:
            log.info(
                "%s#%d: GitLab takes no agent payload; assigning users only", repository, number
            )
        current = self._send(
            f"get issue {repository}#{number}",
            "GET",
            f"{self._issues_path(repository)}/{number}",
        ).json()
        ids = [a["id"] for a in current.get("assignees") or []]
        for login in logins:
            users = self._send(f"look up user {login}", "GET", "/users", params={"username": login})
            ids += [u["id"] for u in users.json() if u["id"] not in ids]
        response = self._send(
            f"assign {repository}#{number}",
            "PUT",
            f"{self._issues_path(repository)}/{number}",
            body={"assignee_ids": ids},
        )
        return tuple(a["username"] for a in response.json().get("assignees") or [])
