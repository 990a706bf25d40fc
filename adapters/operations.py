"""Failing operations in Table Storage: which rows one operation wrote, and which is its root cause.

Rows of one operation arrive in different query jobs, and a cause can be ingested later than its
symptoms. Each operation is one partition, keyed by its primary correlation key
(`detection.correlation.correlation_keys`), holding:

- a `head` row: `pending` (symptoms held since `HeldSince`, looked at again at `Due`, waiting
  for a cause) or `settled` (the root is chosen: `RootFingerprint`, `RootRank`, `RootRecord`;
  `Placed` once every held row is counted);
- a row per held occurrence;
- while pending, an index row under `due|<minute>`, so the sweep finds what is due without a scan
  (`PreviousDue` on the head names the entry a re-index is moving away from).

A held row is added in one transaction with a conditional touch of the head, so no row slips into
an operation after it was settled: the writer that loses re-reads and follows the new state. A
cause (a row with in-app frames) settles its operation at once; symptoms are first looked at
`correlation.wait` later on the worker's clock, and then settle by the sweep with the best root
among them only when the caller's rule says no cause can still arrive (its tables are read far
enough on ingestion time: `detection.settling`); until then the sweep re-indexes them for a
later look. Counting
happens after settling and the head says `Placed` only after it, so a crash in between counts the
rows again on the retry (the ledger counts each row once).

A Functions invocation has two ids: the host's own rows (`FunctionAppLogs`) carry only the
invocation id, the App Insights rows both. A row with both writes a `link` row under the
invocation id naming the operation; rows that carry only the invocation id follow it. Rows held
under the invocation id before the link existed are moved into the operation (the move is redone
until the invocation's head is closed under its ETag, and the sweep finishes a move that a crash
interrupted).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from detection.correlation import RANK_CAUSE, Candidate, choose_root, joins_settled
from detection.occurrence import Occurrence
from detection.settling import Recheck, Settle
from pipeline.ports import Held, Placement, SettleRule

log = logging.getLogger(__name__)

HEAD = "head"
LINK = "link"
MEMBER_PREFIX = "m|"
DUE_PREFIX = "due|"
CREATED_PREFIX = "created|"
TRANSACTION_LIMIT = 100
INDEX_SHARDS = 16
MAX_ATTEMPTS = 30
_SAFE_KEY = re.compile(r"^[A-Za-z0-9:_.-]{1,200}$")


def _partition(key: str) -> str:
    """Partition keys forbid / \\ # ? and control characters; hash a key not plainly safe."""
    if _SAFE_KEY.match(key):
        return key
    return "h:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _member_key(occurrence: Occurrence) -> str:
    identity = hashlib.blake2b(
        f"{occurrence.table}\x1f{occurrence.record_id}".encode(), digest_size=12
    ).hexdigest()
    return f"{MEMBER_PREFIX}{occurrence.time.astimezone(UTC):%Y%m%dT%H%M%S.%f}|{identity}"


def _due_partition(due: datetime) -> str:
    return f"{DUE_PREFIX}{due.astimezone(UTC):%Y%m%d%H%M}"


def _same_row(a: Occurrence, b: Occurrence) -> bool:
    return a.table == b.table and a.record_id == b.record_id


@dataclass(frozen=True)
class _Root:
    group: str
    rank: int
    table: str
    record_id: str

    def route(self, occurrence: Occurrence) -> Placement:
        """Where a row of this settled operation is counted. A row more specific than the root
        (a cause ingested later than the wait allowed) is a failure of its own."""
        if occurrence.table == self.table and occurrence.record_id == self.record_id:
            return Placement(occurrence, self.group, True)
        if joins_settled(occurrence.rank, self.rank):
            return Placement(occurrence, self.group, False)
        return Placement(occurrence, occurrence.group, True)

    @classmethod
    def of_head(cls, head: Any) -> _Root:
        return cls(head["RootGroup"], head["RootRank"], head["RootTable"], head["RootRecord"])

    @classmethod
    def among(cls, members: Iterable[Occurrence]) -> _Root:
        """The most specific row (`detection.correlation.choose_root`)."""
        by_candidate = {
            Candidate(o.rank, o.time, o.fingerprint, f"{o.table}\x1f{o.record_id}"): o
            for o in members
        }
        root = by_candidate[choose_root(list(by_candidate))]
        return cls(root.group, root.rank, root.table, root.record_id)


def _unique(occurrences: Iterable[Occurrence]) -> list[Occurrence]:
    return list({_member_key(o): o for o in occurrences}.values())


class TableOperations:
    """Holds symptoms until their cause arrives or the wait is over; settles operations."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def place(
        self, occurrences: Sequence[Occurrence], now: datetime, wait: timedelta
    ) -> tuple[list[Placement], str | None]:
        """Place occurrences that share their primary key: the placements decided now (held rows
        come later, from `settle`), and the operation this call settled or found settled but not
        yet placed, which the caller marks `placed` once it has counted the placements."""
        key = self._followed(occurrences[0].keys[0])
        invocations = sorted(
            {k for o in occurrences for k in o.keys if k.startswith("inv:") and k != key}
        )
        moved: list[Occurrence] = []
        adopted: _Root | None = None
        for invocation in invocations:
            rows, root = self._link(invocation, key, now)
            moved.extend(rows)
            adopted = adopted or root
        placements, settled = self._decide(
            key, _unique([*occurrences, *moved]), now, wait, adopted, moves=bool(moved)
        )
        for invocation in invocations:
            more, also_settled = self._finish_move(invocation, key, moved, now, wait)
            placements.extend(more)
            settled = settled or also_settled
        return placements, settled

    def due(self, now: datetime) -> list[str]:
        """Keys of operations whose wait is over (or whose move a crash interrupted)."""
        rows = self._table.query_entities(
            "PartitionKey ge @low and PartitionKey le @high",
            parameters={"low": DUE_PREFIX, "high": _due_partition(now)},
            select=["Key"],
        )
        return sorted({row["Key"] for row in rows})

    def settle(
        self, key: str, now: datetime, wait: timedelta, rule: SettleRule
    ) -> tuple[list[Placement], str | None, Settle | Recheck | None]:
        """Settle a due operation with the best root among its rows, if `rule` says its cause
        can no longer arrive: the placements of every held row, the operation the caller must
        mark `placed` after counting them, and the decision acted on. Otherwise it is
        re-indexed under `Recheck.at`, so the sweep finds it again then without a scan.

        The rule sees the held rows read after the head, and the settling write is conditional
        on that head's ETag: a row held in between changes the head, so the write fails and
        the decision is made again with it."""
        for _ in range(MAX_ATTEMPTS):
            partition = _partition(key)
            head, link = self._head_and_link(partition)
            if link is not None:
                return (*self._finish_move(key, str(link["Target"]), [], now, wait), None)
            if head is None:
                self._forget_stale_index(partition, now)
                return [], None, None
            if head["Status"] == "settled":
                if head.get("Placed"):
                    self._forget_due(head, partition)
                    self._forget_stale_index(partition, now)
                    return [], None, None
                root = _Root.of_head(head)
                return [root.route(m) for m in self._members(key)], key, None
            if _due_partition(head["Due"]) > _due_partition(now):
                self._repair_index(head, partition, key)  # found through a stale index row
                return [], None, None
            members = self._members(key)
            if not members:
                self._forget_due(head, partition)
                return [], None, None
            decision = rule(self._held(head, members, wait))
            if isinstance(decision, Recheck):
                if self._postpone(head, partition, key, decision.at):
                    return [], None, decision
                continue
            root = _Root.among(members)
            if self._write_head(head, self._settled(key, root), now):
                return [root.route(m) for m in members], key, decision
        raise RuntimeError(f"operation {key}: {MAX_ATTEMPTS} conflicting writers in a row")

    def _decide(
        self,
        key: str,
        batch: Sequence[Occurrence],
        now: datetime,
        wait: timedelta,
        adopted: _Root | None = None,
        moves: bool = False,
    ) -> tuple[list[Placement], str | None]:
        """Route rows into a settled operation, settle it (a cause is among the rows, or a linked
        invocation was settled on its own), or hold the rows until the operation is due.

        An operation first seen with its cause holds nothing, so its head is written placed and
        the caller has nothing to mark: a crash before counting is repaired by the job's retry,
        whose rows are routed by the head. Rows moved in from an invocation are held elsewhere
        and still need the mark."""
        for _ in range(MAX_ATTEMPTS):
            head = self._head(_partition(key))
            if head is not None and head["Status"] == "settled":
                root = _Root.of_head(head)
                if head.get("Placed"):
                    return [root.route(o) for o in batch], None
                held = self._members(key)
                return [root.route(o) for o in _unique([*held, *batch])], key
            if adopted is not None or any(o.rank >= RANK_CAUSE for o in batch):
                members = _unique([*(self._members(key) if head else []), *batch])
                root = adopted or _Root.among(members)
                nothing_held = head is None and not moves
                if self._write_head(head, self._settled(key, root, placed=nothing_held), now):
                    return [root.route(o) for o in members], None if nothing_held else key
                continue
            if self._hold(key, head, batch, now, wait):
                return [], None
        raise RuntimeError(f"operation {key}: {MAX_ATTEMPTS} conflicting writers in a row")

    def placed(self, key: str) -> None:
        """Every row of the settled operation is counted: drop its held rows and due entry."""
        partition = _partition(key)
        head = self._head(partition)
        if head is None or head["Status"] != "settled":
            return
        members = [m["RowKey"] for m in self._member_rows(partition, select=["RowKey"])]
        if not head.get("Placed") and len(members) < TRANSACTION_LIMIT:
            try:  # the usual case: one transaction marks the head and drops the held rows
                self._table.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": row}) for row in members]
                    + [
                        (
                            "update",
                            {"PartitionKey": partition, "RowKey": HEAD, "Placed": True},
                            {"mode": UpdateMode.MERGE},
                        )
                    ]
                )
                self._forget_due(head, partition)
                return
            except TableTransactionError:
                pass  # a concurrent caller deleted some of them: fall back to the steps below
        if not head.get("Placed"):
            self._table.update_entity(
                {"PartitionKey": partition, "RowKey": HEAD, "Placed": True}, mode=UpdateMode.MERGE
            )
        self._delete_members(partition)
        self._forget_due(head, partition)

    def prune(self, before: datetime) -> int:
        """Forget every operation first seen before `before` (the ledger's retention): its head,
        link and any rows, found through the day index written when it was created; returns how
        many operations went. A row of such an operation arriving later would be older than any
        window a replay may cover."""
        forgotten = 0
        days = self._table.query_entities(
            "PartitionKey ge @low and PartitionKey lt @high",
            parameters={"low": CREATED_PREFIX, "high": f"{CREATED_PREFIX}{before:%Y%m%d}"},
            select=["PartitionKey", "RowKey"],
        )
        for entry in days:
            rows = [
                row["RowKey"]
                for row in self._table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": entry["RowKey"]}, select=["RowKey"]
                )
            ]
            for start in range(0, len(rows), TRANSACTION_LIMIT):
                self._table.submit_transaction(
                    [
                        ("delete", {"PartitionKey": entry["RowKey"], "RowKey": row})
                        for row in rows[start : start + TRANSACTION_LIMIT]
                    ]
                )
            self._table.delete_entity(entry["PartitionKey"], entry["RowKey"])
            forgotten += 1
        return forgotten

    # -- internals -------------------------------------------------------------------------------

    def _index(self, partition: str, key: str, at: datetime) -> None:
        """Remember on which day an operation's partition was created, for `prune`. The day is
        spread over `INDEX_SHARDS` partitions: every new operation writes here, and one
        partition per day would be a hot spot (Table Storage serves about 2,000 operations a
        second per partition)."""
        shard = hashlib.blake2b(partition.encode(), digest_size=1).digest()[0] % INDEX_SHARDS
        self._table.upsert_entity(
            {
                "PartitionKey": f"{CREATED_PREFIX}{at:%Y%m%d}|{shard:02d}",
                "RowKey": partition,
                "Key": key,
            }
        )

    def _head(self, partition: str) -> Any | None:
        try:
            return self._table.get_entity(partition, HEAD)
        except ResourceNotFoundError:
            return None

    def _head_and_link(self, partition: str) -> tuple[Any | None, Any | None]:
        rows = {
            row["RowKey"]: row
            for row in self._table.query_entities(  # the SDK finds @names between spaces
                "PartitionKey eq @pk and ( RowKey eq @head or RowKey eq @link )",
                parameters={"pk": partition, "head": HEAD, "link": LINK},
            )
        }
        return rows.get(HEAD), rows.get(LINK)

    def _followed(self, key: str) -> str:
        """The operation an invocation id is linked to, else the key itself."""
        if not key.startswith("inv:"):
            return key
        _, link = self._head_and_link(_partition(key))
        return str(link["Target"]) if link is not None else key

    def _member_rows(self, partition: str, select: list[str] | None = None) -> list[Any]:
        return list(
            self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": partition, "low": MEMBER_PREFIX, "high": "m}"},
                select=select,
            )
        )

    def _members(self, key: str) -> list[Occurrence]:
        rows = self._member_rows(_partition(key))
        return [Occurrence.from_json(row["Occurrence"]) for row in rows]

    def _delete_members(self, partition: str) -> None:
        """Delete the held rows (a concurrent caller deleting the same ones is fine: the rows
        left are listed again)."""
        for _ in range(MAX_ATTEMPTS):
            members = [m["RowKey"] for m in self._member_rows(partition, select=["RowKey"])]
            try:
                for start in range(0, len(members), TRANSACTION_LIMIT):
                    self._table.submit_transaction(
                        [
                            ("delete", {"PartitionKey": partition, "RowKey": row})
                            for row in members[start : start + TRANSACTION_LIMIT]
                        ]
                    )
            except TableTransactionError:
                continue
            return

    def _forget_due(self, head: Any | None, partition: str) -> None:
        if head is None:
            return
        for column in ("PreviousDue", "Due"):
            if head.get(column) is not None:
                with contextlib.suppress(ResourceNotFoundError):
                    self._table.delete_entity(_due_partition(head[column]), partition)

    def _forget_stale_index(self, partition: str, now: datetime) -> None:
        """Delete every index entry of an operation that has nothing left to settle. A holder
        writes its entry before the transaction that creates the head, so a holder that loses
        that race to a cause (which writes a settled head with no due time) leaves an entry
        the head does not name; without this the sweep would read it again forever. The scan
        covers the range `due` just read, and runs only for such an entry."""
        entries = self._table.query_entities(
            "PartitionKey ge @low and PartitionKey le @high and RowKey eq @row",
            parameters={"low": DUE_PREFIX, "high": _due_partition(now), "row": partition},
            select=["PartitionKey", "RowKey"],
        )
        for entry in list(entries):
            with contextlib.suppress(ResourceNotFoundError):
                self._table.delete_entity(entry["PartitionKey"], entry["RowKey"])

    @staticmethod
    def _held(head: Any, members: Sequence[Occurrence], wait: timedelta) -> Held:
        """The pending operation as the settle rule sees it. A head written before holds were
        started on the worker's clock (`HeldSince`) had never been re-indexed: its hold began
        `wait` before its due time."""
        since = head.get("HeldSince") or head["Due"] - wait
        return Held(frozenset(m.source for m in members), max(m.arrived for m in members), since)

    def _postpone(self, head: Any, partition: str, key: str, at: datetime) -> bool:
        """Move a pending operation's index entry to `at`; False if the head changed meanwhile.

        The head (ETag-conditional) says where the entry goes before the entry moves, and keeps
        where it was (`PreviousDue`): a crash after the head's write leaves the old entry, which
        the sweep finds and `_repair_index` finishes the move from."""
        try:
            self._table.update_entity(
                {"PartitionKey": partition, "RowKey": HEAD, "Due": at, "PreviousDue": head["Due"]},
                mode=UpdateMode.MERGE,
                etag=head.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return False
        self._repair_index({**head, "Due": at, "PreviousDue": head["Due"]}, partition, key)
        return True

    def _repair_index(self, head: Any, partition: str, key: str) -> None:
        """Make the index say what the head says: an entry under `Due`, none under an earlier
        `PreviousDue`."""
        self._table.upsert_entity(
            {"PartitionKey": _due_partition(head["Due"]), "RowKey": partition, "Key": key}
        )
        previous = head.get("PreviousDue")
        if previous is not None and _due_partition(previous) != _due_partition(head["Due"]):
            with contextlib.suppress(ResourceNotFoundError):
                self._table.delete_entity(_due_partition(previous), partition)

    @staticmethod
    def _settled(key: str, root: _Root, placed: bool = False) -> dict[str, Any]:
        return {
            "PartitionKey": _partition(key),
            "RowKey": HEAD,
            "Key": key,
            "Status": "settled",
            "RootGroup": root.group,
            "RootRank": root.rank,
            "RootTable": root.table,
            "RootRecord": root.record_id,
            "Placed": placed,
        }

    def _write_head(self, head: Any | None, entity: dict[str, Any], now: datetime) -> bool:
        """Create or replace the head if nobody changed it since `head` was read."""
        try:
            if head is None:
                self._index(entity["PartitionKey"], entity["Key"], now)
                self._table.create_entity(entity)
            else:
                due = {f: head[f] for f in ("Due", "PreviousDue") if head.get(f) is not None}
                self._table.update_entity(
                    {**entity, **due},
                    mode=UpdateMode.REPLACE,
                    etag=head.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    def _hold(
        self,
        key: str,
        head: Any | None,
        batch: Sequence[Occurrence],
        now: datetime,
        wait: timedelta,
    ) -> bool:
        """Add rows to a pending operation (creating it, with its due entry: first looked at
        after `wait` on the worker's clock); False on a race."""
        partition = _partition(key)
        touch: tuple[Any, ...]
        due = now + wait
        if head is None:
            self._index(partition, key, due)
            self._table.upsert_entity(
                {"PartitionKey": _due_partition(due), "RowKey": partition, "Key": key}
            )
            touch = (
                "create",
                {
                    "PartitionKey": partition,
                    "RowKey": HEAD,
                    "Key": key,
                    "Status": "pending",
                    "Due": due,
                    "HeldSince": now,
                },
            )
        else:
            touch = self._touch(partition, head.metadata["etag"])
        rows = [
            {"PartitionKey": partition, "RowKey": _member_key(o), "Occurrence": o.to_json()}
            for o in batch
        ]
        for start in range(0, len(rows), TRANSACTION_LIMIT - 1):
            chunk = rows[start : start + TRANSACTION_LIMIT - 1]
            operations: list[Any] = [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in chunk]
            try:
                results = self._table.submit_transaction([*operations, touch])
            except TableTransactionError:
                return False
            touch = self._touch(partition, results[-1]["etag"])
        return True

    @staticmethod
    def _touch(partition: str, etag: str) -> tuple[Any, ...]:
        """A no-op merge of the head that fails if the head changed: the transaction's guard."""
        return (
            "update",
            {"PartitionKey": partition, "RowKey": HEAD},
            {
                "mode": UpdateMode.MERGE,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            },
        )

    def _link(
        self, invocation: str, key: str, now: datetime
    ) -> tuple[list[Occurrence], _Root | None]:
        """Point an invocation id at its operation. Returns the rows it held (to move there) and,
        when the invocation was settled on its own first, its root (the operation adopts it, so
        one invocation stays one incident)."""
        partition = _partition(invocation)
        head, link = self._head_and_link(partition)
        if link is None:
            self._index(partition, invocation, now)
            self._table.upsert_entity(
                {"PartitionKey": partition, "RowKey": LINK, "Key": invocation, "Target": key}
            )
        elif link["Target"] != key:
            return [], None
        if head is None:
            return [], None
        if head["Status"] == "settled":
            return [], None if head.get("MovedTo") else _Root.of_head(head)
        return self._members(invocation), None

    def _finish_move(
        self,
        invocation: str,
        key: str,
        moved: Sequence[Occurrence],
        now: datetime,
        wait: timedelta,
    ) -> tuple[list[Placement], str | None]:
        """Close the invocation's own head once all its rows are in `key`, moving any that
        arrived in between (rows are deleted only after the close succeeded)."""
        partition = _partition(invocation)
        placements: list[Placement] = []
        settled: str | None = None
        done = {_member_key(o) for o in moved}
        for _ in range(MAX_ATTEMPTS):
            head = self._head(partition)
            if head is None or head["Status"] == "settled":
                return placements, settled
            late = [o for o in self._members(invocation) if _member_key(o) not in done]
            if late:
                more, also = self._decide(key, late, now, wait)
                placements.extend(more)
                settled = settled or also
                done.update(_member_key(o) for o in late)
                continue
            closed = {
                "PartitionKey": partition,
                "RowKey": HEAD,
                "Key": invocation,
                "Status": "settled",
                "Placed": True,
                "MovedTo": key,
            }
            if self._write_head(head, closed, now):
                self._delete_members(partition)
                self._forget_due(head, partition)
                return placements, settled
        raise RuntimeError(f"invocation {invocation}: {MAX_ATTEMPTS} conflicting writers in a row")
