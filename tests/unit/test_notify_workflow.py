"""The issue workflow emits its notification events where it changes an issue (created,
reopened, a linked regression, assignment failed) and where Faultline is in trouble (a poisoned
notice, a refused workflow), once per event, and never fails for them; the dispatcher then
writes each to the dry-run channel exactly once."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.notify_files import NotificationFileSink
from detection.notify import NotificationEvent, ThrottleState
from pipeline.notify import NotificationJob, dispatch, record_poisoned_notification, watch_token
from pipeline.ports import Counted, TrackerRefused
from pipeline.services import NotificationPorts
from pipeline.workflow.assignment import assign_issue
from pipeline.workflow.messages import Synced
from pipeline.workflow.starter import record_poisoned_notice
from tests.support.failures import notice
from tests.support.memory import MemoryQueue
from tests.support.notify import MemoryNotificationState
from tests.unit.test_issue_workflow import SHOP, Flow, _later, _rules, flow_with

pytestmark = pytest.mark.unit

NOTIFICATIONS = {
    "channels": [{"name": "oncall", "kind": "slack", "webhook_url_secret": "slack-oncall"}],
    "rules": [
        {
            "name": "everything",
            "events": ["issue-created", "issue-regressed", "assignment-failed", "job-poisoned"],
            "channels": ["oncall"],
        }
    ],
}


class BrokenQueue:
    def send(self, body: str, delay: timedelta | None = None) -> None:
        raise ConnectionError("the queue is unreachable")


def _wired(flow: Flow, tmp_path: Path, queue: object | None = None) -> MemoryQueue:
    events = MemoryQueue()
    flow.services.notifications = NotificationPorts(
        queue=queue or events,  # type: ignore[arg-type]
        state=MemoryNotificationState(),
        notifier=NotificationFileSink(tmp_path),
    )
    return events


def _events(queue: MemoryQueue) -> list[NotificationEvent]:
    jobs = [NotificationJob.model_validate_json(body) for body, _ in queue.sent]
    return [job.event for job in jobs if job.event is not None]


def test_a_created_issue_is_one_event_and_one_message(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    queue = _wired(flow, tmp_path)
    first = flow.sync(flow.occur("checkout", 3))
    flow.sync(flow.occur("checkout", 3))  # a later sync refreshes, it does not create
    assert isinstance(first, Synced) and first.action == "created"
    (event,) = _events(queue)
    assert (event.kind, event.repository, event.issue, event.count) == ("issue-created", SHOP, 1, 3)
    assert event.issue_url == first.url and event.title and event.severity
    for body, _ in queue.sent * 2:  # each delivered twice, as a redelivery would
        dispatch(flow.services, body)
    (written,) = sorted(tmp_path.iterdir())
    assert written.name == "0001-oncall-issue-created.json"
    assert json.loads(written.read_text())["payload"]["blocks"][0]["type"] == "header"
    (notified,) = [e for e in flow.memory.audit.rows if e.action == "notified"]
    assert notified.reason == (
        "slack channel oncall (rule everything): written as a file (dry run) after 1 attempt(s)"
    )


def test_a_reopened_regression_is_an_event_of_its_own(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    queue = _wired(flow, tmp_path)
    flow.sync(flow.occur("checkout", 3))
    flow.clock.moment += timedelta(hours=1)
    flow.tracker.edit(SHOP, 1, state="closed")
    flow.clock.moment += timedelta(hours=1)
    later = flow.occur("checkout", 3).model_copy(
        update={"count": 4, "last_seen": flow.clock.moment}
    )
    flow.memory.ledger.record(
        later.fingerprint,
        [Counted(_later(flow, later.fingerprint), True)],
        flow.services.rules.thresholds(),
    )
    flow.sync(later)
    flow.sync(later)  # a retry after a lost response
    created, regressed = _events(queue)
    assert (regressed.kind, regressed.issue, regressed.count) == ("issue-regressed", 1, 4)
    assert regressed.occasion and regressed.key != created.key


def test_a_failed_assignment_says_why(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS), copilot_assignable=False)
    queue = _wired(flow, tmp_path)
    found = flow.occur("checkout", 3)
    flow.sync(found)
    assign_issue(flow.services, flow.request(found, issue=1))
    kinds = [(e.kind, e.issue, e.reason) for e in _events(queue)]
    assert kinds[-1] == ("assignment-failed", 1, "Copilot was not assigned")


def test_a_poisoned_notice_is_faultlines_own_trouble(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    queue = _wired(flow, tmp_path)
    record_poisoned_notice(flow.services, "not json")
    (event,) = _events(queue)
    assert event.kind == "job-poisoned" and event.title.startswith("poisoned failure notice")


def test_the_whole_workflow_emits_its_creation_once(tmp_path: Path) -> None:
    flow = flow_with(notifications=NOTIFICATIONS)
    queue = _wired(flow, tmp_path)
    flow.notify(notice(count=3))
    flow.notify(notice(count=5))
    assert [e.kind for e in _events(queue)] == ["issue-created"]


def test_a_queue_that_fails_never_fails_the_workflow(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    _wired(flow, tmp_path, queue=BrokenQueue())
    outcome = flow.sync(flow.occur("checkout", 3))
    assert isinstance(outcome, Synced) and outcome.action == "created"


def test_without_notification_rules_nothing_is_queued(tmp_path: Path) -> None:
    flow = Flow()
    queue = _wired(flow, tmp_path)
    flow.sync(flow.occur("checkout", 3))
    assert queue.sent == []


def test_a_poisoned_notification_is_kept_and_not_notified_about(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    queue = _wired(flow, tmp_path)
    job = NotificationJob(kind="flush", rule="everything", channel="oncall").model_dump_json()
    for body in (job, job, "not json"):
        record_poisoned_notification(flow.services, body)
    assert flow.memory.poisoned.count("notifications") == 2
    assert queue.sent == []


class FailingOnce(MemoryNotificationState):
    """Table Storage failing once while the throttle is read (a 503 the SDK gave up on)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def throttle(self, key: str) -> tuple[ThrottleState, str | None]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("table storage unavailable")
        return super().throttle(key)


def test_a_storage_failure_before_sending_lets_the_retry_send(tmp_path: Path) -> None:
    flow = Flow(_rules(notifications=NOTIFICATIONS))
    queue = _wired(flow, tmp_path)
    state = FailingOnce()
    flow.services.notifications = replace(flow.services.notifications, state=state)  # type: ignore[type-var]
    flow.sync(flow.occur("checkout", 3))
    ((body, _),) = queue.sent
    with pytest.raises(ConnectionError):
        dispatch(flow.services, body)
    assert dispatch(flow.services, body) == 1  # the host's retry
    assert dispatch(flow.services, body) == 0  # and never again
    assert len(list(tmp_path.iterdir())) == 1


@settings(max_examples=60, deadline=None)
@given(
    deliveries=st.lists(
        st.tuples(
            st.sampled_from(["issue-created", "issue-regressed", "assignment-failed"]),
            st.integers(min_value=1, max_value=4),
        ),
        max_size=25,
    )
)
def test_every_event_reaches_the_channel_exactly_once_however_often_it_comes(
    deliveries: list[tuple[str, int]],
) -> None:
    """Emitted again (a retried step) and delivered again (the host), in any order: one
    message per distinct event, as long as the throttle has room."""
    rules = _rules(notifications=NOTIFICATIONS)
    flow = Flow(rules)
    with tempfile.TemporaryDirectory() as folder:
        _wired(flow, Path(folder))
        for kind, issue in deliveries:
            event = NotificationEvent.model_validate(
                {
                    "kind": kind,
                    "at": flow.clock.moment,
                    "fingerprint": f"fp{issue}",
                    "repository": SHOP,
                    "issue": issue,
                    "title": f"failure {issue}",
                }
            )
            dispatch(flow.services, NotificationJob(kind="event", event=event).model_dump_json())
            flow.clock.moment += timedelta(hours=1)  # an hour apart: the throttle never holds
        written = list(Path(folder).glob("*-oncall-*.json"))
        assert len(written) == len(set(deliveries))


def test_a_refused_token_is_told_again_only_after_github_took_it(tmp_path: Path) -> None:
    flow = Flow(
        _rules(
            notifications={
                **NOTIFICATIONS,
                "rules": [
                    {"name": "token", "events": ["github-token-refused"], "channels": ["oncall"]}
                ],
            }
        )
    )
    queue = _wired(flow, tmp_path)
    refused = TrackerRefused(401, "Bad credentials", what="create an issue", kind="credentials")
    forbidden = TrackerRefused(403, "Resource not accessible", kind="forbidden")
    for outcome in (refused, refused, None, refused, forbidden, refused):
        flow.clock.moment += timedelta(minutes=5)
        watch_token(flow.services, flow.tracker, SHOP, outcome)
    watch_token(flow.services, flow.tracker, "gitlab:contoso/shop", None)  # not GitHub's token
    watch_token(flow.services, flow.tracker, SHOP, refused)  # so the episode goes on
    first, second, third = _events(queue)  # a success, or a 403, means GitHub took the token
    assert {first.kind, second.kind, third.kind} == {"github-token-refused"}
    assert len({first.key, second.key, third.key}) == 3
    assert first.reason.startswith("create an issue: GitHub refused with 401 (credentials)")
