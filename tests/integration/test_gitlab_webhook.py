"""GitLab as a control surface for real: Issue and Note Hooks rendered by the GitLab fake from its
state after a person acted through its REST API, posted to the app's own `gitlab_webhook` HTTP
function, queued on Azurite and handled by `handle_github_event` (the one handler for both
trackers), with the GitLab adapter that `bootstrap` wires asking the fake who may steer (the
members API) and replying. The reading of payloads is tested pure in
`tests/unit/test_gitlab_webhook.py`; the decisions, shared with GitHub, in
`tests/unit/test_webhook.py` and `tests/unit/test_comment_commands.py`."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.storage.queue import QueueServiceClient

from adapters.gitlab import GitLabIssues
from bootstrap import bootstrap, install
from detection.rules import Assignment
from local_host.host import FunctionTable, QueueDriver
from pipeline.messages import FailureNotice
from pipeline.ports import Counted, IssueState, RepositoryRole, TrackerRefused
from pipeline.services import Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.messages import Synced, WorkflowRequest
from tests.fakes.gitlab import GitLabFake
from tests.support.failures import group_id, occurrences

pytestmark = pytest.mark.integration

SECRET = "a-gitlab-webhook-token-of-some-length"
PROJECT = "contoso/platform/shop"
REPOSITORY = f"gitlab:{PROJECT}"
ISSUES = "/projects/contoso%2Fplatform%2Fshop/issues"
DEVELOPER, REPORTER, MAINTAINER, OWNER = 30, 20, 40, 50


@dataclass
class Hub:
    services: Services
    gitlab: GitLabFake
    functions: FunctionTable
    events: QueueDriver

    def failure(self, name: str) -> int:
        """A failure with its issue on GitLab, made by the workflow's own sync."""
        group = group_id(name)
        counted = [Counted(o, True) for o in occurrences(group, 3)]
        entry = self.services.ledger.record(group, counted, self.services.rules.thresholds())
        request = WorkflowRequest(
            notice=FailureNotice.of(entry),
            repository=REPOSITORY,
            labels=("faultline",),
            assignment=Assignment(kind="none"),
            recheck_seconds=900,
        )
        synced = sync_issue(self.services, request)
        assert isinstance(synced, Synced) and synced.number is not None
        return synced.number

    def person(self, username: str, level: int) -> httpx.Client:
        """A project member's own client on the fake."""
        self.gitlab.add_user(username)
        self.gitlab.add_member(PROJECT, username, level)
        token = self.gitlab.add_token(username)
        return httpx.Client(
            base_url=self.gitlab.base_url,
            headers={"PRIVATE-TOKEN": token},
            verify=ssl.create_default_context(cafile=self.gitlab.ca_path),
        )

    def post(self, headers: dict[str, str], body: bytes) -> func.HttpResponse:
        webhook = self.functions.user_function("gitlab_webhook")
        request = func.HttpRequest(
            "POST", "/api/gitlab/webhook", headers=headers, body=body, params={}
        )
        response: func.HttpResponse = webhook(request)
        return response

    def deliver(self, iid: int, user: str, **hook: Any) -> int:
        headers, body = self.gitlab.hook(PROJECT, iid, user=user, token=SECRET, **hook)
        status = self.post(headers, body).status_code
        self.events.drain()
        return status

    def state(self, name: str) -> IssueState:
        state = self.services.issues.peek(group_id(name), REPOSITORY)
        assert state is not None
        return state

    def issue(self, iid: int) -> dict[str, Any]:
        return self.gitlab.issues(PROJECT)[iid - 1]

    def replies(self, iid: int) -> list[str]:
        notes = self.gitlab.notes(PROJECT, iid)
        return [n["body"] for n in notes if "faultline:reply=" in n["body"]]

    def actions(self, name: str) -> list[str]:
        return [e.action for e in self.services.audit.entries(group_id(name))]


@pytest.fixture
def hub(azurite, storage_env, functions: FunctionTable) -> Iterator[Hub]:
    with GitLabFake() as gitlab:
        gitlab.add_project(PROJECT)
        env = {
            **storage_env,
            "FAULTLINE_GITHUB_WEBHOOK_QUEUE": f"events-{uuid.uuid4().hex[:10]}",
            "FAULTLINE_GITLAB_WEBHOOK_SECRET": SECRET,
            "FAULTLINE_MARKER_KEY": "k" * 40,
            "FAULTLINE_GITLAB_API_URL": gitlab.base_url,
            "FAULTLINE_GITLAB_TOKEN": gitlab.token,
            "FAULTLINE_GITLAB_CA_BUNDLE": gitlab.ca_path,
        }
        services = bootstrap(env)
        install(services)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        events = QueueDriver(
            queues,
            services.settings.github_event_queue,
            functions.user_function("handle_github_event"),
        )
        yield Hub(services, gitlab, functions, events)
        install(None)


def test_closed_by_a_person_resolves_once_however_often_gitlab_retries(hub: Hub) -> None:
    iid = hub.failure("checkout")
    with hub.person("dana", DEVELOPER) as dana:
        assert dana.put(f"{ISSUES}/{iid}", json={"state_event": "close"}).status_code == 200
    headers, body = hub.gitlab.hook(PROJECT, iid, user="dana", token=SECRET, action="close")
    assert hub.post(headers, body).status_code == 202
    assert hub.events.drain().processed == 1
    assert hub.state("checkout").status == "resolved"
    for again in (headers, hub.gitlab.retry(headers)):  # the same request; GitLab's retry
        answer = hub.post(again, body)
        assert answer.status_code == 200
        assert json.loads(answer.get_body())["status"] == "duplicate"
    assert hub.events.drain().processed == 0
    steered = [e for e in hub.services.audit.entries(group_id("checkout")) if e.action == "steered"]
    assert [e.reason for e in steered] == [
        "closed by dana: resolved: the next occurrence is a regression"
    ]


@pytest.mark.parametrize(
    ("label", "expected"),
    [("faultline:mute", ("muted", False)), ("faultline:keep-open", ("active", True))],
)
def test_a_label_a_person_adds_steers_the_failure(
    hub: Hub, label: str, expected: tuple[str, bool]
) -> None:
    iid = hub.failure("checkout")
    with hub.person("remy", REPORTER) as remy:  # labelling is the Reporter's right on GitLab
        assert remy.put(f"{ISSUES}/{iid}", json={"add_labels": label}).status_code == 200
    assert hub.deliver(iid, "remy", action="update") == 202
    state = hub.state("checkout")
    assert (state.status, state.keep_open) == expected


@pytest.mark.parametrize("forgery", ["no token", "another token", "no secret configured"])
def test_a_forged_delivery_is_refused_401_and_nothing_changes(hub: Hub, forgery: str) -> None:
    iid = hub.failure("checkout")
    with hub.person("mallory", DEVELOPER) as mallory:
        mallory.put(f"{ISSUES}/{iid}", json={"state_event": "close"})
    token = {"no token": None, "another token": "guessed"}.get(forgery, SECRET)
    if forgery == "no secret configured":
        hub.services.gitlab_webhook_secret = lambda refresh: None
    headers, body = hub.gitlab.hook(PROJECT, iid, user="mallory", token=token, action="close")
    answer = hub.post(headers, body)
    assert answer.status_code == 401
    assert json.loads(answer.get_body()) == {"error": "missing or invalid X-Gitlab-Token"}
    assert hub.events.pending() == 0
    assert hub.state("checkout").status == "active"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ("not json", 400, "the body is not JSON"),
        ("no object_attributes", 400, "the delivery has no object_attributes object"),
        ("no delivery id", 400, "missing or malformed Idempotency-Key and X-Gitlab-Event-UUID"),
        ("too large", 413, "deliveries are limited to 1048576 bytes"),
    ],
)
def test_a_malformed_delivery_is_answered_with_its_problem_and_queues_nothing(
    hub: Hub, change: str, status: int, error: str
) -> None:
    iid = hub.failure("checkout")
    headers, body = hub.gitlab.hook(PROJECT, iid, user="faultline-bot", token=SECRET)
    if change == "not json":
        body = body[:-3]
    elif change == "no object_attributes":
        payload = json.loads(body)
        del payload["object_attributes"]
        body = json.dumps(payload).encode()
    elif change == "no delivery id":
        del headers["Idempotency-Key"], headers["X-Gitlab-Event-UUID"]
    else:
        body += b" " * (1_048_577 - len(body))
    answer = hub.post(headers, body)
    assert (answer.status_code, json.loads(answer.get_body())) == (status, {"error": error})
    assert hub.events.pending() == 0


def test_other_hooks_are_acknowledged_and_ignored(hub: Hub) -> None:
    iid = hub.failure("checkout")
    headers, body = hub.gitlab.hook(PROJECT, iid, user="faultline-bot", token=SECRET)
    headers["X-Gitlab-Event"] = "Pipeline Hook"
    answer = hub.post(headers, body)
    assert answer.status_code == 202 and json.loads(answer.get_body())["status"] == "ignored"
    assert hub.events.pending() == 0


def _note(client: httpx.Client, iid: int, text: str) -> int:
    made = client.post(f"{ISSUES}/{iid}/notes", json={"body": text})
    assert made.status_code == 201
    note_id: int = made.json()["id"]
    return note_id


def test_a_developer_mutes_by_comment_and_a_reporter_is_refused_and_audited(hub: Hub) -> None:
    iid = hub.failure("checkout")
    with hub.person("remy", REPORTER) as remy:
        refused = _note(remy, iid, "/faultline resolve")
    assert hub.deliver(iid, "remy", action="create", note=refused) == 202
    assert hub.issue(iid)["state"] == "opened"
    assert hub.actions("checkout").count("command-refused") == 1
    with hub.person("dana", DEVELOPER) as dana:
        muted = _note(dana, iid, "/faultline mute 7d")
    assert hub.deliver(iid, "dana", action="create", note=muted) == 202
    assert "faultline:mute" in hub.issue(iid)["labels"]
    assert hub.state("checkout").status == "muted"
    first, second = hub.replies(iid)
    assert "was not run" in first and "Developer role or higher" in first
    assert second.startswith("Muted until ")
    actions = hub.actions("checkout")
    assert actions.count("command-refused") == 1 and actions.count("command") == 1
    (refusal,) = [
        e for e in hub.services.audit.entries(group_id("checkout")) if e.action == "command-refused"
    ]
    assert refusal.reason == "/faultline resolve by remy: reporter"


def test_an_edited_note_and_faultlines_own_replies_run_nothing(hub: Hub) -> None:
    iid = hub.failure("checkout")
    with hub.person("dana", DEVELOPER) as dana:
        note = _note(dana, iid, "/faultline resolve")
    assert hub.deliver(iid, "dana", action="update", note=note) == 202
    with httpx.Client(
        base_url=hub.gitlab.base_url,
        headers={"PRIVATE-TOKEN": hub.gitlab.token},
        verify=ssl.create_default_context(cafile=hub.gitlab.ca_path),
    ) as bot:
        own = _note(bot, iid, "/faultline resolve")
    assert hub.deliver(iid, "faultline-bot", action="create", note=own) == 202
    assert hub.issue(iid)["state"] == "opened" and hub.replies(iid) == []
    assert "command" not in hub.actions("checkout")


def test_roles_come_from_the_project_members_api(hub: Hub) -> None:
    for username, level in [("dana", DEVELOPER), ("remy", REPORTER), ("mo", MAINTAINER)]:
        hub.person(username, level).close()
    hub.gitlab.add_user("stranger")
    gitlab = GitLabIssues(
        lambda refresh: hub.gitlab.token, hub.gitlab.base_url, verify=hub.gitlab.ca_path
    )
    assert gitlab.role_of(REPOSITORY, "dana") == RepositoryRole("developer", "write")
    assert gitlab.role_of(REPOSITORY, "mo") == RepositoryRole("maintainer", "write")
    assert gitlab.role_of(REPOSITORY, "remy") == RepositoryRole("reporter", "read")
    assert gitlab.role_of(REPOSITORY, "stranger") is None, "not a member: 404"
    assert gitlab.role_of(REPOSITORY, "nobody-at-all") is None, "no such user"
    assert gitlab.own_login() == "faultline-bot"
    profile_only = hub.gitlab.add_token("faultline-bot", scopes=["read_user"])
    limited = GitLabIssues(
        lambda refresh: profile_only, hub.gitlab.base_url, verify=hub.gitlab.ca_path
    )
    with pytest.raises(TrackerRefused) as refused:
        limited.role_of(REPOSITORY, "dana")
    assert (refused.value.status, refused.value.kind) == (403, "forbidden")
