"""Conditions in Python follow KQL's semantics (the compiled query must agree with them)."""

import time

import pytest

from detection.conditions import matches, regex_search, to_bool, to_double, to_string
from detection.rules import Condition

pytestmark = pytest.mark.unit


def c(**kwargs: object) -> Condition:
    return Condition.model_validate(kwargs)


ROW = {
    "Level": "Error",
    "Success": False,
    "ResultCode": "503",
    "SeverityLevel": 3,
    "DurationMs": 1234.5,
    "Message": 'Timeout after 30s calling "payments"',
    "Properties": {"retryable": False, "tenant": {"id": "t-1"}, "flag": "TRUE"},
    "Empty": "",
    "Null": None,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (c(field="Level", equals="error"), True),
        (c(field="Level", equals="error", case_sensitive=True), False),
        (c(field="Success", equals=False), True),
        (c(field="ResultCode", equals=503), True),
        (c(field="ResultCode", gte=500), True),
        (c(field="ResultCode", regex=r"^5\d\d$"), True),
        (c(field="SeverityLevel", gte=3), True),
        (c(field="SeverityLevel", gt=3), False),
        (c(field="DurationMs", lte=1234.5), True),
        (c(field="Message", contains="TIMEOUT"), True),
        (c(field="Message", contains="TIMEOUT", case_sensitive=True), False),
        (c(field="Level", **{"in": ["warning", "ERROR"]}), True),
        (c(field="ResultCode", not_in=["404", "409"]), True),
        (c(field="Properties.retryable", equals=False), True),
        (c(field="Properties.flag", equals=True), True),
        (c(field="Properties.tenant.id", equals="T-1"), True),
        (c(field="Properties.tenant.missing", exists=True), False),
        (c(field="Properties.tenant.missing", exists=False), True),
        (c(field="Empty", exists=True), False),
        (c(field="Missing", equals="x"), False),
        (c(field="Missing", not_equals="x"), True),
        (c(field="Null", gt=0), False),
        (c(field="Null", lt=0), False),
        (c(field="Message", gt=0), False),
        (
            c(
                all=[
                    {"field": "Level", "equals": "Error"},
                    {"not": {"field": "Success", "equals": True}},
                ]
            ),
            True,
        ),
        (
            c(any=[{"field": "Level", "equals": "Info"}, {"field": "Missing", "exists": True}]),
            False,
        ),
    ],
)
def test_semantics(condition: Condition, expected: bool) -> None:
    assert matches(condition, ROW) is expected


@pytest.mark.parametrize(
    ("value", "text", "number", "boolean"),
    [
        (None, "", None, None),
        (True, "true", 1.0, True),
        (3, "3", 3.0, True),
        (2.0, "2", 2.0, True),
        (" 42 ", " 42 ", 42.0, None),
        ("False", "False", None, False),
        ({"b": 1, "a": [1]}, '{"a":[1],"b":1}', None, None),
        ("nan", "nan", None, None),
    ],
)
def test_conversions_mirror_kql(
    value: object, text: str, number: float | None, boolean: bool | None
) -> None:
    assert to_string(value) == text
    assert to_double(value) == number
    assert to_bool(value) is boolean


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # RE2, as KQL's `matches regex`: `$` is the end of the text, not before a final newline
        (r"^5\d\d$", "503\n", False),
        (r"^5\d\d$", "503", True),
        # \d, \w and \b are ASCII in RE2 (Python's `re` reads them as Unicode)
        (r"^\d+$", "٥٠٣", False),
        (r"^\w+$", "café", False),
        (r"^\pL+$", "café", True),
        (r"(?i)\btimeout\b", "Gateway TIMEOUT after 30s", True),
        (r"x", "lone \ud800 surrogate x", True),
    ],
)
def test_regex_has_re2_semantics(pattern: str, text: str, expected: bool) -> None:
    assert matches(c(field="Message", regex=pattern), {"Message": text}) is expected


CATASTROPHIC = [
    (r"(\w+\s?)+$", "a" * 24 + "!"),
    (r"(a+)+$", "a" * 25 + "!"),
    (r"(a|aa)+$", "a" * 35 + "!"),
    (r"^(\d+)*x", "1" * 26),
]


@pytest.mark.parametrize(("pattern", "attack"), CATASTROPHIC)
def test_catastrophic_patterns_finish_fast_on_attacker_text(pattern: str, attack: str) -> None:
    """Each takes seconds on Python's backtracking `re`; RE2 is linear in the text."""
    condition = c(field="Message", regex=pattern)
    started = time.process_time()
    assert not matches(condition, {"Message": attack})
    assert time.process_time() - started < 0.1
    assert not matches(condition, {"Message": attack * 2_000}), "linear: 50 KB stays fast"
    assert time.process_time() - started < 0.5


def test_extractor_patterns_run_on_re2_and_keep_their_value_group() -> None:
    started = time.process_time()
    match = regex_search(r"order (?P<value>[A-Z]{2}-\d+)", "payment failed for order AB-1234")
    assert match is not None and match.group("value") == "AB-1234"
    assert regex_search(r"(?P<value>(\w+\s?)+)$", "a" * 24 + "!" * 2) is None
    assert time.process_time() - started < 0.5
