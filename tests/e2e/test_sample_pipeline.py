"""End to end over the bundled sample telemetry: eight tables, six hours, late arrivals, malformed
rows, overlapping replays. Every failing row is counted exactly once, under its definition."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.queue import QueueServiceClient

from detection.records import parse_datetime
from pipeline.bootstrap import bootstrap, install
from pipeline.local.host import QueueDriver, SimulatedClock, http_request, timer_request
from pipeline.messages import FailureNotice
from tests.conftest import queued_bodies
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


def test_every_failing_row_is_counted_exactly_once(azurite, storage_env, functions) -> None:
    first, last = _last_ingestion()
    clock = SimulatedClock(first.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5))
    with LogAnalyticsFake() as la:
        _load_samples(la)
        env = {
            **storage_env,
            "FAULTLINE_LOGS_ENDPOINT": la.endpoint,
            "FAULTLINE_LOGS_CA_BUNDLE": la.ca_path,
        }
        services = bootstrap(env, clock=clock, credential=la.credential)
        install(services)
        try:
            queues = QueueServiceClient.from_connection_string(azurite.connection_string)
            jobs = QueueDriver(
                queues, services.settings.query_queue, functions.user_function("query_and_detect")
            )
            tick = functions.user_function("fan_out_queries")
            replay = functions.user_function("replay_window")
            while clock.now() <= last + timedelta(minutes=15):
                tick(timer_request())
                assert jobs.drain().failed == 0
                if clock.now() == first.replace(minute=0, second=0, microsecond=0) + timedelta(
                    hours=3
                ):
                    body = {
                        "source": "production",
                        "start": (clock.now() - timedelta(hours=2)).isoformat(),
                        "end": (clock.now() - timedelta(minutes=30)).isoformat(),
                    }
                    assert (
                        replay(
                            http_request("POST", "replay", json.dumps(body).encode())
                        ).status_code
                        == 202
                    )
                    assert jobs.drain().failed == 0
                clock.advance(timedelta(minutes=5))
            counted_once = Counter()
            for entry in services.ledger.summaries():
                counted_once[entry.definition] += entry.count
            notices = [
                FailureNotice.model_validate_json(b)
                for b in queued_bodies(azurite, services.settings.failure_queue)
            ]

            everything = {
                "source": "production",
                "start": (first - timedelta(hours=1)).isoformat(),
                "end": (last + timedelta(minutes=1)).isoformat(),
            }
            assert (
                replay(http_request("POST", "replay", json.dumps(everything).encode())).status_code
                == 202
            )
            assert jobs.drain().failed == 0
            after_replay = Counter()
            for entry in services.ledger.summaries():
                after_replay[entry.definition] += entry.count
        finally:
            install(None)

    expected = _expected_failing_rows()
    assert counted_once == expected
    assert after_replay == expected
    assert services.poisoned_jobs.count() == 0
    assert notices, "failures over threshold are handed to the workflow"
    crossed = {n.fingerprint for n in notices}
    assert all(services.ledger.summary(f).threshold_crossed_at is not None for f in crossed)
