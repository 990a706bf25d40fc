"""The pull request watch on Azurite and the GitHub wire fake: the timer (called as the host
calls it) reads each open issue's timeline through the real GitHub adapter, page by page, and
announces each linked pull request once, audited and queued for the channels, however often it
runs; the issue's state keeps when the first one was linked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest

from bootstrap import bootstrap, install
from local_host.azurite import Azurite
from local_host.host import FunctionTable, SimulatedClock
from pipeline.ports import IssueState
from pipeline.services import Services
from tests.fakes.github import GitHubFake, SimulatedSeconds
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTIFICATIONS = """
notifications:
  channels:
    - {name: agents, kind: slack, webhook_url_secret: slack-agents-webhook}
  rules:
    - name: agent-pull-requests
      events: [pull-request-opened]
      channels: [agents]
"""


@pytest.fixture
def github(clock: SimulatedClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=SimulatedSeconds(clock)) as fake:
        fake.add_repository("contoso", "shop")
        fake.add_user("octo-dev")
        yield fake


@pytest.fixture
def services(
    storage_env: dict[str, str], clock: SimulatedClock, tmp_path: Path, github: GitHubFake
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
    }
    built = bootstrap(env, clock=clock)
    install(built)
    yield built
    install(None)


def _tick(functions: FunctionTable) -> None:
    timer = TimerRequest(past_due=False)
    functions.user_function("watch_pull_requests")(timer)


def _track(services: Services, github: GitHubFake, fingerprint: str, status: str) -> int:
    number = github.seed_issue("contoso", "shop", f"KeyError in {fingerprint}")
    url = f"https://github.com/contoso/shop/issues/{number}"
    state = IssueState(fingerprint, "contoso/shop", number=number, url=url, status=status)
    assert services.issues.save(state) is not None
    return number


def test_each_linked_pull_request_is_announced_once_from_any_timeline_page(
    services: Services,
    functions: FunctionTable,
    github: GitHubFake,
    azurite: Azurite,
    clock: SimulatedClock,
) -> None:
    busy = _track(services, github, "aa11", "active")
    quiet = _track(services, github, "bb22", "active")
    closed = _track(services, github, "cc33", "resolved")
    github.seed_comments("contoso", "shop", busy, 130)  # the link is on the timeline's 2nd page
    clock.advance(timedelta(minutes=20))
    agents = github.open_pull_request("contoso", "shop", "Fix KeyError", by="Copilot", links=busy)
    github.open_pull_request("contoso", "shop", "Ignore", by="octo-dev", links=closed)
    github.reference_from_issue("contoso", "shop", "Same as the KeyError?", links=quiet)
    _tick(functions)
    clock.advance(timedelta(hours=2))
    better = github.open_pull_request("contoso", "shop", "Better fix", by="octo-dev", links=busy)
    github.open_pull_request(
        "contoso", "shop", "By hand", by="octo-dev", links=quiet, connected=True
    )
    _tick(functions)
    _tick(functions)  # a pass that finds nothing new announces nothing

    audit = [e for e in services.audit.entries() if e.action == "pull-request-linked"]
    assert sorted((e.issue, e.reason.split(" linked")[0]) for e in audit) == [
        (busy, f"pull request contoso/shop#{agents} by Copilot"),
        (busy, f"pull request contoso/shop#{better} by octo-dev"),
        (quiet, "a pull request (linked by hand) by octo-dev"),
    ]
    events = [
        json.loads(b)["event"] for b in queued_bodies(azurite, services.settings.notify_queue)
    ]
    assert sorted((e["issue"], e["kind"], e["occasion"]) for e in events) == [
        (busy, "pull-request-opened", f"contoso/shop#{agents}"),
        (busy, "pull-request-opened", f"contoso/shop#{better}"),
        (quiet, "pull-request-opened", events[-1]["occasion"]),
    ]
    state = services.issues.peek("aa11", "contoso/shop")
    assert state is not None and state.first_pull_request_at is not None
    assert state.first_pull_request_at.isoformat().startswith("2026-11-20T02:20")
    assert len(state.pull_requests) == 2
    never = services.issues.peek("cc33", "contoso/shop")
    assert never is not None and never.first_pull_request_at is None  # closed: not watched
    pages = github.calls("GET", f"/repos/contoso/shop/issues/{busy}/timeline")
    assert len(pages) == 3 * 2  # two pages on each of the three passes


def test_the_timeline_endpoint_pages_like_github(github: GitHubFake) -> None:
    import httpx

    number = github.seed_issue("contoso", "shop", "KeyError")
    github.seed_comments("contoso", "shop", number, 45)
    github.open_pull_request("contoso", "shop", "Fix", by="Copilot", links=number)
    url = f"{github.base_url.rstrip('/')}/repos/contoso/shop/issues/{number}/timeline"
    headers = {"Authorization": f"Bearer {github.user_token}"}
    first = httpx.get(url, headers=headers)
    assert first.status_code == 200 and len(first.json()) == 30
    assert 'rel="next"' in first.headers["Link"]
    second = httpx.get(first.links["next"]["url"], headers=headers)
    *comments, link = second.json()
    assert [c["event"] for c in comments] == ["commented"] * 15
    assert link["event"] == "cross-referenced" and "id" not in link
    assert link["source"]["type"] == "issue"
    assert link["source"]["issue"]["pull_request"]["html_url"].endswith(
        f"/contoso/shop/pull/{number + 1}"
    )
    assert "Link" not in second.headers or 'rel="next"' not in second.headers["Link"]
