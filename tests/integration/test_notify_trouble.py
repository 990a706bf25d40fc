"""Faultline's own trouble, told once per episode, on Azurite, the GitHub wire fake and a Slack
receiver on loopback: a table read too far behind (`query-lagging`) through the timer's
fan-out, a token near its stated expiry (`github-token-expiring`) and a token GitHub refuses
(`github-token-refused`) through the issue workflow's sync. Each is one message and one
`notified` audit row however many ticks or syncs see it, and again only after it recovered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from azure.functions.queue import QueueMessage

from adapters.notify import HttpNotifier
from bootstrap import bootstrap, install
from local_host.azurite import Azurite
from local_host.host import FunctionTable, SimulatedClock
from pipeline.fanout import fan_out
from pipeline.services import NotificationPorts, Services
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.messages import Assignment, Synced, WorkflowRequest
from tests.fakes.github import GitHubFake, SimulatedSeconds
from tests.fakes.notify_receivers import NotificationReceivers, Receivers
from tests.support.failures import notice
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOOK = "/slack/webhook/T1/B1/x"
TROUBLE = {
    "channels": [{"name": "ops", "kind": "slack", "webhook_url_secret": "slack-ops"}],
    "rules": [
        {
            "name": "own-trouble",
            "events": ["query-lagging", "github-token-expiring", "github-token-refused"],
            "channels": ["ops"],
            "throttle": {"count": 100, "within": "1h"},
        }
    ],
    "trouble": {"lag_bound": "1h", "token_warning": "7d"},
}


@dataclass
class Trouble:
    services: Services
    github: GitHubFake
    receivers: NotificationReceivers
    clock: SimulatedClock
    azurite: Azurite
    functions: FunctionTable

    def deliver(self) -> None:
        """Every queued notification, through the queue trigger as the host invokes it."""
        trigger = self.functions.user_function("deliver_notifications")
        for body in queued_bodies(self.azurite, self.services.settings.notify_queue):
            trigger(QueueMessage(id="1", body=body.encode(), dequeue_count=1))

    def messages(self) -> list[str]:
        """The header of each message Slack took."""
        return [t.body["blocks"][0]["text"]["text"] for t in self.receivers.taken_at(HOOK)]

    def notified(self, kind: str) -> list[str]:
        return [
            e.reason
            for e in self.services.audit.entries()
            if e.action == "notified" and e.fingerprint.startswith(kind)
        ]

    def sync(self) -> object:
        request = WorkflowRequest(
            notice=notice(),
            repository="contoso/shop",
            labels=("faultline",),
            assignment=Assignment(kind="none"),
            recheck_seconds=900,
        )
        return sync_issue(self.services, request)


@pytest.fixture
def trouble(
    azurite: Azurite,
    storage_env: dict[str, str],
    functions: FunctionTable,
    clock: SimulatedClock,
    tmp_path: Path,
) -> Iterator[Trouble]:
    document = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    document["notifications"] = TROUBLE
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(document))
    receivers = NotificationReceivers(Receivers(slack_webhooks={"T1/B1/x"}))
    with receivers, GitHubFake(clock=SimulatedSeconds(clock)) as github:
        github.add_repository("contoso", "shop")
        expires = clock.now() + timedelta(days=5)
        token = github.add_token("faultline", role="write", expires_at=expires.timestamp())
        env = {
            **storage_env,
            "FAULTLINE_RULES_PATH": str(rules),
            "FAULTLINE_NOTIFY_QUEUE": f"notify-{storage_env['FAULTLINE_TABLE_PREFIX'].lower()}",
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_TOKEN": token,
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",
        }
        built = bootstrap(env, clock=clock)
        if built.notifications is None:
            raise AssertionError("bootstrap wires notifications")
        built.notifications = NotificationPorts(
            queue=built.notifications.queue,
            state=built.notifications.state,
            notifier=HttpNotifier(
                {"slack-ops": f"{receivers.url}{HOOK}"}.__getitem__,
                sleep=lambda _: None,
                attempts=1,
            ),
        )
        install(built)
        yield Trouble(built, github, receivers, clock, azurite, functions)
        install(None)


def test_a_lagging_table_is_told_once_per_episode(trouble: Trouble) -> None:
    services, clock = trouble.services, trouble.clock
    fan_out(services)  # the first poll starts every table's read mark; nothing is read after
    start = services.checkpoints.read_through("production", "AppExceptions")
    assert start is not None
    trouble.deliver()
    assert trouble.messages() == []  # a backfill just queued is not lag
    for _ in range(3):  # the query jobs fail for 3 hours: each tick sees the lag
        clock.advance(timedelta(hours=1))
        fan_out(services)
        trouble.deliver()
    lagging = [m for m in trouble.messages() if "behind" in m]
    tables = sum(len(source.watched) for source in services.rules.enabled_sources)
    assert len(lagging) == tables  # one per table, not one per tick
    assert "queries behind: production/AppExceptions is 2:02:00 behind" in lagging[0]
    assert len(trouble.notified("query-lagging|production~AppExceptions")) == 1

    # AppExceptions' jobs catch up; the others stay behind
    services.checkpoints.mark_read("production", "AppExceptions", start, clock.now())
    fan_out(services)
    clock.advance(timedelta(hours=2))  # and then fall behind again: a new episode
    fan_out(services)
    trouble.deliver()
    assert len(trouble.notified("query-lagging|production~AppExceptions")) == 2
    assert len([m for m in trouble.messages() if "behind" in m]) == tables + 1


def test_a_token_near_its_stated_expiry_is_told_once(trouble: Trouble) -> None:
    assert isinstance(trouble.sync(), Synced)
    trouble.clock.advance(timedelta(hours=1))
    assert isinstance(trouble.sync(), Synced)
    trouble.deliver()
    assert [r.path for r in trouble.github.calls("POST")] == ["/repos/contoso/shop/issues"]
    (message,) = trouble.messages()
    expires = (trouble.clock.now() + timedelta(days=5) - timedelta(hours=1)).strftime("%Y-%m-%d")
    assert (
        message == f"Faultline's own trouble: GitHub token expiring: it expires {expires} 02:00 UTC"
    )
    (audited,) = trouble.notified("github-token-expiring")
    assert audited.startswith("slack channel ops (rule own-trouble): answered 200")


def test_a_refused_token_is_told_once_until_github_takes_it_again(trouble: Trouble) -> None:
    services = trouble.services
    token = services.settings.github_token
    assert token is not None
    trouble.github.revoke(token)
    for _ in range(3):  # every sync in the episode is refused
        trouble.clock.advance(timedelta(minutes=10))
        outcome = trouble.sync()
        assert isinstance(outcome, Synced) and outcome.action == "refused"
    trouble.deliver()
    assert trouble.messages() == [
        "Faultline's own trouble: GitHub token refused: GitHub answered 401 to the token, and "
        "again after asking for it anew"
    ]
    (audited,) = trouble.notified("github-token-refused")
    assert "answered 200" in audited
