"""The GitHub fake, driven through the real githubkit client.

These prove the fake answers in shapes githubkit's models accept (``.parsed_data`` validates
lazily) and reproduces the GitHub behaviours the issue workflow must survive (at least as
strictly as GitHub), and they pin down how githubkit itself reacts: which exception each failure
becomes and what ``auto_retry`` does. The fixture's clock stands still unless a test advances
it, so every wait below is explicit.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import githubkit.core
import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import (
    PrimaryRateLimitExceeded,
    RequestFailed,
    RequestTimeout,
    SecondaryRateLimitExceeded,
)

from tests.fakes.github import (
    COPILOT_ASSIGNEE,
    Abuse,
    FakeClock,
    GitHubFake,
    LandsLater,
    SecondaryRateLimit,
    ServerError,
    ServerErrorAfterSuccess,
    TimeoutAfterSuccess,
)

pytestmark = pytest.mark.integration

OWNER, REPO = "acme", "shop"
MARKER = "faultline:fingerprint=abc123"
BODY = f"Checkout fails with HTTP 500.\n\n<!-- {MARKER} -->\n"
MARKER_QUERY = f'repo:{OWNER}/{REPO} is:issue in:body "{MARKER}"'


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(clock=FakeClock(running=False)) as github:
        github.add_repository(OWNER, REPO)
        github.add_user("alice")
        yield github


def client(fake: GitHubFake, token: str | None = None, **options: Any) -> GitHub[Any]:
    """A client as production should build one: no hidden retries, and no HTTP cache.

    githubkit's default HTTP cache (hishel) loses httpx's timeout, so requests could hang.
    """
    options.setdefault("auto_retry", False)
    options.setdefault("http_cache", False)
    return GitHub(TokenAuthStrategy(token or fake.user_token), base_url=fake.base_url, **options)


@pytest.fixture
def gh(fake: GitHubFake) -> Iterator[GitHub[Any]]:
    with client(fake) as github:
        yield github


def items(response: Any) -> list[Any]:
    """``parsed_data`` of a list endpoint, typed for mypy.

    githubkit annotates these as ``list[...]`` inside classes that define a ``list`` method, so
    mypy takes the method for the builtin and rejects iterating the result.
    """
    return list(response.parsed_data)


def create(gh: GitHub[Any], title: str = "Checkout fails", body: str = BODY, **kw: Any) -> int:
    return gh.rest.issues.create(OWNER, REPO, title=title, body=body, **kw).parsed_data.number


def indexed(fake: GitHubFake) -> None:
    """Let the search index catch up with every write so far."""
    fake.clock.advance(fake.search.lag)


def refusal(call: Any) -> Any:
    """The response of a call that GitHub refuses."""
    with pytest.raises(RequestFailed) as refused:
        call()
    return refused.value.response


def test_issue_lifecycle(fake: GitHubFake, gh: GitHub[Any]) -> None:
    created = gh.rest.issues.create(
        OWNER, REPO, title="Checkout fails", body=BODY, labels=["faultline", "bug"]
    )
    assert created.status_code == 201
    issue = created.parsed_data
    assert (issue.number, issue.state, issue.body) == (1, "open", BODY)
    assert [label.name for label in issue.labels] == ["faultline", "bug"]  # type: ignore[union-attr]
    assert created.headers["location"] == issue.url
    assert "faultline" in fake.labels(OWNER, REPO)  # created on first use, as GitHub does

    got = gh.rest.issues.get(OWNER, REPO, 1).parsed_data
    assert (got.id, got.title, got.user.login if got.user else None) == (
        issue.id,
        "Checkout fails",
        "faultline-maintainer",
    )

    gh.rest.issues.update(OWNER, REPO, 1, title="Checkout fails (x3)", body="new body")
    closed = gh.rest.issues.update(OWNER, REPO, 1, state="closed", state_reason="not_planned")
    assert closed.parsed_data.state == "closed"
    assert closed.parsed_data.state_reason == "not_planned"
    assert closed.parsed_data.closed_at is not None
    reopened = gh.rest.issues.update(OWNER, REPO, 1, state="open").parsed_data
    assert (reopened.state, reopened.state_reason, reopened.closed_at) == ("open", "reopened", None)
    assert gh.rest.issues.get(OWNER, REPO, 1).parsed_data.title == "Checkout fails (x3)"
    assert fake.issues(OWNER, REPO)[0] | {"agent_assignment": None} == {
        "number": 1,
        "title": "Checkout fails (x3)",
        "body": "new body",
        "state": "open",
        "state_reason": "reopened",
        "duplicate_of": None,
        "labels": ["faultline", "bug"],
        "assignees": [],
        "comments": [],
        "author": "faultline-maintainer",
        "agent_assignment": None,
        "pinned": False,
    }


def test_comments_and_labels(fake: GitHubFake, gh: GitHub[Any]) -> None:
    number = create(gh)
    comment = gh.rest.issues.create_comment(OWNER, REPO, number, body="Seen again: 42 times")
    assert comment.status_code == 201
    assert comment.parsed_data.body == "Seen again: 42 times"
    listed = items(gh.rest.issues.list_comments(OWNER, REPO, number))
    assert [c.id for c in listed] == [comment.parsed_data.id]
    assert gh.rest.issues.get(OWNER, REPO, number).parsed_data.comments == 1

    labels = gh.rest.issues.add_labels(OWNER, REPO, number, labels=["faultline", "sev2"])
    assert [label.name for label in items(labels)] == ["faultline", "sev2"]
    remaining = items(gh.rest.issues.remove_label(OWNER, REPO, number, "sev2"))
    assert [label.name for label in remaining] == ["faultline"]

    created = gh.rest.issues.create_label(OWNER, REPO, name="triaged", color="00ff00")
    assert (created.status_code, created.parsed_data.color) == (201, "00ff00")
    with pytest.raises(RequestFailed) as duplicate:
        gh.rest.issues.create_label(OWNER, REPO, name="Triaged")
    assert duplicate.value.response.status_code == 422
    assert duplicate.value.response.json()["errors"][0]["code"] == "already_exists"
    names = {label.name for label in items(gh.rest.issues.list_labels_for_repo(OWNER, REPO))}
    assert {"bug", "faultline", "sev2", "triaged"} <= names


def test_unknown_assignees_are_dropped_silently(fake: GitHubFake, gh: GitHub[Any]) -> None:
    issue = gh.rest.issues.create(
        OWNER, REPO, title="t", assignees=["alice", "mallory"]
    ).parsed_data
    assert [u.login for u in issue.assignees or []] == ["alice"]
    fake.add_user("bob")
    added = gh.rest.issues.add_assignees(OWNER, REPO, issue.number, assignees=["bob", "eve"])
    assert added.status_code == 201
    assert [u.login for u in added.parsed_data.assignees or []] == ["alice", "bob"]
    removed = gh.rest.issues.remove_assignees(OWNER, REPO, issue.number, assignees=["alice"])
    assert [u.login for u in removed.parsed_data.assignees or []] == ["bob"]


def test_copilot_is_assigned_with_a_user_token_only(fake: GitHubFake) -> None:
    agent = {"base_branch": "main", "custom_instructions": "Add a regression test first."}
    # githubkit's request model lacks ``agent_assignment`` and drops it while validating, so
    # sending it needs ``rest_api_validate_body=False`` (or ``gh.request`` directly).
    with client(fake, rest_api_validate_body=False) as gh:
        data = {"title": "t", "assignees": [COPILOT_ASSIGNEE], "agent_assignment": agent}
        issue = gh.rest.issues.create(OWNER, REPO, data=data).parsed_data  # type: ignore[arg-type]
    assert [(u.login, u.type) for u in issue.assignees or []] == [("Copilot", "Bot")]
    assert fake.issues(OWNER, REPO)[0]["agent_assignment"] == agent

    with client(fake) as gh:
        gh.rest.issues.create(OWNER, REPO, data=data)  # type: ignore[arg-type]
    assert "agent_assignment" not in fake.requests[-1].json  # validated away by githubkit

    with client(fake, fake.app_token, rest_api_validate_body=False) as app:
        response = app.rest.issues.create(OWNER, REPO, data=data)  # type: ignore[arg-type]
        assert response.status_code == 201
        assert response.parsed_data.assignees == []
        assert response.parsed_data.user and response.parsed_data.user.type == "Bot"
        later = app.rest.issues.add_assignees(OWNER, REPO, 3, assignees=[COPILOT_ASSIGNEE])
        assert (later.status_code, later.parsed_data.assignees) == (201, [])
    with client(fake) as gh:
        assigned = gh.rest.issues.add_assignees(OWNER, REPO, 3, assignees=[COPILOT_ASSIGNEE])
        assert [u.login for u in assigned.parsed_data.assignees or []] == ["Copilot"]
        gh.rest.issues.remove_assignees(OWNER, REPO, 3, assignees=["Copilot"])
    assert fake.issues(OWNER, REPO)[2]["assignees"] == []


def test_search_finds_the_hidden_marker(fake: GitHubFake, gh: GitHub[Any]) -> None:
    create(gh, "other", "unrelated <!-- faultline:fingerprint=ffff00 -->")
    number = create(gh, labels=["faultline"])
    indexed(fake)
    result = gh.rest.search.issues_and_pull_requests(q=MARKER_QUERY).parsed_data
    assert (result.total_count, result.incomplete_results, result.search_type) == (
        1,
        False,
        "lexical",
    )
    assert result.items[0].number == number
    assert result.items[0].score == 1.0
    assert result.items[0].body == BODY

    query = f"repo:{OWNER}/{REPO} is:issue label:faultline state:open"
    assert [i.number for i in gh.rest.search.issues_and_pull_requests(q=query).parsed_data.items]
    gh.rest.issues.update(OWNER, REPO, number, state="closed")
    indexed(fake)
    closed = f"{MARKER_QUERY} is:closed"
    assert gh.rest.search.issues_and_pull_requests(q=closed).parsed_data.total_count == 1
    assert (
        gh.rest.search.issues_and_pull_requests(q=f"{MARKER_QUERY} is:open").parsed_data.items == []
    )
    assert (
        gh.rest.search.issues_and_pull_requests(
            q=f"{MARKER_QUERY} -label:faultline"
        ).parsed_data.items
        == []
    )


def test_search_matches_words_not_characters(fake: GitHubFake, gh: GitHub[Any]) -> None:
    """Like GitHub, punctuation is ignored: the workflow must re-check the exact marker."""
    create(gh, "lookalike", "faultline fingerprint abc123")
    create(gh, "prefix", "<!-- faultline:fingerprint=abc1234 -->")
    indexed(fake)
    items = gh.rest.search.issues_and_pull_requests(q=MARKER_QUERY).parsed_data.items
    assert [(i.title, MARKER in (i.body or "")) for i in items] == [("lookalike", False)]


def test_search_lags_behind_writes(fake: GitHubFake, gh: GitHub[Any]) -> None:
    assert fake.search.lag == 30  # on by default: tens of seconds, as observed on GitHub
    number = create(gh)
    search = gh.rest.search.issues_and_pull_requests
    assert search(q=MARKER_QUERY).parsed_data.total_count == 0
    fake.clock.advance(29)
    assert search(q=MARKER_QUERY).parsed_data.total_count == 0
    # Listing reads the database, not the index: the issue is there at once.
    listed = items(gh.rest.issues.list_for_repo(OWNER, REPO))
    assert [i.number for i in listed] == [number]
    fake.clock.advance(1)
    assert search(q=MARKER_QUERY).parsed_data.items[0].number == number

    gh.rest.issues.update(OWNER, REPO, number, state="closed")
    stale = search(q=MARKER_QUERY).parsed_data.items
    assert [i.state for i in stale] == ["open"]  # the index still holds the old document
    indexed(fake)
    assert [i.state for i in search(q=MARKER_QUERY).parsed_data.items] == ["closed"]


def test_seeded_issues_exist_before_the_test(fake: GitHubFake, gh: GitHub[Any]) -> None:
    # seeding bypasses the lag: the issue was indexed long ago
    number = fake.seed_issue(OWNER, REPO, "old", BODY, labels=["faultline"], state="closed")
    found = gh.rest.search.issues_and_pull_requests(q=MARKER_QUERY).parsed_data.items
    assert [(i.number, i.state) for i in found] == [(number, "closed")]
    assert create(gh) == number + 1


def test_search_requires_an_issue_qualifier_and_a_known_repo(gh: GitHub[Any]) -> None:
    for query in (f'repo:{OWNER}/{REPO} "{MARKER}"', f"repo:{OWNER}/nope is:issue x"):
        with pytest.raises(RequestFailed) as error:
            gh.rest.search.issues_and_pull_requests(q=query)
        assert error.value.response.status_code == 422


def test_list_filters_and_paginates(fake: GitHubFake, gh: GitHub[Any]) -> None:
    for i in range(5):
        create(gh, f"issue {i}", labels=["faultline"] if i % 2 == 0 else [])
    gh.rest.issues.update(OWNER, REPO, 5, state="closed")
    first = gh.rest.issues.list_for_repo(OWNER, REPO, state="all", per_page=2)
    assert [i.number for i in items(first)] == [5, 4]
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    everything: Iterable[Any] = gh.rest.paginate(
        gh.rest.issues.list_for_repo, owner=OWNER, repo=REPO, state="all", per_page=2
    )
    assert [i.number for i in everything] == [5, 4, 3, 2, 1]
    open_labelled = items(gh.rest.issues.list_for_repo(OWNER, REPO, labels="faultline"))
    assert [i.number for i in open_labelled] == [3, 1]
    oldest = items(gh.rest.issues.list_for_repo(OWNER, REPO, direction="asc", per_page=1))
    assert [i.number for i in oldest] == [1]


def test_since_lists_only_what_changed_from_that_second_on(
    fake: GitHubFake, gh: GitHub[Any]
) -> None:
    old = create(gh, "old")
    gh.rest.issues.create_comment(OWNER, REPO, old, body="before")
    fake.clock.advance(60)
    since = datetime.fromtimestamp(int(fake.clock.now()), UTC)
    new = create(gh, "new")
    gh.rest.issues.create_comment(OWNER, REPO, old, body="after")
    changed = items(gh.rest.issues.list_for_repo(OWNER, REPO, state="all", since=since))
    assert sorted(i.number for i in changed) == sorted([old, new]), "a comment updates the issue"
    fake.clock.advance(60)
    later = datetime.fromtimestamp(int(fake.clock.now()), UTC)
    assert items(gh.rest.issues.list_for_repo(OWNER, REPO, state="all", since=later)) == []
    comments = items(gh.rest.issues.list_comments(OWNER, REPO, old, since=since))
    assert [c.body for c in comments] == ["after"]
    with pytest.raises(RequestFailed) as refused:
        gh.request("GET", f"/repos/{OWNER}/{REPO}/issues", params={"since": "yesterday"})
    assert refused.value.response.status_code == 422


def test_auth_and_not_found(fake: GitHubFake) -> None:
    with client(fake, "ghp_wrong") as gh, pytest.raises(RequestFailed) as error:
        gh.rest.issues.get(OWNER, REPO, 1)
    assert error.value.response.status_code == 401
    assert error.value.response.json()["message"] == "Bad credentials"
    assert error.value.response.headers["x-ratelimit-limit"] == "60"  # the anonymous budget
    with client(fake) as gh:
        for call in (
            lambda: gh.rest.issues.get(OWNER, "missing", 1),
            lambda: gh.rest.issues.get(OWNER, REPO, 99),
        ):
            with pytest.raises(RequestFailed) as missing:
                call()
            assert missing.value.response.status_code == 404
            assert missing.value.response.json()["message"] == "Not Found"


def test_a_token_made_with_an_expiry_states_it_until_it_is_refused(fake: GitHubFake) -> None:
    """As GitHub does for a personal access token made with an expiry; a token without one,
    and an App installation token, state none."""
    with client(fake) as gh:
        number = create(gh)
    expiring = fake.add_token("alice", role="write", expires_at=fake.clock.now() + 3600.5)
    with client(fake, expiring) as gh:
        stated = gh.rest.issues.get(OWNER, REPO, number).headers
        expected = datetime.fromtimestamp(fake.clock.now() + 3600, UTC)
        assert stated["github-authentication-token-expiration"] == (
            f"{expected:%Y-%m-%d %H:%M:%S} UTC"
        )
        fake.clock.advance(3601)
        refused = refusal(lambda: gh.rest.issues.get(OWNER, REPO, number))
        assert refused.status_code == 401
    for lasting in (fake.user_token, fake.app_token):
        with client(fake, lasting) as gh:
            headers = gh.rest.issues.get(OWNER, REPO, number).headers
            assert "github-authentication-token-expiration" not in headers


def test_secondary_rate_limit_counts_writes(fake: GitHubFake) -> None:
    fake.limits.secondary_per_minute = 3
    with client(fake) as gh:
        number = create(gh)
        gh.rest.issues.create_comment(OWNER, REPO, number, body="1")
        gh.rest.issues.get(OWNER, REPO, number)  # reads do not count
        fake.clock.advance(30)
        gh.rest.issues.create_comment(OWNER, REPO, number, body="2")
        with pytest.raises(SecondaryRateLimitExceeded) as limited:
            gh.rest.issues.create_comment(OWNER, REPO, number, body="3")
        assert limited.value.response.status_code == 403
        assert limited.value.response.headers["retry-after"] == "30"
        assert limited.value.retry_after == timedelta(seconds=30)
        assert "secondary rate limit" in limited.value.response.json()["message"]
        fake.clock.advance(30)
        gh.rest.issues.create_comment(OWNER, REPO, number, body="3")
    assert fake.issues(OWNER, REPO)[0]["comments"] == ["1", "2", "3"]
    assert [r.status for r in fake.calls("POST")] == [201, 201, 201, 403, 201]


def test_injected_secondary_limits(fake: GitHubFake, gh: GitHub[Any]) -> None:
    fake.fail_next(SecondaryRateLimit(retry_after=7, status=429), method="POST")
    with pytest.raises(SecondaryRateLimitExceeded) as limited:
        create(gh)
    assert (limited.value.response.status_code, limited.value.retry_after) == (
        429,
        timedelta(seconds=7),
    )
    fake.clock.advance(7)
    fake.fail_next(Abuse(retry_after=5))
    with pytest.raises(SecondaryRateLimitExceeded):
        create(gh)
    fake.clock.advance(5)
    # Without retry-after (and with quota left) githubkit cannot tell: a plain RequestFailed.
    fake.fail_next(SecondaryRateLimit(retry_after=None))
    with pytest.raises(RequestFailed) as bare:
        create(gh)
    assert not isinstance(bare.value, SecondaryRateLimitExceeded)
    assert "retry-after" not in bare.value.response.headers
    assert "secondary rate limit" in bare.value.response.json()["message"]
    assert fake.issues(OWNER, REPO) == []
    assert fake.limits.violations == []


def test_a_token_that_does_not_wait_as_told_is_refused_again(
    fake: GitHubFake, gh: GitHub[Any]
) -> None:
    """GitHub: do not retry before retry-after has elapsed; without it, wait at least a minute."""
    fake.fail_next(SecondaryRateLimit(retry_after=10), method="POST")
    with pytest.raises(SecondaryRateLimitExceeded):
        create(gh)
    fake.clock.advance(4)
    with pytest.raises(SecondaryRateLimitExceeded) as again:
        gh.rest.issues.list_for_repo(OWNER, REPO)  # any request, reads too
    assert again.value.retry_after == timedelta(seconds=6)
    [violation] = fake.limits.violations
    assert (violation.method, violation.waited_seconds, violation.told_to_wait_seconds) == (
        "GET",
        4,
        10,
    )
    fake.clock.advance(6)
    assert create(gh) == 1

    fake.fail_next(SecondaryRateLimit(retry_after=None), method="POST")
    response = refusal(lambda: create(gh))
    assert (response.status_code, "retry-after" in response.headers) == (403, False)
    fake.clock.advance(59)
    assert "retry-after" not in refusal(lambda: create(gh)).headers
    fake.clock.advance(1)
    assert create(gh) == 2
    assert [v.told_to_wait_seconds for v in fake.limits.violations] == [10, 60]


def test_counted_secondary_limit_can_come_without_retry_after(fake: GitHubFake) -> None:
    fake.limits.secondary_per_minute = 2
    fake.limits.secondary_retry_after = False
    with client(fake) as gh:
        create(gh)
        fake.clock.advance(50)
        create(gh)
        fake.clock.advance(5)
        with pytest.raises(RequestFailed) as limited:
            create(gh)  # its window frees in 5 s, but without retry-after: wait a minute
        assert not isinstance(limited.value, SecondaryRateLimitExceeded)
        assert "secondary rate limit" in limited.value.response.json()["message"]
        fake.clock.advance(30)
        assert refusal(lambda: create(gh)).status_code == 403
        fake.clock.advance(30)
        assert create(gh) == 3
    assert len(fake.limits.violations) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit(fake: GitHubFake, status: int) -> None:
    fake.limits.primary_status = status
    fake.limits.core_limit = 2
    with client(fake) as gh:
        first = gh.rest.issues.list_for_repo(OWNER, REPO)
        assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
            "2",
            "1",
        )
        assert first.headers["x-ratelimit-resource"] == "core"
        gh.rest.issues.list_for_repo(OWNER, REPO)
        with pytest.raises(PrimaryRateLimitExceeded) as limited:
            gh.rest.issues.list_for_repo(OWNER, REPO)
        headers = limited.value.response.headers
        assert (headers["x-ratelimit-remaining"], limited.value.response.status_code) == (
            "0",
            status,
        )
        assert "API rate limit exceeded for user ID" in limited.value.response.json()["message"]
        # githubkit derives the wait from x-ratelimit-reset against the real clock.
        assert timedelta(minutes=59) < limited.value.retry_after <= timedelta(hours=1)
        # Search has its own budget.
        search = gh.rest.search.issues_and_pull_requests(q=MARKER_QUERY)
        assert search.headers["x-ratelimit-resource"] == "search"
        fake.clock.advance(3600)
        assert gh.rest.issues.list_for_repo(OWNER, REPO).headers["x-ratelimit-used"] == "1"


def test_server_error_changes_nothing(fake: GitHubFake, gh: GitHub[Any]) -> None:
    fake.fail_next(ServerError(502), method="POST", path=f"/repos/{OWNER}/{REPO}/issues")
    gh.rest.issues.list_for_repo(OWNER, REPO)  # a GET does not match the queued fault
    with pytest.raises(RequestFailed) as error:
        create(gh)
    assert error.value.response.status_code == 502
    assert fake.issues(OWNER, REPO) == []
    assert create(gh) == 1


def test_timeout_after_success_leaves_the_issue_behind(fake: GitHubFake) -> None:
    fake.fail_next(TimeoutAfterSuccess(delay_seconds=5), method="POST")
    with client(fake, timeout=0.2) as gh:
        with pytest.raises(RequestTimeout):
            create(gh)
        assert [i["title"] for i in fake.issues(OWNER, REPO)] == ["Checkout fails"]
        listed = items(gh.rest.issues.list_for_repo(OWNER, REPO))
        assert [i.number for i in listed] == [1]
        indexed(fake)
        found = gh.rest.search.issues_and_pull_requests(q=MARKER_QUERY).parsed_data
        assert [i.number for i in found.items] == [1]
    assert [(r.status, r.fault) for r in fake.calls("POST")] == [(201, TimeoutAfterSuccess(5))]


def test_server_error_after_success_leaves_the_write_behind(
    fake: GitHubFake, gh: GitHub[Any]
) -> None:
    fake.fail_next(ServerErrorAfterSuccess(502), method="POST", path="*/issues")
    assert refusal(lambda: create(gh)).status_code == 502
    fake.fail_next(ServerErrorAfterSuccess(500), method="POST", path="*/comments")
    assert refusal(lambda: gh.rest.issues.create_comment(OWNER, REPO, 1, body="x")).status_code
    fake.fail_next(ServerErrorAfterSuccess(503), method="PATCH")
    assert refusal(lambda: gh.rest.issues.update(OWNER, REPO, 1, title="edited")).status_code
    [issue] = fake.issues(OWNER, REPO)
    assert (issue["title"], issue["comments"]) == ("edited", ["x"])


@pytest.mark.parametrize("status", [502, None])
def test_a_write_can_land_after_the_client_looked_for_it(
    fake: GitHubFake, status: int | None
) -> None:
    fake.fail_next(LandsLater(after_seconds=20, status=status, hold_seconds=1), method="POST")
    with client(fake, timeout=0.2) as gh:
        with pytest.raises((RequestFailed, RequestTimeout)):
            create(gh)
        # The client's retry looks first: the list, the issue, search all say it is not there.
        assert items(gh.rest.issues.list_for_repo(OWNER, REPO, state="all")) == []
        assert refusal(lambda: gh.rest.issues.get(OWNER, REPO, 1)).status_code == 404
        assert fake.issues(OWNER, REPO) == []
        fake.clock.advance(20)
        listed = items(gh.rest.issues.list_for_repo(OWNER, REPO, state="all"))
        assert [(i.number, i.body) for i in listed] == [(1, BODY)]


def test_a_late_comment_or_edit_lands_too(fake: GitHubFake, gh: GitHub[Any]) -> None:
    number = create(gh)
    fake.fail_next(LandsLater(after_seconds=10, status=504), method="POST", path="*/comments")
    fake.fail_next(LandsLater(after_seconds=15, status=502), method="PATCH")
    refusal(lambda: gh.rest.issues.create_comment(OWNER, REPO, number, body="Seen again"))
    refusal(lambda: gh.rest.issues.update(OWNER, REPO, number, body="new body"))
    assert items(gh.rest.issues.list_comments(OWNER, REPO, number)) == []
    fake.clock.advance(10)
    assert [c.body for c in items(gh.rest.issues.list_comments(OWNER, REPO, number))] == [
        "Seen again"
    ]
    assert gh.rest.issues.get(OWNER, REPO, number).parsed_data.body == BODY
    fake.clock.advance(5)
    assert gh.rest.issues.get(OWNER, REPO, number).parsed_data.body == "new body"


def test_default_http_cache_ignores_the_timeout(fake: GitHubFake) -> None:
    """hishel's transport rebuilds each request without httpx's timeout extension."""
    fake.fail_next(TimeoutAfterSuccess(delay_seconds=0.5))
    with client(fake, timeout=0.1, http_cache=True) as gh:
        assert create(gh) == 1  # waited the full 0.5 s instead of timing out after 0.1 s


def test_default_auto_retry(fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """githubkit's default retries rate limits once and 5xx three times, sleeping in between.

    That is why ``client`` above passes ``auto_retry=False``: a retried POST can duplicate an
    issue, and a primary-limit retry sleeps until the reset (up to an hour).
    """
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # time passes, on the fake's clock
        sleeps.append(seconds)
        fake.clock.advance(seconds)

    monkeypatch.setattr(githubkit.core, "time", SimpleNamespace(sleep=sleep))
    with client(fake, auto_retry=True) as gh:
        fake.fail_next(SecondaryRateLimit(retry_after=3))
        assert create(gh) == 1
        for _ in range(4):
            fake.fail_next(ServerError(502))
        with pytest.raises(RequestFailed):
            gh.rest.issues.get(OWNER, REPO, 1)
    assert sleeps == [3, 1, 4, 9]
    assert [r.status for r in fake.requests] == [403, 201, 502, 502, 502, 502]


def test_the_default_clock_runs_with_real_time() -> None:
    clock = FakeClock()
    first = clock.now()
    clock.advance(30)
    assert 30 <= clock.now() - first < 31
    frozen = FakeClock(100.0, running=False)
    assert frozen.now() == 100.0


def _errors(response: Any) -> list[dict[str, Any]]:
    payload = response.json()
    assert (response.status_code, payload["message"]) == (422, "Validation Failed")
    return list(payload["errors"])


def test_titles_bodies_and_comments_have_github_limits(fake: GitHubFake, gh: GitHub[Any]) -> None:
    number = create(gh, "t" * 256, "b" * 65_536)  # exactly at the limits is fine
    assert _errors(refusal(lambda: create(gh, "t" * 257))) == [
        {
            "resource": "Issue",
            "field": "title",
            "code": "custom",
            "message": "title is too long (maximum is 256 characters)",
        }
    ]
    assert _errors(refusal(lambda: create(gh, body="b" * 65_537))) == [
        {
            "resource": "Issue",
            "field": "body",
            "code": "custom",
            "message": "body is too long (maximum is 65536 characters)",
        }
    ]
    assert _errors(refusal(lambda: gh.rest.issues.update(OWNER, REPO, number, title="t" * 257)))
    assert _errors(refusal(lambda: gh.rest.issues.update(OWNER, REPO, number, body="b" * 70_000)))
    gh.rest.issues.create_comment(OWNER, REPO, number, body="c" * 65_536)
    too_long = refusal(
        lambda: gh.rest.issues.create_comment(OWNER, REPO, number, body="é" * 65_537)
    )
    assert _errors(too_long) == [
        {
            "resource": "IssueComment",
            "field": "data",
            "code": "unprocessable",
            "message": "Body is too long (maximum is 65536 characters)",
        }
    ]
    [issue] = fake.issues(OWNER, REPO)
    assert (len(issue["title"]), len(issue["body"]), len(issue["comments"])) == (256, 65_536, 1)


def test_label_names_have_a_fifty_character_limit(fake: GitHubFake, gh: GitHub[Any]) -> None:
    long_name = "released on @feature/" + "x" * 30  # 51 characters
    gh.rest.issues.create_label(OWNER, REPO, name="l" * 50)
    assert _errors(refusal(lambda: gh.rest.issues.create_label(OWNER, REPO, name=long_name))) == [
        {
            "resource": "Label",
            "field": "name",
            "code": "custom",
            "message": "name is too long (maximum is 50 characters)",
        }
    ]
    on_create = refusal(lambda: create(gh, labels=["faultline", long_name]))
    assert _errors(on_create) == [
        {"value": long_name, "resource": "Label", "field": "name", "code": "invalid"}
    ]
    number = create(gh, labels=["faultline"])
    assert _errors(
        refusal(lambda: gh.rest.issues.add_labels(OWNER, REPO, number, labels=[long_name]))
    )
    assert _errors(refusal(lambda: gh.rest.issues.update(OWNER, REPO, number, labels=[long_name])))
    assert long_name not in fake.labels(OWNER, REPO)
    assert [i["labels"] for i in fake.issues(OWNER, REPO)] == [["faultline"]]


@pytest.mark.parametrize("role", ["read", "triage"])
def test_without_push_access_labels_and_assignees_on_a_new_issue_vanish(
    fake: GitHubFake, role: str
) -> None:
    token = fake.add_token("outsider", role=role)
    with client(fake, token) as gh:
        created = gh.rest.issues.create(
            OWNER, REPO, title="t", body=BODY, labels=["bug"], assignees=["alice"]
        )
        assert created.status_code == 201
        assert (created.parsed_data.labels, created.parsed_data.assignees) == ([], [])
        # A label that does not exist yet is not dropped but refused, and nothing is created.
        refused = refusal(lambda: create(gh, labels=["faultline"]))
        assert refused.status_code == 403
        assert refused.json()["errors"] == [
            {"resource": "Repository", "field": "label", "code": "unauthorized"}
        ]
    assert [(i["labels"], i["assignees"], i["author"]) for i in fake.issues(OWNER, REPO)] == [
        ([], [], "outsider")
    ]
    assert "faultline" not in fake.labels(OWNER, REPO)


def test_what_each_role_may_do_to_an_existing_issue(fake: GitHubFake, gh: GitHub[Any]) -> None:
    number = create(gh, labels=["bug"])
    reader = fake.add_token("reader", role="read")
    triager = fake.add_token("triager", role="triage")
    with client(fake, reader) as read:
        assert read.rest.issues.create_comment(OWNER, REPO, number, body="me too").status_code
        for call in (
            lambda: read.rest.issues.add_labels(OWNER, REPO, number, labels=["bug"]),
            lambda: read.rest.issues.remove_label(OWNER, REPO, number, "bug"),
            lambda: read.rest.issues.update(OWNER, REPO, number, state="closed"),
        ):
            denied = refusal(call)
            assert (denied.status_code, denied.json()["message"]) == (
                403,
                "Must have admin rights to Repository.",
            )
        assert refusal(lambda: read.rest.issues.create_label(OWNER, REPO, name="x")).status_code
        own = create(read, "mine")  # an issue's author may edit it, but not its labels
        read.rest.issues.update(OWNER, REPO, own, title="mine, edited", labels=["bug"])
    with client(fake, triager) as triage:
        triage.rest.issues.add_labels(OWNER, REPO, number, labels=["duplicate"])
        assert (
            refusal(
                lambda: triage.rest.issues.add_labels(OWNER, REPO, number, labels=["brand-new"])
            )
            .json()["message"]
            .startswith("You do not have permission to create labels")
        )
        added = triage.rest.issues.add_assignees(OWNER, REPO, number, assignees=["alice"])
        assert (added.status_code, added.parsed_data.assignees) == (201, [])
        closed = triage.rest.issues.update(OWNER, REPO, number, state="closed", labels=[])
        assert (closed.parsed_data.state, [x.name for x in closed.parsed_data.labels]) == (  # type: ignore[union-attr]
            "closed",
            ["bug", "duplicate"],
        )
    mine = fake.issues(OWNER, REPO)[own - 1]
    assert (mine["title"], mine["labels"]) == ("mine, edited", [])


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (False, "Resource not accessible by personal access token"),
        (True, "Resource not accessible by integration"),
    ],
)
def test_a_token_without_the_issues_permission_gets_403(
    fake: GitHubFake, app: bool, message: str
) -> None:
    token = fake.app_token if app else fake.user_token
    fake.set_access(token, issues="read")
    with client(fake, token) as gh:
        assert items(gh.rest.issues.list_for_repo(OWNER, REPO)) == []
        for call in (
            lambda: create(gh),
            lambda: gh.rest.issues.create_label(OWNER, REPO, name="x"),
        ):
            denied = refusal(call)
            assert (denied.status_code, denied.json()["message"]) == (403, message)
            assert denied.headers["x-accepted-github-permissions"] == "issues=write"
        fake.set_access(token, issues="none")
        denied = refusal(lambda: gh.rest.issues.list_for_repo(OWNER, REPO))
        assert denied.headers["x-accepted-github-permissions"] == "issues=read"
    with pytest.raises(ValueError, match="role must be one of"):
        fake.set_access(token, role="owner")
