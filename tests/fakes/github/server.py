"""The GitHub fake as one module, until it is split along its concerns."""

import contextlib
import fnmatch
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from pipeline.local.host import SimulatedClock

COPILOT_ASSIGNEE = "copilot-swe-agent[bot]"
"""The login to send to assign the Copilot coding agent; GitHub reports it back as ``Copilot``."""

_COPILOT_LOGINS = {COPILOT_ASSIGNEE, "copilot"}
_WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
_DOCS = "https://docs.github.com/rest"
_PRIMARY_DOCS = f"{_DOCS}/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
_SECONDARY_DOCS = f"{_DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
_TROUBLESHOOTING = f"{_DOCS}/using-the-rest-api/troubleshooting-the-rest-api"
_HTML = "https://github.com"

# Validation limits. "title is too long (maximum is 256 characters)" and "body is too long
# (maximum is 65536 characters)": https://github.com/dead-claudia/github-limits (README, "Issue
# title", "Issue description"), with the error bodies GitHub sent in
# https://github.com/DavyJonesLocker/party_foul/pull/122 (title) and
# https://github.com/oke-py/npm-audit-action/issues/170 (body). GitHub was measured accepting
# more (1,024-byte titles, 262,144-byte comments: https://github.com/dead-claudia/github-limits/pull/7,
# https://github.com/objectstack-ai/objectstack/issues/18843) while its message names the
# character limits; a UTF-8 character is at most 4 bytes, so refusing past the character limits
# is never more lenient than the byte limits GitHub enforces.
TITLE_LIMIT = 256
BODY_LIMIT = 65_536
# "name is too long (maximum is 50 characters)": https://github.com/github/docs/issues/32156
LABEL_NAME_LIMIT = 50

# Repository roles, least to most access:
# https://docs.github.com/organizations/managing-access-to-your-organizations-repositories/repository-roles-for-an-organization
ROLES = ("read", "triage", "write", "maintain", "admin")
_TOKEN_LEVELS = ("none", "read", "write")  # a fine-grained permission's levels
_MUST_HAVE_ADMIN = "Must have admin rights to Repository."
_DEFAULT_LABELS = (  # what GitHub puts in every new repository
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
_STATE_REASONS = {"completed", "not_planned", "duplicate", "reopened"}
_AGENT_ASSIGNMENT_KEYS = {
    "target_repo",
    "base_branch",
    "custom_instructions",
    "custom_agent",
    "model",
}
_WORD = re.compile(r"[a-z0-9]+")
# One search term: optional "-", optional "qualifier:", then a quoted or bare value.
_SEARCH_TERM = re.compile(r'(-?)(?:([A-Za-z_-]+):)?(?:"([^"]*)"|(\S+))')


class FakeClock:
    """The fake's clock (epoch seconds) for timestamps, rate-limit windows and search lag.

    It runs with real time by default, because the clients under test wait in real time (a
    Durable timer, an activity's retry back-off); tests jump it forward with ``advance``. Pass
    ``running=False`` for a clock that moves only when advanced.
    """

    def __init__(self, start: float | None = None, *, running: bool = True) -> None:
        self._start = float(int(time.time())) if start is None else start
        self._offset = 0.0
        self._origin = time.monotonic() if running else None
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            elapsed = 0.0 if self._origin is None else time.monotonic() - self._origin
            return self._start + self._offset + elapsed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class SimulatedSeconds(FakeClock):
    """The fake on a local run's simulated clock: GitHub's waits pass as the workflows' Durable
    timers do, when the driver moves the clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(running=False)
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()

    def advance(self, seconds: float) -> None:
        self._clock.advance(timedelta(seconds=seconds))


@dataclass(frozen=True)
class ServerError:
    """Answer with this 5xx status without touching state."""

    status: int = 502


@dataclass(frozen=True)
class SecondaryRateLimit:
    """Answer 403/429 with the secondary-limit message; ``retry_after=None`` omits the header.

    Either way the token must then wait (``retry_after`` seconds, else at least a minute) before
    any request succeeds: https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
    "Exceeding the rate limit".
    """

    retry_after: int | None = 60
    status: int = 403


@dataclass(frozen=True)
class Abuse:
    """The older "abuse detection mechanism" 403, which GitHub still sends on some paths."""

    retry_after: int | None = 60


@dataclass(frozen=True)
class TimeoutAfterSuccess:
    """Perform the request, then hold the response this long (past the client's timeout).

    GitHub ends a request that takes more than 10 s with a "Server Error" timeout although the
    work may complete (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api
    "Timeouts"; duplicates after 5xx: https://github.com/getsentry/junior/pull/687).
    """

    delay_seconds: float = 2.0


@dataclass(frozen=True)
class ServerErrorAfterSuccess:
    """Perform the request, then answer this 5xx as if it had failed (same sources as above)."""

    status: int = 502


@dataclass(frozen=True)
class LandsLater:
    """Accept a write but apply it only ``after_seconds`` later on the fake's clock.

    The client sees ``status`` at once, or with ``status=None`` a response held ``hold_seconds``
    (past its timeout) and then a 504. A retry that looks before then (list, get, search) does
    not see the write; it appears afterwards anyway. Replica lag on the list endpoint itself:
    https://github.com/max-sixty/tend/pull/345.
    """

    after_seconds: float = 30.0
    status: int | None = 504
    hold_seconds: float = 2.0


Fault = (
    ServerError
    | SecondaryRateLimit
    | Abuse
    | TimeoutAfterSuccess
    | ServerErrorAfterSuccess
    | LandsLater
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it, with the status it answered (or would have)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    token: str | None
    fault: Fault | None = None

    @property
    def is_write(self) -> bool:
        return self.method in _WRITE_METHODS


# ---------------------------------------------------------------------------------------------
# State


@dataclass(frozen=True)
class _User:
    login: str
    id: int
    type: str = "User"
    html_url: str | None = None

    @property
    def node_id(self) -> str:
        return ("BOT_kgDO" if self.type == "Bot" else "U_kgDO") + f"{self.id:08d}"


_COPILOT = _User("Copilot", 198982749, "Bot", f"{_HTML}/apps/copilot-swe-agent")


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool = False


@dataclass
class _Comment:
    id: int
    body: str
    user: _User
    created_at: float
    updated_at: float


@dataclass
class _Snapshot:
    """What the search index holds for an issue, searchable from clock time ``visible_from``."""

    visible_from: float
    issue: dict[str, Any]
    comments: list[str]


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: _User
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    duplicate_of: int | None = None
    closed_at: float | None = None
    closed_by: _User | None = None
    labels: list[_Label] = field(default_factory=list)
    assignees: list[_User] = field(default_factory=list)
    comments: list[_Comment] = field(default_factory=list)
    agent_assignment: dict[str, Any] | None = None
    index: list[_Snapshot] = field(default_factory=list)


@dataclass
class _Repository:
    owner: str
    name: str
    id: int
    issues: dict[int, _Issue] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)  # keyed by lower-case name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Budget:
    """A primary rate-limit window for one token (or anonymous caller) and resource."""

    limit: int
    reset_at: float
    used: int = 0


@dataclass
class _Access:
    """What a token may do: its user's repository role and its fine-grained ``issues`` level."""

    role: str = "write"
    issues: str = "write"
    app: bool = False  # an App installation token ("by integration") rather than a PAT

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class _Penalty:
    """A token told to wait by a secondary limit: refused until ``until`` on the fake's clock.
    ``told_at`` is when (on the machine's monotonic clock) the answer that told it left."""

    since: float
    until: float
    status: int
    with_retry_after: bool
    told_at: float


@dataclass(frozen=True)
class Violation:
    """A request a token sent while GitHub had told it to wait."""

    method: str
    path: str
    at: float
    waited_seconds: float
    told_to_wait_seconds: float


@dataclass(frozen=True)
class _PendingFault:
    fault: Fault
    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method.upper()) and fnmatch.fnmatchcase(
            path, self.path
        )


@dataclass
class _Call:
    """One authenticated request being handled."""

    request: Request
    token: str
    actor: _User
    api_version: str
    access: _Access
    body: Any = None


_Result = tuple[int, Any, dict[str, str]]  # status, JSON payload, extra headers


class _ApiError(Exception):
    """An error answer in GitHub's ``{"message", "documentation_url", "status"}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        documentation_url: str = _DOCS,
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


def _not_found() -> _ApiError:
    return _ApiError(404, "Not Found")


def _invalid(resource: str, field_name: str, code: str = "invalid", **extra: Any) -> _ApiError:
    return _ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": resource, "field": field_name, "code": code, **extra}],
    )


def _too_long(resource: str, field_name: str, limit: int, code: str = "custom") -> _ApiError:
    """GitHub's 422 for an over-long field (sources at ``TITLE_LIMIT``)."""
    what = "Body" if resource == "IssueComment" else field_name
    return _invalid(
        resource, field_name, code, message=f"{what} is too long (maximum is {limit} characters)"
    )


def _check_title(title: str) -> None:
    if len(title) > TITLE_LIMIT:
        raise _too_long("Issue", "title", TITLE_LIMIT)


def _check_body(body: str | None) -> None:
    if body is not None and len(body) > BODY_LIMIT:
        raise _too_long("Issue", "body", BODY_LIMIT)


def _check_label_names(names: Iterable[str]) -> None:
    """A label over 50 characters on an issue: ``{"value", "resource": "Label", "field": "name",
    "code": "invalid"}`` (https://github.com/gitalk/gitalk/issues/101 on create,
    https://github.com/semantic-release/github/issues/518 on adding labels)."""
    for name in names:
        if len(name) > LABEL_NAME_LIMIT:
            raise _ApiError(
                422,
                "Validation Failed",
                f"{_DOCS}/issues/issues#create-an-issue",
                errors=[{"value": name, "resource": "Label", "field": "name", "code": "invalid"}],
            )


def _cannot_create_labels() -> _ApiError:
    """Applying a label that does not exist yet without the right to create labels.

    https://github.com/Songmu/tagpr/pull/194, https://github.com/wolfi-dev/os/pull/49539; on
    issue create without push access: https://github.com/orgs/community/discussions/197408.
    """
    return _ApiError(
        403,
        "You do not have permission to create labels on this repository.",
        f"{_DOCS}/issues/labels#add-labels-to-an-issue",
        errors=[{"resource": "Repository", "field": "label", "code": "unauthorized"}],
    )


def _timestamp(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _contains_phrase(haystack: list[str], phrase: list[str]) -> bool:
    """GitHub search matches words, not characters: punctuation in a phrase is ignored."""
    n = len(phrase)
    return n == 0 or any(haystack[i : i + n] == phrase for i in range(len(haystack) - n + 1))


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json; charset=utf-8",
    )


_ROUTES = Map(
    [
        Rule("/repos/<owner>/<repo>/issues", endpoint="issues", methods=["GET", "POST"]),
        Rule(
            "/repos/<owner>/<repo>/issues/<int:number>", endpoint="issue", methods=["GET", "PATCH"]
        ),
        Rule(
            "/repos/<owner>/<repo>/issues/<int:number>/comments",
            endpoint="comments",
            methods=["GET", "POST"],
        ),
        Rule(
            "/repos/<owner>/<repo>/issues/<int:number>/labels",
            endpoint="issue_labels",
            methods=["GET", "POST", "PUT"],
        ),
        Rule(
            "/repos/<owner>/<repo>/issues/<int:number>/labels/<path:name>",
            endpoint="issue_label",
            methods=["DELETE"],
        ),
        Rule(
            "/repos/<owner>/<repo>/issues/<int:number>/assignees",
            endpoint="assignees",
            methods=["POST", "DELETE"],
        ),
        Rule("/repos/<owner>/<repo>/labels", endpoint="labels", methods=["GET", "POST"]),
        Rule("/repos/<owner>/<repo>/labels/<path:name>", endpoint="label", methods=["GET"]),
        Rule("/search/issues", endpoint="search", methods=["GET"]),
        Rule("/user", endpoint="user", methods=["GET"]),
        Rule("/graphql", endpoint="graphql", methods=["POST"]),
    ],
    strict_slashes=False,
)


class GitHubFake:
    """Plain-HTTP GitHub REST server on 127.0.0.1 for ``GitHub(TokenAuthStrategy(t), base_url=)``.

    ``user_token`` acts as ``user_login`` (a fine-grained PAT: may assign Copilot);
    ``app_token`` acts as ``app_login`` (an App installation token: may not). Both have write
    access and the ``issues: write`` permission until ``set_access`` says otherwise;
    ``add_token`` makes more. Time comes from ``clock``; nothing sleeps except responses that a
    fault holds past the client's timeout.

    Rate limits: ``core_limit``/``search_limit`` per window (``primary_status`` 403 or 429);
    ``secondary_per_minute``/``secondary_per_hour`` content-creating requests, answered with
    ``retry-after`` while ``secondary_retry_after`` is true and without it otherwise. Search sees
    a write ``search_lag`` seconds after it happened.
    """

    base_url: str

    def __init__(
        self,
        *,
        user_login: str = "faultline-maintainer",
        app_login: str = "faultline[bot]",
        clock: FakeClock | None = None,
        core_limit: int = 5000,
        search_limit: int = 30,
        secondary_per_minute: int = 80,
        secondary_per_hour: int = 500,
        secondary_retry_after: bool = True,
        primary_status: int = 403,
        search_lag: float = 30.0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.core_limit = core_limit
        self.search_limit = search_limit
        self.secondary_per_minute = secondary_per_minute
        self.secondary_per_hour = secondary_per_hour
        self.secondary_retry_after = secondary_retry_after
        self.primary_status = primary_status
        self.search_lag = search_lag
        self.user_token = "github_pat_fake_" + uuid.uuid4().hex
        self.app_token = "ghs_fake_" + uuid.uuid4().hex
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self._next_id = 1_000_000
        self._user = _User(user_login, self._new_id())
        self._app = _User(
            app_login, self._new_id(), "Bot", f"{_HTML}/apps/{app_login.removesuffix('[bot]')}"
        )
        self._actors = {self.user_token: self._user, self.app_token: self._app}
        self._access = {self.user_token: _Access(), self.app_token: _Access(app=True)}
        self._users: dict[str, _User] = {user_login.lower(): self._user}
        self._repos: dict[str, _Repository] = {}
        self._faults: list[_PendingFault] = []
        self._budgets: dict[tuple[str, str], _Budget] = {}
        self._writes: dict[str, deque[float]] = {}
        self._penalties: dict[str, _Penalty] = {}
        self._late: list[tuple[float, _Call, str, dict[str, Any]]] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="github-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()  # releases responses held by TimeoutAfterSuccess
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # -- set-up and inspection ------------------------------------------------------------

    def add_repository(self, owner: str, name: str) -> None:
        """Create a repository with GitHub's default labels; ``user_login`` may push to it."""
        with self._lock:
            repo = _Repository(owner, name, self._new_id())
            for label_name, color, description in _DEFAULT_LABELS:
                repo.labels[label_name] = _Label(
                    self._new_id(), label_name, color, description, default=True
                )
            self._repos[f"{owner}/{name}".lower()] = repo

    def add_user(self, login: str) -> None:
        """Make ``login`` a collaborator, so it may be assigned (others are dropped silently)."""
        with self._lock:
            self._users.setdefault(login.lower(), _User(login, self._new_id()))

    def set_access(self, token: str, *, role: str | None = None, issues: str | None = None) -> None:
        """Change what ``token`` may do: its user's repository ``role`` (one of ``ROLES``) and
        its fine-grained ``issues`` permission (``none``, ``read`` or ``write``)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        if issues is not None and issues not in _TOKEN_LEVELS:
            raise ValueError(f"issues must be one of {_TOKEN_LEVELS}, not {issues!r}")
        with self._lock:
            access = self._access[token]
            access.role = role or access.role
            access.issues = issues or access.issues

    def add_token(
        self, login: str, *, role: str = "read", issues: str = "write", app: bool = False
    ) -> str:
        """A new token acting as ``login`` (a PAT, or an App installation token if ``app``)."""
        token = ("ghs_fake_" if app else "github_pat_fake_") + uuid.uuid4().hex
        with self._lock:
            user = _User(login, self._new_id(), "Bot" if app else "User")
            self._actors[token] = user
            self._access[token] = _Access(app=app)
        self.set_access(token, role=role, issues=issues)
        return token

    def seed_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str | None = None,
        *,
        labels: Sequence[str] = (),
        state: str = "open",
    ) -> int:
        """Create an issue as it would exist before the test (already indexed for search)."""
        with self._lock:
            repository = self._repository(owner, repo)
            issue = self._new_issue(repository, title, body, self._user)
            issue.labels = self._labels_for(repository, labels)
            if state == "closed":
                issue.state, issue.state_reason = "closed", "completed"
                issue.closed_at, issue.closed_by = issue.created_at, self._user
            self._reindex(repository, issue, visible_from=float("-inf"))
            return issue.number

    def fail_next(self, fault: Fault, *, method: str = "*", path: str = "*") -> None:
        """Queue a fault for the next request whose method and path match these globs.

        Each request consumes the oldest matching fault; non-matching ones stay queued.
        """
        with self._lock:
            self._faults.append(_PendingFault(fault, method, path))

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """Every issue in the repository, by number, as plain data for assertions.

        Writes that ``LandsLater`` delays are not here until their time on the clock has come.
        """
        with self._lock:
            self._apply_late_writes()
            repository = self._repository(owner, repo)
            return [
                {
                    "number": issue.number,
                    "title": issue.title,
                    "body": issue.body,
                    "state": issue.state,
                    "state_reason": issue.state_reason,
                    "duplicate_of": issue.duplicate_of,
                    "labels": [label.name for label in issue.labels],
                    "assignees": [user.login for user in issue.assignees],
                    "comments": [comment.body for comment in issue.comments],
                    "author": issue.user.login,
                    "agent_assignment": issue.agent_assignment,
                }
                for issue in sorted(repository.issues.values(), key=lambda i: i.number)
            ]

    def labels(self, owner: str, repo: str) -> list[str]:
        """Names of the repository's labels, including ones auto-created on first use."""
        with self._lock:
            return sorted(label.name for label in self._repository(owner, repo).labels.values())

    def calls(self, method: str = "*", path: str = "*") -> list[RecordedRequest]:
        """Recorded requests whose method and path match these globs."""
        with self._lock:
            return [
                r
                for r in self.requests
                if fnmatch.fnmatchcase(r.method, method.upper())
                and fnmatch.fnmatchcase(r.path, path)
            ]

    # -- HTTP plumbing --------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        token = _token(request.headers.get("Authorization", ""))
        with self._lock:
            self._apply_late_writes()
            response, fault = self._respond(request, token, arrived)
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.args.items()),
                    _json_or_none(request),
                    response.status_code,
                    token,
                    fault,
                )
            )
        if isinstance(fault, TimeoutAfterSuccess):
            self._stopping.wait(fault.delay_seconds)
        elif isinstance(fault, LandsLater) and fault.status is None:
            self._stopping.wait(fault.hold_seconds)
        return response(environ, start_response)

    def _respond(
        self, request: Request, token: str | None, arrived: float
    ) -> tuple[Response, Fault | None]:
        actor = self._actors.get(token or "")
        if actor is None or token is None:
            message = "Bad credentials" if token else "Requires authentication"
            return self._error(_ApiError(401, message), self._rate_headers("", "core")), None
        resource = (
            "search"
            if request.path.startswith("/search/")
            else "graphql"
            if request.path == "/graphql"
            else "core"
        )
        headers = self._rate_headers(token, resource)
        try:
            endpoint, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException:
            return self._error(_not_found(), headers), None
        budget = self._budget(token, resource)
        if budget.used >= budget.limit:
            # 403 or 429 with x-ratelimit-remaining 0; wait for x-ratelimit-reset (_PRIMARY_DOCS).
            owner = "installation" if self._access[token].app else "user"
            error = _ApiError(
                self.primary_status,
                f"API rate limit exceeded for {owner} ID {actor.id}. If you reach out to GitHub"
                " Support for help, please include the request ID"
                f" {headers['x-github-request-id']}.",
                _PRIMARY_DOCS,
            )
            return self._error(error, headers), None
        budget.used += 1
        headers = self._rate_headers(token, resource)
        told_to_wait = self._penalty(token, request, headers, arrived)
        if told_to_wait is not None:
            return self._error(told_to_wait, headers), None
        fault = self._take_fault(request.method, request.path)
        if isinstance(fault, SecondaryRateLimit | Abuse | ServerError):
            error = _fault_error(fault, headers)
            if not isinstance(fault, ServerError):
                self._penalise(token, fault.retry_after, error.status)
            return self._error(error, headers), fault
        access = self._access[token]
        try:
            _check_token_permission(access, endpoint, request.method)
            if request.method in _WRITE_METHODS and endpoint != "graphql":
                self._count_write(token, headers)
            call = _Call(
                request,
                token,
                actor,
                request.headers.get("X-GitHub-Api-Version", "2022-11-28"),
                access,
                _parse_body(request),
            )
            if isinstance(fault, LandsLater):
                if request.method in _WRITE_METHODS:
                    due = self.clock.now() + fault.after_seconds
                    self._late.append((due, call, endpoint, dict(args)))
                return self._error(_ApiError(fault.status or 504, "Server Error"), headers), fault
            status, payload, extra = self._dispatch(call, endpoint, dict(args))
        except _ApiError as error:
            return self._error(error, headers), fault
        if isinstance(fault, ServerErrorAfterSuccess):
            return self._error(_ApiError(fault.status, "Server Error"), headers), fault
        return _json_response(status, payload, {**headers, **extra}), fault

    @staticmethod
    def _error(error: _ApiError, headers: dict[str, str]) -> Response:
        return _json_response(error.status, error.payload, {**headers, **error.headers})

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for i, pending in enumerate(self._faults):
            if pending.matches(method, path):
                del self._faults[i]
                return pending.fault
        return None

    def _apply_late_writes(self) -> None:
        """Perform the ``LandsLater`` writes whose time has come, oldest first."""
        now = self.clock.now()
        due = sorted((w for w in self._late if w[0] <= now), key=lambda w: w[0])
        self._late = [w for w in self._late if w[0] > now]
        for _, call, endpoint, args in due:
            with contextlib.suppress(_ApiError):  # a failing write leaves nothing behind
                self._dispatch(call, endpoint, dict(args))

    def _penalise(self, token: str, retry_after: int | None, status: int, wait: int = 0) -> None:
        """After a secondary limit the token must wait ``retry_after`` seconds or, without the
        header, at least a minute (_SECONDARY_DOCS, "Exceeding the rate limit"); ``wait`` is
        how long its own window still refuses it, if longer."""
        now = self.clock.now()
        seconds = retry_after if retry_after is not None else max(wait, 60)
        current = self._penalties.get(token)
        if current is None or now + seconds > current.until:
            self._penalties[token] = _Penalty(
                now, now + seconds, status, retry_after is not None, time.monotonic()
            )

    def _penalty(
        self, token: str, request: Request, headers: dict[str, str], arrived: float
    ) -> _ApiError | None:
        """A token still told to wait is refused again. The request is recorded as a violation
        unless it arrived before the answer that told the token to wait had left (concurrent
        requests already on their way could not have known)."""
        penalty = self._penalties.get(token)
        now = self.clock.now()
        if penalty is None or now >= penalty.until:
            self._penalties.pop(token, None)
            return None
        if arrived > penalty.told_at:
            self.violations.append(
                Violation(
                    request.method,
                    request.path,
                    now,
                    now - penalty.since,
                    penalty.until - penalty.since,
                )
            )
        remaining = max(math.ceil(penalty.until - now), 1)
        return _fault_error(
            SecondaryRateLimit(remaining if penalty.with_retry_after else None, penalty.status),
            headers,
        )

    def _budget(self, token: str, resource: str) -> _Budget:
        """The token's current window; ``""`` is the anonymous caller (60 an hour)."""
        now = self.clock.now()
        if resource == "search":
            limit, window = (self.search_limit if token else 10), 60.0
        else:
            limit, window = (self.core_limit if token else 60), 3600.0
        budget = self._budgets.get((token, resource))
        if budget is None or now >= budget.reset_at:
            budget = _Budget(limit, now + window)
            self._budgets[(token, resource)] = budget
        budget.limit = limit  # tests may change the limits mid-way
        return budget

    def _rate_headers(self, token: str, resource: str) -> dict[str, str]:
        budget = self._budget(token, resource)
        return {
            "x-ratelimit-limit": str(budget.limit),
            "x-ratelimit-remaining": str(max(budget.limit - budget.used, 0)),
            "x-ratelimit-used": str(budget.used),
            "x-ratelimit-reset": str(math.ceil(budget.reset_at)),
            "x-ratelimit-resource": resource,
            "x-github-request-id": _request_id(),
        }

    def _count_write(self, token: str, headers: dict[str, str]) -> None:
        """Content-creating requests per minute and per hour, as GitHub's secondary limits
        (80 a minute, 500 an hour: _SECONDARY_DOCS); ``retry-after`` only while
        ``secondary_retry_after``, else the token must wait at least a minute."""
        now = self.clock.now()
        writes = self._writes.setdefault(token, deque())
        while writes and writes[0] <= now - 3600:
            writes.popleft()
        last_minute = [t for t in writes if t > now - 60]
        if len(last_minute) >= self.secondary_per_minute:
            wait = last_minute[-self.secondary_per_minute] + 60 - now
        elif len(writes) >= self.secondary_per_hour:
            wait = writes[-self.secondary_per_hour] + 3600 - now
        else:
            writes.append(now)
            return
        seconds = max(math.ceil(wait), 1)
        retry_after = seconds if self.secondary_retry_after else None
        error = _fault_error(SecondaryRateLimit(retry_after), headers)
        self._penalise(token, retry_after, error.status, seconds)
        raise error

    def _dispatch(self, call: _Call, endpoint: str, args: dict[str, Any]) -> _Result:
        if endpoint == "search":
            return self._search(call)
        if endpoint == "user":
            return self._authenticated_user(call)
        if endpoint == "graphql":
            return self._graphql_viewer(call)
        repository = self._repository(args.pop("owner"), args.pop("repo"))
        method = call.request.method
        match endpoint, method:
            case "issues", "GET":
                return self._list_issues(call, repository)
            case "issues", "POST":
                return self._create_issue(call, repository)
            case "issue", "GET":
                issue = self._issue(repository, args["number"])
                return 200, self._issue_json(call, repository, issue), {}
            case "issue", "PATCH":
                return self._update_issue(call, repository, self._issue(repository, args["number"]))
            case "comments", "GET":
                issue = self._issue(repository, args["number"])
                comments = [self._comment_json(repository, issue, c) for c in issue.comments]
                return self._paginate(call, comments)
            case "comments", "POST":
                return self._create_comment(
                    call, repository, self._issue(repository, args["number"])
                )
            case "issue_labels", _:
                issue = self._issue(repository, args["number"])
                return self._issue_labels(call, repository, issue)
            case "issue_label", "DELETE":
                issue = self._issue(repository, args["number"])
                return self._remove_label(call, repository, issue, args["name"])
            case "assignees", _:
                return self._change_assignees(
                    call, repository, self._issue(repository, args["number"])
                )
            case "labels", "GET":
                labels = sorted(repository.labels.values(), key=lambda label: label.name.lower())
                return self._paginate(call, [self._label_json(repository, x) for x in labels])
            case "labels", "POST":
                return self._create_label(call, repository)
            case "label", "GET":
                label = repository.labels.get(args["name"].lower())
                if label is None:
                    raise _not_found()
                return 200, self._label_json(repository, label), {}
        raise _not_found()

    # -- issues ---------------------------------------------------------------------------

    def _repository(self, owner: str, name: str) -> _Repository:
        repository = self._repos.get(f"{owner}/{name}".lower())
        if repository is None:
            raise _not_found()
        return repository

    @staticmethod
    def _issue(repository: _Repository, number: int) -> _Issue:
        issue = repository.issues.get(number)
        if issue is None:
            raise _not_found()
        return issue

    def _new_issue(
        self, repository: _Repository, title: str, body: str | None, user: _User
    ) -> _Issue:
        now = self.clock.now()
        number = len(repository.issues) + 1
        issue = _Issue(self._new_id(), number, title, body, user, now, now)
        repository.issues[number] = issue
        return issue

    def _create_issue(self, call: _Call, repository: _Repository) -> _Result:
        """Any user with pull access may create an issue; without push access its labels and
        assignees are "silently dropped" (https://docs.github.com/rest/issues/issues#create-an-issue),
        except that a label which does not exist yet is refused with 403
        (https://github.com/orgs/community/discussions/197408)."""
        body = _object_body(call)
        title = body.get("title")
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Issue", "title", "missing_field")
        _check_title(title)
        text = _optional_string(body, "body", "Issue")
        _check_body(text)
        names = _label_names(body.get("labels", []))
        _check_label_names(names)
        logins = _logins(body.get("assignees", []))
        if isinstance(body.get("assignee"), str):
            logins.append(body["assignee"])
        push = call.access.at_least("write")
        if not push:
            if any(name.lower() not in repository.labels for name in names):
                raise _cannot_create_labels()
            names, logins = [], []
        issue = self._new_issue(repository, title, text, call.actor)
        issue.labels = self._labels_for(repository, names)
        self._assign(call, issue, logins, body.get("agent_assignment") if push else None)
        self._reindex(repository, issue)
        payload = self._issue_json(call, repository, issue)
        return 201, payload, {"Location": payload["url"]}

    def _update_issue(self, call: _Call, repository: _Repository, issue: _Issue) -> _Result:
        """ "Issue owners and users with push access or Triage role can edit an issue"; others
        get 403 "Must have admin rights to Repository."
        (https://github.com/rmetzger/flink-community-tools/issues/12). Label and assignee
        changes without push access "are silently dropped"
        (https://docs.github.com/rest/issues/issues#update-an-issue)."""
        body = _object_body(call)
        if not call.access.at_least("triage") and issue.user != call.actor:
            raise _ApiError(403, _MUST_HAVE_ADMIN, f"{_DOCS}/issues/issues#update-an-issue")
        if "title" in body:
            if not isinstance(body["title"], str | int) or not str(body["title"]).strip():
                raise _invalid("Issue", "title")
            _check_title(str(body["title"]))
        if "body" in body:
            _check_body(_optional_string(body, "body", "Issue"))
        if "labels" in body:
            _check_label_names(_label_names(body["labels"]))
        push = call.access.at_least("write")
        if not push:
            body = {k: v for k, v in body.items() if k not in ("labels", "assignees", "assignee")}
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = _optional_string(body, "body", "Issue")
        reason = body.get("state_reason")
        if reason is not None and reason not in _STATE_REASONS:
            raise _invalid("Issue", "state_reason")
        if "duplicate_issue_id" in body:
            # "The ID of the issue that this issue is a duplicate of. Only used when state_reason
            # is duplicate." (https://docs.github.com/rest/issues/issues#update-an-issue)
            original = next(
                (i for i in repository.issues.values() if i.id == body["duplicate_issue_id"]),
                None,
            )
            if original is None or original is issue or reason != "duplicate":
                raise _invalid("Issue", "duplicate_issue_id")
            issue.duplicate_of = original.number
        if "state" in body:
            self._set_state(call, issue, body["state"], reason)
        elif reason is not None:
            issue.state_reason = reason
        if "labels" in body:
            issue.labels = self._labels_for(repository, _label_names(body["labels"]))
        if "assignees" in body:
            issue.assignees = []
            self._assign(call, issue, _logins(body["assignees"]), body.get("agent_assignment"))
        issue.updated_at = self.clock.now()
        self._reindex(repository, issue)
        return 200, self._issue_json(call, repository, issue), {}

    def _set_state(self, call: _Call, issue: _Issue, state: Any, reason: str | None) -> None:
        if state not in ("open", "closed"):
            raise _invalid("Issue", "state")
        if state == "closed":
            if issue.state != "closed":
                issue.closed_at, issue.closed_by = self.clock.now(), call.actor
            issue.state_reason = reason or "completed"
        elif issue.state == "closed":
            issue.closed_at, issue.closed_by = None, None
            issue.state_reason = "reopened"
        issue.state = state

    def _list_issues(self, call: _Call, repository: _Repository) -> _Result:
        args = call.request.args
        state = args.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("Issue", "state")
        wanted = {name.strip().lower() for name in args.get("labels", "").split(",") if name}
        sort = args.get("sort", "created")
        descending = args.get("direction", "desc") == "desc"
        issues = [
            issue
            for issue in repository.issues.values()
            if state in ("all", issue.state)
            and wanted <= {label.name.lower() for label in issue.labels}
        ]
        issues.sort(key=lambda i: _sort_key(i, sort), reverse=descending)
        return self._paginate(call, [self._issue_json(call, repository, i) for i in issues])

    # -- comments, labels, assignees ------------------------------------------------------

    def _create_comment(self, call: _Call, repository: _Repository, issue: _Issue) -> _Result:
        """Over 65,536 characters: ``{"resource": "IssueComment", "code": "unprocessable",
        "field": "data", "message": "Body is too long (maximum is 65536 characters)"}``, as GitHub
        answered in https://github.com/objectstack-ai/objectstack/issues/18843."""
        body = _object_body(call)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _invalid("IssueComment", "body", "missing_field")
        if len(text) > BODY_LIMIT:
            raise _too_long("IssueComment", "data", BODY_LIMIT, "unprocessable")
        now = self.clock.now()
        comment = _Comment(self._new_id(), text, call.actor, now, now)
        issue.comments.append(comment)
        issue.updated_at = now
        self._reindex(repository, issue)
        payload = self._comment_json(repository, issue, comment)
        return 201, payload, {"Location": payload["url"]}

    def _issue_labels(self, call: _Call, repository: _Repository, issue: _Issue) -> _Result:
        """Adding or setting labels needs the triage role
        (https://github.blog/changelog/2020-04-10-expanding-rest-api-support-for-triage-and-maintain-roles/);
        below it GitHub answers 403 "Must have admin rights to Repository."
        (https://github.com/amihaiemil/docker-java-api/issues/83). A label that does not exist
        yet needs the right to create labels, i.e. write (``_cannot_create_labels``)."""
        method = call.request.method
        if method != "GET":
            if not call.access.at_least("triage"):
                raise _ApiError(
                    403, _MUST_HAVE_ADMIN, f"{_DOCS}/issues/labels#add-labels-to-an-issue"
                )
            body = call.body
            names = _label_names(body.get("labels", []) if isinstance(body, dict) else body)
            _check_label_names(names)
            if not call.access.at_least("write") and any(
                name.lower() not in repository.labels for name in names
            ):
                raise _cannot_create_labels()
            added = self._labels_for(repository, names)
            if method == "PUT":
                issue.labels = added
            else:
                issue.labels += [x for x in added if x not in issue.labels]
            issue.updated_at = self.clock.now()
            self._reindex(repository, issue)
        return 200, [self._label_json(repository, x) for x in issue.labels], {}

    def _remove_label(
        self, call: _Call, repository: _Repository, issue: _Issue, name: str
    ) -> _Result:
        if not call.access.at_least("triage"):
            raise _ApiError(
                403, _MUST_HAVE_ADMIN, f"{_DOCS}/issues/labels#remove-a-label-from-an-issue"
            )
        remaining = [x for x in issue.labels if x.name.lower() != name.lower()]
        if len(remaining) == len(issue.labels):
            raise _ApiError(404, "Label does not exist")
        issue.labels = remaining
        issue.updated_at = self.clock.now()
        self._reindex(repository, issue)
        return 200, [self._label_json(repository, x) for x in issue.labels], {}

    def _change_assignees(self, call: _Call, repository: _Repository, issue: _Issue) -> _Result:
        """ "Only users with push access can add assignees to an issue. Assignees are silently
        ignored otherwise." (https://docs.github.com/rest/issues/assignees#add-assignees-to-an-issue)"""
        body = _object_body(call)
        logins = _logins(body.get("assignees", []))
        if call.request.method == "POST":
            if call.access.at_least("write"):
                self._assign(call, issue, logins, body.get("agent_assignment"))
            status = 201
        else:
            removed = {login.lower() for login in logins}
            if removed & _COPILOT_LOGINS:
                removed.add(_COPILOT.login.lower())
            issue.assignees = [u for u in issue.assignees if u.login.lower() not in removed]
            status = 200
        issue.updated_at = self.clock.now()
        self._reindex(repository, issue)
        return status, self._issue_json(call, repository, issue), {}

    def _assign(self, call: _Call, issue: _Issue, logins: list[str], agent_assignment: Any) -> None:
        """Add assignees as GitHub does: unknown logins, and Copilot for non-user tokens, vanish."""
        if agent_assignment is not None and not isinstance(agent_assignment, dict):
            raise _invalid("Issue", "agent_assignment")
        for login in logins:
            if login.lower() in _COPILOT_LOGINS:
                user = _COPILOT if call.token == self.user_token else None
            else:
                user = self._users.get(login.lower())
            if user is None or user in issue.assignees:
                continue
            issue.assignees.append(user)
            if user is _COPILOT:
                issue.agent_assignment = {
                    k: v for k, v in (agent_assignment or {}).items() if k in _AGENT_ASSIGNMENT_KEYS
                }

    def _labels_for(self, repository: _Repository, names: Iterable[str]) -> list[_Label]:
        """Look labels up by name, creating missing ones (grey, no description) like GitHub."""
        labels: list[_Label] = []
        for name in names:
            label = repository.labels.get(name.lower())
            if label is None:
                label = _Label(self._new_id(), name, "ededed", None)
                repository.labels[name.lower()] = label
            if label not in labels:
                labels.append(label)
        return labels

    def _create_label(self, call: _Call, repository: _Repository) -> _Result:
        """Creating a label needs write access; without it GitHub answers 404
        (https://github.com/yegor256/0pdd/issues/152). Names over 50 characters: 422 with
        "name is too long (maximum is 50 characters)" (https://github.com/github/docs/issues/32156)."""
        if not call.access.at_least("write"):
            raise _ApiError(404, "Not Found", f"{_DOCS}/issues/labels#create-a-label")
        body = _object_body(call)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid("Label", "name", "missing_field")
        if len(name) > LABEL_NAME_LIMIT:
            raise _too_long("Label", "name", LABEL_NAME_LIMIT)
        if name.lower() in repository.labels:
            raise _invalid("Label", "name", "already_exists")
        color = str(body.get("color") or "ededed").removeprefix("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise _invalid("Label", "color")
        label = _Label(self._new_id(), name, color.lower(), body.get("description"))
        repository.labels[name.lower()] = label
        payload = self._label_json(repository, label)
        return 201, payload, {"Location": payload["url"]}

    # -- search ---------------------------------------------------------------------------

    def _reindex(
        self, repository: _Repository, issue: _Issue, visible_from: float | None = None
    ) -> None:
        """Queue the issue's new state for the search index, ``search_lag`` seconds late.

        GitHub's search index trails writes by seconds to minutes while the repository's issue
        list does not: https://github.com/Tracer-Cloud/opensre/pull/5269 ("observed
        multi-second propagation lag"), https://github.com/guettli/agentloop/issues/204
        (minutes for a fresh label), https://github.com/mvanhorn/cli-printing-press/pull/2235
        ("tens of seconds (or longer under load)").
        """
        if visible_from is None:
            visible_from = self.clock.now() + self.search_lag
        document = self._issue_json(None, repository, issue)
        document["repository_full_name"] = repository.full_name
        issue.index.append(_Snapshot(visible_from, document, [c.body for c in issue.comments]))

    def _authenticated_user(self, call: _Call) -> _Result:
        """`GET /user` answers a personal access token; an App installation token is refused
        it (https://github.com/actions/create-github-app-token/issues/258)."""
        if call.access.app:
            raise _ApiError(
                403,
                "Resource not accessible by integration",
                "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )
        return 200, self._user_json(call.actor), {}

    def _graphql_viewer(self, call: _Call) -> _Result:
        """GraphQL answers `{ viewer { login } }` for every kind of token; nothing else is
        served, and GraphQL reports that as an error in a 200 answer."""
        query = call.body.get("query") if isinstance(call.body, dict) else None
        if not isinstance(query, str) or re.sub(r"\s+", "", query) not in (
            "{viewer{login}}",
            "query{viewer{login}}",
        ):
            message = "This fake serves only `{ viewer { login } }`"
            return 200, {"errors": [{"type": "UNSUPPORTED", "message": message}]}, {}
        return 200, {"data": {"viewer": {"login": call.actor.login}}}, {}

    def _search(self, call: _Call) -> _Result:
        now = self.clock.now()
        query = call.request.args.get("q", "")
        matches = _compile_query(query, self._repos)
        documents: list[_Snapshot] = []
        for repository in self._repos.values():
            for issue in repository.issues.values():
                visible = [s for s in issue.index if s.visible_from <= now]
                if visible and matches(visible[-1]):
                    documents.append(visible[-1])
        sort = call.request.args.get("sort", "")
        descending = call.request.args.get("order", "desc") == "desc"
        documents.sort(key=lambda s: _document_sort_key(s, sort), reverse=descending)
        items = []
        for snapshot in documents:
            item = {k: v for k, v in snapshot.issue.items() if k != "repository_full_name"}
            items.append({**item, "score": 1.0})
        status, page, headers = self._paginate(call, items)
        payload = {
            "total_count": len(items),
            "incomplete_results": False,
            "items": page,
            "search_type": "lexical",
        }
        return status, payload, headers

    # -- JSON -----------------------------------------------------------------------------

    def _paginate(self, call: _Call, items: list[Any]) -> _Result:
        """One page plus GitHub's ``Link`` header (absolute URLs, rel next/last/first/prev)."""
        args = call.request.args
        per_page = min(max(_int_arg(args.get("per_page"), 30), 1), 100)
        page = max(_int_arg(args.get("page"), 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        links = []

        def link(number: int, rel: str) -> str:
            query = {**args.to_dict(), "per_page": str(per_page), "page": str(number)}
            return f'<{call.request.base_url}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links += [link(min(page - 1, last), "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def _api(self) -> str:
        return self.base_url.rstrip("/")

    def _user_json(self, user: _User) -> dict[str, Any]:
        url = f"{self._api()}/users/{quote(user.login)}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": user.node_id,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": user.html_url or f"{_HTML}/{user.login}",
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

    def _label_json(self, repository: _Repository, label: _Label) -> dict[str, Any]:
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

    def _association(self, repository: _Repository, user: _User) -> str:
        if user.login.lower() == repository.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if self._users.get(user.login.lower()) == user else "NONE"

    def _issue_json(
        self, call: _Call | None, repository: _Repository, issue: _Issue
    ) -> dict[str, Any]:
        repo_url = f"{self._api()}/repos/{repository.full_name}"
        url = f"{repo_url}/issues/{issue.number}"
        assignees = [self._user_json(u) for u in issue.assignees]
        payload: dict[str, Any] = {
            "url": url,
            "repository_url": repo_url,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{_HTML}/{repository.full_name}/issues/{issue.number}",
            "id": issue.id,
            "node_id": f"I_kwDO{issue.id:08d}",
            "number": issue.number,
            "title": issue.title,
            "user": self._user_json(issue.user),
            "labels": [self._label_json(repository, label) for label in issue.labels],
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
            "closed_by": self._user_json(issue.closed_by) if issue.closed_by else None,
            "reactions": self._reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
        }
        if call is None or call.api_version == "2022-11-28":
            # The singular ``assignee`` is gone from API version 2026-03-10 onwards.
            payload["assignee"] = assignees[0] if assignees else None
        return payload

    def _comment_json(
        self, repository: _Repository, issue: _Issue, comment: _Comment
    ) -> dict[str, Any]:
        repo_url = f"{self._api()}/repos/{repository.full_name}"
        url = f"{repo_url}/issues/comments/{comment.id}"
        return {
            "url": url,
            "html_url": f"{_HTML}/{repository.full_name}/issues/{issue.number}"
            f"#issuecomment-{comment.id}",
            "issue_url": f"{repo_url}/issues/{issue.number}",
            "id": comment.id,
            "node_id": f"IC_kwDO{comment.id:08d}",
            "user": self._user_json(comment.user),
            "created_at": _timestamp(comment.created_at),
            "updated_at": _timestamp(comment.updated_at),
            "author_association": self._association(repository, comment.user),
            "body": comment.body,
            "reactions": self._reactions(url),
            "performed_via_github_app": None,
        }


# ---------------------------------------------------------------------------------------------
# Request helpers


def _token(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


def _request_id() -> str:
    return uuid.uuid4().hex[:20].upper()


def _json_or_none(request: Request) -> Any:
    try:
        return json.loads(request.get_data()) if request.get_data() else None
    except ValueError:
        return None


def _parse_body(request: Request) -> Any:
    data = request.get_data()
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise _ApiError(400, "Problems parsing JSON") from None


def _object_body(call: _Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise _ApiError(400, "Problems parsing JSON")
    return call.body


def _optional_string(body: dict[str, Any], key: str, resource: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(resource, key)
    return value


def _label_names(raw: Any) -> list[str]:
    """Labels arrive as names or ``{"name": ...}`` objects."""
    if not isinstance(raw, list):
        raise _invalid("Label", "labels")
    names = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise _invalid("Label", "name")
        names.append(name)
    return names


def _logins(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise _invalid("Issue", "assignees")
    return [item for item in raw if isinstance(item, str)]


def _int_arg(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def _sort_key(issue: _Issue, sort: str) -> tuple[float, int]:
    if sort == "updated":
        return issue.updated_at, issue.number
    if sort == "comments":
        return len(issue.comments), issue.number
    return issue.created_at, issue.number


def _document_sort_key(snapshot: _Snapshot, sort: str) -> tuple[Any, int]:
    issue = snapshot.issue
    if sort in ("created", "updated"):
        return issue[f"{sort}_at"], issue["number"]
    if sort == "comments":
        return issue["comments"], issue["number"]
    return 0, issue["number"]  # "best match": newest first among equal scores


_ENDPOINT_DOCS = {
    "issues": f"{_DOCS}/issues/issues",
    "issue": f"{_DOCS}/issues/issues",
    "comments": f"{_DOCS}/issues/comments",
    "issue_labels": f"{_DOCS}/issues/labels",
    "issue_label": f"{_DOCS}/issues/labels",
    "labels": f"{_DOCS}/issues/labels",
    "label": f"{_DOCS}/issues/labels",
    "assignees": f"{_DOCS}/issues/assignees",
}


def _check_token_permission(access: _Access, endpoint: str, method: str) -> None:
    """A fine-grained PAT or App token without the endpoint's ``issues`` permission gets 403
    "Resource not accessible by personal access token" / "... by integration", naming what it
    needs in ``x-accepted-github-permissions`` (_TROUBLESHOOTING, "Resource not accessible").
    Search is not gated: it only leaves out what the token cannot see; nor is asking who the
    token is."""
    if endpoint in ("search", "user", "graphql"):
        return
    needed = "read" if method == "GET" else "write"
    if _TOKEN_LEVELS.index(access.issues) >= _TOKEN_LEVELS.index(needed):
        return
    who = "integration" if access.app else "personal access token"
    raise _ApiError(
        403,
        f"Resource not accessible by {who}",
        _ENDPOINT_DOCS.get(endpoint, _DOCS),
        headers={"x-accepted-github-permissions": f"issues={needed}"},
    )


def _fault_error(fault: Fault, headers: dict[str, str]) -> _ApiError:
    match fault:
        case SecondaryRateLimit(retry_after=seconds, status=status):
            return _ApiError(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you"
                " try again. If you reach out to GitHub Support for help, please include the"
                f" request ID {headers.get('x-github-request-id', '')}.",
                _SECONDARY_DOCS,
                headers={} if seconds is None else {"retry-after": str(seconds)},
            )
        case Abuse(retry_after=seconds):
            return _ApiError(
                403,
                "You have triggered an abuse detection mechanism. Please wait a few minutes"
                " before you try again.",
                _SECONDARY_DOCS,
                headers={} if seconds is None else {"retry-after": str(seconds)},
            )
        case ServerError(status=status):
            return _ApiError(status, "Server Error")
    raise TypeError(f"not an error fault: {fault!r}")


def _compile_query(query: str, repositories: dict[str, _Repository]) -> Callable[[_Snapshot], bool]:
    """The subset of GitHub's issue search syntax the workflow uses, matched word by word.

    Qualifiers: ``repo:``, ``is:issue|pr|open|closed``, ``type:``, ``state:``, ``label:``,
    ``in:title|body|comments``; anything else is text. A quoted phrase matches consecutive
    words, so ``"faultline:fingerprint=abc"`` also matches ``faultline fingerprint abc``.
    """
    tests: list[Callable[[_Snapshot], bool]] = []
    texts: list[tuple[bool, list[str]]] = []
    scopes: set[str] = set()
    kind: str | None = None
    for negated, key, quoted, bare in _SEARCH_TERM.findall(query):
        value = quoted or bare
        qualifier = key.lower()
        test: Callable[[_Snapshot], bool] | None = None
        if qualifier == "repo":
            if value.lower() not in repositories:
                raise _invalid(
                    "Search",
                    "q",
                    message="The listed users and repositories cannot be searched either because"
                    " the resources do not exist or you do not have permission to view them.",
                )
            test = _field_test("repository_full_name", value)
        elif qualifier in ("is", "type") and value.lower() in ("issue", "pr", "pull-request"):
            kind = "issue" if value.lower() == "issue" else "pr"
        elif qualifier in ("is", "state") and value.lower() in ("open", "closed"):
            test = _field_test("state", value)
        elif qualifier == "label":
            test = _label_test(value)
        elif qualifier == "in":
            scopes.update(value.lower().split(","))
        else:
            texts.append((negated == "-", _words(f"{key}:{value}" if key else value)))
        if test is not None:
            tests.append(_negate(test) if negated else test)
    if kind is None:
        raise _invalid("Search", "q", message="Query must include 'is:issue' or 'is:pull-request'")

    def text_of(snapshot: _Snapshot) -> list[list[str]]:
        fields = scopes or {"title", "body", "comments"}
        parts = [snapshot.issue[f] or "" for f in ("title", "body") if f in fields]
        if "comments" in fields:
            parts += snapshot.comments
        return [_words(part) for part in parts]

    def matches(snapshot: _Snapshot) -> bool:
        if kind != "issue" or not all(test(snapshot) for test in tests):
            return False
        documents = text_of(snapshot)
        return all(
            negated != any(_contains_phrase(words, phrase) for words in documents)
            for negated, phrase in texts
        )

    return matches


def _field_test(key: str, value: str) -> Callable[[_Snapshot], bool]:
    return lambda snapshot: str(snapshot.issue[key]).lower() == value.lower()


def _label_test(value: str) -> Callable[[_Snapshot], bool]:
    wanted = {name.lower() for name in value.split(",")}  # label:a,b means a OR b
    return lambda snapshot: bool(wanted & {x["name"].lower() for x in snapshot.issue["labels"]})


def _negate(test: Callable[[_Snapshot], bool]) -> Callable[[_Snapshot], bool]:
    return lambda snapshot: not test(snapshot)
