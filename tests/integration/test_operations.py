"""Failing operations on Azurite: symptoms wait for their cause, a cause settles at once, a
Functions invocation joins its operation, and every row is placed once with one root."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.operations import TableOperations
from adapters.tables import ensure_table
from detection.correlation import RANK_CAUSE, RANK_DEPENDENCY, RANK_LOG, RANK_SYMPTOM
from detection.occurrence import Occurrence
from detection.settling import Recheck, Settle
from pipeline.ports import Held, Placement

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
WAIT = timedelta(minutes=30)
OP = "op:" + "4bf92f3577b34da6a3ce929d0e0e4736"
INV = "inv:d052c176-f007-4c36-830f-fc8a826764ca"


def SETTLE(held: Held) -> Settle:  # noqa: N802 (a rule, named like the decision it always makes)
    return Settle()


@pytest.fixture
def operations(azurite, storage_env) -> TableOperations:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableOperations(ensure_table(service, storage_env["FAULTLINE_TABLE_PREFIX"] + "Ops"))


def _row(
    name: str,
    rank: int,
    seconds: float = 0,
    keys: tuple[str, ...] = (OP,),
    ingested: datetime | None = None,
) -> Occurrence:
    kind = {RANK_CAUSE: "exception", RANK_DEPENDENCY: "dependency", RANK_LOG: "log"}.get(
        rank, "request"
    )
    return Occurrence(
        definition="d",
        fingerprint=name.ljust(32, "0")[:32],
        group=f"group-of-{name}",
        version=3,
        table=f"Table{name}",
        record_id=name,
        time=T0 + timedelta(seconds=seconds),
        kind=kind,
        rank=rank,
        message=name,
        keys=keys,
        source="production",
        ingested=ingested,
    )


def _where(placements: list[Placement]) -> dict[str, tuple[str, bool]]:
    return {p.occurrence.record_id: (p.group, p.root) for p in placements}


def test_a_symptom_waits_and_joins_the_cause_that_arrives_later(operations) -> None:
    placed, settled = operations.place([_row("request", RANK_SYMPTOM)], T0, WAIT)
    assert (placed, settled) == ([], None)
    assert operations.due(T0 + WAIT - timedelta(minutes=1)) == []
    placed, settled = operations.place([_row("exception", RANK_CAUSE, 1)], T0, WAIT)
    assert _where(placed) == {
        "exception": ("group-of-exception", True),
        "request": ("group-of-exception", False),
    }
    operations.placed(settled)
    assert operations.due(T0 + WAIT + timedelta(minutes=1)) == [], "nothing left to settle"
    later, _ = operations.place([_row("trace", RANK_LOG, 2)], T0, WAIT)
    assert _where(later) == {"trace": ("group-of-exception", False)}


def test_symptoms_alone_are_settled_after_the_wait_by_the_most_specific(operations) -> None:
    operations.place([_row("request", RANK_SYMPTOM, 5), _row("log", RANK_LOG, 3)], T0, WAIT)
    operations.place([_row("dependency", RANK_DEPENDENCY, 4)], T0, WAIT)
    due = operations.due(T0 + WAIT + timedelta(minutes=1))
    assert due == [OP]
    placed, settled, _ = operations.settle(OP, T0 + WAIT, WAIT, SETTLE)
    assert _where(placed) == {
        "dependency": ("group-of-dependency", True),
        "log": ("group-of-dependency", False),
        "request": ("group-of-dependency", False),
    }
    again, _, _ = operations.settle(OP, T0 + WAIT, WAIT, SETTLE)
    assert _where(again) == _where(placed), "until marked placed, a settle repeats the same"
    operations.placed(settled)
    assert operations.due(T0 + WAIT + timedelta(minutes=1)) == []
    late, _ = operations.place([_row("exception", RANK_CAUSE, 1)], T0 + WAIT, WAIT)
    assert _where(late) == {"exception": ("group-of-exception", True)}, "a late cause stands alone"


def test_an_invocation_held_first_moves_into_its_operation(operations) -> None:
    host = _row("host", RANK_SYMPTOM, 0, keys=(INV,))
    user = _row("user", RANK_LOG, 1, keys=(INV,))
    assert operations.place([host, user], T0, WAIT) == ([], None)
    exception = _row("exception", RANK_CAUSE, 2, keys=(OP, INV))
    placed, settled = operations.place([exception], T0, WAIT)
    assert settled == OP
    assert _where(placed) == {
        "exception": ("group-of-exception", True),
        "host": ("group-of-exception", False),
        "user": ("group-of-exception", False),
    }
    operations.placed(settled)
    assert operations.due(T0 + WAIT + timedelta(minutes=1)) == []
    later, _ = operations.place([_row("late", RANK_LOG, 3, keys=(INV,))], T0, WAIT)
    assert _where(later) == {"late": ("group-of-exception", False)}


def test_an_invocation_settled_on_its_own_is_adopted_by_its_operation(operations) -> None:
    wrapped = _row("hostcause", RANK_CAUSE, 0, keys=(INV,))
    placed, settled = operations.place([wrapped], T0, WAIT)
    assert settled is None, "first seen with its cause, nothing is held: placed as written"
    assert _where(placed) == {"hostcause": ("group-of-hostcause", True)}
    same = _row("exception", RANK_CAUSE, 1, keys=(OP, INV))
    request = _row("request", RANK_SYMPTOM, 2, keys=(OP, INV))
    placed, _ = operations.place([same, request], T0, WAIT)
    assert _where(placed) == {
        "exception": ("group-of-hostcause", False),
        "request": ("group-of-hostcause", False),
    }, "one invocation stays one incident"


def test_a_crash_before_counting_an_operation_first_seen_with_its_cause_loses_nothing(
    operations,
) -> None:
    cause, symptom = _row("exception", RANK_CAUSE, 0), _row("request", RANK_SYMPTOM, 1)
    first, settled = operations.place([cause, symptom], T0, WAIT)
    assert settled is None
    # the job crashed before counting `first`; its retry places the same rows the same way
    retried, settled = operations.place([cause, symptom], T0, WAIT)
    assert (_where(retried), settled) == (_where(first), None)
    assert _where(first) == {
        "exception": ("group-of-exception", True),
        "request": ("group-of-exception", False),
    }
    assert operations.due(T0 + WAIT + timedelta(minutes=1)) == [], "nothing held"


def test_concurrent_writers_place_every_row_with_one_root(operations) -> None:
    rows = [_row(f"s{i:02d}", RANK_SYMPTOM, i) for i in range(24)] + [_row("cause", RANK_CAUSE, 30)]
    batches = [rows[i : i + 5] for i in range(0, len(rows), 5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda b: operations.place(b, T0, WAIT), batches))
    placed = [p for placements, _ in results for p in placements]
    settled = {key for _, key in results if key}
    for key in settled:
        operations.placed(key)
    for key in operations.due(T0 + WAIT + timedelta(minutes=1)):
        more, done, _ = operations.settle(key, T0 + WAIT, WAIT, SETTLE)
        placed += more
        if done:
            operations.placed(done)
    where = _where(placed)
    assert set(where) == {r.record_id for r in rows}, "every row placed"
    assert {group for group, _ in where.values()} == {"group-of-cause"}
    assert [name for name, (_, root) in where.items() if root] == ["cause"]


def test_operations_older_than_the_retention_are_forgotten(operations) -> None:
    operations.place([_row("exception", RANK_CAUSE, 0)], T0, WAIT)
    operations.place([_row("held", RANK_SYMPTOM, 0, keys=(INV,))], T0, WAIT)
    assert operations.prune(T0) == 0, "nothing older than the retention yet"
    assert operations.prune(T0 + timedelta(days=2)) == 2
    again, _ = operations.place([_row("late", RANK_LOG, 1)], T0 + timedelta(days=2), WAIT)
    assert again == [], "a forgotten operation starts afresh (held, waiting for a cause)"


def test_a_due_operation_whose_cause_may_still_arrive_is_looked_at_again_later(operations) -> None:
    operations.place(
        [_row("request", RANK_SYMPTOM, 0, ingested=T0 + timedelta(minutes=2))], T0, WAIT
    )
    operations.place([_row("log", RANK_LOG, 1, ingested=T0 + timedelta(minutes=9))], T0, WAIT)
    seen: list[Held] = []

    def not_yet(held: Held) -> Recheck:
        seen.append(held)
        return Recheck(T0 + WAIT + timedelta(minutes=10), ("production/AppExceptions",))

    placed, settled, decision = operations.settle(OP, T0 + WAIT, WAIT, not_yet)
    assert (placed, settled, decision) == ([], None, not_yet(seen[0]))
    assert seen[0] == Held(frozenset({"production"}), T0 + timedelta(minutes=9), T0)
    assert operations.due(T0 + WAIT + timedelta(minutes=9)) == [], "re-indexed, not due before"
    assert operations.due(T0 + WAIT + timedelta(minutes=10)) == [OP]
    placed, settled = operations.place([_row("exception", RANK_CAUSE, 2)], T0 + WAIT, WAIT)
    assert {p.occurrence.record_id for p in placed} == {"exception", "request", "log"}
    operations.placed(settled)
    assert operations.due(T0 + WAIT + timedelta(minutes=10)) == [], "the cause settled it"


def test_a_held_operation_settles_by_the_rule_at_its_recheck(operations) -> None:
    operations.place([_row("request", RANK_SYMPTOM, 0)], T0, WAIT)
    recheck = T0 + WAIT + timedelta(minutes=5)
    operations.settle(OP, T0 + WAIT, WAIT, lambda held: Recheck(recheck, ("t",)))
    placed, settled, decision = operations.settle(OP, recheck, WAIT, SETTLE)
    assert (_where(placed), settled, decision) == (
        {"request": ("group-of-request", True)},
        OP,
        Settle(),
    )
    operations.placed(OP)
    assert operations.due(recheck + timedelta(days=1)) == [], "no index entry is left behind"


def test_an_index_entry_a_crash_left_behind_a_recheck_is_cleared_without_deciding(
    operations, azurite, storage_env
) -> None:
    """A crash between the head's new due time and moving its index entry leaves the old entry;
    the sweep that finds it finishes the move and decides nothing early."""
    table = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client(
        storage_env["FAULTLINE_TABLE_PREFIX"] + "Ops"
    )
    operations.place([_row("request", RANK_SYMPTOM, 0)], T0, WAIT)
    first = T0 + WAIT
    [stale] = table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": f"due|{first:%Y%m%d%H%M}"}
    )
    recheck = first + timedelta(minutes=20)
    operations.settle(OP, first, WAIT, lambda held: Recheck(recheck, ("t",)))
    table.create_entity(dict(stale))  # as the crash left it

    def undecided(held: Held) -> Settle:
        raise AssertionError("not due yet: nothing may be decided")

    assert operations.due(first) == [OP]
    assert operations.settle(OP, first, WAIT, undecided) == ([], None, None)
    assert operations.due(first + timedelta(minutes=19)) == [], "the stale entry is gone"
    assert operations.due(recheck) == [OP], "the entry the head names stays"


def test_an_index_entry_left_by_a_holder_that_lost_to_a_cause_is_swept_away(
    operations, azurite, storage_env
) -> None:
    """A holder writes its index entry, then loses the head's creation to a cause, which
    settles the operation with no due time: the sweep that finds the entry deletes it."""
    table = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client(
        storage_env["FAULTLINE_TABLE_PREFIX"] + "Ops"
    )
    table.upsert_entity(
        {"PartitionKey": f"due|{T0 + WAIT:%Y%m%d%H%M}", "RowKey": OP, "Key": OP}
    )  # the losing holder's entry
    operations.place([_row("exception", RANK_CAUSE, 0)], T0, WAIT)
    assert operations.due(T0 + WAIT) == [OP]
    assert operations.settle(OP, T0 + WAIT, WAIT, SETTLE) == ([], None, None)
    assert operations.due(T0 + WAIT + timedelta(days=1)) == []
