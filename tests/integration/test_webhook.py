"""GitHub as the control surface for real: signed deliveries from the GitHub fake (rendered from
its state after a person acted through its REST API) into the app's own `github_webhook` HTTP
function, the event queue and `handle_github_event` on Azurite, and githubkit against the fake
for everything Faultline asks or does (the issue, collaborators' roles, replies, labels). The
decisions themselves are tested on in-memory ports in `tests/unit/test_webhook.py` and
`tests/unit/test_comment_commands.py`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from adapters.github import GitHubIssues
from adapters.secrets import key_vault_secret, refreshed_at_most_every
from adapters.workflow_state import TableIssueStates
from bootstrap import bootstrap, install
from detection.rules import Assignment
from local_host.host import FunctionTable, QueueDriver
from pipeline.messages import FailureNotice
from pipeline.ports import Counted, IssueState, RepositoryRole
from pipeline.services import Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.messages import Synced, WorkflowRequest
from tests.fakes.github import GitHubFake
from tests.fakes.key_vault import KeyVaultFake
from tests.support.failures import group_id, occurrences

pytestmark = pytest.mark.integration

SECRET = "a-webhook-secret-of-reasonable-length"
SHOP = "contoso/shop"


@dataclass
class Hub:
    services: Services
    github: GitHubFake
    functions: FunctionTable
    events: QueueDriver

    def failure(self, name: str) -> int:
        """A failure with its issue, made by the workflow's own sync."""
        synced = self.sync(name, 3)
        assert synced.number is not None
        return synced.number

    def sync(self, name: str, total: int, version: str | None = None) -> Synced:
        """The workflow's sync after `total` occurrences of the failure (with `version`: the
        ones beyond those already counted happen now, in that app version)."""
        group = group_id(name)
        counted = [Counted(o, True) for o in occurrences(group, total)]
        if version is not None:
            have = self.services.ledger.summary(group)
            now = datetime.now(UTC) + timedelta(seconds=1)
            counted = [
                Counted(replace(c.occurrence, app_version=version, time=now), True)
                for c in counted[have.count if have else 0 :]
            ]
        entry = self.services.ledger.record(group, counted, self.services.rules.thresholds())
        request = WorkflowRequest(
            notice=FailureNotice.of(entry),
            repository=SHOP,
            labels=("faultline",),
            assignment=Assignment(kind="none"),
            recheck_seconds=900,
        )
        synced = sync_issue(self.services, request)
        assert isinstance(synced, Synced)
        return synced

    def person(self, login: str, role: str) -> httpx.Client:
        """A person's own client on the fake, acting with `role` on the repository."""
        token = self.github.add_token(login, role=role)
        return httpx.Client(
            base_url=self.github.base_url, headers={"Authorization": f"Bearer {token}"}
        )

    def post(self, headers: dict[str, str], body: bytes) -> func.HttpResponse:
        webhook = self.functions.user_function("github_webhook")
        request = func.HttpRequest(
            "POST", "/api/github/webhook", headers=headers, body=body, params={}
        )
        response: func.HttpResponse = webhook(request)
        return response

    def deliver(self, event: str, action: str, number: int, **details: Any) -> int:
        headers, body = self.github.delivery(
            event, action, "contoso", "shop", number, secret=SECRET.encode(), **details
        )
        status = self.post(headers, body).status_code
        self.events.drain()
        return status

    def state(self, name: str) -> IssueState:
        state = self.services.issues.peek(group_id(name), SHOP)
        assert state is not None
        return state

    def issue(self, number: int) -> dict[str, Any]:
        return self.github.issues("contoso", "shop")[number - 1]

    def faultline_comments(self, number: int) -> list[str]:
        own = self.github.issues("contoso", "shop")[number - 1]
        return [c for c in own["comments"] if "faultline:reply=" in c]


@pytest.fixture
def hub(azurite, storage_env, functions: FunctionTable) -> Iterator[Hub]:
    with GitHubFake() as github:
        github.add_repository("contoso", "shop")
        env = {
            **storage_env,
            "FAULTLINE_GITHUB_WEBHOOK_QUEUE": f"events-{uuid.uuid4().hex[:10]}",
            "FAULTLINE_GITHUB_WEBHOOK_SECRET": SECRET,
            "FAULTLINE_MARKER_KEY": "k" * 40,
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_TOKEN": github.user_token,
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",
        }
        services = bootstrap(env)
        install(services)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        events = QueueDriver(
            queues,
            services.settings.github_event_queue,
            functions.user_function("handle_github_event"),
        )
        yield Hub(services, github, functions, events)
        install(None)


def test_closed_as_not_planned_by_a_person_mutes_once_however_often_it_is_delivered(
    hub: Hub,
) -> None:
    number = hub.failure("checkout")
    with hub.person("alice", "write") as alice:
        closed = alice.patch(
            f"/repos/{SHOP}/issues/{number}",
            json={"state": "closed", "state_reason": "not_planned"},
        )
        assert closed.status_code == 200
    headers, body = hub.github.delivery(
        "issues", "closed", "contoso", "shop", number, sender="alice", secret=SECRET.encode()
    )
    assert hub.post(headers, body).status_code == 202
    assert hub.events.drain().processed == 1
    assert hub.state("checkout").status == "muted"
    again = hub.post(headers, body)  # GitHub's "Redeliver"
    assert again.status_code == 200 and b"duplicate" in again.get_body()
    assert hub.events.drain().processed == 0
    steered = [e for e in hub.services.audit.entries(group_id("checkout")) if e.action == "steered"]
    assert [e.reason for e in steered] == [
        "closed by alice: muted: occurrences are counted, the issue is left alone"
    ]


@pytest.mark.parametrize("forgery", ["no signature", "another secret", "changed body"])
def test_a_forged_delivery_is_refused_401_and_nothing_changes(hub: Hub, forgery: str) -> None:
    number = hub.failure("checkout")
    with hub.person("mallory", "write") as mallory:
        mallory.patch(
            f"/repos/{SHOP}/issues/{number}",
            json={"state": "closed", "state_reason": "not_planned"},
        )
    secret = b"guessed" if forgery == "another secret" else SECRET.encode()
    headers, body = hub.github.delivery(
        "issues", "closed", "contoso", "shop", number, sender="mallory", secret=secret
    )
    if forgery == "no signature":
        del headers["X-Hub-Signature-256"]
    if forgery == "changed body":
        body = body.replace(b'"not_planned"', b'"completed"  ')
    assert hub.post(headers, body).status_code == 401
    assert hub.events.pending() == 0
    assert hub.state("checkout").status == "active"


def test_the_secret_comes_from_key_vault_and_a_rotation_is_picked_up(hub: Hub) -> None:
    with KeyVaultFake() as vault:
        vault.set_secret("github-webhook-secret", "first-secret")
        cached = key_vault_secret(
            vault.vault_url,
            "github-webhook-secret",
            vault.credential,
            connection_verify=vault.ca_path,
            verify_challenge_resource=False,
        )
        read = refreshed_at_most_every(cached)
        hub.services.github_webhook_secret = lambda refresh: read(
            refresh
        ).encode()  # as bootstrap wires
        number = hub.failure("checkout")

        def post(secret: bytes) -> int:
            headers, body = hub.github.delivery(
                "issues", "labeled", "contoso", "shop", number, sender="alice", secret=secret
            )
            return hub.post(headers, body).status_code

        assert post(b"first-secret") == 202
        vault.set_secret("github-webhook-secret", "second-secret")  # and on GitHub's side
        assert post(b"second-secret") == 202, "the failed check re-read the vault"
        assert [post(b"forged"), post(b"forged-again")] == [401, 401]
        assert vault.reads("github-webhook-secret") == 2, "forgeries within the minute read nothing"


def test_a_ping_is_answered(hub: Hub) -> None:
    headers, body = hub.github.delivery(
        "issues",
        "opened",
        "contoso",
        "shop",
        hub.failure("checkout"),
        sender="octo",
        secret=SECRET.encode(),
    )
    headers["X-GitHub-Event"] = "ping"
    assert hub.post(headers, body).status_code == 200


def _comment(client: httpx.Client, number: int, text: str) -> int:
    made = client.post(f"/repos/{SHOP}/issues/{number}/comments", json={"body": text})
    assert made.status_code == 201
    comment_id: int = made.json()["id"]
    return comment_id


def test_a_writer_mutes_by_comment_and_a_reader_is_refused(hub: Hub) -> None:
    number = hub.failure("checkout")
    with hub.person("bob", "read") as bob:
        refused = _comment(bob, number, "/faultline resolve")
    hub.deliver("issue_comment", "created", number, sender="bob", comment=refused)
    assert hub.issue(number)["state"] == "open"
    with hub.person("alice", "write") as alice:
        muted = _comment(alice, number, "/faultline mute 7d")
    hub.deliver("issue_comment", "created", number, sender="alice", comment=muted)
    assert "faultline:mute" in hub.issue(number)["labels"]
    assert hub.state("checkout").status == "muted"
    first, second = hub.faultline_comments(number)
    assert "was not run" in first and second.startswith("Muted until ")
    actions = [e.action for e in hub.services.audit.entries(group_id("checkout"))]
    assert actions.count("command-refused") == 1 and actions.count("command") == 1


def test_resolved_in_a_version_an_earlier_version_recurs_and_that_version_regresses(
    hub: Hub,
) -> None:
    number = hub.failure("checkout")
    with hub.person("alice", "write") as alice:
        resolve = _comment(alice, number, "/faultline resolve in 2.14.0")
    hub.deliver("issue_comment", "created", number, sender="alice", comment=resolve)
    hub.deliver("issues", "closed", number, sender="faultline-maintainer")  # the close's event
    state = hub.state("checkout")
    assert (state.status, state.resolved_in, state.resolved_count) == ("resolved", "2.14.0", 3)
    assert hub.sync("checkout", 5, version="2.13.2").action == "updated"
    assert hub.issue(number)["state"] == "closed", "instances on 2.13.2 still draining"
    assert "(version `2.13.2`)" in hub.issue(number)["body"]
    assert hub.state("checkout").resolved_versions == {}, "versions counted at the resolve"
    assert hub.sync("checkout", 6, version="2.14.0").action == "reopened"
    assert hub.issue(number)["state"] == "open"
    assert any(c.startswith("Regressed in version 2.14.0") for c in hub.issue(number)["comments"])
    assert hub.state("checkout").resolved_in is None


def test_a_mute_github_will_not_label_is_said_and_not_kept(hub: Hub) -> None:
    number = hub.failure("checkout")
    hub.github.set_access(hub.github.user_token, role="triage")  # labels on update need push
    with hub.person("alice", "write") as alice:
        muted = _comment(alice, number, "/faultline mute")
    hub.deliver("issue_comment", "created", number, sender="alice", comment=muted)
    assert "faultline:mute" not in hub.issue(number)["labels"]
    (reply,) = hub.faultline_comments(number)
    assert reply.startswith("Not muted: GitHub did not set the `faultline:mute` label")
    assert hub.state("checkout").status == "active"


def test_roles_come_from_githubs_permission_endpoint(hub: Hub) -> None:
    hub.github.add_user("tess", role="triage")
    hub.github.add_user("mia", role="maintain")
    github = GitHubIssues(lambda refresh: hub.github.user_token, hub.github.base_url)
    assert github.role_of(SHOP, "tess") == RepositoryRole("triage", "read")
    assert github.role_of(SHOP, "mia") == RepositoryRole("maintain", "write")
    assert github.role_of(SHOP, "faultline-maintainer") == RepositoryRole("write", "write")
    assert github.role_of(SHOP, "a-stranger") is None
    assert github.own_login() == "faultline-maintainer"


def test_merge_by_comment_closes_this_issue_as_the_others_duplicate(hub: Hub) -> None:
    first, second = hub.failure("checkout"), hub.failure("payment")
    with hub.person("alice", "admin") as alice:
        merge = _comment(alice, first, f"/faultline merge #{second}")
    hub.deliver("issue_comment", "created", first, sender="alice", comment=merge)
    merged = hub.issue(first)
    assert (merged["state"], merged["state_reason"], merged["duplicate_of"]) == (
        "closed",
        "duplicate",
        second,
    )
    assert hub.services.grouping.resolve(group_id("checkout")) == group_id("payment")
    assert any(f"#{first} was merged into this issue" in c for c in hub.issue(second)["comments"])
    with hub.person("alice2", "admin") as alice:
        unmerge = _comment(alice, first, "/faultline unmerge")
    hub.deliver("issue_comment", "created", first, sender="alice2", comment=unmerge)
    assert hub.issue(first)["state"] == "open"
    assert hub.services.grouping.resolve(group_id("checkout")) == group_id("checkout")


def test_without_the_webhook_a_transferred_issue_is_forgotten_by_the_next_sync(hub: Hub) -> None:
    number = hub.failure("checkout")
    hub.github.add_repository("contoso", "archive")
    assert hub.github.transfer("contoso", "shop", number, "contoso", "archive") == 1
    synced = hub.sync("checkout", 5)  # GET of the old address: 301 to contoso/archive#1
    assert synced.action == "created" and synced.number == number + 1, "numbers are not reused"
    assert hub.state("checkout").number == number + 1
    (forgotten,) = [
        e for e in hub.services.audit.entries(group_id("checkout")) if e.action == "forgotten"
    ]
    assert forgotten.reason.startswith(f"#{number} was moved to https://github.com/contoso/archive")


def test_state_rows_written_before_the_new_fields_still_read(azurite, storage_env) -> None:
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    table = tables.create_table(f"{storage_env['FAULTLINE_TABLE_PREFIX']}Issues")
    table.create_entity(
        {"PartitionKey": "ab" * 16, "RowKey": "contoso~shop", "Number": 7, "SyncedCount": 3}
    )
    states = TableIssueStates(table)
    old = states.peek("ab" * 16, SHOP)
    assert old is not None and (old.status, old.keep_open, old.muted_until) == (
        "active",
        False,
        None,
    )
    assert (old.resolved_count, old.resolved_versions, old.quiet_closing) == (0, {}, None)
    steered = old.with_changes(status="muted", mute_until_count=120, keep_open=True)
    assert states.save(steered) is not None
    read = states.peek("ab" * 16, SHOP)
    assert read is not None
    assert (read.status, read.mute_until_count, read.keep_open, read.number) == (
        "muted",
        120,
        True,
        7,
    )
