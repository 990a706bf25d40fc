"""Azure Table Storage state: checkpoints and the poisoned-job log (the ledger, the grouping log
and the operations have modules of their own)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import (
    TableClient,
    TableServiceClient,
    UpdateMode,
)

from pipeline.ports import Checkpoint

log = logging.getLogger(__name__)

MAX_TEXT = 16_000


def ensure_table(service: TableServiceClient, name: str) -> TableClient:
    service.create_table_if_not_exists(name)
    return service.get_table_client(name)


def storage_error_category(error: BaseException) -> str:
    """A storage failure as a fixed word an operator can act on, with nothing from its text."""
    if isinstance(error, ClientAuthenticationError):
        return "denied"
    if isinstance(error, HttpResponseError) and error.status_code in (401, 403):
        return "denied"
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return "unreachable"
    return "failed"


class TableCheckpointStore:
    """One entity per (source, table): the ingestion time through which jobs are queued."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, source: str, table: str) -> Checkpoint | None:
        try:
            entity = self._table.get_entity(partition_key=source, row_key=table)
        except ResourceNotFoundError:
            return None
        return Checkpoint(source, table, entity["IngestedThrough"], entity.metadata["etag"])

    def advance(self, previous: Checkpoint | None, source: str, table: str, to: datetime) -> bool:
        entity = {
            "PartitionKey": source,
            "RowKey": table,
            "IngestedThrough": to,
        }
        try:
            if previous is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=previous.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    def all(self) -> list[Checkpoint]:
        return [
            Checkpoint(e["PartitionKey"], e["RowKey"], e["IngestedThrough"], e.metadata["etag"])
            for e in self._table.list_entities()
        ]


class TablePoisonLog:
    """Messages that could not be processed (query jobs, failure notices), kept for operators.

    `now` is the app's clock, so a replay on simulated time stamps entries with that time."""

    def __init__(self, table: TableClient, now: Callable[[], datetime]) -> None:
        self._table = table
        self._now = now

    def add(
        self, job_id: str, description: str, reason: str, body: str, kind: str = "query-jobs"
    ) -> None:
        self._table.upsert_entity(
            {
                "PartitionKey": kind,
                "RowKey": job_id,
                "Description": description[:MAX_TEXT],
                "Reason": reason[:MAX_TEXT],
                "Body": body[:MAX_TEXT],
                "PoisonedAt": self._now(),
            }
        )

    def remove(self, job_id: str, kind: str = "query-jobs") -> None:
        """Forget an entry that no longer holds (a refusal that a later attempt got past)."""
        with contextlib.suppress(ResourceNotFoundError):
            self._table.delete_entity(kind, job_id)

    def count(self, kind: str = "query-jobs") -> int:
        entities = self._table.query_entities(
            "PartitionKey eq @kind", parameters={"kind": kind}, select=["RowKey"]
        )
        return sum(1 for _ in entities)
