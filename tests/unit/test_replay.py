"""`POST /api/replay` through the app's own handler: a request is bounded before anything is
queued (repeated tables count once; too many tables or too long a window is a 400 naming the
field)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootstrap import install
from detection.rules import load_rules
from local_host.host import FunctionTable, http_request
from pipeline.messages import QueryJob
from pipeline.replay import MAX_REPLAY_TABLES

pytestmark = pytest.mark.unit

RULES = load_rules((Path(__file__).parents[2] / "faultline.yaml").read_text(), {})
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@dataclass
class ListQueue:
    bodies: list[str] = field(default_factory=list)

    def send(self, body: str, delay: timedelta | None = None) -> None:
        self.bodies.append(body)


@pytest.fixture
def queue():
    queue = ListQueue()
    install(SimpleNamespace(rules=RULES, clock=SimpleNamespace(now=lambda: NOW), query_queue=queue))
    yield queue
    install(None)


def _replay(functions: FunctionTable, **body: object):
    payload = {"source": "production", **body}
    response = functions.user_function("replay_window")(
        http_request("POST", "replay", json.dumps(payload).encode())
    )
    return response.status_code, json.loads(response.get_body())


def test_a_table_named_600_times_is_replayed_once(functions, queue) -> None:
    status, body = _replay(
        functions,
        tables=["AppRequests"] * 600,
        start="2026-11-19T23:00:00Z",
        end="2026-11-20T01:00:00Z",
    )
    assert status == 202 and body["queued"] == 8
    jobs = [QueryJob.model_validate_json(b) for b in queue.bodies]
    assert len(jobs) == 8 and len({j.job_id for j in jobs}) == 8
    assert {j.table for j in jobs} == {"AppRequests"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {
                "tables": [f"Table{i}_CL" for i in range(MAX_REPLAY_TABLES + 1)],
                "start": "2026-11-20T00:00:00Z",
                "end": "2026-11-20T01:00:00Z",
            },
            f"tables: Value should have at most {MAX_REPLAY_TABLES} items",
        ),
        (
            {
                "tables": ["AppRequests"],
                "start": "2026-11-12T00:00:00Z",
                "end": "2026-11-20T01:00:00Z",
            },
            "end: Value error, start to end spans 8 days, 1:00:00; a replay covers at most 7 days",
        ),
        (
            {"tables": [""], "start": "2026-11-20T00:00:00Z", "end": "2026-11-20T01:00:00Z"},
            "tables.0: String should have at least 1 character",
        ),
    ],
)
def test_too_much_at_once_is_a_400_naming_the_field(functions, queue, body, problem) -> None:
    status, answer = _replay(functions, **body)
    assert status == 400
    assert problem in answer["problems"][0]
    assert queue.bodies == []


def test_a_disabled_source_is_a_400_that_says_so(functions, queue) -> None:
    status, body = _replay(
        functions,
        source="faultline-smoke",
        start="2026-11-19T23:00:00Z",
        end="2026-11-20T01:00:00Z",
    )
    assert status == 400 and "faultline-smoke is disabled" in body["error"]
    assert queue.bodies == [], "nothing queued"


def test_the_response_names_the_run_and_every_job_carries_it(functions, queue) -> None:
    window = {"start": "2026-11-19T23:00:00Z", "end": "2026-11-20T01:00:00Z"}
    status, body = _replay(functions, **window)
    assert status == 202 and body["run"].startswith("replay-")
    jobs = [QueryJob.model_validate_json(b) for b in queue.bodies]
    assert {j.run for j in jobs} == {body["run"]}
    _, again = _replay(functions, **window)
    assert again["run"] == body["run"], "a repeated replay is the same run"
    _, other = _replay(functions, tables=["AppRequests"], **window)
    assert other["run"] != body["run"]
