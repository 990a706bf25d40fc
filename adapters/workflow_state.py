"""Table Storage state of the issue workflow: fingerprint -> issue, rate limits, audit trail."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

HOUR = timedelta(hours=1)


def _repository_key(repository: str) -> str:
    return repository.replace("/", "~")


def _waiting_key(repository: str) -> str:
    return f"{_repository_key(repository)}|waiting-notice"


@dataclass(frozen=True)
class IssueState:
    """What Faultline knows about one fingerprint's issue in one repository."""

    fingerprint: str
    repository: str
    number: int | None = None
    url: str | None = None
    intent_at: datetime | None = None
    synced_count: int = 0
    last_comment_at: datetime | None = None
    commented_count: int = 0
    assigned: bool = False
    etag: str | None = None

    def with_changes(self, **changes: Any) -> IssueState:
        return replace(self, **changes)


class IssueStateStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, fingerprint: str, repository: str) -> IssueState | None:
        try:
            entity = self._table.get_entity(fingerprint, _repository_key(repository))
        except ResourceNotFoundError:
            return None
        return IssueState(
            fingerprint=fingerprint,
            repository=repository,
            number=entity.get("Number"),
            url=entity.get("Url"),
            intent_at=entity.get("IntentAt"),
            synced_count=entity.get("SyncedCount", 0),
            last_comment_at=entity.get("LastCommentAt"),
            commented_count=entity.get("CommentedCount", 0),
            assigned=bool(entity.get("Assigned")),
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
            "LastCommentAt": state.last_comment_at,
            "CommentedCount": state.commented_count,
            "Assigned": state.assigned,
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

    def claim_waiting_notice(self, fingerprint: str, repository: str) -> bool:
        """True for the first caller while no notice of this failure waits (insert-if-absent)."""
        try:
            self._table.create_entity(
                {"PartitionKey": fingerprint, "RowKey": _waiting_key(repository)}
            )
        except ResourceExistsError:
            return False
        return True

    def release_waiting_notice(self, fingerprint: str, repository: str) -> None:
        self._table.delete_entity(fingerprint, _waiting_key(repository))

    def delete_all(self) -> None:
        """Forget every fingerprint -> issue mapping (tests of lost state, operators' resets)."""
        for entity in self._table.list_entities(select=["PartitionKey", "RowKey"]):
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])


class IssueRateLimiter:
    """Hourly budgets kept in Table Storage: new issues (overall and per repository), comments.

    A slot is keyed, so a retried activity that asks again for the same key gets the slot it
    already holds rather than a second one.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def reserve_issue(
        self, fingerprint: str, repository: str, now: datetime, overall: int, per_repository: int
    ) -> tuple[bool, datetime | None]:
        """Granted, or the time a slot frees up (one slot per fingerprint per hour)."""
        budgets = [("all", overall), (f"repo:{_repository_key(repository)}", per_repository)]
        return self._reserve(fingerprint, now, budgets)

    def reserve_comment(self, fingerprint: str, now: datetime, per_hour: int) -> bool:
        granted, _ = self._reserve(
            f"{fingerprint}@{now:%Y%m%dT%H%M%S}", now, [("comments", per_hour)]
        )
        return granted

    def _reserve(
        self, key: str, now: datetime, budgets: list[tuple[str, int]]
    ) -> tuple[bool, datetime | None]:
        since = now - HOUR
        windows = [(p, limit, self._reserved_since(p, since)) for p, limit in budgets]
        if all(key in reserved for _, _, reserved in windows):
            return True, None
        for _, limit, reserved in windows:
            others = {k: at for k, at in reserved.items() if k != key}
            if len(others) >= limit:
                oldest = sorted(others.values())[len(others) - limit]
                return False, oldest + HOUR
        for partition, _, _ in windows:
            self._table.upsert_entity({"PartitionKey": partition, "RowKey": key, "ReservedAt": now})
        return True, None

    def _reserved_since(self, partition: str, since: datetime) -> dict[str, datetime]:
        entities = self._table.query_entities(
            "PartitionKey eq @p and ReservedAt ge @since",
            parameters={"p": partition, "since": since},
            select=["RowKey", "ReservedAt"],
        )
        return {e["RowKey"]: e["ReservedAt"] for e in entities}


@dataclass(frozen=True)
class AuditEntry:
    fingerprint: str
    action: str
    repository: str
    issue: int | None
    reason: str
    at: datetime


class AuditLog:
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
    ) -> None:
        entity = {
            "PartitionKey": fingerprint,
            "RowKey": f"{at:%Y-%m-%dT%H:%M:%S.%fZ}|{time.time_ns():020d}|{uuid.uuid4().hex[:8]}",
            "Action": action,
            "Repository": repository,
            "Issue": issue,
            "Reason": reason[:4000],
            "At": at,
        }
        self._table.create_entity({k: v for k, v in entity.items() if v is not None})

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
