"""A query job takes one of the identity's query slots for exactly as long as its query runs:
when every slot is held it waits its turn on the queue without querying, failing or counting
towards poisoning, and it gives its slot back however the query ends. The slots themselves are
tested on Table Storage in `tests/integration/test_query_slots.py`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detection.rules import load_rules
from detection.windows import QueryWindow
from pipeline.ingest import run_query_job
from pipeline.messages import QueryJob
from pipeline.ports import QueryOutcome, QueryPlan, Throttled
from pipeline.services import Services
from tests.support.memory import Memory, MemoryTracker

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
JOB = QueryJob.for_window(
    "production", "AppTraces", QueryWindow(NOW - timedelta(minutes=5), NOW, timedelta(0))
)


class LogSource:
    """Answers each query in turn, and notes which slots were held while it ran."""

    def __init__(self, memory: Memory, *answers: QueryOutcome | Exception) -> None:
        self._memory, self._answers = memory, list(answers)
        self.held_while_running: list[int] = []

    def run(self, plan: QueryPlan) -> QueryOutcome:
        self.held_while_running.append(len(self._memory.query_slots.held))
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def services_with(memory: Memory, source: LogSource | None = None) -> Services:
    rules = load_rules((ROOT / "faultline.yaml").read_text(), {})
    built = memory.services(rules, lambda: NOW)
    return replace(built, log_source=source) if source else built


def test_a_job_that_finds_every_slot_held_waits_its_turn_without_querying() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    for holder in ("a", "b", "c"):
        memory.query_slots.acquire(holder, NOW, timedelta(minutes=4))
    report = run_query_job(services_with(memory), JOB.model_dump_json())
    assert report.outcome == "waiting"
    ((body, delay),) = memory.query_queue.sent
    assert QueryJob.model_validate_json(body) == JOB, "the same job, not counted as an attempt"
    assert delay == timedelta(seconds=15)


def test_a_slot_is_held_while_the_query_runs_and_given_back_after_it() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    source = LogSource(memory, QueryOutcome(columns=(), rows=[]))
    report = run_query_job(services_with(memory, source), JOB.model_dump_json())
    assert report.outcome == "done"
    assert source.held_while_running == [1]
    assert memory.query_slots.held == {}


def test_a_throttled_query_gives_its_slot_back_too() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    source = LogSource(memory, Throttled(timedelta(seconds=30), "429"))
    report = run_query_job(services_with(memory, source), JOB.model_dump_json())
    assert report.outcome == "throttled"
    assert memory.query_slots.held == {}


def test_a_query_that_fails_gives_its_slot_back_before_the_host_retries() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    source = LogSource(memory, ConnectionError("reset by peer"))
    with pytest.raises(ConnectionError):
        run_query_job(services_with(memory, source), JOB.model_dump_json())
    assert memory.query_slots.held == {}


def test_the_slot_is_leased_for_the_query_timeout_and_a_minute_so_a_dead_holders_lapses() -> None:
    memory = Memory(MemoryTracker(lambda: NOW))
    leases: list[datetime] = []

    class Watching(LogSource):
        def run(self, plan: QueryPlan) -> QueryOutcome:
            leases.extend(expiry for _, expiry in memory.query_slots.held.values())
            return super().run(plan)

    source = Watching(memory, QueryOutcome(columns=(), rows=[]))
    run_query_job(services_with(memory, source), JOB.model_dump_json())
    assert leases == [NOW + timedelta(seconds=180) + timedelta(minutes=1)]
