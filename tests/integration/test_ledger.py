"""The occurrence ledger on Azurite: each record counted once, under repeats and concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.tables import TableOccurrenceLedger, ensure_table
from detection.detect import Detection
from detection.fingerprint import fingerprint
from detection.records import LogRecord
from detection.rules import Threshold

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def ledger(azurite, storage_env) -> TableOccurrenceLedger:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableOccurrenceLedger(
        ensure_table(service, storage_env["FAULTLINE_TABLE_PREFIX"] + "Ledger")
    )


def _detections(
    ids: range, minutes_apart: float = 1.0, message: str = "payment timed out"
) -> list[Detection]:
    detections = []
    for i in ids:
        record = LogRecord(
            table="AppTraces",
            record_id=f"rec-{i}",
            message=message,
            ingested_at=None,
            time_generated=T0 + timedelta(minutes=i * minutes_apart),
            fields={},
        )
        detections.append(
            Detection("payment-timeout", fingerprint("payment-timeout", record), record)
        )
    return detections


def test_recording_the_same_records_again_adds_nothing(ledger) -> None:
    first = ledger.record(_detections(range(0, 2500)), Threshold(count=1))
    again = ledger.record(_detections(range(0, 2500)), Threshold(count=1))
    overlap = ledger.record(_detections(range(2400, 2600)), Threshold(count=1))
    assert (first.added, again.added, overlap.added) == (2500, 0, 100)
    assert overlap.count == 2600
    assert overlap.first_seen == T0 and overlap.last_seen == T0 + timedelta(minutes=2599)


def test_threshold_crossing_counts_late_records_inside_the_window(ledger) -> None:
    threshold = Threshold(count=3, within=timedelta(minutes=10))
    spread = _detections(range(0, 3), minutes_apart=30)
    state = ledger.record(spread, threshold)
    assert state.threshold_crossed_at is None and not state.handoff_pending
    late = _detections(
        range(7, 9), minutes_apart=5
    )  # at +35 and +40 min: with +30 that is 3 in 10 min
    state = ledger.record(late, threshold)
    assert state.threshold_crossed_at == T0 + timedelta(minutes=40)
    assert state.handoff_pending and state.count == 5


def test_hand_off_flag_clears_only_for_the_state_that_was_handed_off(ledger) -> None:
    state = ledger.record(_detections(range(0, 2)), Threshold(count=1))
    newer = ledger.record(_detections(range(2, 3)), Threshold(count=1))
    assert not ledger.mark_handed_off(state)
    assert ledger.mark_handed_off(newer)
    assert not ledger.summary(newer.fingerprint).handoff_pending


def test_concurrent_overlapping_writers_count_every_record_exactly_once(ledger) -> None:
    batches = [_detections(range(start, start + 120)) for start in range(0, 400, 40)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda b: ledger.record(b, Threshold(count=1)), batches))
    summary = ledger.summary(batches[0][0].fingerprint.value)
    assert summary is not None and summary.count == 480


def test_the_summary_keeps_an_hourly_tally_for_the_chart(ledger) -> None:
    ledger.record(_detections(range(0, 90)), Threshold(count=1))  # 60 at 00:xx, 30 at 01:xx
    ledger.record(_detections(range(150, 160)), Threshold(count=1))  # 10 at 02:xx
    entry = ledger.record(_detections(range(80, 100)), Threshold(count=1))  # 10 new at 01:xx
    assert entry.hourly == {
        T0: 60,
        T0 + timedelta(hours=1): 40,
        T0 + timedelta(hours=2): 10,
    }
    assert ledger.summary(entry.fingerprint).hourly == entry.hourly


def test_pruning_forgets_old_occurrences_but_keeps_the_counts(ledger) -> None:
    first = ledger.record(_detections(range(0, 150)), Threshold(count=1))  # 00:00 to 02:29
    other = ledger.record(
        _detections(range(0, 3), message="disk full on /dev/sda1"), Threshold(count=1)
    )
    assert ledger.prune(T0 + timedelta(hours=2)) == 123  # 120 + 3 before 02:00
    assert ledger.prune(T0 + timedelta(hours=2)) == 0
    summary = ledger.summary(first.fingerprint)
    assert summary.count == 150 and summary.hourly == first.hourly
    again = ledger.record(_detections(range(120, 150)), Threshold(count=1))
    assert (again.added, again.count) == (0, 150), "what is retained still counts once"
    assert ledger.summary(other.fingerprint).count == 3
