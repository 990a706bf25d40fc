"""The occurrence ledger on Azurite: each record counted once in its group, under repeats and
concurrency; thresholds per definition; folds of one group into another exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.ledger import TableOccurrenceLedger
from adapters.tables import ensure_table
from detection.occurrence import Occurrence
from detection.rules import Threshold
from pipeline.ports import Counted

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, tzinfo=UTC)
GROUP = "a" * 32
OTHER = "b" * 32
ONE = {"payment-timeout": Threshold(count=1), "failed-request": Threshold(count=1)}


@pytest.fixture
def ledger(azurite, storage_env) -> TableOccurrenceLedger:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableOccurrenceLedger(
        ensure_table(service, storage_env["FAULTLINE_TABLE_PREFIX"] + "Ledger")
    )


def _occurrence(i: int, minutes_apart: float = 1.0, **changes: object) -> Occurrence:
    values: dict[str, object] = dict(
        definition="payment-timeout",
        fingerprint="f" * 32,
        version=3,
        table="AppTraces",
        record_id=f"rec-{i}",
        time=T0 + timedelta(minutes=i * minutes_apart),
        kind="log",
        rank=2,
        message="payment timed out",
        role="payments",
        app_version="1.0",
        instance=f"pod-{i % 3}",
        user=f"user-{i % 5}",
    )
    values.update(changes)
    return Occurrence(**values)  # type: ignore[arg-type]


def _counted(ids: range, minutes_apart: float = 1.0, **changes: object) -> list[Counted]:
    return [Counted(_occurrence(i, minutes_apart, **changes), True) for i in ids]


def test_recording_the_same_records_again_adds_nothing(ledger) -> None:
    first = ledger.record(GROUP, _counted(range(0, 2500)), ONE)
    again = ledger.record(GROUP, _counted(range(0, 2500)), ONE)
    overlap = ledger.record(GROUP, _counted(range(2400, 2600)), ONE)
    assert (first.added, again.added, overlap.added) == (2500, 0, 100)
    assert overlap.count == overlap.incidents == 2600
    assert overlap.first_seen == T0 and overlap.last_seen == T0 + timedelta(minutes=2599)


def test_threshold_crossing_counts_late_records_inside_the_window(ledger) -> None:
    thresholds = {"payment-timeout": Threshold(count=3, within=timedelta(minutes=10))}
    state = ledger.record(GROUP, _counted(range(0, 3), minutes_apart=30), thresholds)
    assert state.threshold_crossed_at is None and not state.handoff_pending
    late = _counted(range(7, 9), minutes_apart=5)  # +35 and +40 min: with +30, 3 in 10 min
    state = ledger.record(GROUP, late, thresholds)
    assert state.threshold_crossed_at == T0 + timedelta(minutes=40)
    assert state.handoff_pending and state.count == 5


def test_a_group_crosses_when_any_one_definition_crosses_its_own_threshold(ledger) -> None:
    thresholds = {
        "payment-timeout": Threshold(count=3, within=timedelta(minutes=10)),
        "failed-request": Threshold(count=2, within=timedelta(minutes=10)),
    }
    mixed = [
        Counted(_occurrence(0), True),
        Counted(_occurrence(1, definition="failed-request", table="AppRequests"), False),
        Counted(_occurrence(2), True),
    ]
    state = ledger.record(GROUP, mixed, thresholds)
    assert state.threshold_crossed_at is None, "2 + 1 rows of different definitions"
    state = ledger.record(
        GROUP,
        [Counted(_occurrence(5, definition="failed-request", table="AppRequests"), False)],
        thresholds,
    )
    assert state.threshold_crossed_at == T0 + timedelta(minutes=5)
    assert (state.count, state.incidents) == (4, 2)
    assert state.definitions == {"payment-timeout": 2, "failed-request": 2}


def test_hand_off_flag_clears_only_for_the_state_that_was_handed_off(ledger) -> None:
    state = ledger.record(GROUP, _counted(range(0, 2)), ONE)
    newer = ledger.record(GROUP, _counted(range(2, 3)), ONE)
    assert not ledger.mark_handed_off(state)
    assert ledger.mark_handed_off(newer)
    assert not ledger.summary(GROUP).handoff_pending


def test_concurrent_overlapping_writers_count_every_record_exactly_once(ledger) -> None:
    batches = [_counted(range(start, start + 120)) for start in range(0, 400, 40)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda b: ledger.record(GROUP, b, ONE), batches))
    assert ledger.summary(GROUP).count == 480


def test_the_summary_keeps_the_chart_samples_and_spread(ledger) -> None:
    ledger.record(GROUP, _counted(range(0, 90)), ONE)  # 60 at 00:xx, 30 at 01:xx
    ledger.record(GROUP, _counted(range(150, 160)), ONE)  # 10 at 02:xx
    entry = ledger.record(GROUP, _counted(range(80, 100)), ONE)  # 10 new at 01:xx
    assert entry.hourly == {T0: 60, T0 + timedelta(hours=1): 40, T0 + timedelta(hours=2): 10}
    assert ledger.summary(GROUP).hourly == entry.hourly
    assert entry.founder is not None and entry.founder.record_id == "rec-0"
    assert len(entry.samples) == 10 and entry.samples[-1].endswith("payment timed out")
    assert entry.facets["instances"] == {"pod-0": 38, "pod-1": 36, "pod-2": 36}
    assert len(entry.facets["users"]) == 5 and "user-1" not in entry.facets["users"]
    assert entry.first_version == entry.last_version == "1.0"


def test_the_summary_keeps_the_rows_of_one_sample_operation(ledger) -> None:
    rows = [
        Counted(_occurrence(0, keys=("op:" + "1" * 32,), rank=4, kind="exception"), True),
        Counted(_occurrence(1, keys=("op:" + "1" * 32,), kind="request"), False),
        Counted(_occurrence(2, keys=("op:" + "2" * 32,), rank=4), True),
    ]
    entry = ledger.record(GROUP, rows, ONE)
    assert [o.record_id for o in entry.evidence] == ["rec-0", "rec-1"]
    later = Counted(_occurrence(3, keys=("op:" + "1" * 32,)), False)
    entry = ledger.record(GROUP, [later], ONE)
    assert [o.record_id for o in entry.evidence] == ["rec-0", "rec-1", "rec-3"]


def test_a_fold_adds_the_absorbed_totals_once_and_keeps_their_records_known(ledger) -> None:
    ledger.record(GROUP, _counted(range(0, 5)), ONE)
    ledger.record(OTHER, _counted(range(100, 103), message="other"), ONE)
    entry = ledger.record(GROUP, _counted(range(5, 6)), ONE, absorbed=[OTHER])
    assert (entry.count, entry.incidents) == (9, 9)
    assert not ledger.fold(GROUP, OTHER), "folded once"
    assert ledger.summary(OTHER).folded_into == GROUP
    again = ledger.record(GROUP, _counted(range(100, 103), message="other"), ONE)
    assert (again.added, again.count) == (0, 9), "the absorbed group's records still count once"
    # rows a stale worker wrote into the absorbed group after the fold are folded as a delta
    ledger.record(OTHER, _counted(range(103, 105), message="other"), ONE)
    assert ledger.fold(GROUP, OTHER)
    assert ledger.summary(GROUP).count == 11


def test_pruning_forgets_old_occurrences_but_keeps_the_counts(ledger) -> None:
    first = ledger.record(GROUP, _counted(range(0, 150)), ONE)  # 00:00 to 02:29
    ledger.record(OTHER, _counted(range(0, 3), message="disk full"), ONE)
    assert ledger.prune(T0 + timedelta(hours=2)) == 123  # 120 + 3 before 02:00
    assert ledger.prune(T0 + timedelta(hours=2)) == 0
    summary = ledger.summary(GROUP)
    assert summary.count == 150 and summary.hourly == first.hourly
    again = ledger.record(GROUP, _counted(range(120, 150)), ONE)
    assert (again.added, again.count) == (0, 150), "what is retained still counts once"
    assert ledger.summary(OTHER).count == 3


@pytest.mark.parametrize("evidence_first", [True, False], ids=["evidence first", "root first"])
def test_the_founder_is_the_earliest_root_whichever_chunk_is_recorded_first(
    ledger, evidence_first
) -> None:
    """Evidence can be counted before its operation's root (another job settled the operation
    and has not counted it yet); the founder, which names the issue and sets its severity, is
    the same either way."""
    evidence = [Counted(_occurrence(0, definition="failed-request", kind="request"), False)]
    later_root = [Counted(_occurrence(3), True)]
    root = [Counted(_occurrence(1), True)]
    chunks = [evidence, later_root, root] if evidence_first else [root, later_root, evidence]
    for chunk in chunks:
        entry = ledger.record(GROUP, chunk, ONE)
    assert entry.founder is not None
    assert (entry.founder.record_id, entry.definition) == ("rec-1", "payment-timeout")
    assert ledger.summary(GROUP).founder == entry.founder


def test_the_first_and_last_versions_follow_the_occurrences_time_not_their_arrival(
    ledger,
) -> None:
    ledger.record(GROUP, _counted(range(0, 5), app_version="2.13.0"), ONE)
    ledger.record(GROUP, _counted(range(10, 12), app_version="2.14.0"), ONE)
    late = ledger.record(GROUP, _counted(range(5, 8), app_version="2.13.1"), ONE)  # ingested late
    assert (late.first_version, late.last_version) == ("2.13.0", "2.14.0")
    unversioned = ledger.record(GROUP, _counted(range(20, 22), app_version=None), ONE)
    assert unversioned.last_version == "2.14.0", "a record without a version keeps the last"
    assert unversioned.facets["versions"] == {"2.13.0": 5, "2.14.0": 2, "2.13.1": 3}
