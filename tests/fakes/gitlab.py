"""Local HTTPS fake of the GitLab REST API v4, the part Faultline's GitLab adapter speaks.

It exists so the adapter is tested through its real HTTP client against GitLab's wire format,
as the other fakes test their SDKs. What it serves, each as GitLab's API documentation
(docs.gitlab.com/api/issues, /api/notes, /api/users, /api/rest) describes it:

- under a self-managed path prefix (``https://127.0.0.1:PORT/gitlab/api/v4`` by default), as an
  instance served from a relative URL root is;
- ``GET /user``, ``GET /users?username=``;
- ``GET /projects/:id/members/all/:user_id`` (docs.gitlab.com/api/members: a member's
  ``access_level``, inherited memberships included; 404 ``{"message": "404 Not found"}`` for a
  user who is not a member, or no such user);
- ``GET|POST /projects/:id/issues`` (list with ``state``, ``labels``, ``author_username``,
  ``search`` with ``in``, ``created_after``, ``order_by``, ``sort``, ``page``, ``per_page``;
  create with ``title``, ``description``, ``labels``, ``assignee_ids``),
  ``GET|PUT /projects/:id/issues/:iid`` (edit with ``title``, ``description``,
  ``state_event: close|reopen``, ``labels``, ``add_labels``, ``remove_labels``,
  ``assignee_ids``), ``GET|POST /projects/:id/issues/:iid/notes``; ``:id`` is the numeric id or
  the URL-encoded path (``group%2Fsub%2Fproject``), and an unencoded path is an unknown route;
- offset pagination: ``x-page``, ``x-per-page``, ``x-next-page``, ``x-prev-page``, ``x-total``,
  ``x-total-pages`` and a ``Link`` header, ``per_page`` at most 100;
- authentication by ``PRIVATE-TOKEN`` (401 ``{"message": "401 Unauthorized"}`` without a valid
  one); a token with only ``read_api`` is refused writes with 403 ``insufficient_scope``, and
  one with neither ``api`` nor ``read_api`` (``read_user`` alone, say) every read but ``/user``
  and ``/users``; a
  project the token's user is not a member of is 404 ``{"message": "404 Project Not Found"}``
  (GitLab hides private projects), a guest may open issues and comment but the labels and
  assignees it sends are dropped silently, as GitLab does for users who may not set them;
- the authenticated API limit (``requests_per_minute`` per token, on the fake's clock), with
  ``RateLimit-Limit``, ``-Observed``, ``-Remaining``, ``-Reset`` and ``-ResetTime`` on every
  answer and, once spent, Rack::Attack's 429 ``Retry later`` with ``Retry-After``;
- system notes (``"system": true``) for what GitLab records itself (closing, reopening, labels,
  assignees, description changes), so a reader of notes must tell them from comments.

Webhook deliveries (docs.gitlab.com, "Webhooks" and "Webhook events"): ``hook`` renders the Issue
Hook or Note Hook GitLab sends for an issue as it stands now, with GitLab's delivery headers
(``X-Gitlab-Event``, ``X-Gitlab-Token``, ``X-Gitlab-Instance``, ``X-Gitlab-Webhook-UUID``, a new
``X-Gitlab-Event-UUID`` per attempt, and ``Idempotency-Key``, which ``retry`` repeats).

Faults a test injects with ``fail_next``: a 5xx (``ServerError``), an endpoint limit's 429
(``RateLimited``, with or without ``Retry-After``), a 5xx after the request took effect
(``ServerErrorAfterSuccess``) and an answer held past the client's timeout after it took effect
(``TimeoutAfterSuccess``).

Stricter than GitLab in one way, on purpose: GitLab ignores parameters it does not declare, so
a misspelt field (``body`` for ``description``) would silently do nothing; the fake answers it
with 400 ``{"error": "<name> is not a parameter of this endpoint"}`` so such a mistake fails a
test instead. Validation errors otherwise take GitLab's shapes: ``{"error": "title is missing"}``
from the API's parameter checks, ``{"message": {"title": ["is too long ..."]}}`` from the model.

Issue search matches every word (of three characters or more) of ``search`` in the title or
description as GitLab's database search does, but, by default, not inside HTML comments:
GitLab's own documentation promises only that search covers "title and description", and an
instance's search index may strip or tokenize markup, so the adapter must not depend on
searching a hidden marker (``search_in_html_comments=True`` lifts that).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, Self

from werkzeug.wrappers import Request, Response

from tests.fakes.github.clock import FakeClock
from tests.fakes.https import HttpsServer

__all__ = [
    "GitLabFake",
    "RateLimited",
    "RecordedRequest",
    "ServerError",
    "ServerErrorAfterSuccess",
]

MAX_TITLE = 255
MAX_DESCRIPTION = 1_048_576
MAX_PER_PAGE = 100
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_READ = "read_api"
_WRITE = "api"
_READ_USER = "read_user"
_GUEST, _REPORTER = 10, 20


@dataclass(frozen=True)
class ServerError:
    """Answer with this 5xx status without touching state."""

    status: int = 502


@dataclass(frozen=True)
class RateLimited:
    """Answer 429 as GitLab's application rate limiter does for one endpoint: JSON ``message``,
    with ``Retry-After`` only when ``retry_after`` is given (older releases send none)."""

    retry_after: int | None = 60


@dataclass(frozen=True)
class ServerErrorAfterSuccess:
    """Do what was asked, then answer with this 5xx: the client cannot tell that the write
    happened (a proxy's 502 after GitLab answered, a response lost on the way)."""

    status: int = 502


@dataclass(frozen=True)
class TimeoutAfterSuccess:
    """Do what was asked, then hold the answer this long (past the client's timeout): the
    write happened, but the client gave up waiting (a slow GitLab behind a proxy)."""

    delay_seconds: float = 2.0


Fault = ServerError | RateLimited | ServerErrorAfterSuccess | TimeoutAfterSuccess


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (its path as sent, still URL-encoded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    status: int
    token: str | None


@dataclass
class _User:
    id: int
    username: str
    name: str
    bot: bool = False


@dataclass
class _Note:
    id: int
    body: str
    author: _User
    system: bool
    created_at: str


@dataclass
class _Issue:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    author: _User
    created_at: str
    updated_at: str
    state: str = "opened"
    closed_at: str | None = None
    closed_by: _User | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[_User] = field(default_factory=list)
    notes: list[_Note] = field(default_factory=list)


@dataclass
class _Project:
    id: int
    path: str
    members: dict[int, int] = field(default_factory=dict)  # user id -> access level
    issues: dict[int, _Issue] = field(default_factory=dict)


class _Answer(Exception):
    """An error answer, raised from anywhere in a handler."""

    def __init__(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers, self.text = status, payload, headers or {}, text


def _not_found(what: str = "Not found") -> _Answer:
    return _Answer(404, {"message": f"404 {what}"})


class GitLabFake:
    """HTTPS GitLab on 127.0.0.1: use as a context manager; ``base_url`` (with the path prefix)
    and ``ca_path`` are what a client needs, ``token`` is the bot user's private token."""

    base_url: str
    ca_path: str

    def __init__(
        self,
        *,
        prefix: str = "/gitlab/api/v4",
        bot_username: str = "faultline-bot",
        clock: FakeClock | None = None,
        requests_per_minute: int = 2000,
        search_in_html_comments: bool = False,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.clock = clock or FakeClock()
        self.requests_per_minute = requests_per_minute
        self.search_in_html_comments = search_in_html_comments
        self.requests: list[RecordedRequest] = []
        self._ids = 1000
        self._users: dict[str, _User] = {}
        self._tokens: dict[str, tuple[_User, set[str]]] = {}
        self._projects: dict[str, _Project] = {}
        self._observed: dict[tuple[str, int], int] = {}
        self._faults: deque[tuple[Fault, str, str]] = deque()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self.bot = self.add_user(bot_username, bot=True)
        self.token = self.add_token(bot_username)
        self._https = HttpsServer(self._wsgi, "gitlab-fake")

    def __enter__(self) -> Self:
        self._https.start()
        self.ca_path = self._https.ca_path
        self.base_url = f"{self._https.origin}{self.prefix}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()  # releases answers held by TimeoutAfterSuccess
        self._https.stop()

    # -- set-up and inspection ------------------------------------------------------------

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_user(self, username: str, *, bot: bool = False) -> str:
        with self._lock:
            user = _User(self._new_id(), username, username.replace("-", " ").title(), bot)
            self._users[username.lower()] = user
            return username

    def add_token(self, username: str, scopes: Iterable[str] = (_WRITE,)) -> str:
        """A personal (or project/group) access token of `username` with these scopes."""
        with self._lock:
            token = f"glpat-{self._new_id():020d}"
            self._tokens[token] = (self._users[username.lower()], set(scopes))
            return token

    def add_project(self, path: str, members: dict[str, int] | None = None) -> int:
        """A private project; the bot is a Reporter (may label and assign) unless `members`
        names its access level (10 guest, 20 reporter, 30 developer...)."""
        with self._lock:
            project = _Project(self._new_id(), path)
            chosen = {self.bot: _REPORTER} if members is None else members
            for username, level in chosen.items():
                project.members[self._users[username.lower()].id] = level
            self._projects[path] = project
            return project.id

    def add_member(self, path: str, username: str, level: int = _REPORTER) -> None:
        with self._lock:
            self._projects[path].members[self._users[username.lower()].id] = level

    def fail_next(self, fault: Fault, method: str = "*", path: str = "*") -> None:
        """Answer the next request matching `method` and the (decoded) path suffix with `fault`."""
        with self._lock:
            self._faults.append((fault, method, path))

    def issues(self, path: str) -> list[dict[str, Any]]:
        """The project's issues as the API shows them, oldest first."""
        with self._lock:
            project = self._projects[path]
            return [self._issue_json(project, i) for i in project.issues.values()]

    def notes(self, path: str, iid: int) -> list[dict[str, Any]]:
        with self._lock:
            issue = self._projects[path].issues[iid]
            return [self._note_json(n) for n in issue.notes]

    def open_issue_as(self, username: str, path: str, title: str, description: str) -> int:
        """An issue someone else wrote (straight into state, as if through the web UI)."""
        with self._lock:
            project = self._projects[path]
            return self._create(project, self._users[username.lower()], title, description).iid

    def calls(self, method: str | None = None, contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and contains in r.path
            ]

    # -- webhook deliveries -------------------------------------------------------------------

    def hook(
        self,
        path: str,
        iid: int,
        *,
        user: str,
        token: str | None,
        action: str = "update",
        note: int | None = None,
        changes: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The delivery GitLab sends about issue ``iid`` of project ``path`` as it stands now:
        an Issue Hook with ``action`` (``open``, ``close``, ``reopen``, ``update``) and
        ``changes``, or, with ``note`` (a note's id), the Note Hook of that note (``action``
        then ``create`` or ``update``). ``user`` is who acted; ``token`` the webhook's secret
        token, sent as it is in ``X-Gitlab-Token`` (None: a webhook without one)."""
        with self._lock:
            project = self._projects[path]
            issue = project.issues[iid]
            actor = self._users[user.lower()]
            attributes = self._hook_issue(project, issue)
            payload: dict[str, Any]
            if note is None:
                event = "Issue Hook"
                payload = {
                    "object_kind": "issue",
                    "event_type": "issue",
                    "user": self._hook_user(actor),
                    "project": self._hook_project(project),
                    "object_attributes": {**attributes, "action": action},
                    "labels": attributes["labels"],
                    "changes": changes or {},
                    "repository": self._hook_repository(project),
                    "assignees": [self._hook_user(u) for u in issue.assignees],
                }
            else:
                event = "Note Hook"
                (found,) = [n for n in issue.notes if n.id == note]
                payload = {
                    "object_kind": "note",
                    "event_type": "note",
                    "user": self._hook_user(actor),
                    "project_id": project.id,
                    "project": self._hook_project(project),
                    "object_attributes": {
                        "id": found.id,
                        "note": found.body,
                        "noteable_type": "Issue",
                        "author_id": found.author.id,
                        "created_at": found.created_at,
                        "updated_at": found.created_at,
                        "project_id": project.id,
                        "attachment": None,
                        "line_code": None,
                        "commit_id": "",
                        "noteable_id": issue.id,
                        "system": found.system,
                        "st_diff": None,
                        "internal": False,
                        "url": f"{attributes['url']}#note_{found.id}",
                        "action": action if action in ("create", "update") else "create",
                    },
                    "repository": self._hook_repository(project),
                    "issue": attributes,
                }
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Instance": self._web_root(),
            "X-Gitlab-Webhook-UUID": "2f1c6a3e-8b7d-4c5e-9a0f-1e2d3c4b5a69",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "Idempotency-Key": str(uuid.uuid4()),
        }
        if token is not None:
            headers["X-Gitlab-Token"] = token
        return headers, body

    @staticmethod
    def retry(headers: dict[str, str]) -> dict[str, str]:
        """The headers of GitLab's retry of a delivery (automatic, or "Resend request"): the
        same body and ``Idempotency-Key``, a new ``X-Gitlab-Event-UUID``."""
        return {**headers, "X-Gitlab-Event-UUID": str(uuid.uuid4())}

    def _hook_user(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "name": user.name,
            "username": user.username,
            "avatar_url": None,
            "email": "[REDACTED]",
        }

    def _hook_project(self, project: _Project) -> dict[str, Any]:
        web_url = f"{self._web_root()}/{project.path}"
        return {
            "id": project.id,
            "name": project.path.rsplit("/", 1)[-1],
            "description": None,
            "web_url": web_url,
            "avatar_url": None,
            "git_ssh_url": f"git@gitlab.example.com:{project.path}.git",
            "git_http_url": f"{web_url}.git",
            "namespace": project.path.rsplit("/", 1)[0],
            "visibility_level": 0,
            "path_with_namespace": project.path,
            "default_branch": "main",
            "ci_config_path": None,
            "homepage": web_url,
            "url": f"git@gitlab.example.com:{project.path}.git",
            "ssh_url": f"git@gitlab.example.com:{project.path}.git",
            "http_url": f"{web_url}.git",
        }

    def _hook_repository(self, project: _Project) -> dict[str, Any]:
        web_url = f"{self._web_root()}/{project.path}"
        return {
            "name": project.path.rsplit("/", 1)[-1],
            "url": f"git@gitlab.example.com:{project.path}.git",
            "description": None,
            "homepage": web_url,
        }

    def _hook_issue(self, project: _Project, issue: _Issue) -> dict[str, Any]:
        """The issue as hooks carry it (`object_attributes` of an Issue Hook, a Note Hook's
        `issue`): label objects, not names; `state` as the API says it."""
        return {
            "author_id": issue.author.id,
            "closed_at": issue.closed_at,
            "confidential": False,
            "created_at": issue.created_at,
            "description": issue.description,
            "discussion_locked": None,
            "due_date": None,
            "id": issue.id,
            "iid": issue.iid,
            "last_edited_at": None,
            "last_edited_by_id": None,
            "milestone_id": None,
            "moved_to_id": None,
            "duplicated_to_id": None,
            "project_id": project.id,
            "relative_position": None,
            "state_id": 1 if issue.state == "opened" else 2,
            "time_estimate": 0,
            "title": issue.title,
            "updated_at": issue.updated_at,
            "updated_by_id": None,
            "weight": None,
            "url": f"{self._web_root()}/{project.path}/-/issues/{issue.iid}",
            "total_time_spent": 0,
            "assignee_ids": [u.id for u in issue.assignees],
            "assignee_id": issue.assignees[0].id if issue.assignees else None,
            "labels": [
                {
                    "id": 7000 + index,
                    "title": label,
                    "color": "#dc143c",
                    "project_id": project.id,
                    "created_at": issue.created_at,
                    "updated_at": issue.created_at,
                    "template": False,
                    "description": None,
                    "type": "ProjectLabel",
                    "group_id": None,
                }
                for index, label in enumerate(issue.labels)
            ],
            "state": issue.state,
            "severity": "unknown",
        }

    # -- the server --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        # GitLab routes on the encoded path: `group%2Fproject` is one segment, `group/project`
        # is not a project id. WSGI decodes PATH_INFO, so read the path as it was sent.
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        raw_path = raw.split("?", 1)[0]
        token = request.headers.get("PRIVATE-TOKEN")
        body: Any = None
        hold = 0.0
        with self._lock:
            try:
                if request.data:
                    try:
                        body = json.loads(request.data)
                    except ValueError as error:
                        raise _Answer(400, {"error": "body is not valid JSON"}) from error
                response, hold = self._answer(request, raw_path, token, body)
            except _Answer as answer:
                response = self._error(answer)
            self._limit_headers(token, response)
            self.requests.append(
                RecordedRequest(
                    request.method,
                    raw_path,
                    {k: request.args.getlist(k) for k in request.args},
                    body,
                    response.status_code,
                    token,
                )
            )
        if hold:
            self._stopping.wait(hold)
        return response(environ, start_response)

    @staticmethod
    def _error(answer: _Answer) -> Response:
        if answer.text is not None:
            return Response(
                answer.text, answer.status, headers=answer.headers, content_type="text/plain"
            )
        return Response(
            json.dumps(answer.payload),
            answer.status,
            headers=answer.headers,
            content_type="application/json",
        )

    def _window(self) -> int:
        return int(self.clock.now()) // 60 * 60

    def _limit_headers(self, token: str | None, response: Response) -> None:
        if token not in self._tokens:
            return
        window = self._window()
        observed = self._observed.get((token, window), 0)
        reset = window + 60
        response.headers.setdefault("RateLimit-Limit", str(self.requests_per_minute))
        response.headers.setdefault("RateLimit-Observed", str(observed))
        response.headers.setdefault(
            "RateLimit-Remaining", str(max(self.requests_per_minute - observed, 0))
        )
        response.headers.setdefault("RateLimit-Reset", str(reset))
        response.headers.setdefault(
            "RateLimit-ResetTime", format_datetime(datetime.fromtimestamp(reset, UTC), usegmt=True)
        )

    def _throttle(self, token: str) -> None:
        """Rack::Attack's authenticated API throttle: a plain-text 429 once the minute's
        requests are spent, with the wait until the window resets."""
        window = self._window()
        observed = self._observed.get((token, window), 0) + 1
        self._observed[(token, window)] = observed
        if observed > self.requests_per_minute:
            now = self.clock.now()
            raise _Answer(
                429,
                None,
                {
                    "Retry-After": str(max(int(window + 60 - now), 1)),
                    "RateLimit-Name": "throttle_authenticated_api",
                },
                text="Retry later\n",
            )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for index, (fault, wanted_method, suffix) in enumerate(self._faults):
            if wanted_method in ("*", method) and (suffix == "*" or path.endswith(suffix)):
                del self._faults[index]
                return fault
        return None

    def _answer(
        self, request: Request, raw_path: str, token: str | None, body: Any
    ) -> tuple[Response, float]:
        """The answer, and how long to hold it (outside the lock, so others are served)."""
        if not raw_path.startswith(self.prefix + "/"):
            raise _Answer(404, {"error": "404 Not Found"})
        if token not in self._tokens:
            raise _Answer(401, {"message": "401 Unauthorized"})
        assert token is not None
        self._throttle(token)
        user, scopes = self._tokens[token]
        segments = raw_path[len(self.prefix) + 1 :].split("/")
        fault = self._take_fault(request.method, urllib.parse.unquote(raw_path))
        if isinstance(fault, ServerError):
            raise _Answer(fault.status, {"message": f"{fault.status} Bad Gateway"})
        if isinstance(fault, RateLimited):
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            message = "This endpoint has been requested too many times. Try again later."
            raise _Answer(429, {"message": message}, headers)
        user_only = segments in (["user"], ["users"]) and _READ_USER in scopes
        if request.method == "GET" and not scopes & {_READ, _WRITE} and not user_only:
            raise _Answer(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api read_api",
                },
            )
        if request.method != "GET" and _WRITE not in scopes:
            raise _Answer(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api",
                },
            )
        params = {k: request.args.getlist(k) for k in request.args}
        response = self._route(request, segments, user, params, body)
        if isinstance(fault, ServerErrorAfterSuccess):
            raise _Answer(fault.status, {"message": f"{fault.status} Bad Gateway"})
        return response, fault.delay_seconds if isinstance(fault, TimeoutAfterSuccess) else 0.0

    def _route(
        self,
        request: Request,
        segments: list[str],
        user: _User,
        params: dict[str, list[str]],
        body: Any,
    ) -> Response:
        match request.method, segments:
            case "GET", ["user"]:
                self._only(params, body, ())
                return self._json(self._user_json(user))
            case "GET", ["users"]:
                self._only(params, body, ("username", "page", "per_page"))
                wanted = _one(params, "username")
                found = self._users.get(wanted.lower()) if wanted else None
                return self._json([self._user_json(found)] if found else [])
            case "GET", ["projects", project_id, "members", "all", user_id]:
                project = self._project(project_id, user)
                self._only(params, body, ())
                return self._json(self._member_json(project, user_id))
            case "GET", ["projects", project_id, "issues"]:
                project = self._project(project_id, user)
                return self._list_issues(request, project, params, body)
            case "POST", ["projects", project_id, "issues"]:
                project = self._project(project_id, user)
                return self._create_issue(project, user, params, body)
            case "GET", ["projects", project_id, "issues", iid]:
                project = self._project(project_id, user)
                self._only(params, body, ())
                return self._json(self._issue_json(project, self._issue(project, iid)))
            case "PUT", ["projects", project_id, "issues", iid]:
                project = self._project(project_id, user)
                return self._edit_issue(project, self._issue(project, iid), user, params, body)
            case "GET", ["projects", project_id, "issues", iid, "notes"]:
                project = self._project(project_id, user)
                issue = self._issue(project, iid)
                self._only(params, body, ("sort", "order_by", "page", "per_page"))
                notes = [self._note_json(n) for n in issue.notes]
                if _one(params, "sort", "desc") == "desc":
                    notes.reverse()
                return self._page(request, notes, params)
            case "POST", ["projects", project_id, "issues", iid, "notes"]:
                project = self._project(project_id, user)
                issue = self._issue(project, iid)
                fields = self._only(params, body, ("body",))
                text = fields.get("body")
                if not isinstance(text, str) or not text:
                    raise _Answer(400, {"error": "body is missing"})
                note = self._note(issue, user, text, system=False)
                return self._json(self._note_json(note), 201)
        raise _Answer(404, {"error": "404 Not Found"})

    # -- handlers ----------------------------------------------------------------------------

    @staticmethod
    def _only(params: dict[str, list[str]], body: Any, allowed: Iterable[str]) -> dict[str, Any]:
        """The request's fields (query and JSON body together), refusing any not declared."""
        fields: dict[str, Any] = {k: v[-1] for k, v in params.items()}
        if body is not None:
            if not isinstance(body, dict):
                raise _Answer(400, {"error": "body must be a JSON object"})
            fields.update(body)
        for name in fields:
            if name not in allowed:
                raise _Answer(400, {"error": f"{name} is not a parameter of this endpoint"})
        return fields

    def _project(self, project_id: str, user: _User) -> _Project:
        decoded = urllib.parse.unquote(project_id)
        project = next(
            (p for p in self._projects.values() if str(p.id) == decoded or p.path == decoded),
            None,
        )
        if project is None or user.id not in project.members:
            raise _not_found("Project Not Found")
        return project

    @staticmethod
    def _issue(project: _Project, iid: str) -> _Issue:
        if not iid.isdigit() or int(iid) not in project.issues:
            raise _not_found()
        return project.issues[int(iid)]

    def _now(self) -> str:
        stamp = datetime.fromtimestamp(self.clock.now(), UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _create(self, project: _Project, user: _User, title: str, description: str) -> _Issue:
        now = self._now()
        iid = max(project.issues, default=0) + 1
        issue = _Issue(self._new_id(), iid, project.id, title, description, user, now, now)
        project.issues[iid] = issue
        return issue

    def _note(self, issue: _Issue, user: _User, text: str, *, system: bool) -> _Note:
        note = _Note(self._new_id(), text, user, system, self._now())
        issue.notes.append(note)
        return note

    @staticmethod
    def _labels(value: Any) -> list[str]:
        """GitLab takes labels as a comma-separated string or an array of names."""
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _Answer(400, {"error": "labels is invalid"})
        return [n.strip() for n in names if n.strip()]

    def _assignees(self, value: Any) -> list[_User]:
        if not isinstance(value, list) or not all(isinstance(i, int) for i in value):
            raise _Answer(400, {"error": "assignee_ids is invalid"})
        by_id = {u.id: u for u in self._users.values()}
        return [by_id[i] for i in value if i in by_id]  # unknown ids are dropped, as GitLab does

    def _validate(self, title: Any, description: Any) -> None:
        errors: dict[str, list[str]] = {}
        if isinstance(title, str) and len(title) > MAX_TITLE:
            errors["title"] = [f"is too long (maximum is {MAX_TITLE} characters)"]
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            errors["description"] = [f"is too long (maximum is {MAX_DESCRIPTION} characters)"]
        if errors:
            raise _Answer(400, {"message": errors})

    def _create_issue(
        self, project: _Project, user: _User, params: dict[str, list[str]], body: Any
    ) -> Response:
        fields = self._only(params, body, ("title", "description", "labels", "assignee_ids"))
        title, description = fields.get("title"), fields.get("description", "")
        if not isinstance(title, str) or not title.strip():
            raise _Answer(400, {"error": "title is missing"})
        if not isinstance(description, str):
            raise _Answer(400, {"error": "description is invalid"})
        self._validate(title, description)
        labels = self._labels(fields["labels"]) if "labels" in fields else []
        assignees = self._assignees(fields["assignee_ids"]) if "assignee_ids" in fields else []
        issue = self._create(project, user, title, description)
        if project.members[user.id] >= _REPORTER:  # a guest's labels and assignees are dropped
            issue.labels = list(dict.fromkeys(labels))
            issue.assignees = assignees
        return self._json(self._issue_json(project, issue), 201)

    def _edit_issue(
        self,
        project: _Project,
        issue: _Issue,
        user: _User,
        params: dict[str, list[str]],
        body: Any,
    ) -> Response:
        allowed = (
            "title",
            "description",
            "state_event",
            "labels",
            "add_labels",
            "remove_labels",
            "assignee_ids",
        )
        fields = self._only(params, body, allowed)
        if not fields:
            raise _Answer(
                400,
                {
                    "error": f"{', '.join(allowed)} are missing, at least one parameter must "
                    "be provided"
                },
            )
        state_event = fields.get("state_event")
        if state_event is not None and state_event not in ("close", "reopen"):
            raise _Answer(400, {"error": "state_event does not have a valid value"})
        self._validate(fields.get("title"), fields.get("description"))
        may_triage = project.members[user.id] >= _REPORTER or issue.author.id == user.id
        if not may_triage:
            raise _Answer(403, {"message": "403 Forbidden"})
        if "title" in fields:
            issue.title = fields["title"]
        if "description" in fields and fields["description"] != issue.description:
            issue.description = fields["description"]
            self._note(issue, user, "changed the description", system=True)
        if state_event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by = "closed", self._now(), user
            self._note(issue, user, "closed", system=True)
        elif state_event == "reopen" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "opened", None, None
            self._note(issue, user, "reopened", system=True)
        if project.members[user.id] >= _REPORTER:
            before = list(issue.labels)
            if "labels" in fields:
                issue.labels = list(dict.fromkeys(self._labels(fields["labels"])))
            if "add_labels" in fields:
                issue.labels = list(
                    dict.fromkeys([*issue.labels, *self._labels(fields["add_labels"])])
                )
            if "remove_labels" in fields:
                gone = set(self._labels(fields["remove_labels"]))
                issue.labels = [label for label in issue.labels if label not in gone]
            added = [label for label in issue.labels if label not in before]
            if added:
                names = " ".join(f"~{label}" for label in added)
                self._note(issue, user, f"added {names} label", system=True)
            if "assignee_ids" in fields:
                issue.assignees = self._assignees(fields["assignee_ids"])
                if issue.assignees:
                    names = ", ".join(f"@{u.username}" for u in issue.assignees)
                    self._note(issue, user, f"assigned to {names}", system=True)
        issue.updated_at = self._now()
        return self._json(self._issue_json(project, issue))

    def _list_issues(
        self, request: Request, project: _Project, params: dict[str, list[str]], body: Any
    ) -> Response:
        allowed = (
            "state",
            "labels",
            "author_username",
            "search",
            "in",
            "created_after",
            "order_by",
            "sort",
            "page",
            "per_page",
        )
        fields = self._only(params, body, allowed)
        state = fields.get("state", "all")
        if state not in ("opened", "closed", "all"):
            raise _Answer(400, {"error": "state does not have a valid value"})
        order_by = fields.get("order_by", "created_at")
        if order_by not in ("created_at", "updated_at"):
            raise _Answer(400, {"error": "order_by does not have a valid value"})
        sort = fields.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise _Answer(400, {"error": "sort does not have a valid value"})
        scopes = fields.get("in", "title,description").split(",")
        if not set(scopes) <= {"title", "description"}:
            raise _Answer(400, {"error": "in does not have a valid value"})
        issues = list(project.issues.values())
        if state != "all":
            issues = [i for i in issues if i.state == state]
        if "labels" in fields:
            wanted = set(self._labels(fields["labels"]))
            issues = [i for i in issues if wanted <= set(i.labels)]
        if "author_username" in fields:
            author = fields["author_username"].lower()
            issues = [i for i in issues if i.author.username.lower() == author]
        if "created_after" in fields:
            try:
                after = datetime.fromisoformat(fields["created_after"].replace("Z", "+00:00"))
            except ValueError as error:
                raise _Answer(400, {"error": "created_after is invalid"}) from error
            issues = [i for i in issues if _stamp(i.created_at) >= after]
        words = [w.lower() for w in fields.get("search", "").split() if len(w) >= 3]
        if words:
            issues = [i for i in issues if self._matches(i, words, scopes)]
        issues.sort(key=lambda i: (getattr(i, order_by), i.id), reverse=sort == "desc")
        return self._page(request, [self._issue_json(project, i) for i in issues], params)

    def _matches(self, issue: _Issue, words: list[str], scopes: list[str]) -> bool:
        description = issue.description
        if not self.search_in_html_comments:
            description = _HTML_COMMENT.sub(" ", description)
        text = " ".join(
            [
                issue.title if "title" in scopes else "",
                description if "description" in scopes else "",
            ]
        ).lower()
        return all(word in text for word in words)

    # -- answers -----------------------------------------------------------------------------

    def _page(
        self, request: Request, items: list[dict[str, Any]], params: dict[str, list[str]]
    ) -> Response:
        page = _positive(params, "page", 1)
        per_page = min(_positive(params, "per_page", 20), MAX_PER_PAGE)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-total": str(len(items)),
            "x-total-pages": str(pages),
            "x-next-page": str(page + 1) if page < pages else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
        }
        links = []
        base = f"{self.base_url}{request.path[len(self.prefix) :]}"

        def link(number: int, rel: str) -> str:
            query = {k: v[-1] for k, v in params.items()} | {"page": str(number)}
            return f'<{base}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < pages:
            links.append(link(page + 1, "next"))
        links += [link(1, "first"), link(pages, "last")]
        headers["Link"] = ", ".join(links)
        return self._json(chunk, headers=headers)

    @staticmethod
    def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(
            json.dumps(payload), status, headers=headers, content_type="application/json"
        )

    def _user_json(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self._web_root()}/{user.username}",
            "bot": user.bot,
        }

    def _member_json(self, project: _Project, user_id: str) -> dict[str, Any]:
        level = project.members.get(int(user_id)) if user_id.isdigit() else None
        member = next((u for u in self._users.values() if str(u.id) == user_id), None)
        if level is None or member is None:
            raise _not_found()
        return {
            **self._user_json(member),
            "access_level": level,
            "created_at": "2026-01-05T09:00:00.000Z",
            "expires_at": None,
            "membership_state": "active",
        }

    def _web_root(self) -> str:
        return self.base_url.removesuffix("/api/v4")

    def _note_json(self, note: _Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self._user_json(note.author),
            "created_at": note.created_at,
            "updated_at": note.created_at,
            "system": note.system,
            "noteable_type": "Issue",
            "internal": False,
            "confidential": False,
            "resolvable": False,
        }

    def _issue_json(self, project: _Project, issue: _Issue) -> dict[str, Any]:
        assignees = [self._user_json(u) for u in issue.assignees]
        web_url = f"{self._web_root()}/{project.path}/-/issues/{issue.iid}"
        return {
            "id": issue.id,
            "iid": issue.iid,
            "project_id": project.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "closed_by": self._user_json(issue.closed_by) if issue.closed_by else None,
            "labels": list(issue.labels),
            "milestone": None,
            "assignees": assignees,
            "assignee": assignees[0] if assignees else None,
            "author": self._user_json(issue.author),
            "type": "ISSUE",
            "issue_type": "issue",
            "user_notes_count": sum(1 for n in issue.notes if not n.system),
            "merge_requests_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": False,
            "discussion_locked": None,
            "web_url": web_url,
            "references": {
                "short": f"#{issue.iid}",
                "relative": f"#{issue.iid}",
                "full": f"{project.path}#{issue.iid}",
            },
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
        }


def _one(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name)
    return values[-1] if values else default


def _positive(params: dict[str, list[str]], name: str, default: int) -> int:
    value = _one(params, name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise _Answer(400, {"error": f"{name} is invalid"})
    return int(value)


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
