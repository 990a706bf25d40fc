"""The notification path end to end on Azurite and loopback receivers: `emit` queues an event,
the queue trigger (called as the host calls it) dispatches it through the real adapters, and the
receivers take each message exactly once however often it is redelivered; a storm is held and
summed up in one message when a slot frees, on simulated time; a failure is audited, never
raised into the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from azure.functions.queue import QueueMessage

from adapters.notify import HttpNotifier
from bootstrap import bootstrap, install
from detection.notify import NotificationEvent
from local_host.azurite import Azurite
from local_host.host import FunctionTable, SimulatedClock
from pipeline.notify import dispatch, emit
from pipeline.services import NotificationPorts, Services
from tests.fakes.notify_receivers import Fault, NotificationReceivers, Receivers
from tests.support.memory import MemoryQueue
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTIFICATIONS = """
notifications:
  channels:
    - {name: oncall, kind: slack, webhook_url_secret: slack-oncall-webhook}
    - {name: ops, kind: teams, webhook_url_secret: teams-ops-workflow}
    - {name: threads, kind: slack, bot_token_secret: slack-bot-token, channel: C01}
  rules:
    - name: critical
      events: [issue-created, issue-regressed]
      severities: [critical]
      channels: [oncall, ops]
      throttle: {count: 2, within: 10m}
    - name: orders
      events: [issue-created, issue-regressed, assignment-failed]
      repositories: [contoso/orders]
      channels: [threads]
"""


@pytest.fixture
def receivers() -> Iterator[NotificationReceivers]:
    config = Receivers(
        slack_webhooks={"T1/B1/x"},
        teams_webhooks={"wf1"},
        slack_tokens={"xoxb-test"},
        slack_channels={"C01"},
    )
    with NotificationReceivers(config) as running:
        yield running


@pytest.fixture
def services(
    storage_env: dict[str, str],
    clock: SimulatedClock,
    tmp_path: Path,
    receivers: NotificationReceivers,
) -> Iterator[Services]:
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "faultline.yaml").read_text() + NOTIFICATIONS)
    queue = f"notify-{storage_env['FAULTLINE_TABLE_PREFIX'].lower()}"
    env = {**storage_env, "FAULTLINE_RULES_PATH": str(rules), "FAULTLINE_NOTIFY_QUEUE": queue}
    built = bootstrap(env, clock=clock)
    if built.notifications is None:
        raise AssertionError("bootstrap wires notifications")
    secrets = {
        "slack-oncall-webhook": f"{receivers.url}/slack/webhook/T1/B1/x",
        "teams-ops-workflow": f"{receivers.url}/teams/wf1",
        "slack-bot-token": "xoxb-test",
    }
    built.notifications = NotificationPorts(
        queue=built.notifications.queue,
        state=built.notifications.state,
        notifier=HttpNotifier(
            secrets.__getitem__,
            slack_api=f"{receivers.url}/slack/api/",
            sleep=lambda _: None,
            attempts=3,
        ),
    )
    install(built)
    yield built
    install(None)


def _event(issue: int, **changes: object) -> NotificationEvent:
    fields: dict[str, object] = {
        "kind": "issue-created",
        "at": "2026-11-20T02:00:00Z",
        "fingerprint": f"fp{issue}",
        "repository": "contoso/shop",
        "issue": issue,
        "issue_url": f"https://github.com/contoso/shop/issues/{issue}",
        "title": f"KeyError {issue}",
        "definition": "unhandled-exception",
        "severity": "critical",
        "count": 3,
    }
    fields.update(changes)
    return NotificationEvent.model_validate(fields)


def _deliver(functions: FunctionTable, body: str, dequeue_count: int = 1) -> None:
    """The queue trigger, invoked as the host invokes it."""
    message = QueueMessage(id="1", body=body.encode(), dequeue_count=dequeue_count)
    functions.user_function("deliver_notifications")(message)


def _queued(azurite: Azurite, services: Services) -> list[str]:
    return queued_bodies(azurite, services.settings.notify_queue)


def test_an_event_reaches_each_channel_once_however_often_it_is_delivered(
    services: Services,
    functions: FunctionTable,
    azurite: Azurite,
    receivers: NotificationReceivers,
) -> None:
    emit(services, _event(1))
    emit(services, _event(1, count=9))  # a retried workflow step emits the event again
    bodies = _queued(azurite, services)
    assert len(bodies) == 2
    for body in bodies:
        _deliver(functions, body)
    _deliver(functions, bodies[0], dequeue_count=2)  # redelivered by the host
    assert len(receivers.taken_at("/slack/webhook/T1/B1/x")) == 1
    assert len(receivers.taken_at("/teams/wf1")) == 1
    notified = [e for e in services.audit.entries("fp1") if e.action == "notified"]
    assert sorted(e.reason.split(" (")[0] for e in notified) == [
        "slack channel oncall",
        "teams channel ops",
    ]
    assert all(e.issue == 1 and e.repository == "contoso/shop" for e in notified)


def test_an_event_no_rule_wants_is_not_queued(services: Services, azurite: Azurite) -> None:
    emit(services, _event(2, severity="low"))
    assert _queued(azurite, services) == []


def test_a_storm_is_two_messages_and_one_summary_when_a_slot_frees(
    services: Services,
    functions: FunctionTable,
    clock: SimulatedClock,
    receivers: NotificationReceivers,
) -> None:
    """Azurite hides a delayed message for real seconds while this clock is simulated, so the
    queue here is the in-memory one, which keeps each message's delay for the test to honour."""
    if services.notifications is None:
        raise AssertionError("bootstrap wires notifications")
    queue = MemoryQueue()
    services.notifications = replace(services.notifications, queue=queue)
    start = clock.now()
    for issue in range(10, 16):
        emit(services, _event(issue))
    clock.advance(timedelta(minutes=1))
    for body, _ in list(queue.sent):
        _deliver(functions, body)
    slack = "/slack/webhook/T1/B1/x"
    assert len(receivers.taken_at(slack)) == 2
    held = [e for e in services.audit.entries() if e.action == "notification-held"]
    assert len(held) == 8  # four issues held on each of the two channels
    flushes = [(body, delay) for body, delay in queue.sent[6:]]
    assert [delay for _, delay in flushes] == [timedelta(minutes=10)] * 2  # from the sends
    clock.set(start + timedelta(minutes=11))
    for body, _ in flushes:
        _deliver(functions, body)
    summary = receivers.taken_at(slack)[-1].body
    assert summary["blocks"][0]["text"]["text"] == "⏸ 4 notification(s) held back"
    assert len(receivers.taken_at("/teams/wf1")) == 3
    told = [e for e in services.audit.entries("faultline-notifications") if e.action == "notified"]
    assert len(told) == 2 and all("telling 4 held back" in e.reason for e in told)


def test_a_channel_that_keeps_failing_is_audited_and_does_not_raise(
    services: Services,
    functions: FunctionTable,
    azurite: Azurite,
    receivers: NotificationReceivers,
) -> None:
    receivers.fail("/teams/wf1", *(Fault(503) for _ in range(3)))
    emit(services, _event(3))
    (body,) = _queued(azurite, services)
    _deliver(functions, body)
    actions = {(e.action, e.reason.split(":")[0]) for e in services.audit.entries("fp3")}
    assert ("notified", "slack channel oncall (rule critical)") in actions
    assert ("notification-failed", "teams channel ops (rule critical)") in actions
    _deliver(functions, body, dequeue_count=2)  # redelivered: claimed, not sent again
    assert receivers.taken_at("/teams/wf1") == []
    assert len(receivers.taken_at("/slack/webhook/T1/B1/x")) == 1


def test_a_slack_bot_keeps_one_thread_per_issue(
    services: Services,
    functions: FunctionTable,
    azurite: Azurite,
    receivers: NotificationReceivers,
) -> None:
    orders = {"repository": "contoso/orders", "severity": "medium"}
    emit(services, _event(4, **orders))
    emit(services, _event(4, kind="issue-regressed", occasion="20261120T030000", **orders))
    emit(services, _event(4, kind="assignment-failed", reason="token cannot assign", **orders))
    emit(services, _event(5, **orders))
    for body in _queued(azurite, services):
        _deliver(functions, body)
    opened, regressed, failed, other = receivers.taken_at("/slack/api/chat.postMessage")
    assert "thread_ts" not in opened.body and "thread_ts" not in other.body
    assert regressed.body["thread_ts"] == failed.body["thread_ts"]
    replies = [e.reason for e in services.audit.entries("fp4") if e.action == "notified"]
    assert sum("(in the issue's thread)" in reason for reason in replies) == 2


def test_without_key_vault_a_send_is_refused_by_name(
    storage_env: dict[str, str], clock: SimulatedClock, tmp_path: Path, azurite: Azurite
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "faultline.yaml").read_text() + NOTIFICATIONS)
    queue = f"notify-{storage_env['FAULTLINE_TABLE_PREFIX'].lower()}"
    env = {**storage_env, "FAULTLINE_RULES_PATH": str(rules), "FAULTLINE_NOTIFY_QUEUE": queue}
    built = bootstrap(env, clock=clock)
    emit(built, _event(6))
    (body,) = queued_bodies(azurite, queue)
    assert dispatch(built, body) == 0
    failed = [e for e in built.audit.entries("fp6") if e.action == "notification-failed"]
    assert len(failed) == 2
    assert all("set FAULTLINE_KEY_VAULT_URL" in e.reason for e in failed)
