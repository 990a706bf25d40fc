"""The HTTP side of the fake: a werkzeug server that authenticates each request, passes it
through the rate limits and any injected fault, routes it to its handler and records it. Its
``GitHubFake`` is what tests start, set up and inspect."""

import contextlib
import fnmatch
import hashlib
import hmac
import json
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.github.apps import App, Apps
from tests.fakes.github.clock import FakeClock
from tests.fakes.github.faults import (
    Abuse,
    Fault,
    Faults,
    LandsLater,
    SecondaryRateLimit,
    ServerError,
    ServerErrorAfterSuccess,
    TimeoutAfterSuccess,
    fault_error,
)
from tests.fakes.github.handlers import Call, Handlers, find_issue, find_repository
from tests.fakes.github.limits import RateLimits
from tests.fakes.github.payloads import (
    DOCS,
    HTML,
    ApiError,
    Payloads,
    Result,
    error_response,
    json_response,
    not_found,
)
from tests.fakes.github.search import SearchIndex
from tests.fakes.github.state import (
    COPILOT,
    COPILOT_LOGINS,
    ROLES,
    TOKEN_LEVELS,
    Access,
    Comment,
    State,
    TimelineEvent,
    User,
)
from tests.fakes.https import local_pki  # one test CA per process for every fake

_WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
_TROUBLESHOOTING = f"{DOCS}/using-the-rest-api/troubleshooting-the-rest-api"


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
            "/repos/<owner>/<repo>/issues/<int:number>/timeline",
            endpoint="timeline",
            methods=["GET"],
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
        Rule(
            "/repos/<owner>/<repo>/collaborators/<username>/permission",
            endpoint="collaborator_permission",
            methods=["GET"],
        ),
        Rule("/search/issues", endpoint="search", methods=["GET"]),
        Rule("/user", endpoint="user", methods=["GET"]),
        Rule("/graphql", endpoint="graphql", methods=["POST"]),
    ],
    strict_slashes=False,
)
# Endpoints that take the App's JWT rather than a token (``apps``).
_APP_ROUTES = Map(
    [
        Rule("/app", endpoint="app", methods=["GET"]),
        Rule("/repos/<owner>/<repo>/installation", endpoint="installation", methods=["GET"]),
        Rule(
            "/app/installations/<int:installation>/access_tokens",
            endpoint="access_tokens",
            methods=["POST"],
        ),
    ],
    strict_slashes=False,
)


_ENDPOINT_DOCS = {
    "issues": f"{DOCS}/issues/issues",
    "issue": f"{DOCS}/issues/issues",
    "comments": f"{DOCS}/issues/comments",
    "timeline": f"{DOCS}/issues/timeline",
    "issue_labels": f"{DOCS}/issues/labels",
    "issue_label": f"{DOCS}/issues/labels",
    "labels": f"{DOCS}/issues/labels",
    "label": f"{DOCS}/issues/labels",
    "assignees": f"{DOCS}/issues/assignees",
}


def _check_token_permission(access: Access, endpoint: str, method: str) -> None:
    """A fine-grained PAT or App token without the endpoint's ``issues`` permission gets 403
    "Resource not accessible by personal access token" / "... by integration", naming what it
    needs in ``x-accepted-github-permissions`` (_TROUBLESHOOTING, "Resource not accessible").
    Search is not gated: it only leaves out what the token cannot see; nor is asking who the
    token is, nor a collaborator's permission (it needs ``metadata: read``, which every
    fine-grained token has)."""
    if endpoint in ("search", "user", "graphql", "collaborator_permission"):
        return
    needed = "read" if method == "GET" else "write"
    if TOKEN_LEVELS.index(access.issues) >= TOKEN_LEVELS.index(needed):
        return
    who = "integration" if access.app else "personal access token"
    raise ApiError(
        403,
        f"Resource not accessible by {who}",
        _ENDPOINT_DOCS.get(endpoint, DOCS),
        headers={"x-accepted-github-permissions": f"issues={needed}"},
    )


class GitHubFake:
    """GitHub REST server on 127.0.0.1 for ``GitHub(TokenAuthStrategy(t), base_url=)``: plain
    HTTP, or HTTPS with ``https=True`` (clients verify it with ``client_ssl()`` or ``ca_path``).

    ``user_token`` acts as ``user_login`` (a fine-grained PAT: may assign Copilot);
    ``app_token`` acts as ``app_login`` (an App installation token: may not). Both have write
    access and the ``issues: write`` permission until ``set_access`` says otherwise;
    ``add_token`` makes more. ``register_app`` makes the GitHub App whose bot is ``app_login``
    and ``install_app`` installs it on an account; its installation tokens are minted through
    the API with the App's JWT (``apps``). Time comes from ``clock``; nothing sleeps except
    responses that a fault holds past the client's timeout.

    Rate limits (``limits``): ``core_limit``/``search_limit`` per window (``primary_status`` 403
    or 429); ``secondary_per_minute``/``secondary_per_hour`` content-creating requests, answered
    with ``retry-after`` while ``secondary_retry_after`` is true and without it otherwise.
    Search (``search``) sees a write ``search_lag`` seconds after it happened.
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
        https: bool = False,
    ) -> None:
        self.clock = clock or FakeClock()
        self._https = https
        self.ca_path: str | None = None
        self.limits = RateLimits(
            self.clock,
            core_limit=core_limit,
            search_limit=search_limit,
            secondary_per_minute=secondary_per_minute,
            secondary_per_hour=secondary_per_hour,
            secondary_retry_after=secondary_retry_after,
            primary_status=primary_status,
        )
        self.user_token = "github_pat_fake_" + uuid.uuid4().hex
        self.app_token = "ghs_fake_" + uuid.uuid4().hex
        self.requests: list[RecordedRequest] = []
        self._state = State()
        self._user = User(user_login, self._state.new_id())
        app = User(
            app_login, self._state.new_id(), "Bot", f"{HTML}/apps/{app_login.removesuffix('[bot]')}"
        )
        self._state.actors.update({self.user_token: self._user, self.app_token: app})
        self._state.access.update({self.user_token: Access(), self.app_token: Access(app=True)})
        self._state.users[user_login.lower()] = self._user
        self._app_bot = app
        payloads = Payloads(lambda: self.base_url, self._state.users)
        self.search = SearchIndex(self.clock, payloads, search_lag)
        self._handlers = Handlers(self._state, self.search, payloads, self.clock, self.user_token)
        self.apps = Apps(self._state, self.clock, payloads)
        self._faults = Faults(self.clock)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Self:
        context = None
        if self._https:
            ca, certificate = local_pki()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(context)
            self._tempdir = tempfile.TemporaryDirectory(prefix="github-fake-")
            self.ca_path = str(Path(self._tempdir.name) / "ca.pem")
            ca.cert_pem.write_to_path(self.ca_path)
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=context)
        scheme = "https" if self._https else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self._server.server_port}/"
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
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def client_ssl(self) -> ssl.SSLContext:
        """What a client verifies this fake's certificate with (``https=True``)."""
        if self.ca_path is None:
            raise ValueError("the fake serves plain HTTP: start it with https=True")
        return ssl.create_default_context(cafile=self.ca_path)

    # -- set-up and inspection ------------------------------------------------------------

    def add_repository(self, owner: str, name: str) -> None:
        """Create a repository with GitHub's default labels; ``user_login`` may push to it."""
        with self._lock:
            self._state.add_repository(owner, name)

    def add_user(self, login: str, *, role: str = "write") -> None:
        """Make ``login`` a collaborator with ``role`` (one of ``ROLES``, or a custom role's
        name), so it may be assigned (others are dropped silently) and the permission endpoint
        answers for it."""
        with self._lock:
            self._state.users.setdefault(login.lower(), User(login, self._state.new_id()))
            self._state.roles[login.lower()] = role

    def set_access(self, token: str, *, role: str | None = None, issues: str | None = None) -> None:
        """Change what ``token`` may do: its user's repository ``role`` (one of ``ROLES``) and
        its fine-grained ``issues`` permission (``none``, ``read`` or ``write``)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        if issues is not None and issues not in TOKEN_LEVELS:
            raise ValueError(f"issues must be one of {TOKEN_LEVELS}, not {issues!r}")
        with self._lock:
            access = self._state.access[token]
            access.role = role or access.role
            access.issues = issues or access.issues
            actor = self._state.actors[token]
            if role is not None and actor.login.lower() in self._state.roles:
                self._state.roles[actor.login.lower()] = role

    def add_token(
        self,
        login: str,
        *,
        role: str = "read",
        issues: str = "write",
        app: bool = False,
        expires_at: float | None = None,
    ) -> str:
        """A new token acting as ``login`` (a PAT, or an App installation token if ``app``); a
        PAT made with ``expires_at`` (on the fake's clock) states it on every answer, in
        ``github-authentication-token-expiration``, and is refused (401) from then on."""
        token = ("ghs_fake_" if app else "github_pat_fake_") + uuid.uuid4().hex
        with self._lock:
            user = User(login, self._state.new_id(), "Bot" if app else "User")
            self._state.actors[token] = user
            self._state.access[token] = Access(app=app, expires_at=expires_at)
            if not app:  # a person's token: the permission endpoint knows their role
                self._state.roles[login.lower()] = role
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
            repository = find_repository(self._state, owner, repo)
            issue = self._state.new_issue(repository, title, body, self._user, self.clock.now())
            issue.labels = self._state.labels_for(repository, labels)
            if state == "closed":
                issue.state, issue.state_reason = "closed", "completed"
                issue.closed_at, issue.closed_by = issue.created_at, self._user
            self.search.reindex(repository, issue, visible_from=float("-inf"))
            return issue.number

    def seed_comments(self, owner: str, repo: str, number: int, count: int) -> None:
        """``count`` comments by the main user, as a busy issue has them before the test."""
        with self._lock:
            issue = find_issue(find_repository(self._state, owner, repo), number)
            for index in range(count):
                now = self.clock.now()
                comment = Comment(self._state.new_id(), f"note {index}", self._user, now, now)
                issue.comments.append(comment)

    def open_pull_request(
        self,
        owner: str,
        repo: str,
        title: str,
        *,
        by: str,
        links: int,
        connected: bool = False,
    ) -> int:
        """A pull request by ``by`` (a collaborator, or ``Copilot`` for the coding agent) that
        links issue ``links`` of the same repository: its body says "Fixes #n", which puts a
        ``cross-referenced`` event on the issue's timeline, or, with ``connected``, it is linked
        by hand in the Development sidebar, which puts a ``connected`` event there. Returns the
        pull request's number."""
        with self._lock:
            repository = find_repository(self._state, owner, repo)
            issue = find_issue(repository, links)
            login = by.lower()
            author = COPILOT if login in COPILOT_LOGINS else self._state.users.get(login)
            if author is None:
                raise ValueError(f"{by} is not a collaborator of the fake")
            now = self.clock.now()
            body = None if connected else f"Fixes #{links}"
            pull = self._state.new_pull_request(repository, title, body, author, now)
            event = TimelineEvent(
                self._state.new_id(),
                "connected" if connected else "cross-referenced",
                author,
                now,
                None if connected else (repository, pull),
            )
            issue.timeline.append(event)
            return pull.number

    def reference_from_issue(self, owner: str, repo: str, title: str, *, links: int) -> int:
        """An issue by the main user whose body names issue ``links`` ("See #n"): a
        ``cross-referenced`` event whose source is an issue, not a pull request. Returns the
        new issue's number."""
        with self._lock:
            repository = find_repository(self._state, owner, repo)
            target = find_issue(repository, links)
            now = self.clock.now()
            body = f"See #{links}"
            source = self._state.new_issue(repository, title, body, self._user, now)
            event = TimelineEvent(
                self._state.new_id(), "cross-referenced", self._user, now, (repository, source)
            )
            target.timeline.append(event)
            return source.number

    def register_app(self) -> App:
        """Register the GitHub App whose bot is ``app_login``; its ``private_key`` is the PEM
        its owner would download, ``id`` and ``client_id`` what a JWT may name as issuer."""
        with self._lock:
            return self.apps.register(self._app_bot.login.removesuffix("[bot]"), self._app_bot)

    def install_app(self, app: App, owner: str) -> int:
        """Install ``app`` on the account ``owner`` (all its repositories); the installation id."""
        with self._lock:
            return self.apps.install(app, owner)

    def revoke(self, token: str) -> None:
        """Revoke a token, as ``DELETE /installation/token`` or an owner would: it answers 401."""
        with self._lock:
            self._state.actors.pop(token, None)

    def delivery(
        self,
        event: str,
        action: str,
        owner: str,
        repo: str,
        number: int,
        *,
        sender: str,
        secret: bytes,
        comment: int | None = None,
        changes: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The webhook delivery GitHub sends for ``event``/``action`` on an issue as it stands
        now (``comment``: the id of the comment an ``issue_comment`` event is about), signed
        with ``secret`` (``X-Hub-Signature-256``: HMAC-SHA256 of the body, hex, after
        ``sha256=``) and carrying GitHub's delivery headers (a new ``X-GitHub-Delivery`` GUID
        each time; a redelivery repeats the headers and body it was given)."""
        with self._lock:
            repository = find_repository(self._state, owner, repo)
            issue = find_issue(repository, number)
            who = self._state.users.get(sender.lower()) or next(
                (u for u in self._state.actors.values() if u.login.lower() == sender.lower()),
                None,
            )
            if who is None:
                who = User(sender, self._state.new_id())
            payloads = Payloads(lambda: self.base_url, self._state.users)
            organisation = User(owner, self._state.new_id(), "Organization")
            payload: dict[str, Any] = {
                "action": action,
                "issue": payloads.issue("2022-11-28", repository, issue),
                "repository": payloads.repository(repository, organisation),
                "sender": payloads.user(who),
            }
            if changes is not None:
                payload["changes"] = changes
            if comment is not None:
                (found,) = [c for c in issue.comments if c.id == comment]
                payload["comment"] = payloads.comment(repository, issue, found)
        body = json.dumps(payload).encode()
        signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "292430182",
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(repository.id),
            "X-Hub-Signature-256": f"sha256={signature}",
        }
        return headers, body

    def transfer(self, owner: str, repo: str, number: int, to_owner: str, to_repo: str) -> int:
        """Transfer an issue, as a person with write access to both repositories can; returns
        its number in the new repository."""
        with self._lock:
            source = find_repository(self._state, owner, repo)
            target = find_repository(self._state, to_owner, to_repo)
            return self._state.transfer(source, number, target).number

    def fail_next(self, fault: Fault, *, method: str = "*", path: str = "*") -> None:
        """Queue a fault for the next request whose method and path match these globs.

        Each request consumes the oldest matching fault; non-matching ones stay queued.
        """
        with self._lock:
            self._faults.queue(fault, method, path)

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """Every issue in the repository, by number, as plain data for assertions.

        Writes that ``LandsLater`` delays are not here until their time on the clock has come.
        """
        with self._lock:
            self._apply_late_writes()
            repository = find_repository(self._state, owner, repo)
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
                    "pinned": issue.pinned,
                }
                for issue in sorted(repository.issues.values(), key=lambda i: i.number)
            ]

    def labels(self, owner: str, repo: str) -> list[str]:
        """Names of the repository's labels, including ones auto-created on first use."""
        with self._lock:
            repository = find_repository(self._state, owner, repo)
            return sorted(label.name for label in repository.labels.values())

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

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        token = _token(request.headers.get("Authorization", ""))
        with self._lock:
            self._apply_late_writes()
            response, fault = self._respond(request, token, arrived)
            expiration = self._token_expiration(token)
            if expiration:
                response.headers["github-authentication-token-expiration"] = expiration
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

    def _token_expiration(self, token: str | None) -> str | None:
        """What GitHub states on answers to a personal access token made with an expiry, in its
        format (`2021-10-07 19:07:53 UTC`); installation tokens, whose hourly expiry the App
        handles, state none here."""
        access = self._state.access.get(token or "")
        if access is None or access.app or access.expires_at is None:
            return None
        if token not in self._state.actors:  # revoked: GitHub no longer knows it
            return None
        moment = datetime.fromtimestamp(access.expires_at, UTC)
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"

    def _respond(
        self, request: Request, token: str | None, arrived: float
    ) -> tuple[Response, Fault | None]:
        """Authenticate, spend the primary budget, refuse a token told to wait, take a queued
        fault, check the token's permission and secondary limits, then dispatch."""
        try:
            app_endpoint, app_args = _APP_ROUTES.bind_to_environ(request.environ).match()
        except HTTPException:
            pass
        else:
            return self._respond_to_app(request, token, app_endpoint, app_args), None
        actor = self._state.actors.get(token or "")
        expires_at = self._state.access[token].expires_at if actor and token else None
        if actor is None or token is None or (expires_at and expires_at <= self.clock.now()):
            message = "Bad credentials" if token else "Requires authentication"
            return error_response(ApiError(401, message), self.limits.headers("", "core")), None
        resource = (
            "search"
            if request.path.startswith("/search/")
            else "graphql"
            if request.path == "/graphql"
            else "core"
        )
        access = self._state.access[token]
        # an installation's tokens share its limits: a new token does not reset them
        limited = f"installation {access.installation}" if access.installation else token
        headers = self.limits.headers(limited, resource)
        try:
            endpoint, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException:
            return error_response(not_found(), headers), None
        caller = f"{'installation' if access.app else 'user'} ID {actor.id}"
        spent = self.limits.spend(limited, resource, caller, headers["x-github-request-id"])
        if spent is not None:
            return error_response(spent, headers), None
        headers = self.limits.headers(limited, resource)
        told_to_wait = self.limits.told_to_wait(
            limited, request.method, request.path, headers, arrived
        )
        if told_to_wait is not None:
            return error_response(told_to_wait, headers), None
        fault = self._faults.take(request.method, request.path)
        if isinstance(fault, SecondaryRateLimit | Abuse | ServerError):
            error = fault_error(fault, headers)
            if not isinstance(fault, ServerError):
                self.limits.penalise(limited, fault.retry_after, error.status)
            return error_response(error, headers), fault
        try:
            _check_token_permission(access, endpoint, request.method)
            if request.method in _WRITE_METHODS and endpoint != "graphql":
                self.limits.count_write(limited, headers)
            call = Call(
                request,
                token,
                actor,
                request.headers.get("X-GitHub-Api-Version", "2022-11-28"),
                access,
                _parse_body(request),
            )
            if isinstance(fault, LandsLater):
                if request.method in _WRITE_METHODS:
                    self._faults.land_later(
                        fault, lambda: self._dispatch(call, endpoint, dict(args))
                    )
                error = ApiError(fault.status or 504, "Server Error")
                return error_response(error, headers), fault
            status, payload, extra = self._dispatch(call, endpoint, dict(args))
        except ApiError as error:
            return error_response(error, headers), fault
        if isinstance(fault, ServerErrorAfterSuccess):
            return error_response(ApiError(fault.status, "Server Error"), headers), fault
        return json_response(status, payload, {**headers, **extra}), fault

    def _respond_to_app(
        self, request: Request, token: str | None, endpoint: str, args: dict[str, Any]
    ) -> Response:
        """An App-level endpoint: the JWT authenticates, not a token (``apps``)."""
        headers = self.limits.headers("", "core")
        try:
            app = self.apps.authenticate(token)
            if endpoint == "app":
                status, payload, extra = self.apps.get_app(app)
            elif endpoint == "installation":
                status, payload, extra = self.apps.repository_installation(
                    app, args["owner"], args["repo"]
                )
            else:
                body = _parse_body(request)
                status, payload, extra = self.apps.access_token(app, args["installation"], body)
        except ApiError as error:
            return error_response(error, headers)
        return json_response(status, payload, {**headers, **extra})

    def _apply_late_writes(self) -> None:
        """Perform the ``LandsLater`` writes whose time has come, oldest first."""
        for write in self._faults.due_writes():
            with contextlib.suppress(ApiError):  # a failing write leaves nothing behind
                write()

    def _dispatch(self, call: Call, endpoint: str, args: dict[str, Any]) -> Result:
        if endpoint == "search":
            return self.search.search(call.request, self._state.repositories)
        if endpoint == "user":
            return self._handlers.authenticated_user(call)
        if endpoint == "graphql":
            return self._handlers.graphql_viewer(call)
        repository = find_repository(self._state, args.pop("owner"), args.pop("repo"))
        confined = call.access.owner
        if confined is not None and confined.lower() != repository.owner.lower():
            raise not_found()  # another account's installation token cannot see it
        if endpoint == "collaborator_permission":
            return self._handlers.collaborator_permission(repository, args["username"])
        handlers = self._handlers
        match endpoint, call.request.method:
            case "issues", "GET":
                return handlers.list_issues(call, repository)
            case "issues", "POST":
                return handlers.create_issue(call, repository)
            case "issue", "GET":
                return handlers.get_issue(call, repository, args["number"])
            case "issue", "PATCH":
                return handlers.update_issue(
                    call, repository, find_issue(repository, args["number"])
                )
            case "comments", "GET":
                return handlers.list_comments(
                    call, repository, find_issue(repository, args["number"])
                )
            case "timeline", "GET":
                return handlers.list_timeline(
                    call, repository, find_issue(repository, args["number"])
                )
            case "comments", "POST":
                return handlers.create_comment(
                    call, repository, find_issue(repository, args["number"])
                )
            case "issue_labels", _:
                issue = find_issue(repository, args["number"])
                return handlers.issue_labels(call, repository, issue)
            case "issue_label", "DELETE":
                issue = find_issue(repository, args["number"])
                return handlers.remove_label(call, repository, issue, args["name"])
            case "assignees", _:
                return handlers.change_assignees(
                    call, repository, find_issue(repository, args["number"])
                )
            case "labels", "GET":
                return handlers.list_labels(call, repository)
            case "labels", "POST":
                return handlers.create_label(call, repository)
            case "label", "GET":
                return handlers.get_label(repository, args["name"])
        raise not_found()


def _token(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


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
        raise ApiError(400, "Problems parsing JSON") from None
