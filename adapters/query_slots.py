"""Log Analytics' limit of concurrent queries per identity, kept across instances: one row per
slot in Table Storage, taken and given back under its ETag.

Whatever the platform's scale settings (several instances during a deployment or a scale-out,
several apps sharing one identity), no more queries run at once than there are slots. A slot
holds its holder's name and an expiry past the query's timeout, so the slot of a worker that
died mid-query frees itself when it lapses. Reading the few slot rows is one query of one
partition; taking one is one conditional write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

PARTITION = "query-slots"
FREE = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CONFLICTS = 50


class TableQuerySlots:
    def __init__(self, table: TableClient, limit: int) -> None:
        self._table = table
        self._limit = limit

    def acquire(self, holder: str, now: datetime, hold: timedelta) -> str | None:
        """A free or lapsed slot, taken under its ETag; None only when a fresh read finds every
        slot held. A slot another worker took between the read and the write sends this one
        back to read again, not away: the slot it saw held may have been given back since."""
        taken = {"PartitionKey": PARTITION, "Holder": holder, "ExpiresAt": now + hold}
        for _ in range(MAX_CONFLICTS):
            rows = {
                row["RowKey"]: row
                for row in self._table.query_entities(
                    "PartitionKey eq @p", parameters={"p": PARTITION}
                )
            }
            free = [
                slot
                for slot in (f"slot-{index}" for index in range(self._limit))
                if slot not in rows or rows[slot]["ExpiresAt"] <= now
            ]
            if not free:
                return None
            for slot in free:
                try:
                    if slot not in rows:
                        self._table.create_entity({**taken, "RowKey": slot})
                    else:
                        self._table.update_entity(
                            {**taken, "RowKey": slot},
                            mode=UpdateMode.REPLACE,
                            etag=rows[slot].metadata["etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return slot
                except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                    continue  # another worker took it first
        raise RuntimeError(f"{MAX_CONFLICTS} rounds of conflicts for a query slot")

    def release(self, slot: str, holder: str) -> None:
        try:
            row = self._table.get_entity(PARTITION, slot)
        except ResourceNotFoundError:
            return
        if row.get("Holder") != holder:
            return  # it lapsed and was taken over: the new holder's now
        try:
            self._table.update_entity(
                {"PartitionKey": PARTITION, "RowKey": slot, "Holder": "", "ExpiresAt": FREE},
                mode=UpdateMode.REPLACE,
                etag=row.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return
