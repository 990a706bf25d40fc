"""The query slots on Table Storage (Azurite): workers on separate clients, as separate
instances would be, never run more queries at once than the limit, and a slot whose holder died
frees itself when its lease lapses."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.query_slots import TableQuerySlots
from adapters.tables import ensure_table

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def slots(connection_string: str, table: str, limit: int) -> TableQuerySlots:
    service = TableServiceClient.from_connection_string(connection_string)
    return TableQuerySlots(ensure_table(service, table), limit)


def test_five_workers_racing_for_three_slots_never_run_more_than_three_queries(azurite) -> None:
    table = f"Slots{uuid.uuid4().hex[:10]}"
    running, most, done = 0, 0, 0
    lock = threading.Lock()

    def worker(name: str) -> None:
        nonlocal running, most, done
        mine = slots(azurite.connection_string, table, limit=3)
        for query in range(8):
            holder = f"{name}-{query}"
            while (slot := mine.acquire(holder, NOW, timedelta(minutes=4))) is None:
                time.sleep(0.005)
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)  # the query
            with lock:
                running -= 1
                done += 1
            mine.release(slot, holder)

    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(5)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert done == 40, "every query ran"
    assert most == 3, "three at once at most, and the slots were all used"


def test_as_many_workers_as_slots_always_find_one_however_they_race(azurite) -> None:
    """A worker that loses a race for the slot it saw free reads again: the slot it saw held may
    have been given back since. Giving up on a stale read would send a job to wait on the queue
    while a slot stood free."""
    table = f"Slots{uuid.uuid4().hex[:10]}"
    refused: list[str] = []

    def worker(name: str) -> None:
        mine = slots(azurite.connection_string, table, limit=3)
        for query in range(30):
            holder = f"{name}-{query}"
            slot = mine.acquire(holder, NOW, timedelta(minutes=4))
            if slot is None:
                refused.append(holder)
                continue
            mine.release(slot, holder)

    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert refused == []


def test_a_crashed_holders_slot_frees_itself_when_its_lease_lapses(azurite) -> None:
    table = f"Slots{uuid.uuid4().hex[:10]}"
    crashed = slots(azurite.connection_string, table, limit=1)
    assert crashed.acquire("worker-that-dies", NOW, timedelta(minutes=4)) == "slot-0"
    survivor = slots(azurite.connection_string, table, limit=1)
    assert survivor.acquire("next", NOW + timedelta(minutes=3), timedelta(minutes=4)) is None
    later = NOW + timedelta(minutes=4, seconds=1)
    assert survivor.acquire("next", later, timedelta(minutes=4)) == "slot-0"
    crashed.release("slot-0", "worker-that-dies")  # a late release does not free the new lease
    assert survivor.acquire("third", later, timedelta(minutes=4)) is None
    survivor.release("slot-0", "next")
    assert survivor.acquire("third", later, timedelta(minutes=4)) == "slot-0"
