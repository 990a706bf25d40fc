"""GitHub issues through githubkit: create, find by marker, update, comment, reopen, assign.

Errors are mapped to what the workflow decides on:

- `TrackerRateLimited` carries the wait GitHub asked for; the orchestration sleeps on a durable
  timer rather than in the activity. A primary limit (`x-ratelimit-remaining: 0`) waits until
  `x-ratelimit-reset`; a secondary limit honours `retry-after`, else `x-ratelimit-reset` when the
  quota is spent, else waits at least a minute, doubling while the limit repeats (capped).
  githubkit recognises a secondary limit only by `retry-after` or a spent quota, so a 403/429
  whose message names a secondary limit (or the older "abuse detection") is recognised here.
- `GitHubUnavailable` is worth retrying (5xx, timeouts, connection errors: the activity's retry
  policy does that); the request may or may not have taken effect.
- `TrackerRefused` is GitHub saying no for a reason a retry does not change (404, 410, 422, a 403
  for a missing permission, a 401 after the one token refresh): the workflow stops and shows why.

githubkit's own retries are off so no activity sleeps. A 401 refreshes the token once (rotated
secret; as a GitHub App, a newly minted installation token) before giving up. As a GitHub App
(`adapters.github_app`), each repository's owner is served by its installation's token, and an
optional user token is used for assignment alone.

Issues carry their author (`IssueRef.author`) and `find_by_marker` adopts only issues that
the token's own login wrote (`login()`), so a marker copied into someone else's issue is not
mistaken for Faultline's. `create` reports labels GitHub dropped silently (a token without push
access): `IssueRef.dropped_labels`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from githubkit import GitHub, Response, TokenAuthStrategy, UnauthAuthStrategy
from githubkit.exception import (
    GraphQLFailed,
    PrimaryRateLimitExceeded,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)
from githubkit_schemas.latest.models import Issue

from adapters.github_app import GitHubApp
from detection.markers import MARKER_PREFIX, carries_marker
from pipeline.ports import (
    COPILOT_LOGIN,
    IssueRef,
    LinkedPullRequest,
    RepositoryRole,
    TrackerBudget,
    TrackerRateLimited,
    TrackerRefused,
)

log = logging.getLogger(__name__)

RECENT_PAGES = 3
COMMENT_PAGES = 10  # 1,000 comments, as the timeline below
TIMELINE_PAGES = 10  # 1,000 timeline events: an issue busier than that is not an agent's
RECENT_WITHOUT_INTENT = 30
SEARCH_RESULTS = 20
SECONDARY_MIN_WAIT = timedelta(minutes=1)
SECONDARY_MAX_WAIT = timedelta(minutes=15)
SECONDARY_FORGET_AFTER = timedelta(hours=1)
WRITE_SPACING = timedelta(seconds=1)  # "wait at least one second between each" mutative request
RESET_MARGIN = timedelta(seconds=1)  # x-ratelimit-reset is whole seconds; clocks drift a little
REASON_LIMIT = 300
T = TypeVar("T")

# Token shapes GitHub issues (classic, fine-grained, OAuth, user-to-server, server-to-server,
# refresh), scrubbed from any text that leaves the adapter.
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_]{6,}|github_pat_[A-Za-z0-9_]{6,})")
_SECONDARY_MESSAGES = ("secondary rate limit", "abuse detection")


def _token_expiration(value: str | None) -> datetime | None:
    """GitHub's `github-authentication-token-expiration` (`2021-10-07 19:07:53 UTC`, sometimes
    with a numeric offset instead of `UTC`) as an aware datetime; None if absent or unreadable."""
    if not value:
        return None
    text = value.strip().replace(" UTC", " +0000")
    for shape in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            moment = datetime.strptime(text, shape)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    log.warning("unreadable github-authentication-token-expiration: %r", value[:60])
    return None


class GitHubUnavailable(Exception):
    """A 5xx, a timeout or a broken connection: the request may or may not have taken effect."""


_REFUSAL_KINDS = {
    400: "invalid",
    401: "credentials",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    410: "gone",
    422: "invalid",
}


@dataclass(frozen=True)
class _SecondaryRun:
    repeat: int
    escalated_at: float
    until: float


class GitHubPacer:
    """How the clients of a process share one GitHub API, as GitHub's best practices ask
    (https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api):

    - one request at a time ("make requests serially instead of concurrently");
    - writes (POST, PATCH, PUT, DELETE) at least `write_spacing` apart, sleeping the rest;
    - no request while a secondary limit is being waited out. Without `retry-after` (and with
      quota left) the wait is at least a minute, "and if your request continues to fail due to
      a secondary rate limit, wait for an exponentially increasing amount of time between
      retries". A refusal of a request sent before the wait ended belongs to the same run
      rather than lengthening it; a successful write ends the run, and so does an hour without
      a limit (reads can succeed while content creation is still limited).

    `clock` gives the seconds the waits are measured in (monotonic in production, simulated in
    local runs); the write spacing sleeps in real time.
    """

    def __init__(
        self,
        minimum: timedelta = SECONDARY_MIN_WAIT,
        maximum: timedelta = SECONDARY_MAX_WAIT,
        forget_after: timedelta = SECONDARY_FORGET_AFTER,
        clock: Callable[[], float] = time.monotonic,
        write_spacing: timedelta = WRITE_SPACING,
    ) -> None:
        self._minimum = minimum
        self._maximum = maximum
        self._forget_after = forget_after.total_seconds()
        self._clock = clock
        self._write_spacing = write_spacing.total_seconds()
        self._runs: dict[str, _SecondaryRun] = {}
        self._last_write: dict[str, float] = {}
        self._turns: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @contextmanager
    def turn(self, api: str, *, write: bool) -> Iterator[None]:
        """This process's one request in flight to `api`; a write first waits out the spacing."""
        with self._lock:
            turn = self._turns.setdefault(api, threading.Lock())
        with turn:
            if write:
                since = time.monotonic() - self._last_write.get(api, -math.inf)
                if since < self._write_spacing:
                    time.sleep(self._write_spacing - since)
            try:
                yield
            finally:
                if write:
                    self._last_write[api] = time.monotonic()

    def now(self) -> float:
        return self._clock()

    def hit(self, api: str, sent_at: float, told: timedelta | None) -> tuple[int, timedelta]:
        """Count a secondary limit met by a request sent at `sent_at`; `told` is GitHub's own
        wait when it gave one. Returns how many in a row (this one included) and how long to
        wait from now."""
        now = self._clock()
        with self._lock:
            run = self._runs.get(api)
            if run is not None and sent_at < run.until:
                until = run.until if told is None else max(run.until, now + told.total_seconds())
                run = _SecondaryRun(run.repeat, run.escalated_at, until)
            else:
                fresh = run is None or now - run.escalated_at > self._forget_after
                repeat = 1 if run is None or fresh else run.repeat + 1
                wait = told if told is not None else self.wait(repeat)
                run = _SecondaryRun(repeat, now, now + wait.total_seconds())
            self._runs[api] = run
            return run.repeat, max(timedelta(seconds=run.until - now), timedelta(seconds=1))

    def pending(self, api: str) -> tuple[int, timedelta] | None:
        """The run in force and what is left of its wait, while a wait is still running."""
        now = self._clock()
        with self._lock:
            run = self._runs.get(api)
        if run is None or now >= run.until:
            return None
        return run.repeat, max(timedelta(seconds=run.until - now), timedelta(seconds=1))

    def wait(self, repeat: int) -> timedelta:
        return min(self._minimum * 2 ** max(min(repeat, 20) - 1, 0), self._maximum)

    def clear(self, api: str) -> None:
        with self._lock:
            self._runs.pop(api, None)


DEFAULT_PACER = GitHubPacer()

# The login behind each token, per API: `GET /user` costs a request, and clients are per activity.
_LOGINS: dict[tuple[str, str], str | None] = {}
_LOGINS_LOCK = threading.Lock()


def _issue_ref(repository: str, issue: Any, dropped: tuple[str, ...] = ()) -> IssueRef:
    """From any of githubkit's issue shapes (get, create and update differ in type only), in
    the repository it is in now: GitHub answers a transferred issue's old address with the
    issue at its new place (a redirect githubkit follows)."""
    return IssueRef(
        repository=_located(repository, issue),
        number=issue.number,
        url=issue.html_url,
        state=issue.state,
        created_at=issue.created_at,
        closed_at=issue.closed_at,
        assignees=tuple(a.login for a in (issue.assignees or [])),
        labels=_label_names(issue.labels),
        body=issue.body or "",
        id=issue.id,
        author=issue.user.login if issue.user else "",
        dropped_labels=dropped,
        state_reason=getattr(issue, "state_reason", None) or None,
    )


def _linked_pull_request(event: Any) -> LinkedPullRequest | None:
    """A timeline event as a linked pull request, or None for every other kind of event."""
    if not isinstance(event, dict):
        return None
    kind, actor = event.get("event"), (event.get("actor") or {}).get("login", "")
    if kind == "connected":
        return LinkedPullRequest(
            key=f"connected-{event['id']}",
            linked_at=datetime.fromisoformat(event["created_at"]),
            author=actor,
        )
    source = (event.get("source") or {}).get("issue") or {}
    if kind != "cross-referenced" or not source.get("pull_request"):
        return None
    html = source["pull_request"].get("html_url") or source.get("html_url")
    where = str(source.get("repository_url", "")).rsplit("/repos/", 1)[-1]
    return LinkedPullRequest(
        key=f"{where}#{source['number']}",
        linked_at=datetime.fromisoformat(event["created_at"]),
        author=(source.get("user") or {}).get("login", actor),
        url=html,
        title=source.get("title") or "",
        number=source["number"],
    )


def _located(repository: str, issue: Any) -> str:
    """`owner/name` from the issue's `repository_url` (`<api>/repos/owner/name`), else the
    repository it was asked of."""
    url = getattr(issue, "repository_url", None)
    if isinstance(url, str) and "/repos/" in url:
        located = url.rsplit("/repos/", 1)[1].strip("/")
        if located.count("/") == 1:
            return located
    return repository


def _label_names(labels: Any) -> tuple[str, ...]:
    return tuple(label if isinstance(label, str) else (label.name or "") for label in labels)


def _split(repository: str) -> tuple[str, str]:
    owner, name = repository.split("/", 1)
    return owner, name


def _same_login(a: str, b: str) -> bool:
    """GitHub logins are case-insensitive."""
    return a.casefold() == b.casefold()


def _payload(response: Response[Any]) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _message(response: Response[Any]) -> str:
    message = _payload(response).get("message")
    return message if isinstance(message, str) else ""


def _is_secondary_limit(response: Response[Any]) -> bool:
    """A 403/429 GitHub sends for a secondary limit; every 429 is a rate limit of some kind."""
    if response.status_code == 429:
        return True
    message = _message(response).lower()
    return response.status_code == 403 and any(m in message for m in _SECONDARY_MESSAGES)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _TOKEN_SHAPES.sub("***", text)


def _truncate(text: str, limit: int = REASON_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(response: Response[Any], secrets: tuple[str, ...]) -> str:
    """GitHub's message, its validation errors and the permission a token lacks, in one line."""
    payload = _payload(response)
    message = payload.get("message")
    parts = [message if isinstance(message, str) and message else ""]
    if not parts[0]:
        parts[0] = response.text[:200] if response.text else response.reason_phrase
    details = []
    for error in payload.get("errors") or []:
        if isinstance(error, str):
            details.append(error)
        elif isinstance(error, dict):
            text = error.get("message") or " ".join(
                str(error[k]) for k in ("resource", "field", "code") if error.get(k)
            )
            if error.get("value") is not None and not error.get("message"):
                text += f" ({error['value']})"
            details.append(str(text))
    if details:
        parts.append("; ".join(details))
    needs = response.headers.get("x-accepted-github-permissions")
    if needs:
        parts.append(f"the token needs {needs}")
    return _truncate(_scrub(": ".join(p for p in parts if p), secrets))


class GitHubIssues:
    """One client for an activity's lifetime; its credential is asked again after a 401.

    `token` is a personal access token's source, or a `GitHubApp`: then each repository's
    owner gets its installation's token, and the App's bot is the author trusted on markers.
    `assignment_token`, when given, is the user token assignment alone is sent with (GitHub
    lets only a user assign Copilot's coding agent); without one, an App refuses to assign
    Copilot before asking GitHub.
    """

    def __init__(
        self,
        token: Callable[[bool], str] | GitHubApp,
        base_url: str = "https://api.github.com/",
        timeout: float = 20.0,
        *,
        pacer: GitHubPacer | None = None,
        marker_key: bytes | None = None,
        assignment_token: Callable[[bool], str] | None = None,
        ssl_verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._app = token if isinstance(token, GitHubApp) else None
        self._personal = None if isinstance(token, GitHubApp) else token
        self._ssl_verify = ssl_verify
        self._assignment_token = assignment_token
        self._base_url = base_url
        self._timeout = timeout
        self._pacer = pacer or DEFAULT_PACER
        self._marker_key = marker_key
        self._token_value = ""
        self._budgets: dict[str, TrackerBudget] = {}
        self._expiries: dict[str, datetime] = {}  # per credential, as its latest answer said
        self._clients: dict[str, tuple[GitHub[Any], str]] = {}
        if self._app is None:
            self._client(None, assigning=False, refresh=False)  # an unusable token fails here

    def _credential(
        self, repository: str | None, assigning: bool
    ) -> tuple[str, Callable[[bool, str | None], str]]:
        """Which credential a request goes with (the key of its client) and how to get its
        token, given whether to refresh it and the token GitHub refused, if any."""
        app, personal, assignment = self._app, self._personal, self._assignment_token
        if assigning and assignment is not None:
            return "assign", lambda refresh, refused: assignment(refresh)
        if personal is not None:
            return "token", lambda refresh, refused: personal(refresh)
        if app is None or repository is None:
            return "app", lambda refresh, refused: ""  # GET /app sends its own JWT
        owner = repository.split("/", 1)[0].casefold()
        return f"owner:{owner}", lambda refresh, refused: app.token(repository, refused=refused)

    def _client(self, repository: str | None, *, assigning: bool, refresh: bool) -> GitHub[Any]:
        """The client for this request: one per credential (the personal token; the user token
        for assignment; each owner's installation token), new after a refusal. An owner's
        token is asked of the App for each request (it caches them), so one about to expire is
        replaced in time; after a refusal the App mints anew unless another activity already
        has."""
        key, token = self._credential(repository, assigning)
        known = self._clients.get(key)
        if refresh or known is None or key.startswith("owner:"):
            value = token(refresh, known[1] if refresh and known else None)
            if known is None or value != known[1] or refresh:
                client = GitHub(
                    TokenAuthStrategy(value) if value else UnauthAuthStrategy(),
                    base_url=self._base_url,
                    auto_retry=False,
                    timeout=self._timeout,
                    http_cache=False,
                    ssl_verify=self._ssl_verify,
                    event_hooks={"response": [self._note_budget, self._expiry_noter(key)]},
                )
                self._clients[key] = (client, value)
        client, self._token_value = self._clients[key]
        return client

    def _expiry_noter(self, key: str) -> Callable[[httpx.Response], None]:
        """What keeps the expiry answers state for the credential `key`: a personal (or
        assignment) token's, which people must rotate; never an App installation token's,
        which expires within the hour by design and which the App renews itself."""

        def note(response: httpx.Response) -> None:
            stated = response.headers.get("github-authentication-token-expiration")
            expiry = _token_expiration(stated)
            if expiry is not None and key in ("token", "assign"):
                self._expiries[key] = expiry

        return note

    def _note_budget(self, response: httpx.Response) -> None:
        """Keep the rate-limit window every answer states (successes and refusals alike), per
        resource: GitHub counts `core`, `search` and `graphql` requests apart."""
        headers = response.headers
        try:
            limit, used = int(headers["x-ratelimit-limit"]), int(headers["x-ratelimit-used"])
        except (KeyError, ValueError):
            return  # a server that is not GitHub, or an answer without the headers
        resource = headers.get("x-ratelimit-resource", "core")
        self._budgets[resource] = TrackerBudget(resource, limit, used)

    def budget(self) -> list[TrackerBudget]:
        """The windows this client's answers reported, the latest per resource."""
        return list(self._budgets.values())

    def token_expires(self) -> datetime | None:
        """When the soonest of this client's tokens expires, as GitHub's answers stated it
        (None for a token made without an expiry; an App's installation tokens are left out)."""
        return min(self._expiries.values(), default=None)

    def _call(
        self,
        what: str,
        request: Callable[[GitHub[Any]], T],
        *,
        write: bool = False,
        repository: str | None = None,
        assigning: bool = False,
    ) -> T:
        """Send `request` on the client for `repository`'s credential (see `_client`)."""
        with self._pacer.turn(self._base_url, write=write):
            return self._send(what, request, write, repository, assigning)

    def _send(
        self,
        what: str,
        request: Callable[[GitHub[Any]], T],
        write: bool,
        repository: str | None,
        assigning: bool,
    ) -> T:
        waiting = self._pacer.pending(self._base_url)
        if waiting is not None:
            repeat, wait = waiting
            detail = f"{what}: not sent, a secondary rate limit is still being waited out"
            raise TrackerRateLimited(wait, detail, secondary=True, repeat=repeat)
        refresh = False
        for attempt in range(2):
            sent_at = self._pacer.now()
            try:
                # an App's installation token is minted here, so its refusals are mapped alike
                client = self._client(repository, assigning=assigning, refresh=refresh)
                result = request(client)
            except RequestFailed as error:
                response = error.response
                status = response.status_code
                if isinstance(error, RateLimitExceeded) or _is_secondary_limit(response):
                    raise self._rate_limited(what, error, sent_at) from error
                if status == 401 and attempt == 0:
                    log.warning("GitHub refused the token during %s; refreshing it once", what)
                    refresh = True
                    continue
                if status >= 500:
                    raise GitHubUnavailable(f"{what}: GitHub answered {status}") from error
                raise TrackerRefused(
                    status,
                    _reason(response, (self._token_value,)),
                    permanent=status != 409,
                    what=what,
                    kind=_REFUSAL_KINDS.get(status, "refused"),
                ) from error
            except RequestTimeout as error:
                raise GitHubUnavailable(f"{what}: timed out") from error
            except RequestError as error:
                if isinstance(error.exc, httpx.TransportError):
                    raise GitHubUnavailable(f"{what}: {error.exc}") from error
                raise
            if write:
                self._pacer.clear(self._base_url)
            return result
        raise AssertionError("unreachable")

    def _rate_limited(self, what: str, error: RequestFailed, sent_at: float) -> TrackerRateLimited:
        response = error.response
        detail = f"{what}: " + _truncate(_scrub(_message(response), (self._token_value,)), 200)
        if isinstance(error, PrimaryRateLimitExceeded):
            # githubkit measured x-ratelimit-reset against this machine's clock.
            return TrackerRateLimited(error.retry_after + RESET_MARGIN, detail)
        told: timedelta | None = None
        if "retry-after" in response.headers and isinstance(error, RateLimitExceeded):
            told = max(error.retry_after, timedelta(seconds=1))
        elif response.headers.get("x-ratelimit-remaining") == "0" and isinstance(
            error, RateLimitExceeded
        ):
            told = error.retry_after + RESET_MARGIN  # until x-ratelimit-reset, as GitHub says
        repeat, wait = self._pacer.hit(self._base_url, sent_at, told)
        log.warning(
            "GitHub secondary rate limit #%d in a row during %s: wait %s", repeat, what, wait
        )
        return TrackerRateLimited(wait, detail, secondary=True, repeat=repeat)

    def login(self) -> str | None:
        """The login the token acts as (a user, or ``<app>[bot]``), asked once per token.

        `GET /user` answers for personal access tokens; an App installation token is refused it
        ("Resource not accessible by integration"), so GraphQL's `viewer` answers then. None when
        neither endpoint exists (a server that is not GitHub): callers then cannot tell authors.
        A GitHub App's login is its bot's, from `GET /app` (every installation writes as it).
        """
        app = self._app
        if app is not None:
            return self._call("who am I (GET /app)", lambda gh: app.bot_login())
        with _LOGINS_LOCK:
            if self._login_key() in _LOGINS:
                return _LOGINS[self._login_key()]
        login: str | None
        try:
            login = str(
                self._call("who am I", lambda gh: gh.rest.users.get_authenticated().json()["login"])
            )
        except TrackerRefused as refused:
            if refused.status not in (403, 404):
                raise
            login = self._viewer_login()
        with _LOGINS_LOCK:  # under the token that answered: a 401 on the way refreshes it
            _LOGINS[self._login_key()] = login
        return login

    def _login_key(self) -> tuple[str, str]:
        """The personal token's (not the assignment token's, whichever was used last)."""
        token = self._clients["token"][1]
        return self._base_url, hashlib.sha256(token.encode()).hexdigest()

    def _viewer_login(self) -> str | None:
        def viewer(gh: GitHub[Any]) -> str | None:
            try:
                data = gh.graphql.request("query { viewer { login } }")
            except GraphQLFailed:
                return None
            login = (data.get("viewer") or {}).get("login")
            return login if isinstance(login, str) and login else None

        try:
            login = self._call("who am I (GraphQL)", viewer)
        except TrackerRefused as refused:
            if refused.status not in (403, 404):
                raise
            login = None
        if login is None:
            log.warning(
                "GitHub at %s does not say which login this token acts as; issues cannot be told "
                "apart by author",
                self._base_url,
            )
        return login

    def own_login(self) -> str | None:
        """The login Faultline comments as (`login`), so its own comments are never commands."""
        return self.login()

    def role_of(self, repository: str, login: str) -> RepositoryRole | None:
        """The person's role on the repository (`GET /repos/{owner}/{repo}/collaborators/
        {username}/permission`); None when GitHub says they are not a collaborator (404). The
        token needs push access to ask, as GitHub requires for reading collaborators."""
        owner, name = _split(repository)
        try:
            found = self._call(
                f"permission of {login} on {repository}",
                lambda gh: (
                    gh.rest.repos.get_collaborator_permission_level(owner, name, login).parsed_data
                ),
            )
        except TrackerRefused as refused:
            if refused.status == 404:
                return None
            raise
        return RepositoryRole(found.role_name, found.permission)

    def get(self, repository: str, number: int) -> IssueRef:
        owner, name = _split(repository)
        issue = self._call(
            f"get issue {repository}#{number}",
            lambda gh: gh.rest.issues.get(owner, name, number).parsed_data,
            repository=repository,
        )
        return _issue_ref(repository, issue)

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        """The issue this token's login wrote that carries this fingerprint's marker.

        The repository's issue list (newest first, filtered by creator) is strongly consistent,
        so an issue created seconds ago by a request that timed out is found there; search
        covers older issues, but lags behind new ones. Issues by anyone else are passed over
        even when they quote the marker, and with a marker key (`marker_key`) so are markers
        without its signature (`detection.markers.carries_marker`). Should the login be unknown
        (see `login`), the list is filtered by the Faultline label instead, and authors are
        not checked.
        """
        author = self.login()
        for issue in self._recent(repository, label, since, author):
            if carries_marker(issue.body, repository, fingerprint, self._marker_key):
                return issue
        owner, name = _split(repository)
        query = f'repo:{owner}/{name} is:issue in:body "{MARKER_PREFIX}{fingerprint}"'
        results = self._call(
            f"search issues in {repository}",
            lambda gh: (
                gh.rest.search.issues_and_pull_requests(
                    q=query, per_page=SEARCH_RESULTS
                ).parsed_data
            ),
            repository=repository,
        )
        for item in results.items:
            body = item.body if isinstance(item.body, str) else None
            if item.pull_request or not carries_marker(
                body, repository, fingerprint, self._marker_key
            ):
                continue
            writer = item.user.login if item.user else ""
            if author is not None and not _same_login(writer, author):
                log.info(
                    "%s#%d carries the marker of %s but %s wrote it, not %s: not adopted",
                    repository,
                    item.number,
                    fingerprint,
                    writer or "a deleted user",
                    author,
                )
                continue
            return self.get(repository, item.number)
        return None

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]:
        """Every issue this token's login wrote since `since` that carries the fingerprint's
        marker (the strongly consistent list only): a create whose write landed after its
        retry had looked leaves a second one, which this finds."""
        author = self.login()
        return [
            issue
            for issue in self._recent(repository, label, since, author)
            if carries_marker(issue.body, repository, fingerprint, self._marker_key)
            and issue.created_at >= since
        ]

    def _recent(
        self, repository: str, label: str, since: datetime | None, author: str | None
    ) -> Iterator[IssueRef]:
        owner, name = _split(repository)
        # After a create attempt (`since`), every issue made since then; otherwise the newest few,
        # which covers search's indexing lag (seconds), while older issues are found by search.
        pages, per_page = (RECENT_PAGES, 100) if since else (1, RECENT_WITHOUT_INTENT)
        # By creator rather than label: a token without push access cannot set labels.
        scope: dict[str, str] = {"creator": author} if author else {"labels": label}
        for page in range(1, pages + 1):

            def list_page(gh: GitHub[Any], page: int = page) -> list[Any]:
                return gh.rest.issues.list_for_repo(
                    owner,
                    name,
                    state="all",
                    sort="created",
                    direction="desc",
                    per_page=per_page,
                    page=page,
                    **scope,  # type: ignore[arg-type]
                ).parsed_data

            issues = self._call(f"list issues in {repository}", list_page, repository=repository)
            for issue in issues:
                if issue.pull_request:
                    continue
                ref = _issue_ref(repository, issue)
                if author is None or _same_login(ref.author, author):
                    yield ref
            if len(issues) < per_page or (since and issues and issues[-1].created_at < since):
                return

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        """Create the issue; `dropped_labels` on the result names requested labels it lacks.

        GitHub drops labels silently when the token has no push access, and refuses the issue
        outright (403) when one of those labels does not exist yet, since it may not create
        labels either; the issue is then created without labels, as it would have been anyway.
        """
        owner, name = _split(repository)
        what = f"create issue in {repository}"

        def create(gh: GitHub[Any], labels: list[str] = labels) -> Any:
            return gh.rest.issues.create(owner, name, title=title, body=body, labels=labels)

        try:
            issue = self._call(what, create, write=True, repository=repository).parsed_data
        except TrackerRefused as refused:
            if not (labels and refused.status == 403 and "create labels" in refused.reason):
                raise
            log.warning("%s: the token may not create labels; creating it without them", what)
            issue = self._call(
                what, lambda gh: create(gh, []), write=True, repository=repository
            ).parsed_data
        present = {label.casefold() for label in _label_names(issue.labels)}
        dropped = tuple(label for label in labels if label.casefold() not in present)
        if dropped:
            log.warning(
                "GitHub created %s#%d without the labels %s (the token lacks push access?)",
                repository,
                issue.number,
                ", ".join(dropped),
            )
        return _issue_ref(repository, issue, dropped)

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        owner, name = _split(repository)
        issue = self._call(
            f"update issue {repository}#{number}",
            lambda gh: gh.rest.issues.update(owner, name, number, **changes).parsed_data,
            write=True,
            repository=repository,
        )
        return _issue_ref(repository, issue)

    def comment(self, repository: str, number: int, body: str) -> None:
        owner, name = _split(repository)
        self._call(
            f"comment on {repository}#{number}",
            lambda gh: gh.rest.issues.create_comment(owner, name, number, body=body),
            write=True,
            repository=repository,
        )

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        """The bodies of the comments this token's login wrote on the issue, oldest first, up
        to `COMMENT_PAGES` pages of the conversation. Anyone can comment, so a comment that
        quotes one of Faultline's comment markers cannot stand in for Faultline's own.

        GitHub lists comments oldest first only, so on a long conversation the comment a
        retried step just made lies pages deep; reading only the first hundred would miss it
        and post it again."""
        owner, name = _split(repository)
        author = self.login()
        bodies: list[str] = []
        for page in range(1, COMMENT_PAGES + 1):

            def comments(gh: GitHub[Any], page: int = page) -> list[Any]:
                return gh.rest.issues.list_comments(
                    owner, name, number, per_page=100, page=page
                ).parsed_data

            found = self._call(
                f"list comments of {repository}#{number}", comments, repository=repository
            )
            bodies += [
                c.body or ""
                for c in found
                if author is None or (c.user is not None and _same_login(c.user.login, author))
            ]
            if len(found) < 100:
                break
        return bodies

    def linked_pull_requests(self, repository: str, number: int) -> list[LinkedPullRequest]:
        """The pull requests the issue's timeline links it to, oldest first: `cross-referenced`
        events whose source is a pull request (a PR whose text names the issue, as an agent's
        "Fixes #n" does) and `connected` events (linked by hand; the REST event does not say
        to which pull request). Read as plain JSON: the timeline is a union of some forty event
        shapes, and only these two matter here."""
        owner, name = _split(repository)
        links: list[LinkedPullRequest] = []
        for page in range(1, TIMELINE_PAGES + 1):

            def timeline(gh: GitHub[Any], page: int = page) -> list[Any]:
                events = gh.rest.issues.list_events_for_timeline(
                    owner, name, number, per_page=100, page=page
                ).json()
                return events if isinstance(events, list) else []

            events = self._call(
                f"read the timeline of {repository}#{number}", timeline, repository=repository
            )
            links += filter(None, map(_linked_pull_request, events))
            if len(events) < 100:
                break
        return links

    def pin(self, repository: str, number: int) -> str | None:
        """Pin the issue with GraphQL's `pinIssue` (REST has no endpoint for it), by the issue's
        node id. GitHub pins at most three issues per repository and refuses a fourth: that, or
        a token that may not pin, is returned as the reason (a digest is still written)."""
        owner, name = _split(repository)
        issue = self._call(
            f"get issue {repository}#{number}",
            lambda gh: gh.rest.issues.get(owner, name, number).parsed_data,
            repository=repository,
        )
        mutation = "mutation($id: ID!) { pinIssue(input: {issueId: $id}) { issue { isPinned } } }"

        def pin(gh: GitHub[Any]) -> str | None:
            try:
                gh.graphql.request(mutation, {"id": issue.node_id})
            except GraphQLFailed as failed:
                errors = failed.response.errors or []
                return "; ".join(e.message for e in errors) or "GitHub refused to pin it"
            return None

        return self._call(f"pin {repository}#{number}", pin, write=True, repository=repository)

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        owner, name = _split(repository)
        self._call(
            f"add labels to {repository}#{number}",
            lambda gh: gh.rest.issues.add_labels(owner, name, number, labels=labels),
            write=True,
            repository=repository,
        )

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        """Add assignees; returns who GitHub actually assigned (it drops whom it cannot).

        With the optional user token, that token assigns. A GitHub App without one cannot assign
        Copilot's coding agent (GitHub drops it silently from an installation token's request),
        so that is refused here, saying what to configure."""
        owner, name = _split(repository)
        if self._app is not None and self._assignment_token is None and COPILOT_LOGIN in logins:
            raise TrackerRefused(
                403,
                "a GitHub App cannot assign Copilot's coding agent: it takes a user token; set "
                "FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET (or FAULTLINE_GITHUB_ASSIGNMENT_TOKEN "
                "locally) to a fine-grained PAT with issues, contents, pull requests and actions "
                "write",
                what=f"assign {repository}#{number}",
                kind="credentials",
            )
        payload: dict[str, Any] = {"assignees": logins}
        if agent:
            payload["agent_assignment"] = agent
        url = f"/repos/{owner}/{name}/issues/{number}/assignees"
        issue = self._call(
            f"assign {repository}#{number}",
            lambda gh: gh.request("POST", url, json=payload, response_model=Issue).parsed_data,
            write=True,
            repository=repository,
            assigning=True,
        )
        return tuple(a.login for a in (issue.assignees or []))
