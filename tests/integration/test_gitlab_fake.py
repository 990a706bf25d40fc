"""The GitLab fake on the wire, spoken to with plain httpx: what it holds a client to (the
answers GitLab gives and the one place it is stricter), so the adapter's tests rest on it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from adapters.gitlab import gitlab_client
from detection.markers import marker
from tests.fakes.github.clock import FakeClock
from tests.fakes.gitlab import GitLabFake

pytestmark = pytest.mark.integration

PROJECT = "acme/shop"
ISSUES = "/projects/acme%2Fshop/issues"


@pytest.fixture
def fake() -> Iterator[GitLabFake]:
    with GitLabFake(clock=FakeClock(running=False)) as gitlab:
        gitlab.add_project(PROJECT)
        yield gitlab


@pytest.fixture
def client(fake: GitLabFake) -> Iterator[httpx.Client]:
    with gitlab_client(fake.base_url, 5, fake.ca_path) as http:
        http.headers["PRIVATE-TOKEN"] = fake.token
        yield http


def test_without_a_valid_private_token_every_request_is_401(fake: GitLabFake) -> None:
    with gitlab_client(fake.base_url, 5, fake.ca_path) as anonymous:
        assert anonymous.get("/user").json() == {"message": "401 Unauthorized"}
        answer = anonymous.get("/user", headers={"PRIVATE-TOKEN": "glpat-nope"})
    assert answer.status_code == 401 and "RateLimit-Limit" not in answer.headers


def test_the_api_lives_under_the_instances_prefix_only(fake: GitLabFake) -> None:
    assert fake.base_url.endswith("/gitlab/api/v4")
    with gitlab_client(fake.base_url.removesuffix("/gitlab/api/v4"), 5, fake.ca_path) as root:
        answer = root.get("/api/v4/user", headers={"PRIVATE-TOKEN": fake.token})
    assert (answer.status_code, answer.json()) == (404, {"error": "404 Not Found"})


def test_a_field_the_endpoint_does_not_declare_is_refused(client: httpx.Client) -> None:
    answer = client.post(ISSUES, json={"title": "Boom", "body": "GitHub's name for it"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "body is not a parameter of this endpoint"}
    assert client.post(ISSUES, json={"description": "no title"}).json() == {
        "error": "title is missing"
    }
    client.post(ISSUES, json={"title": "Boom"})
    assert (
        client.put(f"{ISSUES}/1", json={})
        .json()["error"]
        .endswith("at least one parameter must be provided")
    )
    assert client.put(f"{ISSUES}/1", json={"state_event": "closed"}).json() == {
        "error": "state_event does not have a valid value"
    }


def test_lists_are_paged_with_gitlabs_headers_and_link(
    fake: GitLabFake, client: httpx.Client
) -> None:
    for n in range(5):
        client.post(ISSUES, json={"title": f"Issue {n}"})
    first = client.get(ISSUES, params={"per_page": 2, "sort": "asc"})
    assert [i["iid"] for i in first.json()] == [1, 2]
    assert (first.headers["x-total"], first.headers["x-total-pages"]) == ("5", "3")
    assert (first.headers["x-next-page"], first.headers["x-prev-page"]) == ("2", "")
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    last = client.get(ISSUES, params={"per_page": 2, "sort": "asc", "page": 3})
    assert [i["iid"] for i in last.json()] == [5] and last.headers["x-next-page"] == ""


def test_every_answer_states_the_rate_limit_and_a_spent_one_says_when_to_retry(
    fake: GitLabFake, client: httpx.Client
) -> None:
    fake.requests_per_minute = 2
    answer = client.get("/user")
    assert (answer.headers["RateLimit-Limit"], answer.headers["RateLimit-Remaining"]) == ("2", "1")
    client.get("/user")
    refused = client.get("/user")
    assert refused.status_code == 429 and refused.text == "Retry later\n"
    reset = int(refused.headers["RateLimit-Reset"])
    assert int(refused.headers["Retry-After"]) == reset - int(fake.clock.now())
    assert refused.headers["RateLimit-Remaining"] == "0"


def test_search_matches_words_of_title_and_description_outside_html_comments(
    fake: GitLabFake, client: httpx.Client
) -> None:
    hidden = "deadbeef" * 4
    client.post(ISSUES, json={"title": "A", "description": f"{marker(hidden)}\nonly hidden"})
    client.post(ISSUES, json={"title": "B", "description": f"shown `{hidden}`"})
    found = client.get(ISSUES, params={"search": hidden, "in": "description"}).json()
    assert [i["title"] for i in found] == ["B"]
    fake.search_in_html_comments = True
    found = client.get(ISSUES, params={"search": hidden, "in": "description"}).json()
    assert sorted(i["title"] for i in found) == ["A", "B"]


def test_a_project_is_hidden_from_non_members_and_a_read_token_cannot_write(
    fake: GitLabFake, client: httpx.Client
) -> None:
    fake.add_project("acme/private", members={})
    assert client.get("/projects/acme%2Fprivate/issues").json() == {
        "message": "404 Project Not Found"
    }
    reader = fake.add_token(fake.bot, scopes=["read_api"])
    answer = client.post(ISSUES, json={"title": "Boom"}, headers={"PRIVATE-TOKEN": reader})
    assert answer.status_code == 403 and answer.json()["error"] == "insufficient_scope"
    assert client.get(ISSUES, headers={"PRIVATE-TOKEN": reader}).status_code == 200


def test_a_members_access_level_is_read_and_a_non_member_is_404(
    fake: GitLabFake, client: httpx.Client
) -> None:
    fake.add_user("dev")
    fake.add_user("stranger")
    fake.add_member(PROJECT, "dev", 30)
    ids = {
        name: client.get("/users", params={"username": name}).json()[0]["id"]
        for name in ("dev", "stranger")
    }
    member = client.get(f"/projects/acme%2Fshop/members/all/{ids['dev']}").json()
    assert (member["username"], member["access_level"]) == ("dev", 30)
    for missing in (ids["stranger"], 99999999):
        answer = client.get(f"/projects/acme%2Fshop/members/all/{missing}")
        assert (answer.status_code, answer.json()) == (404, {"message": "404 Not found"})
    fake.add_project("acme/private", members={})
    hidden = client.get(f"/projects/acme%2Fprivate/members/all/{ids['dev']}")
    assert hidden.json() == {"message": "404 Project Not Found"}
    anonymous = client.get(
        f"/projects/acme%2Fshop/members/all/{ids['dev']}", headers={"PRIVATE-TOKEN": "glpat-no"}
    )
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})


def test_a_token_without_an_api_scope_reads_only_its_user(
    fake: GitLabFake, client: httpx.Client
) -> None:
    profile = fake.add_token(fake.bot, scopes=["read_user"])
    assert client.get("/user", headers={"PRIVATE-TOKEN": profile}).status_code == 200
    answer = client.get(f"{ISSUES}", headers={"PRIVATE-TOKEN": profile})
    assert answer.status_code == 403
    assert (answer.json()["error"], answer.json()["scope"]) == (
        "insufficient_scope",
        "api read_api",
    )
    members = client.get("/projects/acme%2Fshop/members/all/1", headers={"PRIVATE-TOKEN": profile})
    assert members.status_code == 403


def test_hooks_carry_the_issue_as_it_stands_with_gitlabs_delivery_headers(
    fake: GitLabFake, client: httpx.Client
) -> None:
    fake.add_user("dev")
    fake.add_member(PROJECT, "dev", 30)
    client.post(ISSUES, json={"title": "Boom", "description": "first\nsecond", "labels": "a,b"})
    client.put(f"{ISSUES}/1", json={"state_event": "close"})
    headers, body = fake.hook(PROJECT, 1, user="dev", token="s3cret", action="close")
    issue = json.loads(body)
    assert (headers["X-Gitlab-Event"], headers["X-Gitlab-Token"]) == ("Issue Hook", "s3cret")
    assert issue["object_attributes"]["state"] == "closed"
    assert [label["title"] for label in issue["labels"]] == ["a", "b"]
    assert issue["project"]["path_with_namespace"] == PROJECT and issue["user"]["username"] == "dev"
    retried = fake.retry(headers)
    assert retried["Idempotency-Key"] == headers["Idempotency-Key"]
    assert retried["X-Gitlab-Event-UUID"] != headers["X-Gitlab-Event-UUID"]
    note = client.post(f"{ISSUES}/1/notes", json={"body": "/faultline why"}).json()
    headers, body = fake.hook(
        PROJECT, 1, user="faultline-bot", token=None, action="create", note=note["id"]
    )
    comment = json.loads(body)
    assert "X-Gitlab-Token" not in headers and headers["X-Gitlab-Event"] == "Note Hook"
    assert comment["object_attributes"]["note"] == "/faultline why"
    assert comment["issue"]["iid"] == 1 and comment["object_attributes"]["noteable_type"] == "Issue"
