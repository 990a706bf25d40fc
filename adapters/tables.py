"""Azure Table Storage state: checkpoints, the occurrence ledger and the poisoned-job log.

The ledger counts each record exactly once, however often it is seen: a fingerprint's summary and
its occurrences share one partition, and new occurrences are inserted in the same entity-group
transaction that updates the summary under its ETag. A record already present makes the insert
fail (409), a concurrent writer makes the ETag check fail (412); either way the batch is re-read
and retried, so overlapping windows, replays and redelivered messages never double count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import (
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from detection.detect import Detection, first_crossing
from detection.fingerprint import fingerprint_summary
from detection.issue import tally_hours
from detection.rules import Threshold
from pipeline.ports import Checkpoint

log = logging.getLogger(__name__)

SUMMARY_ROW = "summary"
OCCURRENCE_PREFIX = "o|"
TRANSACTION_LIMIT = 100
MAX_TEXT = 16_000
MAX_CONFLICT_RETRIES = 20
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def _key_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_key_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _safe_record_key(record_id: str) -> str:
    """Row keys forbid / \\ # ? and control characters; hash any id that is not plainly safe."""
    if _SAFE_KEY.match(record_id):
        return record_id
    return hashlib.blake2b(record_id.encode(), digest_size=16).hexdigest()


def occurrence_key(detection: Detection) -> str:
    record = detection.record
    moment, identity = _key_time(record.time_generated), _safe_record_key(record.record_id)
    return f"{OCCURRENCE_PREFIX}{moment}|{identity}"


def ensure_table(service: TableServiceClient, name: str) -> TableClient:
    service.create_table_if_not_exists(name)
    return service.get_table_client(name)


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


@dataclass(frozen=True)
class LedgerEntry:
    """A fingerprint's running totals after recording a batch."""

    fingerprint: str
    definition: str
    count: int
    added: int
    first_seen: datetime
    last_seen: datetime
    threshold_crossed_at: datetime | None
    handoff_pending: bool
    hourly: Mapping[datetime, int]
    etag: str


@dataclass(frozen=True)
class _Summary:
    """A summary row's properties and the ETag a conditional write must match."""

    fields: Mapping[str, Any]
    etag: str

    @classmethod
    def of(cls, entity: TableEntity) -> _Summary:
        etag = entity.metadata["etag"]
        assert etag is not None, "Table Storage returns every entity with its ETag"
        return cls(entity, etag)


class TableOccurrenceLedger:
    """Exactly-once occurrence counting and threshold state per fingerprint."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def record(self, detections: Sequence[Detection], threshold: Threshold) -> LedgerEntry:
        """Add the detections (all of one fingerprint) that are not yet counted.

        Once the threshold has been crossed the new occurrences are inserted without first
        reading which are known: an insert of a known one fails the whole transaction, and only
        then are the known ones read (a redelivered job or an overlapping replay costs a round
        trip; the steady stream of new occurrences does not)."""
        pending = {occurrence_key(d): d for d in detections}
        fingerprint = detections[0].fingerprint.value
        added = conflicts = 0
        summary = self._summary(fingerprint)
        while True:
            crossed = summary.fields.get("ThresholdCrossedAt") if summary else None
            known: set[str] = set()
            if not crossed or conflicts:
                times = sorted(d.record.time_generated for d in pending.values())
                margin = timedelta(0) if crossed else threshold.within
                known = self._occurrence_keys(fingerprint, times[0] - margin, times[-1] + margin)
                pending = {k: d for k, d in pending.items() if k not in known}
            if not pending:
                assert summary is not None, "occurrences are only written with their summary"
                return self._entry(fingerprint, summary, added=added)
            chunk = sorted(pending)[: TRANSACTION_LIMIT - 1]
            updated = self._next_summary(summary, [pending[k] for k in chunk], known, threshold)
            operations: list[Any] = [
                ("create", self._occurrence_entity(fingerprint, key, pending[key])) for key in chunk
            ]
            if summary is None:
                operations.append(("create", updated))
            else:
                operations.append(
                    (
                        "update",
                        updated,
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": summary.etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
            try:
                results = self._table.submit_transaction(operations)
            except TableTransactionError as conflict:
                conflicts += 1
                if conflicts > MAX_CONFLICT_RETRIES:
                    raise RuntimeError(
                        f"fingerprint {fingerprint}: {conflicts} conflicting writers in a row"
                    ) from conflict
                log.info("ledger conflict on %s (%s); re-reading", fingerprint, conflict.message)
                summary = self._summary(fingerprint)
                continue
            summary = _Summary(
                {**(summary.fields if summary else {}), **updated}, results[-1]["etag"]
            )
            added += len(chunk)
            for key in chunk:
                del pending[key]
            if not pending:
                return self._entry(fingerprint, summary, added=added)

    def mark_handed_off(self, entry: LedgerEntry) -> bool:
        """Clear the pending hand-off unless someone recorded more since (they will hand off)."""
        try:
            self._table.update_entity(
                {
                    "PartitionKey": entry.fingerprint,
                    "RowKey": SUMMARY_ROW,
                    "HandoffPending": False,
                    "HandedOffCount": entry.count,
                },
                mode=UpdateMode.MERGE,
                etag=entry.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return False
        return True

    def summary(self, fingerprint: str) -> LedgerEntry | None:
        entity = self._summary(fingerprint)
        return self._entry(fingerprint, entity, added=0) if entity is not None else None

    def prune(self, before: datetime) -> int:
        """Delete every occurrence row older than `before` (summaries and their counts stay);
        returns how many. Fingerprints first seen since then are skipped without a query."""
        deleted = 0
        summaries = self._table.query_entities(
            "RowKey eq @row and FirstSeen lt @before",
            parameters={"row": SUMMARY_ROW, "before": before},
            select=["PartitionKey"],
        )
        for summary in summaries:
            fingerprint = summary["PartitionKey"]
            rows = self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={
                    "pk": fingerprint,
                    "low": OCCURRENCE_PREFIX,
                    "high": f"{OCCURRENCE_PREFIX}{_key_time(before)}",
                },
                select=["RowKey"],
            )
            old = [row["RowKey"] for row in rows]
            for start in range(0, len(old), TRANSACTION_LIMIT):
                chunk = old[start : start + TRANSACTION_LIMIT]
                self._table.submit_transaction(
                    [("delete", {"PartitionKey": fingerprint, "RowKey": key}) for key in chunk]
                )
                deleted += len(chunk)
        return deleted

    def summaries(self) -> list[LedgerEntry]:
        """Every fingerprint's totals (a scan: for reports and the local run, not the hot path)."""
        entities = self._table.query_entities("RowKey eq @row", parameters={"row": SUMMARY_ROW})
        return [self._entry(e["PartitionKey"], _Summary.of(e), added=0) for e in entities]

    def _summary(self, fingerprint: str) -> _Summary | None:
        try:
            entity = self._table.get_entity(partition_key=fingerprint, row_key=SUMMARY_ROW)
        except ResourceNotFoundError:
            return None
        return _Summary.of(entity)

    def _occurrence_keys(self, fingerprint: str, since: datetime, until: datetime) -> set[str]:
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={
                "pk": fingerprint,
                "low": f"{OCCURRENCE_PREFIX}{_key_time(since)}",
                "high": f"{OCCURRENCE_PREFIX}{_key_time(until)}|~",
            },
            select=["RowKey"],
        )
        return {e["RowKey"] for e in entities}

    @staticmethod
    def _occurrence_entity(fingerprint: str, key: str, detection: Detection) -> dict[str, Any]:
        record = detection.record
        return {
            "PartitionKey": fingerprint,
            "RowKey": key,
            "RecordId": record.record_id[:1000],
            "Table": record.table,
            "TimeGenerated": record.time_generated,
        }

    @staticmethod
    def _next_summary(
        summary: _Summary | None,
        chunk: Sequence[Detection],
        known: set[str],
        threshold: Threshold,
    ) -> dict[str, Any]:
        first = chunk[0]
        times = [d.record.time_generated for d in chunk]
        previous = summary.fields if summary else {}
        count = previous.get("Count", 0) + len(chunk)
        first_seen = min([*times, *([previous["FirstSeen"]] if summary else [])])
        last_seen = max([*times, *([previous["LastSeen"]] if summary else [])])
        crossed = previous.get("ThresholdCrossedAt")
        if crossed is None:
            window = sorted([*times, *(_parse_key_time(k.split("|")[1]) for k in known)])
            crossed = first_crossing(window, threshold)
        entity: dict[str, Any] = {
            "PartitionKey": first.fingerprint.value,
            "RowKey": SUMMARY_ROW,
            "Count": count,
            "FirstSeen": first_seen,
            "LastSeen": last_seen,
            "Hourly": _dump_tally(tally_hours(_load_tally(previous), times, last_seen)),
            "HandoffPending": crossed is not None,
        }
        if crossed is not None:
            entity["ThresholdCrossedAt"] = crossed
        if summary is None:
            record = first.record
            entity.update(
                {
                    "Definition": first.definition,
                    "Table": record.table,
                    "FingerprintVersion": first.fingerprint.version,
                    "Components": json.dumps(fingerprint_summary(first.fingerprint))[:MAX_TEXT],
                    "Message": record.message[:MAX_TEXT],
                    "ExceptionType": record.exception_type or "",
                    "StackTrace": (record.stack_trace or "")[:MAX_TEXT],
                    "Role": record.role or "",
                    "OperationName": record.operation_name or "",
                    "Context": json.dumps(dict(first.context))[:MAX_TEXT],
                    "HandedOffCount": 0,
                }
            )
        return entity

    @staticmethod
    def _entry(fingerprint: str, summary: _Summary, added: int) -> LedgerEntry:
        fields = summary.fields
        return LedgerEntry(
            fingerprint=fingerprint,
            definition=fields["Definition"],
            count=fields["Count"],
            added=added,
            first_seen=fields["FirstSeen"],
            last_seen=fields["LastSeen"],
            threshold_crossed_at=fields.get("ThresholdCrossedAt"),
            handoff_pending=bool(fields.get("HandoffPending")),
            hourly=_load_tally(fields),
            etag=summary.etag,
        )


def _load_tally(fields: Mapping[str, Any]) -> dict[datetime, int]:
    stored = json.loads(fields.get("Hourly") or "{}")
    return {_parse_tally_hour(hour): count for hour, count in stored.items()}


def _dump_tally(tally: Mapping[datetime, int]) -> str:
    return json.dumps({f"{hour:%Y-%m-%dT%H}": count for hour, count in sorted(tally.items())})


def _parse_tally_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)


class PoisonedJobLog:
    """Messages that could not be processed (query jobs, failure notices), kept for operators."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

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
                "PoisonedAt": datetime.now(UTC),
            }
        )

    def count(self, kind: str = "query-jobs") -> int:
        entities = self._table.query_entities(
            "PartitionKey eq @kind", parameters={"kind": kind}, select=["RowKey"]
        )
        return sum(1 for _ in entities)
