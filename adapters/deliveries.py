"""Alert webhook deliveries in Table Storage: claimed once by id, kept for their job.

The delivery id becomes the row key through a hash (ids are the senders' and may hold characters
a row key refuses); the body is kept as binary properties of at most 64 KiB each (Table
Storage's limit per property), so a queue message only names the delivery and stays far under
the queue's 64 KiB, whatever the sender posted.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from pipeline.ports import Delivery

CHUNK = 60_000
MAX_CHUNKS = 15
"""Body chunks per entity: 900 KB, under the entity's 1 MiB with the other properties."""


def _row_key(delivery_id: str) -> str:
    return hashlib.blake2b(delivery_id.encode("utf-8", "replace"), digest_size=20).hexdigest()


class TableDeliveryClaims:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def claim(self, delivery: Delivery) -> Delivery:
        chunks = [delivery.body[i : i + CHUNK] for i in range(0, len(delivery.body), CHUNK)] or [
            b""
        ]
        if len(chunks) > MAX_CHUNKS:
            raise ValueError(
                f"delivery {delivery.delivery_id} of {delivery.webhook} is {len(delivery.body)} "
                f"bytes; at most {CHUNK * MAX_CHUNKS} are kept"
            )
        entity = {
            "PartitionKey": delivery.webhook,
            "RowKey": _row_key(delivery.delivery_id),
            "DeliveryId": delivery.delivery_id[:1000],
            "Resource": delivery.resource or "",
            "ReceivedAt": delivery.received_at,
            "Queued": False,
            "Chunks": len(chunks),
            **{f"Body{index:02d}": chunk for index, chunk in enumerate(chunks)},
        }
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            kept = self.get(delivery.webhook, delivery.delivery_id)
            if kept is not None:
                return kept
            raise
        return delivery

    def mark_queued(self, webhook: str, delivery_id: str) -> None:
        self._table.update_entity(
            {"PartitionKey": webhook, "RowKey": _row_key(delivery_id), "Queued": True},
            mode=UpdateMode.MERGE,
            match_condition=MatchConditions.Unconditionally,
        )

    def get(self, webhook: str, delivery_id: str) -> Delivery | None:
        try:
            entity = self._table.get_entity(webhook, _row_key(delivery_id))
        except ResourceNotFoundError:
            return None
        body = b"".join(bytes(entity.get(f"Body{i:02d}") or b"") for i in range(entity["Chunks"]))
        return Delivery(
            webhook=webhook,
            delivery_id=entity["DeliveryId"],
            body=body,
            resource=entity.get("Resource") or None,
            received_at=entity["ReceivedAt"],
            queued=bool(entity.get("Queued")),
        )

    def prune(self, before: datetime) -> int:
        """A scan of the table by receipt time: it holds a few rows per alert, far fewer than
        the ledger, and the clean-up runs once a day."""
        old = self._table.query_entities(
            "ReceivedAt lt @before",
            parameters={"before": before},
            select=["PartitionKey", "RowKey"],
        )
        forgotten = 0
        for entity in old:
            with contextlib.suppress(ResourceNotFoundError):
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            forgotten += 1
        return forgotten
