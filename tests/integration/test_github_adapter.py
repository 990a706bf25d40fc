"""`GitHubIssues` through the real githubkit client against the GitHub fake.

Each test drives a behaviour GitHub really shows (the fake's docstring names the pages) and pins
what the adapter turns it into: how long `TrackerRateLimited` says to wait, which refusals are
`TrackerRefused` (permanent, with GitHub's reason) rather than retried, which labels `create` lost,
and that `find_by_marker` adopts only issues the token's own login wrote. The fake's clock stands
still unless a test advances it, so every wait is explicit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from adapters.github import (
    SECONDARY_MAX_WAIT,
    GitHubIssues,
    GitHubPacer,
    GitHubUnavailable,
    _token_expiration,
)
from detection.markers import marker, marker_signature
from pipeline.ports import TrackerRateLimited, TrackerRefused
from tests.fakes.github import (
    Abuse,
    FakeClock,
    GitHubFake,
    SecondaryRateLimit,
    ServerError,
)

pytestmark = pytest.mark.integration

OWNER, REPO = "acme", "shop"
REPOSITORY = f"{OWNER}/{REPO}"
FINGERPRINT = "abc123def4567890"
BODY = f"<!-- faultline:fingerprint={FINGERPRINT} -->\nCheckout fails with HTTP 500.\n"
USER_LOGIN, APP_LOGIN = "faultline-maintainer", "faultline[bot]"


class NotGitHubFake(GitHubFake):
    """A server speaking GitHub's issue API that answers neither `/user` nor GraphQL (a proxy
    or another forge): 404, as an unknown route."""

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if Request(environ).path in ("/user", "/graphql"):
            payload = {"message": "Not Found", "status": "404"}
            response = Response(json.dumps(payload), status=404, content_type="application/json")
            return response(environ, start_response)
        return super()._wsgi(environ, start_response)


def identity_calls(fake: GitHubFake) -> list[tuple[str, str, int]]:
    """The requests a token made to learn its login, with GitHub's answers."""
    asked = fake.calls(path="/user") + fake.calls(path="/graphql")
    return [(r.method, r.path, r.status) for r in asked]


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(
        user_login=USER_LOGIN, app_login=APP_LOGIN, clock=FakeClock(running=False)
    ) as github:
        github.add_repository(OWNER, REPO)
        yield github


def adapter(fake: GitHubFake, token: str | None = None, **options: Any) -> GitHubIssues:
    """A fresh secondary-limit memory per adapter, so tests do not share a run of limits, on
    the fake's clock, so a test that advances it has waited."""
    chosen = token or fake.user_token
    options.setdefault("pacer", GitHubPacer(clock=fake.clock.now, write_spacing=timedelta(0)))
    return GitHubIssues(lambda refresh: chosen, fake.base_url, timeout=5, **options)


# -- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        SecondaryRateLimit(retry_after=None, status=403),
        SecondaryRateLimit(retry_after=None, status=429),
        Abuse(retry_after=None),
    ],
    ids=["403", "429", "abuse"],
)
def test_a_secondary_limit_without_retry_after_waits_a_minute_then_doubles(
    fake: GitHubFake, fault: SecondaryRateLimit | Abuse
) -> None:
    """githubkit raises a plain RequestFailed here (quota left, no header); GitHub says: wait at
    least a minute, then exponentially longer while the limit repeats."""
    issues = adapter(fake)
    waits = []
    for _ in range(3):
        fake.fail_next(fault, method="POST")
        with pytest.raises(TrackerRateLimited) as limited:
            issues.create(REPOSITORY, "Checkout fails", BODY, [])
        assert limited.value.secondary
        waits.append((limited.value.repeat, limited.value.retry_after))
        fake.clock.advance(limited.value.retry_after.total_seconds())
    assert waits == [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=2)),
        (3, timedelta(minutes=4)),
    ]
    assert issues.create(REPOSITORY, "Checkout fails", BODY, []).number == 1
    fake.fail_next(fault, method="POST")  # a write got through: the run of limits is over
    with pytest.raises(TrackerRateLimited) as again:
        issues.comment(REPOSITORY, 1, "seen again")
    assert (again.value.repeat, again.value.retry_after) == (1, timedelta(minutes=1))
    assert fake.limits.violations == []  # every wait was long enough for GitHub


def test_nothing_is_sent_while_a_secondary_wait_runs(fake: GitHubFake) -> None:
    """GitHub may ban an integration that keeps asking while limited: the process waits."""
    issues = adapter(fake)
    fake.fail_next(SecondaryRateLimit(retry_after=None), method="POST")
    with pytest.raises(TrackerRateLimited):
        issues.create(REPOSITORY, "Checkout fails", BODY, [])
    sent = len(fake.requests)
    fake.clock.advance(30)
    with pytest.raises(TrackerRateLimited) as again:
        issues.get(REPOSITORY, 1)
    assert (again.value.repeat, again.value.retry_after) == (1, timedelta(seconds=30))
    assert (len(fake.requests), fake.limits.violations) == (sent, [])
    fake.clock.advance(30)
    assert issues.create(REPOSITORY, "Checkout fails", BODY, []).number == 1


def test_refusals_of_requests_already_in_flight_do_not_lengthen_the_wait() -> None:
    """Concurrent activities meet the same limit: one run, one wait, not a doubling each."""
    now = [0.0]
    pacer = GitHubPacer(clock=lambda: now[0])
    assert pacer.hit("api", sent_at=0.0, told=None) == (1, timedelta(minutes=1))
    now[0] = 10.0
    assert pacer.hit("api", sent_at=0.5, told=None) == (1, timedelta(seconds=50))
    assert pacer.hit("api", sent_at=1.0, told=timedelta(seconds=90)) == (
        1,
        timedelta(seconds=90),
    )
    now[0] = 100.0
    assert pacer.pending("api") is None
    assert pacer.hit("api", sent_at=100.0, told=None) == (2, timedelta(minutes=2))


class WatchedGitHubFake(GitHubFake):
    """The fake, noting when each request arrives and how many it was handling at once."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.arrivals: list[float] = []
        self.most_at_once = 0
        self._handling = 0
        self._watch = threading.Lock()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._watch:
            self._handling += 1
            self.most_at_once = max(self.most_at_once, self._handling)
            self.arrivals.append(time.monotonic())
        try:
            return super()._wsgi(environ, start_response)
        finally:
            with self._watch:
                self._handling -= 1


def test_a_process_sends_one_request_at_a_time_and_spaces_its_writes() -> None:
    """GitHub: requests serially, not concurrently, and a second between mutative ones. Four
    threads create at once; the fake sees them one after another, a spacing apart."""
    spacing = timedelta(milliseconds=200)
    with WatchedGitHubFake(clock=FakeClock(running=False)) as watched:
        watched.add_repository(OWNER, REPO)
        pacer = GitHubPacer(clock=watched.clock.now, write_spacing=spacing)

        def create(n: int) -> None:
            adapter(watched, pacer=pacer).create(REPOSITORY, f"failure {n}", BODY, [])

        threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(watched.issues(OWNER, REPO)) == 4
        assert watched.most_at_once == 1
        gaps = [b - a for a, b in zip(watched.arrivals, watched.arrivals[1:], strict=False)]
        assert len(gaps) == 3 and min(gaps) >= spacing.total_seconds()


@pytest.mark.parametrize(("repeat", "minutes"), [(1, 1), (2, 2), (4, 8), (5, 15), (40, 15)])
def test_secondary_waits_are_capped(repeat: int, minutes: int) -> None:
    assert GitHubPacer().wait(repeat) == timedelta(minutes=minutes)
    assert GitHubPacer().wait(repeat) <= SECONDARY_MAX_WAIT


def test_a_counted_secondary_limit_without_retry_after_waits_at_least_a_minute(
    fake: GitHubFake,
) -> None:
    fake.limits.secondary_per_minute = 1
    fake.limits.secondary_retry_after = False
    issues = adapter(fake)
    issues.create(REPOSITORY, "first", BODY, [])
    fake.clock.advance(55)  # GitHub's window frees in 5 s, but it does not say so
    with pytest.raises(TrackerRateLimited) as limited:
        issues.create(REPOSITORY, "second", BODY, [])
    assert limited.value.retry_after == timedelta(minutes=1)
    fake.clock.advance(60)
    assert issues.create(REPOSITORY, "second", BODY, []).number == 2
    assert fake.limits.violations == []


def test_retry_after_is_honoured_as_given(fake: GitHubFake) -> None:
    fake.fail_next(SecondaryRateLimit(retry_after=7, status=429), method="POST")
    with pytest.raises(TrackerRateLimited) as limited:
        adapter(fake).create(REPOSITORY, "Checkout fails", BODY, [])
    assert (limited.value.secondary, limited.value.retry_after) == (True, timedelta(seconds=7))
    assert "secondary rate limit" in limited.value.detail


@pytest.mark.parametrize("status", [403, 429])
def test_a_primary_limit_waits_until_the_reset(fake: GitHubFake, status: int) -> None:
    fake.limits.primary_status = status
    fake.limits.core_limit = 1
    number = fake.seed_issue(OWNER, REPO, "seeded", BODY)
    issues = adapter(fake)
    issues.get(REPOSITORY, number)
    with pytest.raises(TrackerRateLimited) as limited:
        issues.get(REPOSITORY, number)
    assert not limited.value.secondary
    # The window resets an hour after its first request (x-ratelimit-reset, in whole seconds).
    assert timedelta(minutes=59) < limited.value.retry_after <= timedelta(hours=1, seconds=2)
    assert "API rate limit exceeded" in limited.value.detail


def test_the_budget_is_what_githubs_latest_answer_per_resource_said(fake: GitHubFake) -> None:
    """The rate-limit headers of every answer, refusals included, are kept per resource (core
    and search count apart), for the workflow's `faultline.github.budget`."""
    fake.limits.core_limit = 4
    issues = adapter(fake)
    assert issues.budget() == []
    number = fake.seed_issue(OWNER, REPO, "seeded", BODY)
    issues.get(REPOSITORY, number)
    issues.get(REPOSITORY, number)
    (core,) = issues.budget()
    assert (core.resource, core.limit, core.used, core.share_used) == ("core", 4, 2, 50.0)
    issues.find_by_marker(REPOSITORY, "0" * 32, "faultline", None)  # the list, then search
    budgets = {budget.resource: budget for budget in issues.budget()}
    assert set(budgets) == {"core", "search"} and budgets["search"].limit == 30
    for _ in range(budgets["core"].limit - budgets["core"].used):
        issues.get(REPOSITORY, number)
    with pytest.raises(TrackerRateLimited):
        issues.get(REPOSITORY, number)
    assert {b.resource: b.share_used for b in issues.budget()}["core"] == 100.0


def test_a_tokens_stated_expiry_is_kept_and_a_token_without_one_states_none(
    fake: GitHubFake,
) -> None:
    """GitHub states `github-authentication-token-expiration` on answers to a token made with
    an expiry; the workflow warns before it passes (`github-token-expiring`)."""
    expires = fake.clock.now() + 5 * 86400 + 0.9  # GitHub states whole seconds
    token = fake.add_token("faultline", role="write", expires_at=expires)
    number = fake.seed_issue(OWNER, REPO, "seeded", BODY)
    expiring = adapter(fake, token)
    assert expiring.token_expires() is None  # nothing asked yet
    expiring.get(REPOSITORY, number)
    stated = expiring.token_expires()
    assert stated is not None and stated.tzinfo is not None
    assert stated.timestamp() == int(expires)
    lasting = adapter(fake)
    lasting.get(REPOSITORY, number)
    assert lasting.token_expires() is None
    fake.clock.advance(5 * 86400 + 1)  # past it: GitHub refuses the token
    with pytest.raises(TrackerRefused) as refused:
        expiring.get(REPOSITORY, number)
    assert (refused.value.status, refused.value.kind) == (401, "credentials")


@pytest.mark.parametrize(
    ("stated", "iso"),
    [
        ("2021-10-07 19:07:53 UTC", "2021-10-07T19:07:53+00:00"),
        ("2021-10-07 19:07:53 +0200", "2021-10-07T19:07:53+02:00"),
        ("next tuesday", None),
    ],
)
def test_the_expiry_header_is_read_as_github_writes_it(stated: str, iso: str | None) -> None:
    moment = _token_expiration(stated)
    assert (moment.isoformat() if moment else None) == iso


# -- refusals ------------------------------------------------------------------------------------


def test_a_missing_issue_or_repository_is_a_permanent_refusal(fake: GitHubFake) -> None:
    issues = adapter(fake)
    with pytest.raises(TrackerRefused) as missing:
        issues.get(REPOSITORY, 42)
    assert (missing.value.status, missing.value.kind, missing.value.permanent) == (
        404,
        "not-found",
        True,
    )
    assert missing.value.reason == "Not Found"
    assert missing.value.what == f"get issue {REPOSITORY}#42"
    with pytest.raises(TrackerRefused) as gone:
        issues.create("acme/deleted", "Checkout fails", BODY, ["faultline"])
    assert (gone.value.status, gone.value.what) == (404, "create issue in acme/deleted")
    # One request each: nothing was retried.
    assert [r.status for r in fake.requests] == [404, 404]


def test_validation_failures_carry_githubs_message(fake: GitHubFake) -> None:
    with pytest.raises(TrackerRefused) as invalid:
        adapter(fake).create(REPOSITORY, "x" * 300, BODY, [])
    assert (invalid.value.status, invalid.value.kind, invalid.value.permanent) == (
        422,
        "invalid",
        True,
    )
    assert invalid.value.reason == (
        "Validation Failed: title is too long (maximum is 256 characters)"
    )


def test_a_refusal_never_repeats_anything_shaped_like_a_token(fake: GitHubFake) -> None:
    """GitHub echoes an invalid label's name; one shaped like a token is scrubbed."""
    label = "ghp_" + "A1b2" * 14
    with pytest.raises(TrackerRefused) as invalid:
        adapter(fake).create(REPOSITORY, "Checkout fails", BODY, [label])
    assert invalid.value.reason == "Validation Failed: Label name invalid (***)"
    assert label not in str(invalid.value)


@pytest.mark.parametrize(("app", "who"), [(False, "personal access token"), (True, "integration")])
def test_a_missing_token_permission_is_a_permanent_refusal(
    fake: GitHubFake, app: bool, who: str
) -> None:
    token = fake.add_token("reader", role="write", issues="read", app=app)
    issues = adapter(fake, token)
    with pytest.raises(TrackerRefused) as refused:
        issues.create(REPOSITORY, "Checkout fails", BODY, [])
    assert (refused.value.status, refused.value.kind, refused.value.permanent) == (
        403,
        "forbidden",
        True,
    )
    assert refused.value.reason == f"Resource not accessible by {who}: the token needs issues=write"
    assert token not in str(refused.value)


def test_a_role_too_low_to_label_is_a_permanent_refusal(fake: GitHubFake) -> None:
    number = fake.seed_issue(OWNER, REPO, "seeded", BODY)
    issues = adapter(fake, fake.add_token("reader", role="read"))
    with pytest.raises(TrackerRefused) as refused:
        issues.add_labels(REPOSITORY, number, ["bug"])
    assert (refused.value.status, refused.value.reason) == (
        403,
        "Must have admin rights to Repository.",
    )
    with pytest.raises(TrackerRefused) as edit:
        issues.edit(REPOSITORY, number, state="closed")  # someone else's issue
    assert (edit.value.status, edit.value.what) == (403, f"update issue {REPOSITORY}#{number}")


def test_a_401_after_the_token_refresh_is_a_permanent_refusal(fake: GitHubFake) -> None:
    asked: list[bool] = []

    def token(refresh: bool) -> str:
        asked.append(refresh)
        return "ghp_revokedrevokedrevoked"

    issues = GitHubIssues(
        token,
        fake.base_url,
        timeout=5,
        pacer=GitHubPacer(clock=fake.clock.now, write_spacing=timedelta(0)),
    )
    with pytest.raises(TrackerRefused) as refused:
        issues.create(REPOSITORY, "Checkout fails", BODY, [])
    assert (refused.value.status, refused.value.kind, refused.value.reason) == (
        401,
        "credentials",
        "Bad credentials",
    )
    assert asked == [False, True]  # refreshed once, then gave up
    assert [r.status for r in fake.calls("POST")] == [401, 401]
    assert "revoked" not in str(refused.value)


def test_server_errors_stay_retryable(fake: GitHubFake) -> None:
    fake.fail_next(ServerError(502), method="POST")
    with pytest.raises(GitHubUnavailable, match="502"):
        adapter(fake).create(REPOSITORY, "Checkout fails", BODY, [])


# -- labels and authors --------------------------------------------------------------------------


def test_labels_dropped_without_push_access_are_reported(fake: GitHubFake) -> None:
    """GitHub creates the issue but drops its labels silently for a token without push access."""
    issues = adapter(fake, fake.add_token("reporter", role="read"))
    created = issues.create(REPOSITORY, "Checkout fails", BODY, ["bug", "Documentation"])
    assert (created.labels, created.dropped_labels) == ((), ("bug", "Documentation"))
    assert created.author == "reporter"
    assert fake.issues(OWNER, REPO)[0]["labels"] == []


def test_labels_that_do_not_exist_yet_cannot_be_created_without_push_access(
    fake: GitHubFake,
) -> None:
    """GitHub refuses the whole issue (403) when it would have to create a label; the adapter
    creates it without labels, which is what GitHub would have done with existing ones."""
    issues = adapter(fake, fake.add_token("reporter", role="read"))
    created = issues.create(REPOSITORY, "Checkout fails", BODY, ["faultline", "bug"])
    assert (created.number, created.dropped_labels) == (1, ("faultline", "bug"))
    assert [r.status for r in fake.calls("POST", "/repos/acme/shop/issues")] == [403, 201]
    assert len(fake.issues(OWNER, REPO)) == 1


def test_nothing_is_dropped_with_push_access_whatever_the_case(fake: GitHubFake) -> None:
    created = adapter(fake).create(REPOSITORY, "Checkout fails", BODY, ["BUG", "faultline"])
    assert created.labels == ("bug", "faultline")  # GitHub keeps the existing label's spelling
    assert (created.dropped_labels, created.author, created.id > 0) == ((), USER_LOGIN, True)


def test_the_login_is_asked_once_per_token(fake: GitHubFake) -> None:
    assert adapter(fake).login() == USER_LOGIN
    assert adapter(fake).login() == USER_LOGIN  # a new client per activity: still cached
    assert identity_calls(fake) == [("GET", "/user", 200)]


def test_an_app_token_learns_its_login_from_graphql(fake: GitHubFake) -> None:
    assert adapter(fake, fake.app_token).login() == APP_LOGIN
    assert identity_calls(fake) == [("GET", "/user", 403), ("POST", "/graphql", 200)]


def test_only_issues_by_the_tokens_own_login_are_adopted(fake: GitHubFake) -> None:
    """Someone who quotes the marker in their own issue does not get it adopted, on the list
    (asked by creator) nor in search."""
    mallory = adapter(fake, fake.add_token("mallory", role="write"))
    mallory.create(REPOSITORY, "Copied", BODY, ["faultline"])
    fake.clock.advance(fake.search.lag)
    issues = adapter(fake)
    assert issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is None
    listed = fake.calls("GET", "/repos/acme/shop/issues")
    assert listed and all(r.query.get("creator") == USER_LOGIN for r in listed)
    assert all("labels" not in r.query for r in listed)

    own = issues.create(REPOSITORY, "Checkout fails", BODY, ["faultline"])
    mallory.create(REPOSITORY, "Copied again", BODY, ["faultline"])  # newer than ours
    found = issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and (found.number, found.author) == (own.number, USER_LOGIN)


def test_with_a_marker_key_only_signed_markers_are_adopted(fake: GitHubFake) -> None:
    """The token's own login can write a marker by hand (a maintainer's PAT, a pasted body):
    with a key, only a marker signed for this repository counts, on the list and in search."""
    key = b"s" * 32
    signed = f"{marker(FINGERPRINT, marker_signature(key, REPOSITORY, FINGERPRINT))}\nours\n"
    issues = adapter(fake, marker_key=key)
    pasted = issues.create(REPOSITORY, "Pasted", BODY, ["faultline"])
    assert issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is None
    own = issues.create(REPOSITORY, "Checkout fails", signed, ["faultline"])
    issues.create(REPOSITORY, "Pasted again", BODY, ["faultline"])  # newer, unsigned
    found = issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == own.number
    since = pasted.created_at
    assert [i.number for i in issues.issues_with_marker(REPOSITORY, FINGERPRINT, "x", since)] == [
        own.number
    ]
    for n in range(30):  # push both out of the recent list: search must tell them apart too
        fake.seed_issue(OWNER, REPO, f"other {n}", "no marker")
    fake.clock.advance(fake.search.lag)
    found = adapter(fake, marker_key=key).find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == own.number


def test_only_the_tokens_own_comments_are_read_back(fake: GitHubFake) -> None:
    """A comment marker quoted by someone else must not make Faultline skip its own comment."""
    issues = adapter(fake)
    number = issues.create(REPOSITORY, "Checkout fails", BODY, []).number
    mallory = adapter(fake, fake.add_token("mallory", role="read"))
    mallory.comment(REPOSITORY, number, "<!-- faultline:comment=abc:after=3 -->")
    issues.comment(REPOSITORY, number, "5 new occurrences <!-- faultline:comment=abc:after=0 -->")
    assert issues.comment_bodies(REPOSITORY, number) == [
        "5 new occurrences <!-- faultline:comment=abc:after=0 -->"
    ]


def test_an_older_own_issue_is_found_by_search_past_someone_elses(
    fake: GitHubFake,
) -> None:
    own = fake.seed_issue(OWNER, REPO, "Checkout fails", BODY, labels=["faultline"])
    for n in range(30):  # push it out of the recent list
        fake.seed_issue(OWNER, REPO, f"other {n}", "no marker")
    adapter(fake, fake.add_token("mallory", role="write")).create(REPOSITORY, "Copy", BODY, [])
    fake.clock.advance(fake.search.lag)
    found = adapter(fake).find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == own
    assert len(fake.calls("GET", "/search/issues")) == 1


def test_an_issue_without_labels_is_found_by_its_creator_at_once(
    fake: GitHubFake,
) -> None:
    """A token without push access cannot set the label; a list by label would miss the issue
    and search lags behind it, so a retried create would make a duplicate."""
    issues = adapter(fake, fake.add_token("reporter", role="read"))
    created = issues.create(REPOSITORY, "Checkout fails", BODY, ["faultline"])
    assert created.dropped_labels == ("faultline",)
    found = issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", created.created_at)
    assert found is not None and (found.number, found.author) == (created.number, "reporter")
    assert fake.calls("GET", "/search/issues") == []  # the list sufficed, before search indexed


def test_without_a_login_endpoint_the_label_list_is_used() -> None:
    """A server that answers neither `/user` nor GraphQL (not GitHub): no author check."""
    with NotGitHubFake(clock=FakeClock(running=False)) as plain:
        plain.add_repository(OWNER, REPO)
        issues = adapter(plain)
        created = issues.create(REPOSITORY, "Checkout fails", BODY, ["faultline"])
        assert issues.login() is None
        found = issues.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
        assert found is not None and found.number == created.number
        listed = plain.calls("GET", "/repos/acme/shop/issues")
        assert [r.query.get("labels") for r in listed] == ["faultline"]
