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
from pipeline.ports import Placement

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
WAIT = timedelta(minutes=30)
OP = "op:" + "4bf92f3577b34da6a3ce929d0e0e4736"
INV = "inv:d052c176-f007-4c36-830f-fc8a826764ca"


@pytest.fixture
def operations(azurite, storage_env) -> TableOperations:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableOperations(ensure_table(service, storage_env["FAULTLINE_TABLE_PREFIX"] + "Ops"))


def _row(name: str, rank: int, seconds: float = 0, keys: tuple[str, ...] = (OP,)) -> Occurrence:
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
    placed, settled = operations.settle(OP, T0 + WAIT, WAIT)
    assert _where(placed) == {
        "dependency": ("group-of-dependency", True),
        "log": ("group-of-dependency", False),
        "request": ("group-of-dependency", False),
    }
    again, _ = operations.settle(OP, T0 + WAIT, WAIT)
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
        more, done = operations.settle(key, T0 + WAIT, WAIT)
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
