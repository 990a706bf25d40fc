"""The occurrence ledger in Table Storage: every failing row counted exactly once, in its group.

A group's summary and its occurrences share one partition, and new occurrences are inserted in
the same entity-group transaction that updates the summary under its ETag. A record already
present makes the insert fail (409), a concurrent writer makes the ETag check fail (412); either
way the batch is re-read and retried, so overlapping windows, replays, redelivered messages and
concurrent workers never double count.

A group holds the rows of several definitions (a correlated incident's root and its evidence, one
exception seen in several tables), so the threshold is kept per definition: the group crosses
when the rows of any one definition cross that definition's N-in-M. `Incidents` counts roots
(failing operations); `Count` counts rows. The summary also keeps what the issue shows without
another query: the founding occurrence (title, error, stack), recent samples, the rows of one
sample operation, the hourly tally, and the spread of versions, instances and users.

When groups fold (`fold`), the absorbed group's occurrence keys are copied into the survivor (so a
replay of an old window still finds them) and its totals are added once, guarded by a fold row
written in the same transaction as the survivor's summary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from detection.detect import first_crossing
from detection.occurrence import Occurrence
from detection.rules import Threshold
from detection.tally import tally_hours
from pipeline.ports import Counted, LedgerEntry

log = logging.getLogger(__name__)

SUMMARY_ROW = "summary"
OCCURRENCE_PREFIX = "o|"
FOLD_PREFIX = "fold|"
TRANSACTION_LIMIT = 100
MAX_TEXT = 16_000
MAX_CONFLICT_RETRIES = 20
MAX_SAMPLES = 10
MAX_EVIDENCE = 20
MAX_FACET_VALUES = 100
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


def occurrence_key(occurrence: Occurrence) -> str:
    return (
        f"{OCCURRENCE_PREFIX}{_key_time(occurrence.time)}|{_safe_record_key(occurrence.record_id)}"
    )


@dataclass(frozen=True)
class _Summary:
    """A summary row's properties and the ETag a conditional write must match."""

    fields: Mapping[str, Any]
    etag: str

    @classmethod
    def of(cls, entity: TableEntity) -> _Summary:
        etag = entity.metadata["etag"]
        if etag is None:
            raise ValueError("Table Storage returned an entity without its ETag")
        return cls(entity, etag)


def _json(fields: Mapping[str, Any], name: str, default: Any) -> Any:
    text = fields.get(name)
    return json.loads(text) if text else default


def _bounded_json(value: list[Any] | dict[str, Any], limit: int = 30_000) -> str:
    """JSON for a summary property, under Table Storage's 64 KiB per property: a list drops its
    oldest items until it fits (a mapping is bounded by its writer)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    while len(text) > limit and isinstance(value, list) and value:
        value = value[1:]
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text


def sample_line(occurrence: Occurrence) -> str:
    """One line a person reads: when, where, what."""
    where = " ".join(p for p in (occurrence.role, occurrence.operation_name) if p)
    return f"{occurrence.time:%Y-%m-%dT%H:%M:%S.%fZ} {where} {occurrence.message}"[:4000]


def _user_key(user: str) -> str:
    """Users are counted, never stored: a short one-way hash tells them apart."""
    return hashlib.blake2b(user.encode(), digest_size=6).hexdigest()


def _add_facets(facets: dict[str, dict[str, int]], occurrences: Iterable[Occurrence]) -> None:
    for occurrence in occurrences:
        for name, value in (
            ("versions", occurrence.app_version),
            ("instances", occurrence.instance),
            ("users", _user_key(occurrence.user) if occurrence.user else None),
            ("roles", occurrence.role),
        ):
            if not value:
                continue
            counts = facets.setdefault(name, {})
            if value in counts or len(counts) < MAX_FACET_VALUES:
                counts[value] = counts.get(value, 0) + 1
            else:
                counts["(more)"] = counts.get("(more)", 0) + 1


class TableOccurrenceLedger:
    """Exactly-once occurrence counting and threshold state per group."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def record(
        self,
        group: str,
        counted: Sequence[Counted],
        thresholds: Mapping[str, Threshold],
        absorbed: Sequence[str] = (),
    ) -> LedgerEntry:
        """Add the occurrences (all of one group) that are not yet counted, after folding in
        any `absorbed` group not folded yet (the grouping log says which ids the group holds).

        Once the threshold has been crossed new occurrences are inserted without first reading
        which are known: an insert of a known one fails the whole transaction, and only then are
        the known ones read (a redelivered job or an overlapping replay costs a round trip; the
        steady stream of new occurrences does not)."""
        pending = {occurrence_key(c.occurrence): c for c in counted}
        margin = max((t.within for t in thresholds.values()), default=timedelta(0))
        added = conflicts = 0
        summary = self._summary(group)
        known_folds = set(_json(summary.fields, "Folded", [])) if summary else set()
        new_folds = sorted(set(absorbed) - known_folds)
        if [a for a in new_folds if self.fold(group, a)]:
            summary = self._summary(group)
        while True:
            crossed = summary.fields.get("ThresholdCrossedAt") if summary else None
            known: dict[str, str] = {}
            if not crossed or conflicts:
                times = sorted(c.occurrence.time for c in pending.values())
                window = timedelta(0) if crossed else margin
                known = self._occurrence_definitions(group, times[0] - window, times[-1] + window)
                pending = {k: c for k, c in pending.items() if k not in known}
            if not pending:
                if summary is None:
                    raise ValueError(f"group {group} has occurrences without a summary")
                return self._entry(group, summary, added=added)
            chunk = sorted(pending)[: TRANSACTION_LIMIT - 1]
            updated = _next_summary(group, summary, [pending[k] for k in chunk], known, thresholds)
            if new_folds:
                previous_folds = _json(summary.fields, "Folded", []) if summary else []
                updated["Folded"] = json.dumps(sorted({*previous_folds, *new_folds}))
            operations: list[Any] = [
                ("create", self._occurrence_entity(group, key, pending[key])) for key in chunk
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
                        f"group {group}: {conflicts} conflicting writers in a row"
                    ) from conflict
                log.info("ledger conflict on %s (%s); re-reading", group, conflict.message)
                summary = self._summary(group)
                continue
            summary = _Summary(
                {**(summary.fields if summary else {}), **updated}, results[-1]["etag"]
            )
            added += len(chunk)
            for key in chunk:
                del pending[key]
            if not pending:
                return self._entry(group, summary, added=added)

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

    def summary(self, group: str) -> LedgerEntry | None:
        entity = self._summary(group)
        return self._entry(group, entity, added=0) if entity is not None else None

    def has_version(self, version: int) -> bool:
        """Whether any group was counted under a fingerprint version (a one-off scan, stopped at
        the first match)."""
        found = self._table.query_entities(
            "RowKey eq @row and FingerprintVersion eq @version",
            parameters={"row": SUMMARY_ROW, "version": version},
            select=["PartitionKey"],
            results_per_page=1,
        )
        return next(iter(found), None) is not None

    def summaries(self) -> list[LedgerEntry]:
        """Every group's totals (a scan: for reports and the local run, not the hot path)."""
        entities = self._table.query_entities("RowKey eq @row", parameters={"row": SUMMARY_ROW})
        return [self._entry(e["PartitionKey"], _Summary.of(e), added=0) for e in entities]

    def occurrences(self, group: str) -> list[Mapping[str, Any]]:
        """The group's occurrence rows (exports and tests)."""
        return list(
            self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={"pk": group, "low": OCCURRENCE_PREFIX, "high": "o}"},
            )
        )

    def fold(self, survivor: str, absorbed: str) -> bool:
        """Bring the survivor up to date with an absorbed group: its occurrence keys copied (so
        a replay of an old window still finds them) and the totals not folded before added, once
        (a fold row in the survivor's partition remembers how much was folded, and is written in
        the same transaction as the survivor's summary). True when anything was added."""
        fold_key = f"{FOLD_PREFIX}{absorbed}"
        for _ in range(MAX_CONFLICT_RETRIES):
            source = self._summary(absorbed)
            if source is None:
                return False
            try:
                done: Any | None = self._table.get_entity(survivor, fold_key)
            except ResourceNotFoundError:
                done = None
            if done is not None and source.fields["Count"] <= done["Count"]:
                return False
            self._copy_occurrences(absorbed, survivor)
            target = self._summary(survivor)
            merged = _folded(survivor, target, source.fields, done)
            progress = {
                "PartitionKey": survivor,
                "RowKey": fold_key,
                "Count": source.fields["Count"],
                "Incidents": source.fields.get("Incidents", source.fields["Count"]),
                "Hourly": source.fields.get("Hourly") or "{}",
            }
            operations: list[Any] = [
                ("create", progress)
                if done is None
                else (
                    "update",
                    progress,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": done.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            ]
            if target is None:
                operations.append(("create", merged))
            else:
                operations.append(
                    (
                        "update",
                        merged,
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": target.etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
            try:
                self._table.submit_transaction(operations)
            except TableTransactionError:
                continue
            self._table.update_entity(
                {"PartitionKey": absorbed, "RowKey": SUMMARY_ROW, "FoldedInto": survivor},
                mode=UpdateMode.MERGE,
            )
            return True
        raise RuntimeError(f"fold of {absorbed} into {survivor}: too many conflicting writers")

    def _copy_occurrences(self, absorbed: str, survivor: str) -> None:
        rows = self.occurrences(absorbed)
        for start in range(0, len(rows), TRANSACTION_LIMIT):
            self._table.submit_transaction(
                [
                    ("upsert", {**row, "PartitionKey": survivor}, {"mode": UpdateMode.REPLACE})
                    for row in rows[start : start + TRANSACTION_LIMIT]
                ]
            )

    def prune(self, before: datetime) -> int:
        """Delete every occurrence row older than `before` (summaries and their counts stay);
        returns how many. Groups first seen since then are skipped without a query."""
        deleted = 0
        summaries = self._table.query_entities(
            "RowKey eq @row and FirstSeen lt @before",
            parameters={"row": SUMMARY_ROW, "before": before},
            select=["PartitionKey"],
        )
        for summary in summaries:
            group = summary["PartitionKey"]
            rows = self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                parameters={
                    "pk": group,
                    "low": OCCURRENCE_PREFIX,
                    "high": f"{OCCURRENCE_PREFIX}{_key_time(before)}",
                },
                select=["RowKey"],
            )
            old = [row["RowKey"] for row in rows]
            for start in range(0, len(old), TRANSACTION_LIMIT):
                chunk = old[start : start + TRANSACTION_LIMIT]
                self._table.submit_transaction(
                    [("delete", {"PartitionKey": group, "RowKey": key}) for key in chunk]
                )
                deleted += len(chunk)
        return deleted

    def _summary(self, group: str) -> _Summary | None:
        try:
            entity = self._table.get_entity(partition_key=group, row_key=SUMMARY_ROW)
        except ResourceNotFoundError:
            return None
        return _Summary.of(entity)

    def _occurrence_definitions(
        self, group: str, since: datetime, until: datetime
    ) -> dict[str, str]:
        """Occurrence key -> definition for the group's rows in a time range ("" for a row that
        cannot count toward a threshold: a recovered call)."""
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={
                "pk": group,
                "low": f"{OCCURRENCE_PREFIX}{_key_time(since)}",
                "high": f"{OCCURRENCE_PREFIX}{_key_time(until)}|~",
            },
            select=["RowKey", "Definition", "Recovered"],
        )
        return {
            e["RowKey"]: "" if e.get("Recovered") else e.get("Definition") or "" for e in entities
        }

    @staticmethod
    def _occurrence_entity(group: str, key: str, counted: Counted) -> dict[str, Any]:
        occurrence = counted.occurrence
        entity = {
            "PartitionKey": group,
            "RowKey": key,
            "RecordId": occurrence.record_id[:1000],
            "Table": occurrence.table,
            "TimeGenerated": occurrence.time,
            "Definition": occurrence.definition,
            "Fingerprint": occurrence.fingerprint,
            "Operation": occurrence.operation_id,
            "Role": occurrence.role,
            "Root": counted.root,
            "Recovered": occurrence.recovered or None,
        }
        return {k: v for k, v in entity.items() if v is not None}

    @staticmethod
    def _entry(group: str, summary: _Summary, added: int) -> LedgerEntry:
        fields = summary.fields
        founder = fields.get("Founder")
        return LedgerEntry(
            fingerprint=group,
            definition=fields["Definition"],
            count=fields["Count"],
            added=added,
            first_seen=fields["FirstSeen"],
            last_seen=fields["LastSeen"],
            threshold_crossed_at=fields.get("ThresholdCrossedAt"),
            handoff_pending=bool(fields.get("HandoffPending")),
            hourly=_load_tally(fields),
            etag=summary.etag,
            incidents=fields.get("Incidents", fields["Count"]),
            founder=Occurrence.from_json(founder) if founder else None,
            samples=tuple(_json(fields, "Samples", [])),
            evidence=tuple(Occurrence.from_json(e) for e in _json(fields, "Evidence", [])),
            definitions=_json(fields, "Definitions", {}),
            tables=_json(fields, "Tables", {}),
            facets=_json(fields, "Facets", {}),
            first_version=fields.get("FirstVersion"),
            last_version=fields.get("LastVersion"),
            folded_into=fields.get("FoldedInto"),
        )


def _next_summary(
    group: str,
    summary: _Summary | None,
    chunk: Sequence[Counted],
    known: Mapping[str, str],
    thresholds: Mapping[str, Threshold],
) -> dict[str, Any]:
    previous = summary.fields if summary else {}
    occurrences = [c.occurrence for c in chunk]
    times = [o.time for o in occurrences]
    first_seen = min([*times, *([previous["FirstSeen"]] if summary else [])])
    last_seen = max([*times, *([previous["LastSeen"]] if summary else [])])
    crossed = previous.get("ThresholdCrossedAt")
    if crossed is None:
        crossed = _crossing(occurrences, known, thresholds)
    definitions = _json(previous, "Definitions", {})
    tables = _json(previous, "Tables", {})
    for occurrence in occurrences:
        definitions[occurrence.definition] = definitions.get(occurrence.definition, 0) + 1
        tables[occurrence.table] = tables.get(occurrence.table, 0) + 1
    facets = _json(previous, "Facets", {})
    _add_facets(facets, occurrences)
    roots = sorted((c.occurrence for c in chunk if c.root), key=lambda o: o.time)
    samples = [*_json(previous, "Samples", []), *(sample_line(o) for o in roots)][-MAX_SAMPLES:]
    entity: dict[str, Any] = {
        "PartitionKey": group,
        "RowKey": SUMMARY_ROW,
        "Count": previous.get("Count", 0) + len(chunk),
        "Incidents": previous.get("Incidents", 0) + len(roots),
        "FirstSeen": first_seen,
        "LastSeen": last_seen,
        "Hourly": _dump_tally(tally_hours(_load_tally(previous), times, last_seen)),
        "HandoffPending": crossed is not None,
        "Definitions": json.dumps(definitions),
        "Tables": json.dumps(tables),
        "Facets": _bounded_json(facets),
        "Samples": _bounded_json(samples),
        "Evidence": _evidence(previous, occurrences),
    }
    versioned = sorted((o for o in occurrences if o.app_version), key=lambda o: o.time)
    if versioned:
        # the version of the latest occurrence: a late batch of older rows does not set it
        if not previous.get("LastVersion") or versioned[-1].time >= previous["LastSeen"]:
            entity["LastVersion"] = versioned[-1].app_version
        if not previous.get("FirstVersion"):
            entity["FirstVersion"] = versioned[0].app_version
    if crossed is not None:
        entity["ThresholdCrossedAt"] = crossed
    founder = _founder(previous, roots, occurrences)
    if founder is not None:
        entity |= {
            "Definition": founder.definition,
            "Table": founder.table,
            "FingerprintVersion": founder.version,
            "Founder": founder.to_json(),
            "FounderRoot": bool(roots),
        }
    if summary is None:
        entity["HandedOffCount"] = 0
    return entity


def _founder(
    previous: Mapping[str, Any], roots: Sequence[Occurrence], occurrences: Sequence[Occurrence]
) -> Occurrence | None:
    """The group's new founder, or None to keep the one it has: its earliest root row (by time,
    then record id), else, while no root is counted, its earliest row. Chunks are recorded in
    whatever order jobs run, and evidence can be counted before its operation's root (a job
    routes it into an operation another job has settled but not counted yet), so the founder,
    which names the issue and sets its severity, is the same whichever chunk came first.
    A summary written before `FounderRoot` existed took its founder from its first chunk's
    roots, so it counts as a root."""
    key = _founder_order
    if not previous.get("Founder"):  # a new group, or one made by folding in an older version's
        return min(roots or occurrences, key=key)
    if not roots:
        return None
    earliest = min(roots, key=key)
    if not previous.get("FounderRoot", True):
        return earliest
    kept = Occurrence.from_json(previous["Founder"])
    return earliest if key(earliest) < key(kept) else None


def _founder_order(occurrence: Occurrence) -> tuple[datetime, str]:
    return occurrence.time, occurrence.record_id


def _crossing(
    occurrences: Sequence[Occurrence], known: Mapping[str, str], thresholds: Mapping[str, Threshold]
) -> datetime | None:
    """When the group first crossed: the earliest moment any one definition's rows crossed that
    definition's threshold."""
    by_definition: dict[str, list[datetime]] = {}
    for occurrence in occurrences:
        if not occurrence.recovered:
            by_definition.setdefault(occurrence.definition, []).append(occurrence.time)
    for key, definition in known.items():
        by_definition.setdefault(definition, []).append(_parse_key_time(key.split("|")[1]))
    crossings = [
        moment
        for definition, times in by_definition.items()
        if definition in thresholds
        and (moment := first_crossing(sorted(times), thresholds[definition])) is not None
    ]
    return min(crossings, default=None)


def _evidence(previous: Mapping[str, Any], occurrences: Sequence[Occurrence]) -> str:
    """The rows of one sample operation, in time order: the latest operation with several rows
    (rows arriving later for that operation are added to it)."""
    kept = [Occurrence.from_json(e) for e in _json(previous, "Evidence", [])]
    current = kept[0].operation if kept else None
    by_operation: dict[str, list[Occurrence]] = {}
    for occurrence in occurrences:
        if occurrence.operation:
            by_operation.setdefault(occurrence.operation, []).append(occurrence)
    if current in by_operation:
        kept = [*kept, *by_operation[current]]
    else:
        richest = max(by_operation.values(), key=len, default=[])
        if len(richest) > 1 or (not kept and richest):
            kept = richest
    unique = {(o.table, o.record_id): o for o in kept}
    rows = sorted(unique.values(), key=lambda o: o.time)[:MAX_EVIDENCE]
    return _bounded_json([_evidence_row(o) for o in rows], limit=30_000)


def _evidence_row(occurrence: Occurrence) -> str:
    """An occurrence trimmed for a summary row, so one row's text cannot crowd out the others."""
    return replace(
        occurrence, message=occurrence.message[:500], stack_trace=None, components=""
    ).to_json()


def _folded(
    survivor: str,
    target: _Summary | None,
    source: Mapping[str, Any],
    done: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The survivor's summary with what the absorbed group gained since `done` (the last fold's
    record of it) added."""
    count = source["Count"] - (done["Count"] if done else 0)
    incidents = source.get("Incidents", source["Count"]) - (done["Incidents"] if done else 0)
    tally = _load_tally(target.fields) if target else {}
    already = _load_tally(done) if done else {}
    for hour, hourly in _load_tally(source).items():
        tally[hour] = tally.get(hour, 0) + hourly - already.get(hour, 0)
    crossed = source.get("ThresholdCrossedAt")
    if target is None:
        created = {
            **source,
            "PartitionKey": survivor,
            "RowKey": SUMMARY_ROW,
            "Folded": "[]",
            "HandoffPending": crossed is not None,
        }
        created.pop("FoldedInto", None)
        return created
    fields = target.fields
    entity: dict[str, Any] = {
        "PartitionKey": survivor,
        "RowKey": SUMMARY_ROW,
        "Count": fields["Count"] + count,
        "Incidents": fields.get("Incidents", fields["Count"]) + incidents,
        "FirstSeen": min(fields["FirstSeen"], source["FirstSeen"]),
        "LastSeen": max(fields["LastSeen"], source["LastSeen"]),
        "Hourly": _dump_tally(tally),
    }
    crossings = [c for c in (fields.get("ThresholdCrossedAt"), crossed) if c]
    if crossings:
        entity["ThresholdCrossedAt"] = min(crossings)
        entity["HandoffPending"] = True
    return entity


def _load_tally(fields: Mapping[str, Any]) -> dict[datetime, int]:
    stored = json.loads(fields.get("Hourly") or "{}")
    return {_parse_tally_hour(hour): count for hour, count in stored.items()}


def _dump_tally(tally: Mapping[datetime, int]) -> str:
    return json.dumps({f"{hour:%Y-%m-%dT%H}": count for hour, count in sorted(tally.items())})


def _parse_tally_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
