"""Azure Table Storage state: checkpoints and the poisoned-job log (the ledger, the grouping log
and the operations have modules of their own)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

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

from detection.settling import advance_read
from pipeline.ports import Checkpoint

log = logging.getLogger(__name__)

MAX_TEXT = 16_000
READ_PREFIX = "read|"
MAX_MARK_ATTEMPTS = 30


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
    """One entity per (source, table): the ingestion time through which jobs are queued; and
    under `read|<source>`, one per table: the ingestion time through which jobs have counted
    their rows without a gap (`ReadThrough`), with the windows read beyond a gap (`Ahead`)."""

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
            if not e["PartitionKey"].startswith(READ_PREFIX)
        ]

    def read_through(self, source: str, table: str) -> datetime | None:
        entity = self._read_entity(source, table)
        return entity["ReadThrough"] if entity is not None else None

    def begin_reading(self, source: str, table: str, at: datetime) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._table.create_entity(
                {
                    "PartitionKey": f"{READ_PREFIX}{source}",
                    "RowKey": table,
                    "ReadThrough": at,
                    "Ahead": "[]",
                }
            )

    def mark_read(self, source: str, table: str, start: datetime, end: datetime) -> None:
        """Move the read mark under the entity's ETag; a concurrent job's move is re-read and
        this window folded into it."""
        for _ in range(MAX_MARK_ATTEMPTS):
            entity = self._read_entity(source, table)
            if entity is None:
                return  # never queued by the timer (a replay of a table not polled yet)
            ahead = [
                (datetime.fromisoformat(low), datetime.fromisoformat(high))
                for low, high in json.loads(entity["Ahead"])
            ]
            mark, rest = advance_read(entity["ReadThrough"], ahead, start, end)
            try:
                self._table.update_entity(
                    {
                        "PartitionKey": entity["PartitionKey"],
                        "RowKey": table,
                        "ReadThrough": mark,
                        "Ahead": json.dumps(
                            [[low.isoformat(), high.isoformat()] for low, high in rest]
                        ),
                    },
                    mode=UpdateMode.REPLACE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            return
        raise RuntimeError(f"read mark of {source}/{table}: {MAX_MARK_ATTEMPTS} conflicting jobs")

    def _read_entity(self, source: str, table: str) -> Any | None:
        try:
            return self._table.get_entity(partition_key=f"{READ_PREFIX}{source}", row_key=table)
        except ResourceNotFoundError:
            return None


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
