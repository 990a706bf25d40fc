"""The HTTP notifier against Slack, Teams and a webhook receiver on loopback: each message is
taken exactly once, in the receiver's own format, through 429s with Retry-After, 5xx, timeouts;
a receiver that is gone or refuses fails visibly, without endless retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.notify import HttpNotifier, retry_after_seconds
from detection.notify import NotificationEvent
from detection.notify_payloads import Message
from detection.rules import Notifications
from pipeline.ports import DeliveryFailed, SecretUnavailable
from tests.fakes.notify_receivers import (
    Fault,
    NotificationReceivers,
    Receivers,
    closed_port_url,
)

pytestmark = pytest.mark.integration

HOOK_KEY = b"k" * 32
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
NOTIFICATIONS = Notifications.model_validate(
    {
        "channels": [
            {"name": "oncall", "kind": "slack", "webhook_url_secret": "slack-url"},
            {"name": "bot", "kind": "slack", "bot_token_secret": "slack-bot", "channel": "C01"},
            {"name": "ops", "kind": "teams", "webhook_url_secret": "teams-url"},
            {
                "name": "pager",
                "kind": "webhook",
                "url_secret": "hook-url",
                "signing_secret": "hook-key",
                "headers": {"X-Tenant": "shop"},
                "header_secrets": {"Authorization": "hook-auth"},
                "template": '{"summary": "{{ event.title }}", "n": {{ event.count }}}',
            },
        ]
    }
)
EVENT = NotificationEvent(
    kind="issue-created",
    at=T0,
    fingerprint="fp1",
    repository="contoso/shop",
    issue=7,
    issue_url="https://github.com/contoso/shop/issues/7",
    title='KeyError: "basket" <!here>',
    definition="unhandled-exception",
    severity="critical",
    count=12,
)


@pytest.fixture
def receivers() -> Iterator[NotificationReceivers]:
    config = Receivers(
        slack_webhooks={"T1/B1/abc"},
        slack_tokens={"xoxb-test"},
        slack_channels={"C01"},
        teams_webhooks={"wf1"},
        hook_keys={"pager": HOOK_KEY},
    )
    with NotificationReceivers(config) as running:
        yield running


class Sleeps(list[float]):
    """The notifier's waits, recorded instead of slept: the test checks it waited as asked."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _notifier(
    receivers: NotificationReceivers, sleeps: Sleeps, **options: Any
) -> tuple[HttpNotifier, dict[str, str]]:
    secrets = {
        "slack-url": f"{receivers.url}/slack/webhook/T1/B1/abc",
        "slack-bot": "xoxb-test",
        "teams-url": f"{receivers.url}/teams/wf1",
        "hook-url": f"{receivers.url}/hook/pager",
        "hook-key": HOOK_KEY.decode(),
        "hook-auth": "Bearer s3cret",
    }

    def secret(name: str) -> str:
        if name not in secrets:
            raise SecretUnavailable(f"secret {name} does not exist", reason="missing", name=name)
        return secrets[name]

    notifier = HttpNotifier(
        secret, slack_api=f"{receivers.url}/slack/api/", sleep=sleeps, **options
    )
    return notifier, secrets


def _send(notifier: HttpNotifier, channel: str, thread: str | None = None) -> Any:
    message = Message("critical", channel, EVENT)
    return notifier.deliver(
        NOTIFICATIONS.channel(channel), message, thread=thread, delivery_id="d-1"
    )


def test_slack_webhook_takes_block_kit_once(receivers: NotificationReceivers) -> None:
    notifier, _ = _notifier(receivers, Sleeps())
    delivery = _send(notifier, "oncall")
    (taken,) = receivers.taken_at("/slack/webhook/T1/B1/abc")
    assert (delivery.status, delivery.attempts) == (200, 1)
    assert [block["type"] for block in taken.body["blocks"]] == ["header", "section", "actions"]
    assert "&lt;\u2060!here&gt;" in taken.body["text"]


def test_429_waits_what_retry_after_asks_then_delivers_once(
    receivers: NotificationReceivers,
) -> None:
    sleeps = Sleeps()
    notifier, _ = _notifier(receivers, sleeps)
    receivers.fail("/slack/webhook/T1/B1/abc", Fault(429, retry_after="7"))
    delivery = _send(notifier, "oncall")
    assert sleeps == [7.0]
    assert delivery.attempts == 2
    assert len(receivers.taken_at("/slack/webhook/T1/B1/abc")) == 1


def test_retry_after_as_an_http_date_and_capped() -> None:
    assert retry_after_seconds("Tue, 01 Dec 2026 03:00:30 GMT", T0) == 30.0
    assert retry_after_seconds("soon", T0) is None
    assert retry_after_seconds(None, T0) is None


def test_a_long_retry_after_is_capped(receivers: NotificationReceivers) -> None:
    sleeps = Sleeps()
    notifier, _ = _notifier(receivers, sleeps, max_wait=20.0)
    receivers.fail("/teams/wf1", Fault(429, retry_after="3600"))
    _send(notifier, "ops")
    assert sleeps == [20.0]
    assert len(receivers.taken_at("/teams/wf1")) == 1


def test_5xx_backs_off_and_delivers_once(receivers: NotificationReceivers) -> None:
    sleeps = Sleeps()
    notifier, _ = _notifier(receivers, sleeps)
    receivers.fail("/teams/wf1", Fault(503), Fault(502))
    delivery = _send(notifier, "ops")
    assert delivery.attempts == 3 and delivery.status == 202
    assert len(sleeps) == 2 and all(0 < wait <= 30 for wait in sleeps)
    (taken,) = receivers.taken_at("/teams/wf1")
    assert taken.body["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_a_timeout_is_retried_with_one_delivery_id(receivers: NotificationReceivers) -> None:
    notifier, _ = _notifier(receivers, Sleeps(), timeout=0.3)
    receivers.fail("/hook/pager", Fault(delay=1.0))  # answers after the client gave up
    delivery = _send(notifier, "pager")
    assert delivery.attempts == 2
    deadline = time.monotonic() + 5
    while len([p for p, _ in receivers.requests if p == "/hook/pager"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ids = {h["X-Faultline-Delivery"] for p, h in receivers.requests if p == "/hook/pager"}
    assert ids == {"d-1"}  # the receiver can tell the retry from a new message
    assert len(receivers.taken_at("/hook/pager")) == 1


def test_webhook_is_signed_with_its_headers_and_secret_headers(
    receivers: NotificationReceivers,
) -> None:
    notifier, _ = _notifier(receivers, Sleeps())
    delivery = _send(notifier, "pager")
    (taken,) = receivers.taken_at("/hook/pager")
    assert delivery.status == 204  # the receiver verified the signature
    assert taken.body == {"summary": 'KeyError: "basket" <\u2060!here>', "n": 12}
    assert taken.headers["X-Tenant"] == "shop"
    assert taken.headers["Authorization"] == "Bearer s3cret"
    assert taken.headers["X-Faultline-Event"] == "issue-created"


def test_a_wrong_signing_key_is_refused_at_once(receivers: NotificationReceivers) -> None:
    notifier, secrets = _notifier(receivers, Sleeps())
    secrets["hook-key"] = "not-the-key"
    with pytest.raises(DeliveryFailed) as failed:
        _send(notifier, "pager")
    assert failed.value.permanent and failed.value.attempts == 1
    assert "401" in failed.value.reason
    assert receivers.taken_at("/hook/pager") == []


def test_a_receiver_that_is_gone_fails_after_the_retries(
    receivers: NotificationReceivers,
) -> None:
    sleeps = Sleeps()
    notifier, secrets = _notifier(receivers, sleeps, attempts=3)
    secrets["teams-url"] = closed_port_url()
    with pytest.raises(DeliveryFailed) as failed:
        _send(notifier, "ops")
    assert (failed.value.permanent, failed.value.attempts) == (False, 3)
    assert len(sleeps) == 2


def test_a_revoked_webhook_is_refused_without_retrying(receivers: NotificationReceivers) -> None:
    sleeps = Sleeps()
    notifier, secrets = _notifier(receivers, sleeps)
    secrets["slack-url"] = f"{receivers.url}/slack/webhook/T1/B1/revoked"
    with pytest.raises(DeliveryFailed) as failed:
        _send(notifier, "oncall")
    assert failed.value.permanent and "404" in failed.value.reason
    assert sleeps == []


def test_a_missing_secret_is_a_refusal_that_names_it(receivers: NotificationReceivers) -> None:
    notifier, secrets = _notifier(receivers, Sleeps())
    del secrets["teams-url"]
    with pytest.raises(DeliveryFailed, match="secret teams-url does not exist") as failed:
        _send(notifier, "ops")
    assert failed.value.permanent and failed.value.attempts == 0


def test_slack_bot_posts_then_replies_in_the_issues_thread(
    receivers: NotificationReceivers,
) -> None:
    notifier, _ = _notifier(receivers, Sleeps())
    first = _send(notifier, "bot")
    reply = _send(notifier, "bot", thread=first.thread)
    opening, answer = receivers.taken_at("/slack/api/chat.postMessage")
    assert first.thread and "thread_ts" not in opening.body
    assert answer.body["thread_ts"] == first.thread
    assert reply.thread != first.thread
    assert opening.headers["Authorization"] == "Bearer xoxb-test"


def test_slack_bot_ratelimited_is_waited_out(receivers: NotificationReceivers) -> None:
    sleeps = Sleeps()
    notifier, _ = _notifier(receivers, sleeps)
    receivers.fail("/slack/api/chat.postMessage", Fault(429, retry_after="3"))
    _send(notifier, "bot")
    assert sleeps == [3.0]
    assert len(receivers.taken_at("/slack/api/chat.postMessage")) == 1


def test_slack_bot_refusal_names_slacks_error(receivers: NotificationReceivers) -> None:
    notifier, secrets = _notifier(receivers, Sleeps())
    secrets["slack-bot"] = "xoxb-revoked"
    with pytest.raises(DeliveryFailed, match="chat.postMessage refused: invalid_auth"):
        _send(notifier, "bot")


def test_the_timestamp_is_the_notifiers_clock(receivers: NotificationReceivers) -> None:
    moment = datetime.now(UTC) - timedelta(minutes=10)
    notifier, _ = _notifier(receivers, Sleeps(), now=lambda: moment)
    with pytest.raises(DeliveryFailed, match="401"):
        _send(notifier, "pager")  # a stale timestamp: the receiver refuses a replay
