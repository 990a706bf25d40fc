"""The timer's fan-out on in-memory ports: jobs per table slice, checkpoints that move only
forward, each source polled at its own interval. The trigger on Azurite and the checkpoint
store's ETags are tested in `tests/integration/test_fanout.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detection.rules import load_rules
from pipeline.fanout import fan_out
from pipeline.messages import QueryJob
from pipeline.services import Services
from tests.support.memory import Memory, MemoryTracker

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
TABLES = 8
FIRST_END = datetime(2026, 11, 20, 1, 58, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def timer(env: dict[str, str] | None = None) -> tuple[Services, Memory, Clock]:
    clock = Clock()
    memory = Memory(MemoryTracker(clock.now))
    rules = load_rules((ROOT / "faultline.yaml").read_text(), env or {})
    return memory.services(rules, clock.now), memory, clock


def taken(memory: Memory) -> list[QueryJob]:
    jobs = [QueryJob.model_validate_json(body) for body, _ in memory.query_queue.sent]
    memory.query_queue.sent.clear()
    return jobs


def test_first_tick_backfills_each_table_in_max_window_slices() -> None:
    services, memory, _ = timer()
    fan_out(services)
    jobs = taken(memory)
    assert len(jobs) == TABLES * 4
    for table in {j.table for j in jobs}:
        windows = sorted((j.start, j.end) for j in jobs if j.table == table)
        assert windows[0][0] == FIRST_END - timedelta(hours=1) and windows[-1][1] == FIRST_END
        assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    checkpoints = {c.ingested_through for c in memory.checkpoints.all()}
    assert len(memory.checkpoints.all()) == TABLES and checkpoints == {FIRST_END}


def test_next_tick_continues_from_the_checkpoint_and_a_repeated_tick_queues_nothing() -> None:
    services, memory, clock = timer()
    fan_out(services)
    taken(memory)
    clock.moment += timedelta(minutes=5)
    fan_out(services)
    fan_out(services)
    jobs = taken(memory)
    assert len(jobs) == TABLES
    assert {(j.start, j.end) for j in jobs} == {
        (FIRST_END, datetime(2026, 11, 20, 2, 3, tzinfo=UTC))
    }


def test_a_long_outage_catches_up_over_several_ticks() -> None:
    services, memory, clock = timer()
    fan_out(services)
    taken(memory)
    clock.moment += timedelta(days=1)
    fan_out(services)
    assert len(taken(memory)) == TABLES * 48
    checkpoint = memory.checkpoints.get("production", "AppTraces")
    assert checkpoint is not None
    assert checkpoint.ingested_through == datetime(2026, 11, 20, 13, 58, tzinfo=UTC)
    for _ in range(2):
        fan_out(services)
    caught_up = memory.checkpoints.get("production", "AppTraces")
    assert caught_up is not None
    assert caught_up.ingested_through == clock.now() - timedelta(minutes=2)


def test_a_source_is_polled_only_when_its_poll_interval_has_passed() -> None:
    services, memory, clock = timer({"FAULTLINE_POLL_INTERVAL": "15m"})
    fan_out(services)
    assert len(taken(memory)) == TABLES * 4, "the first tick backfills"
    polled = []
    for _ in range(6):  # the timer fires every 5 minutes
        clock.moment += timedelta(minutes=5, seconds=-1)  # and a moment early
        fan_out(services)
        clock.moment += timedelta(seconds=1)
        polled.append(sorted({(j.start, j.end) for j in taken(memory)}))
    assert [len(windows) for windows in polled] == [0, 0, 1, 0, 0, 1]
    assert polled[2] == [(FIRST_END, FIRST_END + timedelta(minutes=15) - timedelta(seconds=1))]
    assert polled[5] == [(polled[2][0][1], polled[2][0][1] + timedelta(minutes=15))]


SMOKE = {"FAULTLINE_SMOKE_ENABLED": "true"}


@pytest.mark.parametrize(("env", "tables"), [({}, TABLES), (SMOKE, TABLES + 1)])
def test_the_smoke_source_is_polled_only_where_it_is_switched_on(env, tables) -> None:
    services, memory, _ = timer(env)
    fan_out(services)
    jobs = taken(memory)
    assert len({(j.source, j.table) for j in jobs}) == tables
    assert ("faultline-smoke" in {j.source for j in jobs}) == bool(env)
    assert len(memory.checkpoints.all()) == tables, "no checkpoint for a source never polled"
