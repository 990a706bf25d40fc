"""Counting detections: group them, join each failing operation into one incident, count once.

Shared by the query job (rows just detected) and the settle sweep (operations whose cause can no
longer arrive: their source's tables are read past their rows' ingestion time plus the wait,
`detection.settling`). In order:

1. each fingerprint gets its group from the grouping log (`adapters.grouping_log`), which may
   decide a merge; during an upgrade's transition the previous version's fingerprints are folded
   into the new groups too;
2. rows that name an operation go through the operations store (`adapters.operations`): a cause
   settles its operation at once, symptoms wait for one; rows without an operation are their own
   incident;
3. every placed row is counted in its root's group by the ledger, which folds any group absorbed
   since, and a group that crossed its threshold, with a root counted, is handed to the issue
   workflow.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from detection.detect import Detection
from detection.fingerprint import FINGERPRINT_VERSION
from detection.occurrence import Occurrence
from detection.settling import Recheck, Settle, settle_decision
from pipeline.messages import FailureNotice
from pipeline.metrics import NOTICES, OCCURRENCES, log_fields
from pipeline.ports import Counted, Held, LedgerEntry, Placement
from pipeline.services import Services

log = logging.getLogger(__name__)

SETTLE_BATCH = 500
"""Operations settled before their rows are counted together (bounded, so a crash or a timeout
loses at most one batch's work, which the next sweep repeats)."""


@dataclass
class CountReport:
    """What counting did, for logs and tests."""

    new_occurrences: int = 0
    held: int = 0
    notices: int = 0
    rechecked: int = 0
    """Operations due on the worker's clock whose tables are not read far enough yet."""
    capped: int = 0
    """Operations settled only because their hold reached `correlation.max_hold`."""
    groups: set[str] = field(default_factory=set)


def in_transition(services: Services) -> bool:
    """Whether the previous fingerprint version is computed too (`dedup.upgrade_transition`):
    for a while after an upgrade from a deployment that grouped with it."""
    now = services.clock.now()
    since, previous = services.grouping.transition(
        now, lambda: services.ledger.has_version(FINGERPRINT_VERSION - 1)
    )
    return previous and now < since + services.rules.dedup.upgrade_transition


def count_detections(
    services: Services, source: str, detections: Sequence[Detection], run: str | None = None
) -> CountReport:
    """Group, correlate and count the detections of one job; `run` names the replay it belongs
    to, which a notice it sends carries (rows the settle sweep counts later carry none)."""
    report = CountReport()
    if not detections:
        return report
    groups = services.grouping.assign([d.fingerprint for d in detections])
    rules = services.rules
    redact_ips, route_fields = rules.redaction.ip_addresses, rules.route_fields()
    occurrences = [
        replace(
            Occurrence.of(
                d, groups[d.fingerprint.value], redact_ips=redact_ips, route_fields=route_fields
            ),
            source=source,
        )
        for d in detections
    ]
    _fold_previous_versions(services, occurrences)
    correlation = services.rules.correlation
    placements: list[Placement] = []
    by_operation: dict[str, list[Occurrence]] = defaultdict(list)
    for occurrence in occurrences:
        if correlation.enabled and occurrence.keys:
            by_operation[occurrence.keys[0]].append(occurrence)
        else:
            placements.append(Placement(occurrence, occurrence.group, True))
    settled: list[str] = []
    now = services.clock.now()
    for operation in by_operation.values():
        placed, settled_key = services.operations.place(operation, now, correlation.wait)
        placements.extend(placed)
        if settled_key is not None:
            settled.append(settled_key)
    placed_now = {(p.occurrence.table, p.occurrence.record_id) for p in placements}
    report.held = sum(1 for o in occurrences if (o.table, o.record_id) not in placed_now)
    _record(services, placements, report, run)
    for key in settled:
        services.operations.placed(key)
    return report


def settle_due(services: Services) -> CountReport:
    """The sweep: settle every due operation whose cause can no longer arrive (its source's
    tables are read past its rows' ingestion time plus the wait, or the hold reached
    `correlation.max_hold`), count its rows, and re-index the others for a later look."""
    report = CountReport()
    now = services.clock.now()
    wait = services.rules.correlation.wait
    rule = _SettleRule(services, now)
    due = services.operations.due(now)
    for start in range(0, len(due), SETTLE_BATCH):
        placements: list[Placement] = []
        settled: list[str] = []
        for key in due[start : start + SETTLE_BATCH]:
            placed, settled_key, decision = services.operations.settle(key, now, wait, rule)
            placements.extend(_recovered(services, placed))
            if isinstance(decision, Recheck):
                report.rechecked += 1
            elif isinstance(decision, Settle) and decision.capped:
                report.capped += 1
                log.warning(
                    "operation %s settled after holding its rows %s, the most "
                    "correlation.max_hold allows, before %s had been read past their "
                    "cause's bound: a cause ingested since may open an issue of its own",
                    key,
                    services.rules.correlation.max_hold,
                    ", ".join(decision.waiting_on),
                )
            if settled_key is not None:
                settled.append(settled_key)
        _record(services, placements, report)  # one ledger transaction per group, not per operation
        for key in settled:
            services.operations.placed(key)
    return report


class _SettleRule:
    """`detection.settling.settle_decision` over the read marks of the tables that could hold a
    held operation's cause: every table a failure definition watches in each source its rows
    came from. A source the rules do not poll (an alert webhook) has no tables here, so its
    operations settle when first due, on the worker's clock. Read marks are read once per
    sweep."""

    def __init__(self, services: Services, now: datetime) -> None:
        self._services, self._now = services, now
        self._marks: dict[tuple[str, str], datetime | None] = {}

    def __call__(self, held: Held) -> Settle | Recheck:
        rules = self._services.rules
        polled = [s for s in rules.enabled_sources if s.name in held.sources]
        read_through = {
            f"{source.name}/{table.name}": self._mark(source.name, table.name)
            for source in polled
            for table in source.watched
            if rules.definitions_for(table.name)
        }
        return settle_decision(
            latest_ingested=held.ingested,
            wait=rules.correlation.wait,
            read_through=read_through,
            held_since=held.since,
            now=self._now,
            max_hold=rules.correlation.max_hold,
            recheck=min((s.poll_interval for s in polled), default=rules.correlation.wait),
        )

    def _mark(self, source: str, table: str) -> datetime | None:
        if (source, table) not in self._marks:
            self._marks[(source, table)] = self._services.checkpoints.read_through(source, table)
        return self._marks[(source, table)]


def _recovered(services: Services, placements: list[Placement]) -> list[Placement]:
    """An operation settled with nothing but failed dependency calls did not fail itself (the
    call was retried or worked around): its rows count, but under a definition that asks for
    `only_when_operation_fails` they never cross a threshold alone."""
    if not placements or any(p.occurrence.kind != "dependency" for p in placements):
        return placements
    flagged = {d.name for d in services.rules.failures if d.only_when_operation_fails}
    return [
        replace(p, occurrence=replace(p.occurrence, recovered=True))
        if p.occurrence.definition in flagged
        else p
        for p in placements
    ]


def _fold_previous_versions(services: Services, occurrences: Sequence[Occurrence]) -> None:
    """During an upgrade, fold each previous-version fingerprint into its new group once, so the
    issue it had is found and its counts carry over (Sentry's secondary hashes)."""
    pairs = {
        (o.previous, o.group, "the same failure under the previous fingerprint version")
        for o in occurrences
        if o.previous
    }
    if pairs:
        services.grouping.alias(sorted(pairs), first_claim=True)


def _record(
    services: Services,
    placements: Sequence[Placement],
    report: CountReport,
    run: str | None = None,
) -> None:
    by_group: dict[str, list[Counted]] = defaultdict(list)
    for placement in placements:
        group = services.grouping.resolve(placement.group)
        by_group[group].append(Counted(placement.occurrence, placement.root))
    thresholds = services.rules.thresholds()
    for group, counted in by_group.items():
        absorbed = services.grouping.absorbed_by(group)
        entry = services.ledger.record(group, counted, thresholds, absorbed=absorbed)
        report.new_occurrences += entry.added
        report.groups.add(group)
        if entry.added:
            services.metrics.count(OCCURRENCES, entry.added, definition=entry.definition)
        if entry.handoff_pending and entry.incidents:
            _hand_off(services, entry, run)
            report.notices += 1


def _hand_off(services: Services, entry: LedgerEntry, run: str | None) -> None:
    """Tell the issue workflow; the ledger's pending flag makes a crash here resend, not lose.

    Only a group with a root counted is handed off (`_record`): evidence can be counted before
    its operation's root (a job routes it into an operation another job has settled but not
    counted yet), and a notice sent then would name the evidence's definition, whose severity,
    route and labels the issue would keep. The root's own recording, moments later, sends it."""
    if entry.threshold_crossed_at is None:
        raise ValueError(f"group {entry.fingerprint} is handed off before it crossed")
    notice = FailureNotice.of(entry, run)
    services.failure_queue.send(notice.model_dump_json())
    services.ledger.mark_handed_off(entry)
    services.metrics.count(NOTICES, definition=entry.definition)
    log.info(
        "%s (%s) handed to the issue workflow: %d occurrence(s)",
        entry.fingerprint,
        entry.definition,
        entry.count,
        extra=log_fields(entry.fingerprint, founder=entry.founder),
    )
