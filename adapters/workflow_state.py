"""Table Storage state of the issue workflow: fingerprint -> issue, rate limits, audit trail."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from detection.budget import earliest_slot
from pipeline.ports import AuditEntry, IssueState

HOUR = timedelta(hours=1)


def _repository_key(repository: str) -> str:
    return repository.replace("/", "~")


def _follow_up_key(repository: str) -> str:
    return f"{_repository_key(repository)}|follow-up"


class TableIssueStates:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def begin_sync(self, fingerprint: str, repository: str) -> IssueState | None:
        """The issue's state, read as a sync begins, clearing its follow-up row in passing: the
        sync reads the ledger's latest counts next, which cover every recurrence noted so far
        (occurrences are counted before they are noted). One read serves both rows."""
        state_key, follow_up_key = _repository_key(repository), _follow_up_key(repository)
        rows = {
            entity["RowKey"]: entity
            for entity in self._table.query_entities(  # the SDK finds @names between spaces
                "PartitionKey eq @fp and ( RowKey eq @state or RowKey eq @follow_up )",
                parameters={"fp": fingerprint, "state": state_key, "follow_up": follow_up_key},
            )
        }
        if follow_up_key in rows:
            self._table.delete_entity(fingerprint, follow_up_key)
        entity = rows.get(state_key)
        return self._state(fingerprint, repository, entity) if entity is not None else None

    def peek(self, fingerprint: str, repository: str) -> IssueState | None:
        """A group's issue state, read without starting a sync (another group's fold reads it)."""
        try:
            entity = self._table.get_entity(fingerprint, _repository_key(repository))
        except ResourceNotFoundError:
            return None
        return self._state(fingerprint, repository, entity)

    @staticmethod
    def _state(fingerprint: str, repository: str, entity: Any) -> IssueState:
        return IssueState(
            fingerprint=fingerprint,
            repository=repository,
            number=entity.get("Number"),
            url=entity.get("Url"),
            intent_at=entity.get("IntentAt"),
            synced_count=entity.get("SyncedCount", 0),
            synced_at=entity.get("SyncedAt"),
            last_comment_at=entity.get("LastCommentAt"),
            commented_count=entity.get("CommentedCount", 0),
            assigned=bool(entity.get("Assigned")),
            adopted=bool(entity.get("Adopted")),
            folded_into=entity.get("FoldedInto"),
            status=entity.get("Status", "active"),
            muted_until=entity.get("MutedUntil"),
            mute_until_count=entity.get("MuteUntilCount"),
            keep_open=bool(entity.get("KeepOpen")),
            resolved_in=entity.get("ResolvedIn"),
            resolved_count=entity.get("ResolvedCount", 0),
            resolved_versions=json.loads(entity.get("ResolvedVersions", "{}")),
            merged_into=entity.get("MergedInto"),
            run=entity.get("Run"),
            first_pull_request_at=entity.get("FirstPullRequestAt"),
            pull_requests=tuple(filter(None, entity.get("PullRequests", "").split("\n"))),
            quiet_closing=entity.get("QuietClosing"),
            escalated_at=entity.get("EscalatedAt"),
            etag=entity.metadata["etag"],
        )

    def save(self, state: IssueState) -> IssueState | None:
        """Write if nobody changed it since it was read; the new state, or None on a conflict."""
        entity = {
            "PartitionKey": state.fingerprint,
            "RowKey": _repository_key(state.repository),
            "Repository": state.repository,
            "Number": state.number,
            "Url": state.url,
            "IntentAt": state.intent_at,
            "SyncedCount": state.synced_count,
            "SyncedAt": state.synced_at,
            "LastCommentAt": state.last_comment_at,
            "CommentedCount": state.commented_count,
            "Assigned": state.assigned,
            "Adopted": state.adopted,
            "FoldedInto": state.folded_into,
            "Status": state.status,
            "MutedUntil": state.muted_until,
            "MuteUntilCount": state.mute_until_count,
            "KeepOpen": state.keep_open,
            "ResolvedIn": state.resolved_in,
            "ResolvedCount": state.resolved_count,
            "ResolvedVersions": json.dumps(dict(state.resolved_versions)),
            "MergedInto": state.merged_into,
            "Run": state.run,
            "FirstPullRequestAt": state.first_pull_request_at,
            "PullRequests": "\n".join(state.pull_requests) or None,
            "QuietClosing": state.quiet_closing,
            "EscalatedAt": state.escalated_at,
        }
        entity = {k: v for k, v in entity.items() if v is not None}
        try:
            if state.etag is None:
                metadata = self._table.create_entity(entity)
            else:
                metadata = self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=state.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return None
        return state.with_changes(etag=metadata["etag"])

    def issues_of(self, fingerprint: str) -> list[tuple[str, int]]:
        """The (repository, number) of every issue a group has, one per repository."""
        rows = self._table.query_entities(
            "PartitionKey eq @fp",
            parameters={"fp": fingerprint},
            select=["RowKey", "Repository", "Number"],
        )
        return sorted(
            (row["Repository"], row["Number"])
            for row in rows
            if row.get("Number") is not None and not row["RowKey"].endswith("|follow-up")
        )

    def tracked(self) -> list[IssueState]:
        """Every state with an issue: a scan of the table, as the periodic passes need it
        (one row per failure and repository; follow-up rows have no number)."""
        return sorted(
            (
                self._state(entity["PartitionKey"], entity["Repository"], entity)
                for entity in self._table.query_entities("Number ge 0")
                if not entity["RowKey"].endswith("|follow-up")
            ),
            key=lambda state: (state.repository, state.number or 0),
        )

    def escalated(self) -> Iterator[IssueState]:
        """Rows with an `EscalatedAt`: a comparison filter leaves out the rows without the
        property, so the hourly pass reads only escalated issues."""
        rows = self._table.query_entities(
            "EscalatedAt ge @epoch", parameters={"epoch": datetime(1970, 1, 1, tzinfo=UTC)}
        )
        for entity in rows:
            yield self._state(entity["PartitionKey"], entity["Repository"], entity)

    def note_recurrence(self, fingerprint: str, repository: str) -> bool:
        """Leave word for the failure's running workflow that it recurred, so it syncs again
        before it ends. False when the workflow has already made its last check: the caller
        must wait for it to end and start a new one."""
        while True:
            entity = self._follow_up_or_create(fingerprint, repository, "recurred")
            if entity is None or entity["State"] == "recurred":
                return True
            if entity["State"] == "finishing":
                return False
            # "resyncing": that sync may have read the ledger before this recurrence was counted
            if self._replace_follow_up(entity, "recurred", generation=None):
                return True

    def finish_or_resync(self, fingerprint: str, repository: str, generation: int) -> bool:
        """A workflow's last check, idempotent per generation: True if its failure recurred since
        it began (it must sync again), else False, and later recurrences wait for it to end."""
        while True:
            entity = self._follow_up_or_create(fingerprint, repository, "finishing")
            if entity is None:
                return False
            state = entity["State"]
            if state == "finishing":
                return False
            if state == "resyncing" and entity.get("Generation") == generation:
                return True  # this very check, retried after its answer was lost
            resync = state == "recurred"
            next_state = "resyncing" if resync else "finishing"
            if self._replace_follow_up(entity, next_state, generation if resync else None):
                return resync

    def _follow_up_or_create(self, fingerprint: str, repository: str, state: str) -> Any | None:
        """The follow-up row as it stands, or None once this call has created it in `state`."""
        key = _follow_up_key(repository)
        while True:
            try:
                return self._table.get_entity(fingerprint, key)
            except ResourceNotFoundError:
                pass
            try:
                self._table.create_entity(
                    {"PartitionKey": fingerprint, "RowKey": key, "State": state}
                )
                return None
            except ResourceExistsError:
                continue

    def _replace_follow_up(self, entity: Any, state: str, generation: int | None) -> bool:
        replacement = {
            "PartitionKey": entity["PartitionKey"],
            "RowKey": entity["RowKey"],
            "State": state,
            **({"Generation": generation} if generation is not None else {}),
        }
        try:
            self._table.update_entity(
                replacement,
                mode=UpdateMode.REPLACE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def delete_all(self) -> None:
        """Forget every fingerprint -> issue mapping (tests of lost state, operators' resets)."""
        for entity in self._table.list_entities(select=["PartitionKey", "RowKey"]):
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])


class TableWebhookDeliveries:
    """Webhook deliveries already taken, one row per GitHub's `X-GitHub-Delivery` or GitLab's
    `Idempotency-Key` (both random UUIDs, so they share the table without colliding),
    partitioned by its first two characters so the rows spread. A claim is an insert: the
    second insert of one delivery is refused (409), whichever instance tries it."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @staticmethod
    def _keys(delivery: str) -> tuple[str, str]:
        return delivery[:2] or "-", delivery

    def claim(self, delivery: str, at: datetime) -> bool:
        partition, row = self._keys(delivery)
        try:
            self._table.create_entity({"PartitionKey": partition, "RowKey": row, "At": at})
        except ResourceExistsError:
            return False
        return True

    def release(self, delivery: str) -> None:
        partition, row = self._keys(delivery)
        self._table.delete_entity(partition, row)


class TableRateLimiter:
    """Hourly budgets kept in Table Storage: new issues (overall and per repository), comments.

    New issues get slots in order of asking: when the hour's budget is used, a failure is given
    the earliest future slot that keeps every hour within budget, and waits once for it, instead
    of every waiting failure retrying whenever a slot frees (first come, first served, and no
    stampede). A slot is keyed, so a retried activity that asks again gets the slot it holds.

    Every budget lives in one partition whose `head` row's ETag guards each reservation: a
    reservation reads the head, then what is reserved, and writes its rows and the head in one
    transaction, so two workers that both saw a free slot cannot both take it (the second one's
    transaction fails, and it reads again).
    """

    PARTITION = "budgets"
    HEAD = "head"
    MAX_CONFLICTS = 50

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def reserve_issue(
        self, fingerprint: str, repository: str, now: datetime, overall: int, per_repository: int
    ) -> datetime:
        """When this failure may open its issue: `now`, or the later slot it now holds."""
        budgets = [("all", overall), (f"repo:{_repository_key(repository)}", per_repository)]
        held = self._held(fingerprint, [budget for budget, _ in budgets], now - HOUR)
        if held is not None:
            return max(held, now)
        for _ in range(self.MAX_CONFLICTS):
            head = self._head()
            taken = {budget: self._reserved_since(budget, now - HOUR) for budget, _ in budgets}
            slot = now
            while True:
                later = max(
                    earliest_slot(
                        [at for key, at in taken[budget].items() if key != fingerprint],
                        limit,
                        slot,
                        HOUR,
                    )
                    for budget, limit in budgets
                )
                if later == slot:
                    break
                slot = later
            if self._write(head, [(budget, fingerprint, slot) for budget, _ in budgets]):
                return slot
        raise RuntimeError(f"issue budget: {self.MAX_CONFLICTS} conflicting reservations in a row")

    def reserve_comment(self, fingerprint: str, now: datetime, per_hour: int) -> bool:
        """Whether a comment fits this hour's budget (a comment that does not fit waits for the
        next sync rather than for a slot: the next one carries its news)."""
        key = f"{fingerprint}@{now:%Y%m%dT%H%M%S}"
        for _ in range(self.MAX_CONFLICTS):
            head = self._head()
            reserved = self._reserved_since("comments", now - HOUR)
            if key in reserved:
                return True
            if earliest_slot(list(reserved.values()), per_hour, now, HOUR) > now:
                return False
            if self._write(head, [("comments", key, now)]):
                return True
        raise RuntimeError(f"comment budget: {self.MAX_CONFLICTS} conflicting reservations")

    def _head(self) -> Any | None:
        try:
            return self._table.get_entity(self.PARTITION, self.HEAD)
        except ResourceNotFoundError:
            return None

    def _write(self, head: Any | None, rows: list[tuple[str, str, datetime]]) -> bool:
        """Reservation rows and the head in one transaction; False when the head moved."""
        operations: list[Any] = [
            (
                "upsert",
                {"PartitionKey": self.PARTITION, "RowKey": f"{budget}|{key}", "ReservedAt": at},
                {"mode": UpdateMode.REPLACE},
            )
            for budget, key, at in rows
        ]
        marker = {"PartitionKey": self.PARTITION, "RowKey": self.HEAD, "Touched": uuid.uuid4().hex}
        if head is None:
            operations.append(("create", marker))
        else:
            operations.append(
                (
                    "update",
                    marker,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": head.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError:
            return False
        return True

    def _held(self, key: str, budgets: list[str], since: datetime) -> datetime | None:
        """The slot `key` already holds in every budget (point reads: a waiting failure asks
        again each time it wakes, and should not read the whole queue to learn its place)."""
        slots = []
        for budget in budgets:
            try:
                entity = self._table.get_entity(
                    self.PARTITION, f"{budget}|{key}", select=["ReservedAt"]
                )
            except ResourceNotFoundError:
                return None
            if entity["ReservedAt"] <= since:
                return None
            slots.append(entity["ReservedAt"])
        return max(slots)

    def _reserved_since(self, budget: str, since: datetime) -> dict[str, datetime]:
        entities = self._table.query_entities(
            "PartitionKey eq @p and RowKey gt @low and RowKey lt @high and ReservedAt gt @since",
            parameters={
                "p": self.PARTITION,
                "low": f"{budget}|",
                "high": f"{budget}|~",
                "since": since,
            },
            select=["RowKey", "ReservedAt"],
        )
        return {e["RowKey"].split("|", 1)[1]: e["ReservedAt"] for e in entities}


class TableAuditLog:
    """Every action the workflow takes, with fingerprint, issue, time and reason.

    Row keys sort by the action's (possibly simulated) time, then by when it was written.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def record(
        self,
        fingerprint: str,
        action: str,
        repository: str,
        issue: int | None,
        reason: str,
        at: datetime,
        key: str | None = None,
    ) -> None:
        """Append an entry; with `key`, at most one entry under that key (a retried step)."""
        entity = {
            "PartitionKey": fingerprint,
            "RowKey": f"once|{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}"
            if key
            else f"{at:%Y-%m-%dT%H:%M:%S.%fZ}|{time.time_ns():020d}|{uuid.uuid4().hex[:8]}",
            "Action": action,
            "Repository": repository,
            "Issue": issue,
            "Reason": reason[:4000],
            "At": at,
        }
        try:
            self._table.create_entity({k: v for k, v in entity.items() if v is not None})
        except ResourceExistsError:
            if key is None:
                raise

    def entries(self, fingerprint: str | None = None) -> list[AuditEntry]:
        found = (
            self._table.query_entities("PartitionKey eq @fp", parameters={"fp": fingerprint})
            if fingerprint
            else self._table.list_entities()
        )
        return [
            AuditEntry(
                e["PartitionKey"],
                e["Action"],
                e["Repository"],
                e.get("Issue"),
                e["Reason"],
                e["At"],
            )
            for e in sorted(found, key=lambda e: (e["PartitionKey"], e["RowKey"]))
        ]
