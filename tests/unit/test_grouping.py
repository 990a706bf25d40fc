"""The merge step, the `group` CLI, and grouping of the bundled sample against its labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.__main__ import read_lines
from detection.detect import detect
from detection.grouping import Grouping
from detection.masks import MASKER
from detection.merge import (
    MergeState,
    decide,
    group_all,
    group_messages,
    split_template,
    template_id,
)
from detection.records import Column, normalize_rows
from detection.rules import load_rules

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "samples" / "telemetry"


def _templates(*messages: str) -> list[tuple[str, ...]]:
    return [split_template(MASKER.template_key(m)) for m in messages]


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("Receiving block blk_-42 src: /10.0.0.1:50010", "Receiving block <id> src: /<ip>"),
        ("connection from 1.2.3.4 () at Wed Jun 29 03:22:23 2005", None),
        ("Took 0.25 seconds to build instance", "Took <float> seconds to build instance"),
        ("uid=0 tty=ssh user=root", "uid=<value> tty=<value> user=<value>"),
        ("mac 00:1A:2B:3C:4D:5E and ::1", "mac <mac> and <ip>"),
    ],
)
def test_masks_name_values(message: str, template: str | None) -> None:
    if template is not None:
        assert MASKER.mask(message) == template
    assert "0" not in MASKER.template_key(message).replace("<*>", "")


def test_template_key_folds_value_runs_units_and_user_names() -> None:
    assert MASKER.template_key("at Wed Jun 29 03:22:23 2005 done") == "at <*> done"
    assert MASKER.template_key("size 12 KB, free 3.5 MB") == "size <*> free <*>"
    assert MASKER.template_key("Invalid user user from 1.2.3.4") == "Invalid user <*> from <*>"
    assert MASKER.template_key("") == ""


def test_enough_distinct_words_at_one_position_merge_into_the_oldest_group() -> None:
    state = MergeState()
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    decisions = group_all(
        _templates(*(f"Too many failures for {n} [preauth]" for n in names)), state
    )
    assert [d.action for d in decisions] == ["new", "new", "new", "new", "merge", "join"]
    first = decisions[0].group
    assert decisions[4].group == first and len(decisions[4].absorbed) == 3
    assert {state.group_of(d.template_id) for d in decisions} == {first}


def test_an_enumeration_of_few_words_stays_apart() -> None:
    events = ["Started", "Paused", "Resumed", "Stopped"]
    messages = [f"[instance: {i}] VM {e} (Lifecycle Event)" for i, e in enumerate(events)]
    assert len(set(group_messages(messages))) == 4


# One root cause (a carrier that does not deliver to a country) whose values vary at two
# positions; one carrier's name is neither a word nor a code.
CARRIER_REJECTIONS = [
    f"Fulfillment request for order {order} failed permanently: carrier {carrier} does not "
    f"deliver to {country}; order moved to manual review"
    for order, (carrier, country) in enumerate(
        [
            ("DHL", "BE"),
            ("PostNL", "DE"),
            ("UPS", "BE"),
            ("UPS", "DE"),
            ("PostNL", "FR"),
            ("DHL", "NL"),
            ("PostNL", "AT"),
        ],
        start=797795,
    )
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(CARRIER_REJECTIONS))
def test_values_varying_at_two_positions_are_one_group_in_any_order(messages: list[str]) -> None:
    assert len(set(group_messages(messages))) == 1


def test_names_beside_codes_are_values_and_names_alone_are_words() -> None:
    assert (
        len(set(group_messages(["Carrier DHL down", "Carrier PostNL down", "Carrier UPS down"])))
        == 1
    )
    assert (
        len(set(group_messages(["Cache Redis down", "Cache Memcached down", "Cache ERP down"])))
        == 3
    )


def test_a_template_with_a_value_where_groups_have_words_generalizes_them() -> None:
    state = MergeState()
    decisions = group_all(_templates("failures for admin now", "failures for x1 now"), state)
    assert decisions[1].action == "merge" and decisions[1].group == decisions[0].group
    assert decide(("failures", "for", "root", "now"), state).action == "join"


def test_decide_is_pure_and_replaying_decisions_rebuilds_the_same_state() -> None:
    messages = [
        f"Job {w} failed on node {i}" for i, w in enumerate(["ab", "cd", "ef", "gh", "ij", "kl"])
    ]
    live = MergeState()
    decisions = group_all(_templates(*messages), live)
    snapshot = repr(live)
    probe = decide(split_template(MASKER.template_key("Job zz failed on node 9")), live)
    assert repr(live) == snapshot and probe.action == "join"
    replayed = MergeState()
    for decision in decisions:
        if decision.action != "known":
            replayed.apply(decision)
    assert replayed == live
    assert group_messages(messages) == group_messages(list(messages))


def test_group_ids_are_template_ids_of_the_first_member() -> None:
    groups = group_messages(["disk full on sda", "disk full on sdb", "disk full on sda"])
    assert groups[0] == template_id(split_template(MASKER.template_key("disk full on sda")))
    assert groups[0] == groups[2] != groups[1]


def test_cli_reads_bytes_and_prints_one_id_per_line() -> None:
    lines = [
        b"Invalid user alice from 1.2.3.4",
        b"",
        b"bad \xff\xfe utf-8 \x00 \x1b[31m control",
        b"x" * 1_000_000,
        b"a " * 300_000,
        b"Invalid user bob from 1.2.3.5\r",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "detection", "group"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    ids = result.stdout.decode().splitlines()
    assert len(ids) == len(lines)
    assert all(len(i) == 32 for i in ids)
    assert ids[0] == ids[5] != ids[1]  # a user name is a value
    assert read_lines(b"a\r\nb") == ["a", "b"] and read_lines(b"") == []


def test_cli_rejects_unknown_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "detection", "parse"],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and b"usage" in result.stderr


def _sample_groups() -> dict[str, dict[str, set[str]]]:
    """Per fingerprint basis: root cause -> the groups its failing rows got, through the grouping
    the production path uses (fingerprints, then the merge step), before any correlation."""
    rules = load_rules((ROOT / "faultline.yaml").read_text(), {})
    labels = json.loads((SAMPLES / "labels.json").read_text())
    grouping = Grouping()
    groups: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for spec in rules.sources[0].tables:
        table = json.loads((SAMPLES / f"{spec.name}.json").read_text())["tables"][0]
        columns = [Column(c["name"], c["type"]) for c in table["columns"]]
        causes = {
            index: cause
            for by_cause in labels[spec.name]["root_causes"].values()
            for cause, indexes in by_cause.items()
            for index in indexes
        }
        for index, row in enumerate(table["rows"]):
            records = normalize_rows(spec, columns, [row]).records
            for found in detect(records, rules.definitions_for(spec.name)):
                assigned, _ = grouping.assign([found.fingerprint])
                group = assigned[found.fingerprint.value]
                groups[found.fingerprint.basis][causes[index]].add(group)
    return groups


def test_every_root_cause_with_a_stack_is_one_group_across_tables() -> None:
    """The same exception seen as an App Insights exception, the Functions host's wrapped error,
    a console traceback and a JSON log line's stack is one group, and no other cause's."""
    by_cause = _sample_groups()["stack"]
    owners: dict[str, set[str]] = defaultdict(set)
    for cause, groups in by_cause.items():
        assert len(groups) == 1, cause
        owners[next(iter(groups))].add(cause)
    assert all(len(causes) == 1 for causes in owners.values()), owners


# Rows that carry no stack and cannot tell their causes apart: a failed request knows its route
# and status code, a dependency call its target and result. One failing operation's rows are
# joined at ingest (`detection.correlation`), so these become evidence on their cause's issue.
SHARED_SYMPTOMS = {
    frozenset({"checkout-totals-typeerror", "checkout-payments-502"}),
    frozenset({"orders-coupon-nullref", "orders-inventory-503"}),
    frozenset({"orders-sql-timeout", "orders-sql-healthcheck"}),
    frozenset({"payments-psp-timeout", "payments-db-pool-exhausted"}),
}


def test_rows_without_a_stack_share_groups_only_where_the_rows_are_alike() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for basis in ("dependency", "request", "message"):
        for cause, groups in _sample_groups()[basis].items():
            for group in groups:
                owners[group].add(cause)
    shared = {frozenset(causes) for causes in owners.values() if len(causes) > 1}
    assert shared <= SHARED_SYMPTOMS, shared - SHARED_SYMPTOMS
