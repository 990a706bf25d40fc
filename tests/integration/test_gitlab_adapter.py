"""`GitLabIssues` through its real HTTP client (httpx, TLS) against the GitLab fake, served under
a self-managed path prefix.

Each test drives a behaviour GitLab shows (the fake's docstring names the pages) and pins what
the adapter turns it into: the workflow's GitHub-named changes sent as GitLab's fields, system
notes and other people's comments kept out of `comment_bodies`, issues found again by marker
after lost state (the consistent list, then search for an issue older than the list covers),
only the token's own issues adopted, and 401/403/404/429/5xx mapped to the port's errors with
the wait GitLab asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.gitlab import (
    RECENT_WITHOUT_INTENT,
    GitLabIssues,
    GitLabUnavailable,
    gitlab_client,
)
from detection.markers import marker, marker_signature
from pipeline.ports import TrackerRateLimited, TrackerRefused
from tests.fakes.github.clock import FakeClock
from tests.fakes.gitlab import GitLabFake, RateLimited, ServerError

pytestmark = pytest.mark.integration

PROJECT = "contoso/platform/shop"
REPOSITORY = f"gitlab:{PROJECT}"
FINGERPRINT = "0123456789abcdef0123456789abcdef"


def body(fingerprint: str = FINGERPRINT, signature: str | None = None) -> str:
    """A body as the built-in template writes it: the hidden marker first, the fingerprint
    shown again in the visible footer."""
    return (
        f"{marker(fingerprint, signature)}\nCheckout fails with HTTP 500.\n\n"
        f"<sub>Grouped by stack (fingerprint `{fingerprint}`, algorithm v3).</sub>\n"
    )


@pytest.fixture
def fake() -> Iterator[GitLabFake]:
    with GitLabFake(clock=FakeClock(running=False)) as gitlab:
        gitlab.add_project(PROJECT)
        yield gitlab


def adapter(fake: GitLabFake, token: str | None = None, **options: Any) -> GitLabIssues:
    chosen = token or fake.token
    options.setdefault("clock", fake.clock.now)
    return GitLabIssues(lambda refresh: chosen, fake.base_url, 5, verify=fake.ca_path, **options)


def test_the_issue_lifecycle_speaks_gitlabs_fields_under_a_path_prefix(fake: GitLabFake) -> None:
    gitlab = adapter(fake)
    created = gitlab.create(REPOSITORY, "TypeError in checkout", body(), ["faultline", "sev:high"])
    assert (created.repository, created.number, created.state) == (REPOSITORY, 1, "open")
    assert created.url.endswith("/gitlab/contoso/platform/shop/-/issues/1")
    assert created.author == "faultline-bot" and created.labels == ("faultline", "sev:high")
    closed = gitlab.edit(
        REPOSITORY, 1, state="closed", state_reason="duplicate", duplicate_issue_id=created.id
    )
    assert closed.state == "closed" and closed.closed_at is not None
    reopened = gitlab.edit(REPOSITORY, 1, state="open", state_reason="reopened", body="new")
    assert (reopened.state, reopened.body) == ("open", "new")
    gitlab.add_labels(REPOSITORY, 1, ["faultline:needs-assignee"])
    assert "faultline:needs-assignee" in gitlab.get(REPOSITORY, 1).labels
    puts = [r.json for r in fake.calls("PUT")]
    assert puts[:2] == [
        {"state_event": "close"},
        {"state_event": "reopen", "description": "new"},
    ], "GitLab closes without a reason: only its own fields are sent"
    assert {r.path for r in fake.requests} >= {
        "/gitlab/api/v4/projects/contoso%2Fplatform%2Fshop/issues",
        "/gitlab/api/v4/projects/contoso%2Fplatform%2Fshop/issues/1",
    }, "the project path travels URL-encoded, under the instance's prefix"


def test_an_unencoded_project_path_is_an_unknown_route(fake: GitLabFake) -> None:
    """What the fake holds GitLab's routing to, so the adapter's encoding is what is tested."""
    answer = gitlab_client(fake.base_url, 5, fake.ca_path).get(
        f"/projects/{PROJECT}/issues", headers={"PRIVATE-TOKEN": fake.token}
    )
    assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})


def test_comment_bodies_are_the_tokens_own_comments_without_system_notes(fake: GitLabFake) -> None:
    gitlab = adapter(fake)
    gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    gitlab.comment(REPOSITORY, 1, "<!-- faultline:comment=x:after=3 --> 2 new occurrence(s)")
    gitlab.edit(REPOSITORY, 1, state="closed")  # GitLab writes a system note "closed"
    fake.add_user("mallory")
    fake.add_member(PROJECT, "mallory", 30)
    mallory = fake.add_token("mallory")
    adapter(fake, mallory).comment(REPOSITORY, 1, "<!-- faultline:comment=x:after=9 -->")
    assert [n["system"] for n in fake.notes(PROJECT, 1)] == [False, True, False]
    assert gitlab.comment_bodies(REPOSITORY, 1) == [
        "<!-- faultline:comment=x:after=3 --> 2 new occurrence(s)"
    ]


def test_a_create_whose_response_was_lost_is_found_in_the_consistent_list(
    fake: GitLabFake,
) -> None:
    gitlab = adapter(fake)
    intent = datetime.fromtimestamp(fake.clock.now(), UTC) - timedelta(minutes=5)
    made = gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    found = gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", intent)
    assert found is not None and found.number == made.number
    assert not fake.calls("GET", "/issues") or all(
        "search" not in r.query for r in fake.calls("GET", "/issues")
    ), "found without search"
    assert [i.number for i in gitlab.issues_with_marker(REPOSITORY, FINGERPRINT, "x", intent)] == [
        made.number
    ]


def test_after_lost_state_an_older_issue_is_found_by_searching_its_fingerprint(
    fake: GitLabFake,
) -> None:
    """Older than the list's newest few: search finds it by the fingerprint the body shows,
    although the fake's search, like an index that strips markup, does not look inside the
    hidden marker."""
    gitlab = adapter(fake)
    old = gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    for n in range(RECENT_WITHOUT_INTENT + 5):
        gitlab.create(REPOSITORY, f"Other failure {n}", body(f"{n:032x}"), ["faultline"])
    found = gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == old.number
    [search] = [r for r in fake.calls("GET", "/issues") if "search" in r.query]
    assert search.query["search"] == [FINGERPRINT] and search.query["in"] == ["description"]
    assert search.query["author_username"] == ["faultline-bot"]


def test_a_marker_only_in_a_hidden_comment_is_found_only_while_the_list_covers_it(
    fake: GitLabFake,
) -> None:
    """What the design rests on: search does not promise to see inside HTML comments, so a
    body without the visible fingerprint is found by the list alone."""
    gitlab = adapter(fake)
    gitlab.create(REPOSITORY, "Boom", f"{marker(FINGERPRINT)}\nno footer", ["faultline"])
    assert gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is not None
    for n in range(RECENT_WITHOUT_INTENT):
        gitlab.create(REPOSITORY, f"Other {n}", body(f"{n:032x}"), ["faultline"])
    assert gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is None


def test_someone_elses_issue_quoting_the_marker_is_not_adopted(fake: GitLabFake) -> None:
    fake.add_user("mallory")
    fake.add_member(PROJECT, "mallory", 30)
    fake.open_issue_as("mallory", PROJECT, "Please fix", body())
    gitlab = adapter(fake)
    assert gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is None
    ours = gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    found = gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == ours.number == 2


def test_with_a_marker_key_only_a_signed_marker_for_this_project_counts(fake: GitLabFake) -> None:
    key = b"k" * 32
    gitlab = adapter(fake, marker_key=key)
    gitlab.create(REPOSITORY, "Pasted", body(), ["faultline"])
    assert gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None) is None
    signature = marker_signature(key, REPOSITORY, FINGERPRINT)
    signed = gitlab.create(REPOSITORY, "Boom", body(signature=signature), ["faultline"])
    found = gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", None)
    assert found is not None and found.number == signed.number


def test_the_list_follows_gitlabs_pages_after_a_create_attempt(fake: GitLabFake) -> None:
    gitlab = adapter(fake)
    intent = datetime.fromtimestamp(fake.clock.now(), UTC) - timedelta(minutes=5)
    first = gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    for n in range(120):
        fake.open_issue_as("faultline-bot", PROJECT, f"Other {n}", body(f"{n:032x}"))
    found = gitlab.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", intent)
    assert found is not None and found.number == first.number
    pages = [r.query["page"] for r in fake.calls("GET", "/issues")]
    assert pages == [["1"], ["2"]], "page 2 from x-next-page"


def test_named_users_are_assigned_by_id_and_unknown_ones_left_out(fake: GitLabFake) -> None:
    fake.add_user("duo-developer", bot=True)  # a GitLab Duo flow trigger's service account
    fake.add_member(PROJECT, "duo-developer", 30)
    gitlab = adapter(fake)
    gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    assigned = gitlab.assign(REPOSITORY, 1, ["duo-developer", "ghost"], {"model": "x"})
    assert assigned == ("duo-developer",)
    assert fake.issues(PROJECT)[0]["assignees"][0]["username"] == "duo-developer"
    [put] = fake.calls("PUT")
    assert set(put.json) == {"assignee_ids"}, "no agent payload: GitLab has none"


def test_a_guests_labels_are_dropped_and_reported(fake: GitLabFake) -> None:
    fake.add_project("contoso/guest", members={"faultline-bot": 10})
    created = adapter(fake).create("gitlab:contoso/guest", "Boom", body(), ["faultline"])
    assert created.labels == () and created.dropped_labels == ("faultline",)


def test_a_401_refreshes_the_token_once_then_refuses(fake: GitLabFake) -> None:
    tokens = iter(["glpat-revoked", fake.token])
    gitlab = GitLabIssues(lambda refresh: next(tokens), fake.base_url, verify=fake.ca_path)
    assert gitlab.create(REPOSITORY, "Boom", body(), ["faultline"]).number == 1
    assert [r.status for r in fake.calls("POST")] == [401, 201]
    stale = GitLabIssues(lambda refresh: "glpat-revoked", fake.base_url, verify=fake.ca_path)
    with pytest.raises(TrackerRefused) as refused:
        stale.get(REPOSITORY, 1)
    assert (refused.value.status, refused.value.kind) == (401, "credentials")
    assert "GitLab refused with 401" in str(refused.value)


def test_a_read_only_token_is_refused_writes_with_the_scope_it_lacks(fake: GitLabFake) -> None:
    reader = fake.add_token("faultline-bot", scopes=["read_api"])
    with pytest.raises(TrackerRefused) as refused:
        adapter(fake, reader).create(REPOSITORY, "Boom", body(), ["faultline"])
    assert (refused.value.status, refused.value.kind, refused.value.permanent) == (
        403,
        "forbidden",
        True,
    )
    assert "insufficient_scope" in refused.value.reason
    assert "the token needs the api scope" in refused.value.reason
    assert reader not in str(refused.value)


def test_a_project_the_token_cannot_see_is_not_found(fake: GitLabFake) -> None:
    fake.add_project("contoso/secret", members={})
    with pytest.raises(TrackerRefused) as refused:
        adapter(fake).create("gitlab:contoso/secret", "Boom", body(), ["faultline"])
    assert (refused.value.status, refused.value.kind) == (404, "not-found")
    assert refused.value.reason == "404 Project Not Found"


def test_a_missing_issue_and_an_oversized_description_are_refused(fake: GitLabFake) -> None:
    with pytest.raises(TrackerRefused) as refused:
        adapter(fake).edit(REPOSITORY, 1, title="x")
    assert refused.value.kind == "not-found"
    adapter(fake).create(REPOSITORY, "Boom", body(), ["faultline"])
    with pytest.raises(TrackerRefused) as invalid:
        adapter(fake).edit(REPOSITORY, 1, body="x" * 1_048_577)
    assert (invalid.value.status, invalid.value.kind) == (400, "invalid")
    assert invalid.value.reason.startswith("description is too long")


def test_a_throttled_request_waits_for_retry_after(fake: GitLabFake) -> None:
    fake.fail_next(RateLimited(retry_after=37), method="POST", path="/issues")
    with pytest.raises(TrackerRateLimited) as limited:
        adapter(fake).create(REPOSITORY, "Boom", body(), ["faultline"])
    assert limited.value.retry_after == timedelta(seconds=37)
    assert "GitLab rate limit" in str(limited.value)
    assert "requested too many times" in limited.value.detail


def test_the_authenticated_api_limit_waits_until_its_window_resets(fake: GitLabFake) -> None:
    fake.requests_per_minute = 2
    gitlab = adapter(fake)
    gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    assert gitlab.budget()[0].share_used == 50.0
    gitlab.get(REPOSITORY, 1)
    with pytest.raises(TrackerRateLimited) as limited:
        gitlab.get(REPOSITORY, 1)
    window_left = 60 - int(fake.clock.now()) % 60
    assert limited.value.retry_after == timedelta(seconds=window_left)
    assert "Retry later" in limited.value.detail
    fake.clock.advance(window_left)
    assert gitlab.get(REPOSITORY, 1).number == 1


def test_a_429_without_retry_after_waits_for_ratelimit_reset(fake: GitLabFake) -> None:
    """Older releases' endpoint limits send no `Retry-After`; the window's reset still says."""
    fake.fail_next(RateLimited(retry_after=None))
    with pytest.raises(TrackerRateLimited) as limited:
        adapter(fake).get(REPOSITORY, 1)
    window_left = 60 - int(fake.clock.now()) % 60
    assert limited.value.retry_after == timedelta(seconds=window_left + 1)


def test_a_5xx_is_worth_retrying_and_the_retry_succeeds(fake: GitLabFake) -> None:
    fake.fail_next(ServerError(502), method="POST", path="/issues")
    gitlab = adapter(fake)
    with pytest.raises(GitLabUnavailable, match="GitLab answered 502"):
        gitlab.create(REPOSITORY, "Boom", body(), ["faultline"])
    assert gitlab.create(REPOSITORY, "Boom", body(), ["faultline"]).number == 1
    assert len(fake.issues(PROJECT)) == 1


def test_a_title_longer_than_gitlab_takes_is_shortened(fake: GitLabFake) -> None:
    created = adapter(fake).create(REPOSITORY, "T" * 300, body(), ["faultline"])
    assert len(fake.issues(PROJECT)[0]["title"]) == 255 and created.number == 1
