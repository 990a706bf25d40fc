"""KQL generation: escaping that no value can break out of, and the query's exact shape."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.kql import build_query, compile_condition, datetime_literal, string_literal
from detection.rules import Condition
from detection.windows import QueryWindow

pytestmark = pytest.mark.unit


@given(st.text())
def test_string_literal_round_trips_any_text(text: str) -> None:
    literal = string_literal(text)
    assert literal.startswith('"') and literal.endswith('"')
    assert json.loads(literal, strict=False) == text


@given(st.text())
def test_string_literal_never_leaves_an_unescaped_quote(text: str) -> None:
    body = string_literal(text)[1:-1]
    escaped = False
    for ch in body:
        assert escaped or ch != '"'
        escaped = not escaped and ch == "\\"
    assert not escaped


def c(**kwargs: object) -> Condition:
    return Condition.model_validate(kwargs)


@pytest.mark.parametrize(
    ("condition", "kql"),
    [
        (c(field="Level", equals="Error"), 'tostring(Level) =~ "Error"'),
        (c(field="Level", equals="Error", case_sensitive=True), 'tostring(Level) == "Error"'),
        (
            c(field="Success", equals=False),
            "(isnotnull(tobool(Success)) and tobool(Success) == false)",
        ),
        (
            c(field="SeverityLevel", gte=3),
            "(isnotnull(todouble(SeverityLevel)) and todouble(SeverityLevel) >= 3.0)",
        ),
        (
            c(field="DurationMs", lt=10.5),
            "(isnotnull(todouble(DurationMs)) and todouble(DurationMs) < 10.5)",
        ),
        (
            c(field="ResultCode", equals=500),
            "(isnotnull(todouble(ResultCode)) and todouble(ResultCode) == 500.0)",
        ),
        (c(field="Level", not_equals="Info"), 'not(tostring(Level) =~ "Info")'),
        (
            c(field="Level", **{"in": ["Error", "Critical"]}),
            'tostring(Level) in~ ("Error", "Critical")',
        ),
        (
            c(field="Code", **{"in": ["a", 5]}),
            '(tostring(Code) in~ ("a") or todouble(Code) in (5.0))',
        ),
        (c(field="Code", not_in=["404"]), 'not(tostring(Code) in~ ("404"))'),
        (c(field="Message", contains='say "hi"'), 'tostring(Message) contains "say \\"hi\\""'),
        (
            c(field="Message", contains="X", case_sensitive=True),
            'tostring(Message) contains_cs "X"',
        ),
        (c(field="Url", regex=r"^/api/\d+"), 'tostring(Url) matches regex "^/api/\\\\d+"'),
        (
            c(field="Properties.tenant.id", exists=True),
            'isnotempty(tostring(Properties["tenant"]["id"]))',
        ),
        (
            c(field="Properties.retryable", equals=False),
            '(isnotnull(tobool(Properties["retryable"]))'
            ' and tobool(Properties["retryable"]) == false)',
        ),
        (c(field="OperationId", exists=False), "isempty(tostring(OperationId))"),
        (
            c(
                all=[
                    {"field": "A", "equals": 1},
                    {"any": [{"field": "B", "equals": "x"}, {"not": {"field": "C", "gt": 2}}]},
                ]
            ),
            '((isnotnull(todouble(A)) and todouble(A) == 1.0) and (tostring(B) =~ "x" or '
            "not((isnotnull(todouble(C)) and todouble(C) > 2.0))))",
        ),
    ],
)
def test_compile_condition(condition: Condition, kql: str) -> None:
    assert compile_condition(condition) == kql


def test_datetime_literal_is_utc_with_seven_digits() -> None:
    moment = datetime(2026, 11, 20, 1, 2, 3, 456789, tzinfo=UTC) + timedelta(hours=0)
    assert datetime_literal(moment) == "datetime(2026-11-20T01:02:03.4567890Z)"


def test_build_query_bounds_ingestion_time_and_time_generated() -> None:
    window = QueryWindow(
        datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 0, 15, tzinfo=UTC),
        timedelta(hours=1),
    )
    query = build_query(
        "AppRequests", window, [c(field="Success", equals=False), c(field="DurationMs", gt=5000)]
    )
    assert query.splitlines() == [
        "AppRequests",
        "| where ingestion_time() >= datetime(2026-11-20T00:00:00.0000000Z)"
        " and ingestion_time() < datetime(2026-11-20T00:15:00.0000000Z)",
        "| where TimeGenerated >= datetime(2026-11-19T23:00:00.0000000Z)"
        " and TimeGenerated < datetime(2026-11-20T00:30:00.0000000Z)",
        "| where ((isnotnull(tobool(Success)) and tobool(Success) == false))"
        " or ((isnotnull(todouble(DurationMs)) and todouble(DurationMs) > 5000.0))",
        "| extend IngestionTime = ingestion_time()",
    ]


def test_build_query_takes_at_most_the_limit_last() -> None:
    window = QueryWindow(
        datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 0, 15, tzinfo=UTC),
        timedelta(hours=1),
    )
    query = build_query("AppTraces", window, [c(field="SeverityLevel", gte=3)], limit=50_000)
    assert query.splitlines()[-2:] == ["| extend IngestionTime = ingestion_time()", "| take 50000"]


def test_hostile_dynamic_keys_and_values_stay_inside_literals() -> None:
    hostile = 'x"] or true or Properties["'
    query = compile_condition(c(field=f"Properties.{hostile}", equals='") or true //'))
    assert query == ('tostring(Properties["x\\"] or true or Properties[\\""]) =~ "\\") or true //"')
