"""The timer fan-out against Azurite: jobs per table slice, checkpoints that move only forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bootstrap import bootstrap, install
from local_host.host import FunctionTable, SimulatedClock, timer_request
from pipeline.messages import QueryJob
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

TABLES = 8


@pytest.fixture
def services(storage_env: dict[str, str], clock: SimulatedClock):
    built = bootstrap(storage_env, clock=clock)
    install(built)
    yield built
    install(None)


def _tick(functions: FunctionTable) -> None:
    functions.user_function("fan_out_queries")(timer_request())


def test_first_tick_backfills_each_table_in_max_window_slices(
    services, functions, azurite, clock
) -> None:
    _tick(functions)
    jobs = [
        QueryJob.model_validate_json(b)
        for b in queued_bodies(azurite, services.settings.query_queue)
    ]
    assert len(jobs) == TABLES * 4
    end = datetime(2026, 11, 20, 1, 58, tzinfo=UTC)
    for table in {j.table for j in jobs}:
        windows = sorted((j.start, j.end) for j in jobs if j.table == table)
        assert windows[0][0] == end - timedelta(hours=1) and windows[-1][1] == end
        assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    checkpoints = {(c.source, c.table): c.ingested_through for c in services.checkpoints.all()}
    assert len(checkpoints) == TABLES and set(checkpoints.values()) == {end}


def test_next_tick_continues_from_the_checkpoint_and_a_repeated_tick_queues_nothing(
    services, functions, azurite, clock
) -> None:
    _tick(functions)
    queued_bodies(azurite, services.settings.query_queue)
    clock.advance(timedelta(minutes=5))
    _tick(functions)
    _tick(functions)
    jobs = [
        QueryJob.model_validate_json(b)
        for b in queued_bodies(azurite, services.settings.query_queue)
    ]
    assert len(jobs) == TABLES
    assert {(j.start, j.end) for j in jobs} == {
        (datetime(2026, 11, 20, 1, 58, tzinfo=UTC), datetime(2026, 11, 20, 2, 3, tzinfo=UTC))
    }


def test_a_long_outage_catches_up_over_several_ticks(services, functions, azurite, clock) -> None:
    _tick(functions)
    queued_bodies(azurite, services.settings.query_queue)
    clock.advance(timedelta(days=1))
    _tick(functions)
    first = queued_bodies(azurite, services.settings.query_queue)
    assert len(first) == TABLES * 48
    checkpoint = services.checkpoints.get("production", "AppTraces")
    assert checkpoint is not None
    assert checkpoint.ingested_through == datetime(2026, 11, 20, 13, 58, tzinfo=UTC)
    for _ in range(2):
        _tick(functions)
    assert services.checkpoints.get(
        "production", "AppTraces"
    ).ingested_through == clock.now() - timedelta(minutes=2)


def test_a_stale_checkpoint_write_loses_and_reports_it(services) -> None:
    store = services.checkpoints
    t = datetime(2026, 11, 20, tzinfo=UTC)
    assert store.advance(None, "production", "AppTraces", t)
    assert not store.advance(None, "production", "AppTraces", t)
    current = store.get("production", "AppTraces")
    assert store.advance(current, "production", "AppTraces", t + timedelta(minutes=5))
    assert not store.advance(current, "production", "AppTraces", t + timedelta(minutes=10))
    assert store.get("production", "AppTraces").ingested_through == t + timedelta(minutes=5)


def test_timer_binding_reads_its_schedule_from_an_app_setting(functions) -> None:
    assert (
        functions.binding("fan_out_queries", "timerTrigger")["schedule"]
        == "%FAULTLINE_TIMER_SCHEDULE%"
    )


@pytest.fixture
def quarter_hourly(storage_env: dict[str, str], clock: SimulatedClock):
    """The shipped rules with `poll_interval: 15m` (through its documented variable)."""
    built = bootstrap({**storage_env, "FAULTLINE_POLL_INTERVAL": "15m"}, clock=clock)
    install(built)
    yield built
    install(None)


def test_a_source_is_polled_only_when_its_poll_interval_has_passed(
    quarter_hourly, functions, azurite, clock
) -> None:
    queue = quarter_hourly.settings.query_queue
    _tick(functions)
    assert len(queued_bodies(azurite, queue)) == TABLES * 4, "the first tick backfills"
    polled = []
    for _ in range(6):  # the timer fires every 5 minutes
        clock.advance(timedelta(minutes=5, seconds=-1))  # and a moment early
        _tick(functions)
        clock.advance(timedelta(seconds=1))
        jobs = [QueryJob.model_validate_json(b) for b in queued_bodies(azurite, queue)]
        polled.append(sorted({(j.start, j.end) for j in jobs}))
    assert [len(windows) for windows in polled] == [0, 0, 1, 0, 0, 1]
    end = datetime(2026, 11, 20, 1, 58, tzinfo=UTC)
    assert polled[2] == [(end, end + timedelta(minutes=15) - timedelta(seconds=1))]
    assert polled[5] == [(polled[2][0][1], polled[2][0][1] + timedelta(minutes=15))]
