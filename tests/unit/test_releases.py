"""Regressions by release (`detection.releases`): how versions are ordered (PEP 440, semantic
versions, and a fallback for the rest), which versions the occurrences since a resolve came
from, and whether they make a regression. Properties over any version strings: the order is a
strict order where it is defined, and an unreadable version never hides a regression."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.releases import regressed_since, version_before, versions_since

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("version", "release", "before"),
    [
        ("2.13.9", "2.14.0", True),
        ("2.14.0", "2.14.0", False),
        ("2.14.1", "2.14.0", False),
        ("2.9.0", "2.14.0", True),  # numbers, not text: 9 < 14
        ("v2.13.0", "2.14", True),
        ("2.14.0rc1", "2.14.0", True),
        ("2.14.0-beta.2", "2.14.0", True),  # semver pre-release, normalised by PEP 440
        ("2.14.0+build.7", "2.14.0", False),
        ("1.0.0-SNAPSHOT", "1.0.1", True),  # not PEP 440: the fallback
        ("2024.11.3-hotfix", "2024.11.10", True),
        ("build-1042", "build-987", False),
    ],
)
def test_versions_are_ordered_sensibly(version: str, release: str, before: bool) -> None:
    assert version_before(version, release) is before


def test_a_version_with_nothing_to_compare_by_is_not_placed() -> None:
    assert version_before("---", "2.14.0") is None


versions = st.one_of(
    st.text(max_size=12),
    st.builds(
        lambda parts, tail: ".".join(map(str, parts)) + tail,
        st.lists(st.integers(0, 30), min_size=1, max_size=4),
        st.sampled_from(["", "rc1", "-beta.2", "+build.5", "-hotfix", ".dev3"]),
    ),
)


@given(versions, versions)
def test_the_order_is_strict_where_it_is_defined(a: str, b: str) -> None:
    assert version_before(a, a) in (False, None)
    if version_before(a, b) is True:
        assert version_before(b, a) is False


@given(st.lists(st.one_of(st.none(), versions), max_size=5), versions)
def test_an_occurrence_from_the_release_later_or_unknown_is_a_regression(
    seen: list[str | None], release: str
) -> None:
    regressed = regressed_since(release, seen)
    expected = any(v is None or version_before(v, release) is not True for v in seen)
    assert regressed == expected
    assert regressed_since(None, seen) == bool(seen), "without a release any occurrence regresses"


def test_only_earlier_versions_are_a_normal_recurrence() -> None:
    assert not regressed_since("2.14.0", ["2.13.0", "2.12.5"])
    assert regressed_since("2.14.0", ["2.13.0", "2.14.0"])
    assert regressed_since("2.14.0", ["2.13.0", None])
    assert not regressed_since("2.14.0", [])


@pytest.mark.parametrize(
    ("before", "now", "counts", "expected"),
    [
        ({"2.13.0": 3}, {"2.13.0": 5}, (3, 5), ["2.13.0"]),
        ({"2.13.0": 3}, {"2.13.0": 3, "2.14.0": 1}, (3, 4), ["2.14.0"]),
        ({"2.13.0": 3}, {"2.13.0": 4}, (3, 6), ["2.13.0", None]),  # two without a version
        ({}, {"2.13.0": 2, "(more)": 1}, (0, 3), ["2.13.0", None]),  # past the facet's cap
        ({"2.13.0": 3}, {"2.13.0": 3}, (3, 3), []),
    ],
)
def test_the_versions_since_a_resolve_are_those_whose_counts_grew(
    before: dict[str, int],
    now: dict[str, int],
    counts: tuple[int, int],
    expected: list[str | None],
) -> None:
    assert versions_since(before, now, *counts) == expected
