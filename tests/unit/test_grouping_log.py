"""The grouping log: online decisions that any worker can replay, and group ids that never move."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.fingerprint import FINGERPRINT_VERSION, Fingerprint
from detection.grouping import Grouping, LogEntry, replay

pytestmark = pytest.mark.unit

WORDS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "<*>", "db1", "x"]
SHAPES = [
    "Invalid user {} from <*>",
    "Too many failures for {} [preauth]",
    "VM {} (Lifecycle Event)",
    "cache {} miss",
]


def _print(scope: str, template: str) -> Fingerprint:
    value = hashlib.blake2b(f"{scope}|{template}".encode(), digest_size=16).hexdigest()
    return Fingerprint(value, FINGERPRINT_VERSION, (), template, scope, "message")


def _stack(name: str) -> Fingerprint:
    value = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
    return Fingerprint(value, FINGERPRINT_VERSION, (), "", "", "stack")


messages = st.lists(
    st.tuples(
        st.sampled_from(["scope-a", "scope-b"]),
        st.sampled_from(SHAPES),
        st.sampled_from(WORDS),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150)
@given(batches=st.lists(messages, min_size=1, max_size=5))
def test_a_group_id_never_changes_once_given_and_replay_rebuilds_the_state(batches) -> None:
    grouping = Grouping()
    given_ids: dict[str, str] = {}
    entries: list[LogEntry] = []
    for batch in batches:
        prints = [_print(scope, shape.format(word)) for scope, shape, word in batch]
        groups, new = grouping.assign(prints)
        entries += new
        for print_ in prints:
            given_ids.setdefault(print_.value, groups[print_.value])
        for value, first in given_ids.items():
            # the id once given still names the fingerprint's group: it resolves, never moves
            assert grouping.resolve(first) == grouping.resolve(given_ids[value])
        for print_ in prints:
            assert grouping.group_of(print_) == grouping.resolve(given_ids[print_.value])
    rebuilt = replay(LogEntry.from_json(e.to_json()) for e in entries)
    assert rebuilt.applied == grouping.applied
    for scope, shape, word in [m for batch in batches for m in batch]:
        print_ = _print(scope, shape.format(word))
        assert rebuilt.group_of(print_) == grouping.group_of(print_)
    assert rebuilt.aliases == grouping.aliases


def test_group_ids_are_fingerprints_of_a_founding_member() -> None:
    grouping = Grouping()
    prints = [_print("s", f"Invalid user {w} from <*>") for w in WORDS[:6]]
    groups, entries = grouping.assign(prints)
    assert set(groups.values()) == {prints[0].value}
    assert any(e.decision and e.decision.action == "merge" for e in entries)
    assert grouping.absorbed_by(prints[0].value) == [p.value for p in prints[1:4]]


def test_templates_of_different_scopes_never_merge() -> None:
    grouping = Grouping()
    groups, _ = grouping.assign([_print(f"scope-{w}", f"Invalid user {w}") for w in WORDS[:6]])
    assert len(set(groups.values())) == 6


def test_an_alias_folds_an_id_and_cannot_form_a_cycle() -> None:
    grouping = Grouping()
    a, b, c = _stack("a"), _stack("b"), _stack("c")
    grouping.assign([a, b, c])
    assert grouping.alias(b.value, a.value, "merged by a person") is not None
    assert grouping.alias(c.value, b.value, "merged by a person") is not None
    assert grouping.alias(a.value, c.value, "merged back") is None, "already one group"
    assert {grouping.group_of(p) for p in (a, b, c)} == {a.value}
    assert grouping.absorbed_by(a.value) == [b.value, c.value]
    previous = "f" * 32
    assert grouping.alias(previous, b.value, "fingerprint v2") is not None
    assert grouping.resolve(previous) == a.value


def test_a_split_undoes_a_persons_merge_and_replays_the_same() -> None:
    grouping = Grouping()
    a, b, c = _stack("a"), _stack("b"), _stack("c")
    grouping.assign([a, b, c])
    merged = [
        grouping.alias(b.value, a.value, "/faultline merge #1"),
        grouping.alias(c.value, b.value, "/faultline merge #2"),
    ]
    assert grouping.split(a.value, b.value, "not folded into b") is None
    split = grouping.split(b.value, a.value, "/faultline unmerge")
    assert split is not None and split.folds == ()
    assert grouping.resolve(b.value) == b.value
    # c was folded into b's group, which was a's then: it stays there
    assert grouping.resolve(c.value) == a.value and grouping.absorbed_by(a.value) == [c.value]
    assert grouping.split(b.value, a.value, "again") is None, "nothing left to undo"
    entries = [*merged, split]
    replayed = replay(LogEntry.from_json(e.to_json()) for e in entries if e is not None)
    assert replayed.aliases == grouping.aliases
    assert grouping.alias(b.value, a.value, "merged again") is not None
    assert grouping.absorbed_by(a.value) == [c.value, b.value]
