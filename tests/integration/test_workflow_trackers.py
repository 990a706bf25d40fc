"""The issue workflow's tracker-dependent cases, run over both trackers: the same app (its
orchestrator and activities on durabletask's in-memory backend, state in Azurite) routed once to
the GitHub fake (spoken to by githubkit) and once to the GitLab fake (over HTTPS under a
self-managed prefix, spoken to by the GitLab adapter). Adding a tracker must mean one adapter and
configuration, never a change to the workflow (issue 15), so each case asserts the same effects
on either, through the tracker-neutral view below. The wire faults are each fake's own
(GitHub's secondary rate limit, GitLab's endpoint limit) injected on the same step.

Cases that depend on only one tracker stay in `test_workflow.py` (Copilot and Claude hand-off,
the GitHub App, the marker key, late-landing writes) and `test_workflow_gitlab.py` (a guest's
dropped labels, a GitLab route without a token, the dry-run sink's folder)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
import yaml
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.markers import carries_marker
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, SimulatedClock
from pipeline.messages import FailureNotice
from pipeline.ports import Counted
from pipeline.services import Services
from tests.fakes import github as hub
from tests.fakes import gitlab as lab
from tests.fakes.github import GitHubFake, SimulatedSeconds
from tests.fakes.gitlab import GitLabFake
from tests.support.failures import FRIDAY_MORNING, group_id, notice, occurrences

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
GITLAB_PROJECT = "contoso/platform/shop"

Fault = Literal["5xx", "throttled", "5xx-after-success", "timeout-after-success"]
Step = Literal["create", "edit", "comment"]


@dataclass(frozen=True)
class Issue:
    """One issue as either tracker shows it: GitLab's `opened` is `open`, its `description`
    the body, its comments the notes people (and Faultline) wrote, not its system notes."""

    number: int
    title: str
    state: Literal["open", "closed"]
    body: str
    labels: list[str]
    comments: list[str]


@dataclass
class Flow:
    tracker: Literal["GitHub", "GitLab"]
    repository: str
    services: Services
    github: GitHubFake
    gitlab: GitLabFake
    durable: DurableRuntime
    notices: QueueDriver
    clock: SimulatedClock

    def send(self, failure: FailureNotice, times: int = 1) -> None:
        """Count the notice's occurrences in the ledger (what the workflow shows comes from it),
        then queue it as ingestion would (`times` over, as concurrent detections do)."""
        group = failure.fingerprint or group_id("checkout-null")
        counted = [Counted(o, True) for o in occurrences(group, failure.count)]
        self.services.ledger.record(group, counted, self.services.rules.thresholds())
        for _ in range(times):
            self.services.failure_queue.send(failure.model_dump_json())
        self.notices.drain()

    def notify(self, failure: FailureNotice, times: int = 1) -> None:
        """Send the notice and let the workflow run to its end."""
        self.send(failure, times)
        self.durable.wait_until_idle()

    def issues(self) -> list[Issue]:
        if self.tracker == "GitHub":
            return [
                Issue(i["number"], i["title"], i["state"], i["body"], i["labels"], i["comments"])
                for i in self.github.issues("contoso", "shop")
            ]
        return [
            Issue(
                i["iid"],
                i["title"],
                "open" if i["state"] == "opened" else "closed",
                i["description"],
                i["labels"],
                [n["body"] for n in self.gitlab.notes(GITLAB_PROJECT, i["iid"]) if not n["system"]],
            )
            for i in self.gitlab.issues(GITLAB_PROJECT)
        ]

    def fail_next(self, fault: Fault, step: Step = "create", number: int = 0) -> None:
        """The next request of `step` (on issue `number`) answers with `fault`, each tracker's
        own form of it, on the endpoint that tracker does the step with."""
        if self.tracker == "GitHub":
            faults: dict[Fault, hub.Fault] = {
                "5xx": hub.ServerError(502),
                "throttled": hub.SecondaryRateLimit(retry_after=1),
                "5xx-after-success": hub.ServerErrorAfterSuccess(502),
                "timeout-after-success": hub.TimeoutAfterSuccess(delay_seconds=2),
            }
            issues = "/repos/contoso/shop/issues"
            method, path = {
                "create": ("POST", issues),
                "edit": ("PATCH", f"{issues}/{number}"),
                "comment": ("POST", f"{issues}/{number}/comments"),
            }[step]
            self.github.fail_next(faults[fault], method=method, path=path)
            return
        gitlab_faults: dict[Fault, lab.Fault] = {
            "5xx": lab.ServerError(502),
            "throttled": lab.RateLimited(retry_after=1),
            "5xx-after-success": lab.ServerErrorAfterSuccess(502),
            "timeout-after-success": lab.TimeoutAfterSuccess(delay_seconds=2),
        }
        issues = f"{GITLAB_PROJECT}/issues"
        method, path = {
            "create": ("POST", issues),
            "edit": ("PUT", f"{issues}/{number}"),
            "comment": ("POST", f"{issues}/{number}/notes"),
        }[step]
        self.gitlab.fail_next(gitlab_faults[fault], method=method, path=path)

    def age(self, number: int, entries: int) -> None:
        """Give issue `number` the long history months of life leave: on GitHub `entries`
        comments (seeded), on GitLab `entries` refreshes of the body through the tracker, each
        of which GitLab lists among the notes as a system note."""
        if self.tracker == "GitHub":
            self.github.seed_comments("contoso", "shop", number, entries)
            return
        tracker = self.services.issue_tracker()
        body = next(i.body for i in self.issues() if i.number == number)
        for refresh in range(entries):
            tracker.edit(self.repository, number, body=f"{body}\n<!-- refresh {refresh} -->")

    def statuses(self, step: Step = "create", number: int = 0) -> list[int]:
        """The status each request of `step` (on issue `number`) was answered with, in order."""
        if self.tracker == "GitHub":
            issues = "/repos/contoso/shop/issues"
            method, path = {
                "create": ("POST", issues),
                "edit": ("PATCH", f"{issues}/{number}"),
                "comment": ("POST", f"{issues}/{number}/comments"),
            }[step]
            return [c.status for c in self.github.calls(method, path)]
        issues = "/projects/" + GITLAB_PROJECT.replace("/", "%2F") + "/issues"
        method, path = {
            "create": ("POST", issues),
            "edit": ("PUT", f"{issues}/{number}"),
            "comment": ("POST", f"{issues}/{number}/notes"),
        }[step]
        return [c.status for c in self.gitlab.calls(method) if c.path.endswith(path)]

    def actions(self, fingerprint: str) -> list[str]:
        return [e.action for e in self.services.audit.entries(fingerprint)]

    def reasons(self, fingerprint: str, action: str) -> list[str]:
        return [e.reason for e in self.services.audit.entries(fingerprint) if e.action == action]


def _rules(tmp_path: Path, changes: dict[str, object]) -> str:
    document = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.fixture(params=["GitHub", "GitLab"])
def make_flow(request, azurite, storage_env, functions: FunctionTable, tmp_path) -> Iterator:
    """A workflow routed to the tracker of the parameter: GitHub's `contoso/shop` with Copilot
    assigned (the rules file's defaults), or GitLab's `contoso/platform/shop` with a named user
    (GitLab Duo's flow-trigger account) assigned. Both fakes run in either case."""
    tracker = request.param
    opened: list = []

    def make(simulated_timers: bool = False, **rule_changes: object) -> Flow:
        clock = SimulatedClock(FRIDAY_MORNING)
        # the trackers' waits are measured on the clock the Durable timers run on
        fake_clock = SimulatedSeconds(clock) if simulated_timers else None
        github = GitHubFake(clock=fake_clock).__enter__()
        gitlab = GitLabFake(clock=fake_clock).__enter__()
        opened.extend([github, gitlab])
        github.add_repository("contoso", "shop")
        gitlab.add_project(GITLAB_PROJECT)
        gitlab.add_user("duo-developer", bot=True)
        gitlab.add_member(GITLAB_PROJECT, "duo-developer", 30)
        durable = DurableRuntime(functions, clock=clock if simulated_timers else None).__enter__()
        opened.append(durable)
        repository = "contoso/shop" if tracker == "GitHub" else f"gitlab:{GITLAB_PROJECT}"
        routed: dict[str, object] = (
            {}
            if tracker == "GitHub"
            else {
                "routing.default_repository": repository,
                "assignment.default": {"kind": "users", "users": ["duo-developer"]},
            }
        )
        # most tests notify in quick succession; gathering updates has a test of its own
        changes = {"dedup.update_interval": "0s", **routed, **rule_changes}
        env = {
            **storage_env,
            "FAULTLINE_RULES_PATH": _rules(tmp_path, changes),
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_TOKEN": github.user_token,
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",  # a local fake
            "FAULTLINE_GITHUB_TIMEOUT_SECONDS": "1",
            "FAULTLINE_GITLAB_API_URL": gitlab.base_url,
            "FAULTLINE_GITLAB_TOKEN": gitlab.token,
            "FAULTLINE_GITLAB_CA_BUNDLE": gitlab.ca_path,
            "FAULTLINE_GITLAB_TIMEOUT_SECONDS": "1",
            "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
            "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
        }
        timer_seconds = clock.seconds if simulated_timers else time.monotonic
        services = bootstrap(env, clock=clock, timer_seconds=timer_seconds)
        install(services)
        starter = functions.user_function("start_issue_workflow")
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        driver = QueueDriver(
            queues,
            services.settings.failure_queue,
            lambda message: starter(message, durable.binding),
        )
        return Flow(tracker, repository, services, github, gitlab, durable, driver, clock)

    yield make
    for resource in reversed(opened):
        resource.__exit__(None, None, None)
    install(None)  # only once no activity can still be running


def test_a_new_failure_becomes_one_labelled_issue_with_its_marker(make_flow) -> None:
    flow = make_flow()
    failure = notice()
    flow.notify(failure)
    [issue] = flow.issues()
    assert issue.title.startswith("TypeError in checkout.submit: Cannot read properties")
    assert set(issue.labels) >= {"faultline", "severity:high", "category:bug"}
    assert carries_marker(issue.body, flow.repository, failure.fingerprint, None)
    assert flow.actions(failure.fingerprint) == ["created", "assigned"]
    [state] = flow.services.issues.issues_of(failure.fingerprint)
    assert state == (flow.repository, 1)


def test_ten_concurrent_notices_of_one_failure_make_one_issue(make_flow) -> None:
    flow = make_flow()
    flow.notify(notice(), times=10)
    assert len(flow.issues()) == 1
    assert flow.actions(notice().fingerprint).count("created") == 1


def test_a_recurrence_refreshes_and_comments_and_a_regression_reopens(make_flow) -> None:
    flow = make_flow()
    flow.notify(notice(count=3))
    flow.clock.advance(timedelta(hours=7))  # past the comment interval (6h)
    flow.notify(notice(count=9))
    [issue] = flow.issues()
    assert "**Occurrences** | 9" in issue.body
    [comment] = issue.comments
    assert comment.startswith("6 new occurrence(s) since the last update; 9 in total")
    flow.services.issue_tracker().edit(flow.repository, 1, state="closed", state_reason="completed")
    flow.notify(notice(count=12, last_seen=datetime.now(UTC) + timedelta(minutes=1)))
    [issue] = flow.issues()
    assert issue.state == "open"
    assert sum(c.startswith("Regressed") for c in issue.comments) == 1
    assert flow.actions(notice().fingerprint) == [
        "created",
        "assigned",
        "updated",
        "commented",
        "steered",  # the close read from the tracker: resolved, so the next occurrence regresses
        "reopened",
        "assigned",
    ]


def test_with_the_state_table_lost_the_issue_is_found_by_its_marker(make_flow) -> None:
    flow = make_flow()
    flow.notify(notice(count=3))
    flow.services.issues.delete_all()
    flow.notify(notice(count=8))
    [issue] = flow.issues()
    assert "**Occurrences** | 8" in issue.body
    assert flow.actions(notice().fingerprint) == [
        "created",
        "assigned",
        "skipped-as-duplicate",
        "updated",
    ]


def test_a_linked_regression_whose_create_timed_out_is_not_opened_twice(make_flow) -> None:
    flow = make_flow(**{"dedup.regression": "new_linked"})
    flow.notify(notice(count=3))
    flow.services.issue_tracker().edit(flow.repository, 1, state="closed", state_reason="completed")
    flow.fail_next("timeout-after-success", "create")
    flow.fail_next("timeout-after-success", "comment", 1)
    flow.notify(notice(count=5, last_seen=datetime.now(UTC) + timedelta(minutes=1)))
    old, new = flow.issues()
    assert (old.state, new.state) == ("closed", "open"), "one linked issue, not two"
    assert sum("Continued in #2" in c for c in old.comments) == 1


def test_a_throttled_create_waits_for_retry_after_then_creates_once(make_flow) -> None:
    flow = make_flow()
    flow.fail_next("throttled")
    flow.notify(notice())
    assert len(flow.issues()) == 1
    assert flow.actions(notice().fingerprint)[:2] == ["rate-limited", "created"]
    [waited] = flow.reasons(notice().fingerprint, "rate-limited")
    assert waited.startswith(f"{flow.tracker} asked to wait")


def test_a_502_on_create_is_retried_and_creates_once(make_flow) -> None:
    flow = make_flow()
    flow.fail_next("5xx")
    flow.notify(notice())
    assert len(flow.issues()) == 1
    assert flow.statuses() == [502, 201]


@pytest.mark.parametrize("fault", ["timeout-after-success", "5xx-after-success"])
def test_a_create_whose_answer_was_lost_after_the_tracker_made_it_is_recognised(
    make_flow, fault: Fault
) -> None:
    flow = make_flow()
    flow.fail_next(fault)
    flow.notify(notice())
    [issue] = flow.issues()
    assert issue.comments == []
    assert flow.actions(notice().fingerprint) == ["skipped-as-duplicate", "updated", "assigned"]
    assert "a previous attempt created it" in flow.reasons(
        notice().fingerprint, "skipped-as-duplicate"
    )


def test_the_hourly_issue_budget_holds_a_second_failure_until_its_slot(make_flow) -> None:
    flow = make_flow(simulated_timers=True, **{"rate_limits.issues_per_hour": 1})
    first, second = notice("checkout-null"), notice("payment-null")
    flow.send(first)
    flow.durable.run_due_work()
    flow.send(second)
    flow.durable.run_due_work()  # until the second waits on its slot
    assert [i.number for i in flow.issues()] == [1]
    assert flow.actions(second.fingerprint) == ["rate-limited"]
    [waited] = flow.reasons(second.fingerprint, "rate-limited")
    assert waited.startswith("hourly issue budget used")
    flow.clock.advance(timedelta(hours=1))
    flow.durable.run_due_work()
    assert [i.number for i in flow.issues()] == [1, 2]
    assert flow.actions(second.fingerprint) == ["rate-limited", "created", "assigned"]
    assert flow.actions(first.fingerprint) == ["created", "assigned"]


def test_folded_groups_keep_the_older_issue_and_close_the_younger_as_its_duplicate_once(
    make_flow,
) -> None:
    flow = make_flow()
    older, younger = notice("older"), notice("younger")
    flow.notify(older)
    flow.notify(younger)
    assert [i.number for i in flow.issues()] == [1, 2]
    flow.services.grouping.alias([(younger.fingerprint, older.fingerprint, "the same cause")])
    # the tracker closes #2 and takes the comment, but both answers are lost: the retry must
    # not comment twice, nor audit twice
    flow.fail_next("timeout-after-success", "edit", 2)
    flow.fail_next("timeout-after-success", "comment", 2)
    flow.notify(notice("older", count=5))
    first, second = flow.issues()
    assert (first.state, second.state) == ("open", "closed")
    if flow.tracker == "GitHub":  # GitLab closes without a reason: the comment links #1
        duplicate = flow.github.issues("contoso", "shop")[1]
        assert (duplicate["state_reason"], duplicate["duplicate_of"]) == ("duplicate", 1)
    assert [c for c in second.comments if "#1" in c and "groups this failure" in c] != []
    assert sum("groups this failure" in c for c in second.comments) == 1
    assert "**Occurrences** | 8 |" in first.body, "the younger group's counts moved over"
    assert flow.actions(older.fingerprint).count("folded") == 1
    flow.notify(notice("younger", count=4))  # the absorbed group's own notice: no new issue
    assert [i.state for i in flow.issues()] == ["open", "closed"]


def test_an_automatic_merge_says_so_once_on_both_issues_of_a_long_lived_survivor(
    make_flow,
) -> None:
    """Issue 13: no merge is silent, and none is said twice. Each comment's marker is looked
    for among Faultline's own comments when a step is retried; on a survivor with a long
    history (a long conversation; on GitLab also a system note per refresh of the body) the
    comment a retry looks for lies pages deep."""
    flow = make_flow()
    older, younger = notice("older"), notice("younger")
    flow.notify(older)
    flow.notify(younger)
    flow.age(1, entries=150)
    flow.services.grouping.alias([(younger.fingerprint, older.fingerprint, "the merge step")])
    # both comments land, but their answers are lost: the retried step must not repeat them
    flow.fail_next("5xx-after-success", "comment", 2)
    flow.fail_next("5xx-after-success", "comment", 1)
    flow.notify(notice("older", count=5))
    assert (flow.statuses("comment", 1), flow.statuses("comment", 2)) == ([502], [502])
    survivor, absorbed = flow.issues()
    announced = [c for c in survivor.comments if "merged #2" in c]
    assert len(announced) == 1, survivor.comments
    assert "automatically" in announced[0] and "(unhandled-exception)" in announced[0]
    marker = f"<!-- faultline:absorbed={younger.fingerprint}:into={older.fingerprint} -->"
    assert marker in announced[0]
    assert sum("groups this failure with #1" in c for c in absorbed.comments) == 1
    assert (survivor.state, absorbed.state) == ("open", "closed")
    assert "**Occurrences** | 8 |" in survivor.body, "the absorbed group's counts moved over"
    assert flow.actions(older.fingerprint).count("merged") == 1
    assert flow.actions(older.fingerprint).count("folded") == 1
    flow.notify(notice("older", count=7))  # a later sync of the survivor: nothing said again
    assert sum("merged #2" in c for c in flow.issues()[0].comments) == 1
