"""The issue workflow routed to GitLab, where GitLab differs: the app's orchestrator and
activities on durabletask's in-memory backend, state in Azurite, issues on the GitLab fake over
HTTPS under a self-managed prefix, spoken to by the GitLab adapter that `bootstrap` wires for a
route to `gitlab:group/project`, with GitHub's fake running beside it to show that nothing of a
GitLab route reaches GitHub. The cases both trackers share (dedup, recurrence, regression,
limits, lost state, lost answers) run over both in `test_workflow_trackers.py`; these are
GitLab's own: a named user for the agent, a guest's dropped labels, a project GitLab does not
show, the dry-run sink's folder, and a GitLab route without a token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.markers import carries_marker
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, SimulatedClock
from local_host.report import sink_issues
from local_host.summary import issue_folders
from pipeline.messages import FailureNotice
from pipeline.ports import Counted
from pipeline.services import Services
from tests.fakes.github import GitHubFake
from tests.fakes.gitlab import GitLabFake
from tests.support.failures import FRIDAY_MORNING, group_id, notice, occurrences

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PROJECT = "contoso/platform/shop"
REPOSITORY = f"gitlab:{PROJECT}"


@dataclass
class Flow:
    services: Services
    gitlab: GitLabFake
    github: GitHubFake
    durable: DurableRuntime
    notices: QueueDriver

    def notify(self, failure: FailureNotice, times: int = 1) -> None:
        """Count the notice's occurrences in the ledger, queue it as ingestion would (`times`
        over, as concurrent detections do), and let the workflow run to its end."""
        group = failure.fingerprint or group_id("checkout-null")
        counted = [Counted(o, True) for o in occurrences(group, failure.count)]
        self.services.ledger.record(group, counted, self.services.rules.thresholds())
        for _ in range(times):
            self.services.failure_queue.send(failure.model_dump_json())
        self.notices.drain()
        self.durable.wait_until_idle()

    def issues(self) -> list[dict[str, Any]]:
        return self.gitlab.issues(PROJECT)

    def actions(self, fingerprint: str) -> list[str]:
        return [e.action for e in self.services.audit.entries(fingerprint)]


def _rules_file() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "faultline.yaml").read_text())


def _rules(tmp_path: Path, changes: dict[str, object]) -> str:
    document = _rules_file()
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.fixture
def make_flow(azurite, storage_env, functions: FunctionTable, tmp_path) -> Iterator:
    opened: list = []

    def make(
        dry_run: Path | None = None,
        token: bool = True,
        route_to: str = REPOSITORY,
        routes: tuple[dict[str, object], ...] = (),
        **rule_changes: object,
    ) -> Flow:
        """Failures go to `route_to` unless one of `routes` (tried before the rules file's own,
        which its digest names) says otherwise."""
        clock = SimulatedClock(FRIDAY_MORNING)
        gitlab = GitLabFake().__enter__()
        github = GitHubFake().__enter__()
        opened.extend([gitlab, github])
        gitlab.add_project(PROJECT)
        gitlab.add_user("duo-developer", bot=True)  # a GitLab Duo flow trigger's account
        gitlab.add_member(PROJECT, "duo-developer", 30)
        github.add_repository("contoso", "shop")
        durable = DurableRuntime(functions).__enter__()
        opened.append(durable)
        changes: dict[str, object] = {
            "dedup.update_interval": "0s",
            "routing.default_repository": route_to,
            "routing.routes": [*routes, *_rules_file()["routing"]["routes"]],
            "assignment.default": {"kind": "users", "users": ["duo-developer"]},
            **rule_changes,
        }
        env = {
            **storage_env,
            "FAULTLINE_RULES_PATH": _rules(tmp_path, changes),
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_TOKEN": github.user_token,
            "FAULTLINE_GITLAB_API_URL": gitlab.base_url,
            **({"FAULTLINE_GITLAB_TOKEN": gitlab.token} if token else {}),
            "FAULTLINE_GITLAB_CA_BUNDLE": gitlab.ca_path,
            "FAULTLINE_GITLAB_TIMEOUT_SECONDS": "1",
            "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
            "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
            **({"FAULTLINE_DRY_RUN_DIR": str(dry_run)} if dry_run else {}),
        }
        services = bootstrap(env, clock=clock, timer_seconds=time.monotonic)
        install(services)
        starter = functions.user_function("start_issue_workflow")
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        driver = QueueDriver(
            queues,
            services.settings.failure_queue,
            lambda message: starter(message, durable.binding),
        )
        return Flow(services, gitlab, github, durable, driver)

    yield make
    for resource in reversed(opened):
        resource.__exit__(None, None, None)
    install(None)


def test_a_failure_routed_to_gitlab_becomes_one_labelled_issue_for_the_named_user(
    make_flow,
) -> None:
    flow = make_flow()
    failure = notice()
    flow.notify(failure)
    [issue] = flow.issues()
    assert issue["title"].startswith("TypeError in checkout.submit: Cannot read properties")
    assert set(issue["labels"]) >= {"faultline", "severity:high", "category:bug"}
    assert carries_marker(issue["description"], REPOSITORY, failure.fingerprint, None)
    assert [a["username"] for a in issue["assignees"]] == ["duo-developer"]
    assert issue["author"]["username"] == "faultline-bot"
    assert flow.actions(failure.fingerprint) == ["created", "assigned"]
    assert flow.github.requests == [], "nothing of a GitLab route reaches GitHub"
    [state] = flow.services.issues.issues_of(failure.fingerprint)
    assert state == (REPOSITORY, 1)


def test_a_guests_labels_and_assignees_are_dropped_and_audited(make_flow) -> None:
    flow = make_flow(route_to="gitlab:contoso/guest")
    flow.gitlab.add_project("contoso/guest", members={flow.gitlab.bot: 10, "duo-developer": 30})
    flow.notify(notice())
    [issue] = flow.gitlab.issues("contoso/guest")
    assert issue["labels"] == [] and issue["assignees"] == []
    reasons = {e.action: e.reason for e in flow.services.audit.entries(notice().fingerprint)}
    assert reasons["labels-dropped"].startswith("the tracker left off faultline, severity:high")
    assert reasons["assign-failed"] == "GitLab did not assign: duo-developer"


def test_a_project_gitlab_does_not_show_is_refused_visibly(make_flow) -> None:
    flow = make_flow(route_to="gitlab:contoso/archived")
    flow.notify(notice())
    assert flow.actions(notice().fingerprint) == ["refused"]
    reason = flow.services.audit.entries(notice().fingerprint)[0].reason
    assert "GitLab refused with 404 (not-found): 404 Project Not Found" in reason
    assert flow.services.poisoned_jobs.count("refused") == 1


def test_the_dry_run_sink_takes_a_gitlab_route_into_its_own_folder(make_flow, tmp_path) -> None:
    out = tmp_path / "out"
    flow = make_flow(dry_run=out)
    flow.notify(notice(count=3))
    assert flow.issues() == [] and flow.gitlab.requests == []
    page = out / "gitlab" / "contoso" / "platform" / "shop" / "1.md"
    assert page.read_text().startswith("# TypeError in checkout.submit")
    assert list(issue_folders(out)) == [page.parent], "the local run's summary finds it"
    assert [(i.repository, i.number) for i in sink_issues(out)] == [(REPOSITORY, 1)]


def test_without_a_gitlab_token_a_gitlab_route_is_refused_and_github_carries_on(
    make_flow,
) -> None:
    to_gitlab = {"when_tables": ["AppRequests"], "repository": REPOSITORY}
    flow = make_flow(token=False, route_to="contoso/shop", routes=(to_gitlab,))
    flow.notify(notice())  # AppExceptions: the default route, on GitHub
    assert [i["number"] for i in flow.github.issues("contoso", "shop")] == [1]
    gitlab_bound = notice("payment-null").model_copy(update={"table": "AppRequests"})
    flow.notify(gitlab_bound)
    assert flow.gitlab.requests == []
    [refused] = [
        e for e in flow.services.audit.entries(gitlab_bound.fingerprint) if e.action == "refused"
    ]
    assert "FAULTLINE_GITLAB_TOKEN" in refused.reason
