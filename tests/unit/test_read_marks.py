"""A table's read mark on in-memory ports: the fan-out starts it where reading starts, and only a
query job that has counted its window's rows moves it, over windows read without a gap; a job
that is throttled, waits for a slot or is split reads nothing. Held operations settle on it
(`tests/integration/test_counting.py`); the Table Storage mark is tested through them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detection.rules import load_rules
from detection.windows import QueryWindow
from pipeline.fanout import fan_out
from pipeline.ingest import run_query_job
from pipeline.messages import QueryJob
from pipeline.ports import QueryOutcome, QueryPlan, Throttled
from pipeline.services import Services
from tests.support.memory import Memory, MemoryTracker

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
FIRST_END = datetime(2026, 11, 20, 1, 58, tzinfo=UTC)
STEP = timedelta(minutes=5)


class Answers:
    """The log source: answers each query in turn."""

    def __init__(self, *answers: QueryOutcome | Exception) -> None:
        self._answers = list(answers)

    def run(self, plan: QueryPlan) -> QueryOutcome:
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _services(memory: Memory, *answers: QueryOutcome | Exception) -> Services:
    rules = load_rules((ROOT / "faultline.yaml").read_text(), {})
    return replace(memory.services(rules, lambda: NOW), log_source=Answers(*answers))


def _job(index: int) -> str:
    start = FIRST_END - timedelta(hours=1) + index * STEP
    window = QueryWindow(start, start + STEP, timedelta(0))
    return QueryJob.for_window("production", "AppTraces", window).model_dump_json()


EMPTY = QueryOutcome(columns=(), rows=[])


def test_the_fan_out_starts_each_read_mark_where_its_first_window_starts() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    fan_out(_services(memory))
    assert memory.checkpoints.read_through("production", "AppTraces") == FIRST_END - timedelta(
        hours=1
    ), "queued is not read: the mark stays at the start"
    memory.checkpoints.begin_reading("production", "AppTraces", FIRST_END)
    assert memory.checkpoints.read_through("production", "AppTraces") == FIRST_END - timedelta(
        hours=1
    ), "a mark once started is not moved by starting it again"


def test_jobs_finishing_out_of_order_move_the_mark_once_the_gap_is_read() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    services = _services(memory, EMPTY, EMPTY, EMPTY)
    fan_out(services)
    start = FIRST_END - timedelta(hours=1)
    assert run_query_job(services, _job(1)).outcome == "done"
    assert run_query_job(services, _job(2)).outcome == "done"
    assert memory.checkpoints.read_through("production", "AppTraces") == start, "a gap"
    assert run_query_job(services, _job(0)).outcome == "done"
    assert memory.checkpoints.read_through("production", "AppTraces") == start + 3 * STEP


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Throttled(timedelta(seconds=30), "429"), "throttled"),
        (QueryOutcome(columns=(), rows=[], incomplete="partial result: x"), "split"),
    ],
)
def test_a_job_that_read_nothing_moves_no_mark(answer, outcome) -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    services = _services(memory, answer)
    fan_out(services)
    assert run_query_job(services, _job(0)).outcome == outcome
    assert memory.checkpoints.read_through("production", "AppTraces") == FIRST_END - timedelta(
        hours=1
    )
