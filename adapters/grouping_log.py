"""The grouping log (`detection.grouping`) in Table Storage, the same on every worker.

One partition holds the log: a row per entry, keyed by its sequence number, and a head row with
the last sequence number. An append is one entity-group transaction that inserts the new entries
and updates the head under its ETag, so two workers that decide at once cannot both append: the
loser re-reads what the winner decided and decides again against it (optimistic concurrency, no
decision lost or contradicted). Each process keeps the replayed log in memory and catches up by
reading the head (one point read per job in the steady state) and, when it moved, the entries
after its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from detection.fingerprint import FINGERPRINT_VERSION, Fingerprint
from detection.grouping import Grouping, LogEntry

log = logging.getLogger(__name__)

PARTITION = "log"
HEAD = "head"
ENTRY_PREFIX = "e|"
TRANSACTION_LIMIT = 100
MAX_CONFLICT_RETRIES = 50


def _entry_key(sequence: int) -> str:
    return f"{ENTRY_PREFIX}{sequence:012d}"


class TableGroupingLog:
    """Decides groups against the shared log and appends what it decided."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._lock = threading.RLock()
        self._grouping = Grouping()
        self._head_etag: str | None = None
        self._transition: tuple[datetime, bool] | None = None

    def assign(self, prints: Sequence[Fingerprint]) -> dict[str, str]:
        """The group of each fingerprint (value -> group id), persisting any new decision."""
        with self._lock:
            for _ in range(MAX_CONFLICT_RETRIES):
                self._catch_up()
                groups, entries = self._grouping.assign(prints)
                if not entries or self._append(entries):
                    return groups
                self._forget()
            raise RuntimeError(f"grouping log: {MAX_CONFLICT_RETRIES} conflicting appends in a row")

    def alias(
        self, pairs: Iterable[tuple[str, str, str]], *, first_claim: bool = False
    ) -> list[LogEntry]:
        """Fold each (absorbed, survivor, reason) not yet folded; returns the entries appended
        (`first_claim`: see `Grouping.alias`)."""
        wanted = list(pairs)
        with self._lock:
            for _ in range(MAX_CONFLICT_RETRIES):
                self._catch_up()
                entries = [
                    entry
                    for absorbed, survivor, reason in wanted
                    if (
                        entry := self._grouping.alias(
                            absorbed, survivor, reason, first_claim=first_claim
                        )
                    )
                    is not None
                ]
                if not entries or self._append(entries):
                    return entries
                self._forget()
            raise RuntimeError(f"grouping log: {MAX_CONFLICT_RETRIES} conflicting appends in a row")

    def split(self, absorbed: str, survivor: str, reason: str) -> LogEntry | None:
        """Undo the alias of `absorbed` into `survivor`'s group; the entry appended, or None."""
        with self._lock:
            for _ in range(MAX_CONFLICT_RETRIES):
                self._catch_up()
                entry = self._grouping.split(absorbed, survivor, reason)
                if entry is None or self._append([entry]):
                    return entry
                self._forget()
            raise RuntimeError(f"grouping log: {MAX_CONFLICT_RETRIES} conflicting appends in a row")

    def resolve(self, group: str) -> str:
        """The surviving group of an id, as of the latest log."""
        with self._lock:
            self._catch_up()
            return self._grouping.resolve(group)

    def absorbed_by(self, group: str) -> list[str]:
        """Every id folded into `group`, as of the latest log."""
        with self._lock:
            self._catch_up()
            return self._grouping.absorbed_by(group)

    def snapshot(self) -> Grouping:
        """The log as of now, replayed (the caller must not change it)."""
        with self._lock:
            self._catch_up()
            return self._grouping

    def transition(
        self, now: datetime, previous_in_use: Callable[[], bool]
    ) -> tuple[datetime, bool]:
        """When this deployment first grouped with the current fingerprint version, and whether a
        previous version had been grouping before it (asked once, when that is first recorded):
        the transition from the previous version starts then, if there was one."""
        with self._lock:
            if self._transition is None:
                key = f"version-{FINGERPRINT_VERSION}"
                try:
                    entity = self._table.get_entity(PARTITION, key)
                except ResourceNotFoundError:
                    with contextlib.suppress(ResourceExistsError):
                        self._table.create_entity(
                            {
                                "PartitionKey": PARTITION,
                                "RowKey": key,
                                "Since": now,
                                "Previous": previous_in_use(),
                            }
                        )
                    entity = self._table.get_entity(PARTITION, key)
                self._transition = (entity["Since"], bool(entity["Previous"]))
            return self._transition

    def _head(self) -> Any | None:
        try:
            return self._table.get_entity(PARTITION, HEAD)
        except ResourceNotFoundError:
            return None

    def _catch_up(self) -> None:
        head = self._head()
        if head is None:
            return
        self._head_etag = head.metadata["etag"]
        sequence = int(head["Sequence"])
        if sequence < self._grouping.applied:
            self._forget()
        if sequence == self._grouping.applied:
            return
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey gt @low and RowKey le @high",
            parameters={
                "pk": PARTITION,
                "low": _entry_key(self._grouping.applied),
                "high": _entry_key(sequence),
            },
        )
        for row in sorted(rows, key=lambda r: r["RowKey"]):
            if int(row["RowKey"][len(ENTRY_PREFIX) :]) != self._grouping.applied + 1:
                raise RuntimeError(f"grouping log has a gap before {row['RowKey']}")
            self._grouping.apply(LogEntry.from_json(row["Entry"]))

    def _forget(self) -> None:
        """Drop the in-memory state (it holds decisions that did not persist); rebuild on use."""
        self._grouping = Grouping()
        self._head_etag = None

    def _append(self, entries: Sequence[LogEntry]) -> bool:
        """Persist entries numbered after what was applied before them; False on a conflict."""
        first = self._grouping.applied - len(entries) + 1
        for start in range(0, len(entries), TRANSACTION_LIMIT - 1):
            chunk = entries[start : start + TRANSACTION_LIMIT - 1]
            last = first + start + len(chunk) - 1
            operations: list[Any] = [
                (
                    "create",
                    {
                        "PartitionKey": PARTITION,
                        "RowKey": _entry_key(first + start + offset),
                        "Entry": entry.to_json(),
                    },
                )
                for offset, entry in enumerate(chunk)
            ]
            head = {"PartitionKey": PARTITION, "RowKey": HEAD, "Sequence": last}
            if self._head_etag is None:
                operations.append(("create", head))
            else:
                operations.append(
                    (
                        "update",
                        head,
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": self._head_etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
            try:
                results = self._table.submit_transaction(operations)
            except TableTransactionError as conflict:
                log.info("grouping log: another worker appended first (%s)", conflict.message)
                return False
            self._head_etag = results[-1]["etag"]
        return True
