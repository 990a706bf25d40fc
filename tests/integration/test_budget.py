"""The hourly issue budget on Azurite holds when many workflows reserve at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.tables import ensure_table
from adapters.workflow_state import TableRateLimiter

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_concurrent_reservations_never_exceed_the_hourly_budget(azurite, storage_env) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = ensure_table(service, storage_env["FAULTLINE_TABLE_PREFIX"] + "Budget")
    start = threading.Barrier(12)
    slots: dict[str, datetime] = {}

    def reserve(index: int) -> None:
        limiter = TableRateLimiter(table)
        start.wait()
        slots[f"f{index}"] = limiter.reserve_issue(f"f{index}", "contoso/shop", NOW, 3, 10)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(slots.values())
    assert sum(1 for slot in ordered if slot == NOW) == 3, "the budget's three slots, no more"
    for index, slot in enumerate(ordered):
        within = [s for s in ordered if slot - timedelta(hours=1) < s <= slot]
        assert len(within) <= 3, f"slot {index} breaks the hourly budget"
    again = TableRateLimiter(table).reserve_issue("f0", "contoso/shop", NOW, 3, 10)
    assert again == slots["f0"], "a retried reservation gets the slot it holds"
