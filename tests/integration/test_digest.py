"""The digest end to end on Azurite, the GitHub wire fake and loopback Slack and Teams receivers:
three days of generated failures go through the real ledger, issue states and audit table; the
pull request watch and the digest timer run as the host calls them; every figure is checked
against the ledger's and the audit table's own rows, the page is one issue however often the
timer runs (a create that timed out after landing included), and each channel gets the digest
once, valid for its schema."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest
from jsonschema import Draft6Validator

from adapters.notify import HttpNotifier
from bootstrap import bootstrap, install
from detection.digest import Period, digest_fingerprint
from detection.markers import find_marker
from detection.occurrence import Occurrence
from detection.rules import Threshold
from local_host.host import FunctionTable, SimulatedClock
from pipeline.digest import gather
from pipeline.ports import Counted, IssueState
from pipeline.services import NotificationPorts, Services
from tests.fakes.github import GitHubFake, SimulatedSeconds, TimeoutAfterSuccess
from tests.fakes.notify_receivers import Fault, NotificationReceivers, Receivers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
FIRST_DAY = MONDAY - timedelta(days=3)  # Friday to Sunday, the sample's three days
EARLIER = FIRST_DAY - timedelta(days=8)  # in the week before the digest's
CARDS = Draft6Validator(
    json.loads((ROOT / "tests" / "fakes" / "schemas" / "adaptive-card-1.5.json").read_text())
)
NOTIFICATIONS = """
notifications:
  channels:
    - {name: oncall, kind: slack, webhook_url_secret: slack-oncall-webhook}
    - {name: ops, kind: teams, webhook_url_secret: teams-ops-workflow}
    - name: bridge
      kind: webhook
      url_secret: bridge-url
      signing_secret: bridge-key
      template: '{"summary": "{{ event.title }}"}'
  digests:
    - name: shop-weekly
      period: weekly
      weekday: mon
      hour: 7
      repository: contoso/shop
      channels: [oncall, ops, bridge]
"""
# (fingerprint, title, occurrences a day over Fri, Sat, Sun, and the week before)
SUPPRESSED = "d" * 32
"""A group the known issue `cdn-timeouts` suppresses."""
FAILURES = (
    ("a1" * 16, "KeyError in reservations.parse_reservation", (40, 55, 70), 10),
    ("b2" * 16, "TimeoutError calling payments", (12, 3, 0), 30),
    ("c3" * 16, "NullReferenceException in CartController.Checkout", (5, 5, 5), 0),
)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(FIRST_DAY - timedelta(days=7))


@pytest.fixture
def github(clock: SimulatedClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=SimulatedSeconds(clock)) as fake:
        fake.add_repository("contoso", "shop")
        yield fake


@pytest.fixture
def receivers() -> Iterator[NotificationReceivers]:
    config = Receivers(
        slack_webhooks={"T1/B1/x"}, teams_webhooks={"wf1"}, hook_keys={"bridge": b"bridge-key"}
    )
    with NotificationReceivers(config) as running:
        yield running


@pytest.fixture
def services(
    storage_env: dict[str, str],
    clock: SimulatedClock,
    tmp_path: Path,
    github: GitHubFake,
    receivers: NotificationReceivers,
) -> Iterator[Services]:
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "faultline.yaml").read_text() + NOTIFICATIONS)
    env = {
        **storage_env,
        "FAULTLINE_RULES_PATH": str(rules),
        "FAULTLINE_NOTIFY_QUEUE": f"notify-{storage_env['FAULTLINE_TABLE_PREFIX'].lower()}",
        "FAULTLINE_GITHUB_API_URL": github.base_url,
        "FAULTLINE_GITHUB_TOKEN": github.user_token,
        "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",
        "FAULTLINE_GITHUB_TIMEOUT_SECONDS": "1",
    }
    built = bootstrap(env, clock=clock)
    if built.notifications is None:
        raise AssertionError("bootstrap wires notifications")
    secrets = {
        "slack-oncall-webhook": f"{receivers.url}/slack/webhook/T1/B1/x",
        "teams-ops-workflow": f"{receivers.url}/teams/wf1",
        "bridge-url": f"{receivers.url}/hook/bridge",
        "bridge-key": "bridge-key",
    }
    built.notifications = NotificationPorts(
        queue=built.notifications.queue,
        state=built.notifications.state,
        notifier=HttpNotifier(secrets.__getitem__, sleep=lambda _: None, attempts=2),
    )
    install(built)
    yield built
    install(None)


def _occurrences(fingerprint: str, day: datetime, count: int, rng: random.Random) -> list[Counted]:
    return [
        Counted(
            Occurrence(
                definition="unhandled-exception",
                fingerprint=fingerprint,
                version=3,
                table="AppExceptions",
                record_id=f"{fingerprint[:4]}-{day:%m%d}-{i}",
                time=day + timedelta(seconds=rng.randrange(86_400)),
                kind="exception",
                rank=1,
                message="boom",
            ),
            True,
        )
        for i in range(count)
    ]


def _history(services: Services, github: GitHubFake, clock: SimulatedClock) -> dict[str, int]:
    """Three days (and the week before) of failures, their issues and what happened to them,
    written through the real ports in time order."""
    rng = random.Random(14)
    one = {"unhandled-exception": Threshold(count=1)}
    numbers = {}
    for fingerprint, title, per_day, before in FAILURES:
        days = [(EARLIER, before)]
        days += [(FIRST_DAY + timedelta(days=day), count) for day, count in enumerate(per_day)]
        for moment, count in days:
            if count:
                counted = _occurrences(fingerprint, moment, count, rng)
                services.ledger.record(fingerprint, counted, one)
        numbers[fingerprint] = github.seed_issue("contoso", "shop", title)
    audit = services.audit

    def act(fp: str, action: str, at: datetime, reason: str = "") -> None:
        audit.record(fp, action, "contoso/shop", numbers[fp], reason, at)

    a, b, c = (f[0] for f in FAILURES)
    act(b, "created", EARLIER + timedelta(hours=2), "30 occurrence(s)")
    act(b, "assigned", EARLIER + timedelta(hours=2), "Copilot coding agent")
    act(a, "created", FIRST_DAY + timedelta(hours=1), "40 occurrence(s)")
    act(a, "assigned", FIRST_DAY + timedelta(hours=1), "Copilot coding agent")
    act(c, "created", FIRST_DAY + timedelta(hours=5), "5 occurrence(s)")
    act(c, "assigned", FIRST_DAY + timedelta(hours=5), "Claude via label")
    act(a, "skipped-as-duplicate", FIRST_DAY + timedelta(hours=1, minutes=2), "found it")
    act(b, "steered", FIRST_DAY + timedelta(days=1), "closed by octo: resolved: the next one")
    act(c, "steered", FIRST_DAY + timedelta(days=2), "read from the issue: muted: counted")
    act(a, "notified", FIRST_DAY + timedelta(hours=1), "slack channel oncall")
    for minute in range(4):
        act(a, "notification-held", FIRST_DAY + timedelta(hours=1, minutes=minute), "held")
    # a group a known issue suppresses: counted, audited once, never an issue
    for day, count in ((1, 6), (2, 3)):
        suppressed = _occurrences(SUPPRESSED, FIRST_DAY + timedelta(days=day), count, rng)
        services.ledger.record(SUPPRESSED, suppressed, one)
    audit.record(
        SUPPRESSED, "suppressed", "contoso/shop", None, "known issue cdn-timeouts", EARLIER
    )
    statuses = {a: "active", b: "resolved", c: "muted"}
    for fingerprint, number in numbers.items():
        url = f"https://github.com/contoso/shop/issues/{number}"
        state = IssueState(
            fingerprint, "contoso/shop", number=number, url=url, status=statuses[fingerprint]
        )
        assert services.issues.save(state) is not None
    clock.set(FIRST_DAY + timedelta(hours=4))
    github.open_pull_request("contoso", "shop", "Fix KeyError", by="Copilot", links=numbers[a])
    return numbers


def _timer(functions: FunctionTable, name: str) -> None:
    functions.user_function(name)(TimerRequest(past_due=False))


def test_the_weekly_digest_tells_the_ledger_and_the_audit_trail_as_they_are(
    services: Services,
    functions: FunctionTable,
    github: GitHubFake,
    clock: SimulatedClock,
    receivers: NotificationReceivers,
) -> None:
    numbers = _history(services, github, clock)
    _timer(functions, "watch_pull_requests")
    clock.set(MONDAY + timedelta(hours=7, minutes=5))  # the digest's hour, on its weekday
    github.fail_next(TimeoutAfterSuccess(), method="POST", path="/repos/contoso/shop/issues")
    receivers.fail("/slack/webhook/T1/B1/x", Fault(status=429, retry_after="3"))
    with pytest.raises(Exception, match="timed out"):
        _timer(functions, "send_digests")  # the create landed, its answer did not
    clock.advance(timedelta(hours=1))
    _timer(functions, "send_digests")  # the next hourly run finds the issue by its marker
    edits = len(github.calls("PATCH", "/repos/contoso/shop/issues/*"))
    _timer(functions, "send_digests")  # and the one after finds the digest made
    assert len(github.calls("PATCH", "/repos/contoso/shop/issues/*")) == edits

    week = Period(MONDAY - timedelta(days=7), MONDAY)
    schedule = services.rules.notifications.digests[0]
    digest = gather(services, schedule, week)
    occurrences = {
        fp: [row["TimeGenerated"] for row in services.ledger.occurrences(fp)] for fp, *_ in FAILURES
    }
    in_week = {fp: sum(week.holds(t) for t in times) for fp, times in occurrences.items()}
    assert in_week == {fp: sum(per_day) for fp, _, per_day, _ in FAILURES}
    assert digest.occurrences == sum(in_week.values()) == 195
    assert [(r.fingerprint, r.count, r.previous) for r in digest.top] == [
        (FAILURES[0][0], 165, 10),
        (FAILURES[1][0], 15, 30),
        (FAILURES[2][0], 15, 0),
    ]
    assert list(digest.daily) == [0, 0, 0, 0, 57, 63, 75]
    rows = [e for e in services.audit.entries() if week.holds(e.at)]
    assert len(digest.changes["new"]) == sum(e.action == "created" for e in rows) == 2
    assert [line.issue for line in digest.changes["resolved"]] == [numbers[FAILURES[1][0]]]
    assert [line.issue for line in digest.changes["muted"]] == [numbers[FAILURES[2][0]]]
    assert digest.notifications_held == sum(e.action == "notification-held" for e in rows) == 4
    assert digest.duplicates_avoided == 1 and digest.pull_requests_linked == 1
    ((known, groups, kept_back),) = [
        (row.known_issue, row.failures, row.occurrences) for row in digest.suppressed
    ]
    assert (known, groups) == ("cdn-timeouts", 1)
    assert kept_back == len(services.ledger.occurrences(SUPPRESSED)) == 9
    agents = {row.assignee: row for row in digest.assignees}
    copilot = agents["Copilot coding agent"]
    assert (copilot.issues, copilot.with_pull_request, copilot.closed) == (2, 1, 1)
    assert copilot.median_to_first_pull_request == timedelta(hours=3)
    assert copilot.median_to_close == timedelta(days=8, hours=22)
    assert agents["Claude via label"].with_pull_request == 0

    pages = [i for i in github.issues("contoso", "shop") if "faultline:digest" in i["labels"]]
    assert len(pages) == 1  # one issue, however often the timer ran
    assert pages[0]["pinned"]
    assert find_marker(pages[0]["body"]) == digest_fingerprint("shop-weekly")
    assert "| Notifications held back by throttles | 4 |" in pages[0]["body"]
    assert "| `cdn-timeouts` | 1 | 9 |" in pages[0]["body"]
    assert "GitHub budget used (core, this hour) | " in pages[0]["body"]
    [slack] = receivers.taken_at("/slack/webhook/T1/B1/x")
    assert slack.body["blocks"][0]["type"] == "header"
    [teams] = receivers.taken_at("/teams/wf1")
    card = teams.body["attachments"][0]["content"]
    assert [e.message for e in CARDS.iter_errors(card)] == []
    [hook] = receivers.taken_at("/hook/bridge")  # signed: the receiver verified it
    assert hook.headers["X-Faultline-Event"] == "digest"
    assert hook.body["digest"]["occurrences"] == 195 and hook.body["event"] is None
    assert hook.body["digest"]["suppressed"][0]["occurrences"] == 9
    sent = [e for e in services.audit.entries(digest_fingerprint("shop-weekly"))]
    assert sorted(e.action for e in sent) == ["digest-published", *["notified"] * 3]
    assert any("after 2 attempt(s)" in e.reason for e in sent if "slack" in e.reason)
    [published] = [e for e in sent if e.action == "digest-published"]
    assert published.reason.endswith("; pinned")


def test_a_repository_with_three_pinned_issues_still_gets_its_digest(
    services: Services, functions: FunctionTable, github: GitHubFake, clock: SimulatedClock
) -> None:
    tracker = services.issue_tracker()
    pinning = tracker.pinning("contoso/shop")  # type: ignore[attr-defined]
    for title in ("Roadmap", "Contributing", "Release notes"):
        number = github.seed_issue("contoso", "shop", title)
        assert pinning.pin("contoso/shop", number) is None
    clock.set(MONDAY + timedelta(hours=7, minutes=5))
    _timer(functions, "send_digests")
    [page] = [i for i in github.issues("contoso", "shop") if "faultline:digest" in i["labels"]]
    assert not page["pinned"]
    [published] = [
        e
        for e in services.audit.entries(digest_fingerprint("shop-weekly"))
        if e.action == "digest-published"
    ]
    assert published.reason.endswith("not pinned: Repository already has 3 pinned issues")
