"""End to end over the bundled sample telemetry: eight tables, six hours, late arrivals, malformed
rows, overlapping replays, through to GitHub issues. Every failing row is counted exactly once
under its definition, and every failure over its threshold has exactly one issue."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.markers import find_marker
from detection.records import parse_datetime
from local_host.durable import DurableRuntime
from local_host.host import QueueDriver, SimulatedClock, http_request, timer_request
from tests.fakes.github import GitHubFake
from tests.fakes.log_analytics import LogAnalyticsFake

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "samples" / "telemetry"
WORKSPACE = "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"


def _expected_failing_rows() -> Counter[str]:
    labels = json.loads((SAMPLES / "labels.json").read_text())
    return Counter(
        {
            definition: len(rows)
            for table in labels.values()
            for definition, rows in table["failing"].items()
        }
    )


def _last_ingestion() -> tuple:
    moments = []
    for path in SAMPLES.glob("*.json"):
        if path.name == "labels.json":
            continue
        table = json.loads(path.read_text())["tables"][0]
        index = [c["name"] for c in table["columns"]].index("IngestionTime")
        moments.extend(parse_datetime(row[index], "IngestionTime") for row in table["rows"])
    return min(moments), max(moments)


def _storable(value: object, column_type: str) -> bool:
    """The service types its columns: a datetime column cannot hold 'not-a-date' (an export can)."""
    if column_type != "datetime" or value is None:
        return True
    try:
        parse_datetime(value, "column")
    except ValueError:
        return False
    return True


def _load_samples(la: LogAnalyticsFake) -> None:
    for path in sorted(SAMPLES.glob("*.json")):
        if path.name == "labels.json":
            continue
        table = json.loads(path.read_text())["tables"][0]
        columns = [(c["name"], c["type"]) for c in table["columns"]]
        arrival = [name for name, _ in columns].index("IngestionTime")
        rows = [
            r
            for r in table["rows"]
            if all(_storable(v, t) for v, (_, t) in zip(r, columns, strict=True))
        ]
        la.add_table(
            WORKSPACE,
            table["name"],
            columns,
            rows,
            [parse_datetime(r[arrival], "IngestionTime") for r in rows],
        )


@pytest.fixture
def github():
    with GitHubFake() as fake:
        fake.add_repository("contoso", "shop")
        fake.add_repository("contoso", "orders")
        yield fake


def _ledger_counts(services) -> Counter[str]:
    counted: Counter[str] = Counter()
    for entry in services.ledger.summaries():
        if not entry.folded_into:
            counted.update(entry.definitions)
    return counted


def _rules_without_waits(tmp_path: Path) -> Path:
    """The shipped rules, with budgets and business hours that never make a workflow wait
    (waiting has tests of its own)."""
    rules = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    rules["rate_limits"] = {"issues_per_hour": 1000, "issues_per_hour_per_repository": 1000}
    rules["assignment"]["outside_business_hours"] = "assign"
    rules["dedup"]["update_interval"] = "0s"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def test_every_failing_row_counted_once_and_every_failure_one_issue(
    azurite, storage_env, functions, github, tmp_path
) -> None:
    first, last = _last_ingestion()
    start = first.replace(minute=0, second=0, microsecond=0)
    clock = SimulatedClock(start + timedelta(minutes=5))
    with LogAnalyticsFake() as la, DurableRuntime(functions) as durable:
        _load_samples(la)
        env = {
            **storage_env,
            "FAULTLINE_LOGS_ENDPOINT": la.endpoint,
            "FAULTLINE_LOGS_CA_BUNDLE": la.ca_path,
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",  # a local fake
            "FAULTLINE_GITHUB_TOKEN": github.user_token,
            "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
            "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
            "FAULTLINE_RULES_PATH": str(_rules_without_waits(tmp_path)),
        }
        services = bootstrap(env, clock=clock, credential=la.credential)
        install(services)
        try:
            queues = QueueServiceClient.from_connection_string(azurite.connection_string)
            jobs = QueueDriver(
                queues, services.settings.query_queue, functions.user_function("query_and_detect")
            )
            starter = functions.user_function("start_issue_workflow")
            notices = QueueDriver(
                queues, services.settings.failure_queue, lambda m: starter(m, durable.binding)
            )
            tick = functions.user_function("fan_out_queries")
            settle = functions.user_function("settle_operations")
            replay = functions.user_function("replay_window")

            def replay_window(since, until) -> None:
                body = {
                    "source": "production",
                    "start": since.isoformat(),
                    "end": until.isoformat(),
                }
                response = replay(http_request("POST", "replay", json.dumps(body).encode()))
                assert response.status_code == 202
                assert jobs.drain().failed == 0
                settle(timer_request())

            wait = services.rules.correlation.wait
            while clock.now() <= last + timedelta(minutes=15) + wait:
                tick(timer_request())
                assert jobs.drain().failed == 0
                settle(timer_request())
                assert notices.deliver_waiting().failed == 0
                if clock.now() == start + timedelta(hours=3):
                    replay_window(
                        clock.now() - timedelta(hours=2), clock.now() - timedelta(minutes=30)
                    )
                clock.advance(timedelta(minutes=5))
                github.clock.advance(300)  # GitHub's per-minute limits reset as time passes
            counted_once = _ledger_counts(services)
            replay_window(first - timedelta(hours=1), last + timedelta(minutes=1))
            clock.advance(wait + timedelta(minutes=1))
            settle(timer_request())
            after_replay = _ledger_counts(services)

            github.clock.advance(3600)
            _settle(notices, durable)
        finally:
            durable.stop_worker()  # no activity may outlive the services it was given
            install(None)

    expected = _expected_failing_rows()
    assert counted_once == expected
    assert after_replay == expected
    assert services.poisoned_jobs.count() == 0

    crossed = {
        e.fingerprint: e
        for e in services.ledger.summaries()
        if e.threshold_crossed_at and not e.folded_into
    }
    issues = github.issues("contoso", "shop") + github.issues("contoso", "orders")
    by_fingerprint = Counter(find_marker(issue["body"]) for issue in issues)
    assert set(by_fingerprint) == set(crossed), "one issue for every failure over its threshold"
    assert max(by_fingerprint.values()) == 1, "never a second issue for one failure"
    for issue in issues:
        count = crossed[find_marker(issue["body"])].count
        assert f"**Occurrences** | {count} |" in issue["body"]
        assert issue["assignees"] == ["Copilot"]


def _settle(notices: QueueDriver, durable: DurableRuntime) -> None:
    """Deliver notices (some re-queued while their workflow was busy) until every workflow ends."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        notices.deliver_waiting()
        durable.wait_until_idle(timeout=60)
        if notices.pending() == 0:
            return
    raise TimeoutError("failure notices did not settle in 180 s")
