"""The timer fan-out through its trigger, on Azurite: the first tick's jobs on the real queue, and
the checkpoint store's ETags. Its decisions over time are tested on in-memory ports in
`tests/unit/test_fanout.py`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


def test_the_timer_queues_decodable_jobs_and_stores_checkpoints(
    services, functions, azurite
) -> None:
    _tick(functions)
    bodies = queued_bodies(azurite, services.settings.query_queue)
    jobs = [QueryJob.model_validate_json(b) for b in bodies]
    assert len(jobs) == TABLES * 4
    end = datetime(2026, 11, 20, 1, 58, tzinfo=UTC)
    assert {c.ingested_through for c in services.checkpoints.all()} == {end}
    assert len(services.checkpoints.all()) == TABLES


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


def test_read_marks_fold_windows_finished_out_of_order_and_at_once(services, functions) -> None:
    """The timer starts each table's read mark (not listed among the checkpoints); jobs that
    finish concurrently and out of order all fold into it under its ETag."""
    _tick(functions)
    store = services.checkpoints
    start = datetime(2026, 11, 20, 0, 58, tzinfo=UTC)
    assert store.read_through("production", "AppTraces") == start
    assert len(store.all()) == TABLES, "read marks are not checkpoints"
    windows = [
        (start + i * timedelta(minutes=5), start + (i + 1) * timedelta(minutes=5))
        for i in range(12)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda w: store.mark_read("production", "AppTraces", *w), windows[1:]))
    assert store.read_through("production", "AppTraces") == start, "the first window is a gap"
    store.mark_read("production", "AppTraces", *windows[0])
    assert store.read_through("production", "AppTraces") == start + timedelta(hours=1)
