"""The Logs Insights query of a CloudWatch window, what it pushes down, and cloudwatch sources in
the rules file (their mistakes named by path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detection.insights import (
    ROW_LIMIT,
    build_query,
    event_time_range,
    investigate_query,
    pushdown,
)
from detection.rules import Condition, RulesError, load_rules, log_group_table
from detection.windows import QueryWindow

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, tzinfo=UTC)
T0_MS = 1_795_132_800_000
GROUP = "/aws/lambda/orders"


def test_the_query_selects_the_window_on_ingestion_time_and_the_candidates() -> None:
    window = QueryWindow(T0, T0 + timedelta(minutes=5))
    conditions = [
        Condition.model_validate({"field": "Message", "contains": "timeout"}),
        Condition.model_validate({"field": "LogStream", "equals": "web-1", "case_sensitive": True}),
    ]
    assert build_query(window, conditions, limit=10_000) == "\n".join(
        [
            "fields @timestamp, @ingestionTime, @message, @logStream",
            f"| filter @ingestionTime >= {T0_MS} and @ingestionTime < {T0_MS + 300_000}",
            "| filter (@message like /(?i)timeout/) or (@logStream like /^web-1$/)",
            "| sort @ingestionTime asc",
            "| limit 10000",
        ]
    )


def test_one_definition_that_cannot_be_pushed_down_reads_every_row_of_the_window() -> None:
    window = QueryWindow(T0, T0 + timedelta(minutes=5))
    conditions = [
        Condition.model_validate({"field": "Message", "contains": "timeout"}),
        Condition.model_validate({"field": "Message", "regex": "5\\d\\d"}),
    ]
    assert "like" not in build_query(window, conditions, limit=100)


@pytest.mark.parametrize("limit", [0, ROW_LIMIT + 1])
def test_the_limit_is_what_logs_insights_allows(limit: int) -> None:
    with pytest.raises(ValueError, match="1 to 10000"):
        build_query(QueryWindow(T0, T0 + timedelta(minutes=5)), [], limit=limit)


def test_the_event_time_range_covers_the_lookback_and_the_two_hours_ahead_cloudwatch_accepts() -> (
    None
):
    window = QueryWindow(T0, T0 + timedelta(minutes=5, milliseconds=1), lookback=timedelta(days=14))
    start, end = event_time_range(window)
    assert start == (T0_MS - 14 * 86_400_000) // 1000
    assert end == (T0_MS + 300_000 + 2 * 3_600_000) // 1000 + 1  # rounded up, never short


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "Message", "contains": "Timeout"}, "@message like /(?i)Timeout/"),
        (
            {"field": "Message", "contains": "a/b.c(1)", "case_sensitive": True},
            "@message like /a\\/b\\.c\\(1\\)/",
        ),
        ({"field": "Message", "equals": "boom"}, "@message like /(?i)^boom$/"),
        (
            {"field": "LogStream", "in": ["web-1", "web-2"]},
            "(@logStream like /(?i)^web-1$/ or @logStream like /(?i)^web-2$/)",
        ),
        ({"field": "Message", "exists": True}, "ispresent(@message)"),
        (
            {"all": [{"field": "Message", "contains": "x"}, {"field": "Level", "equals": "E"}]},
            "@message like /(?i)x/",
        ),
        (
            {"any": [{"field": "Message", "contains": "x"}, {"field": "Message", "contains": "y"}]},
            "(@message like /(?i)x/ or @message like /(?i)y/)",
        ),
        # client-side only: negations, regex, numbers, empty or non-ASCII folding, paths, others
        ({"not": {"field": "Message", "contains": "x"}}, None),
        ({"field": "Message", "not_equals": "x"}, None),
        ({"field": "Message", "regex": "5\\d\\d"}, None),
        ({"field": "Message", "equals": 500}, None),
        ({"field": "Message", "in": ["a", 1]}, None),
        ({"field": "Message", "contains": ""}, None),
        ({"field": "Message", "equals": ""}, None),
        ({"field": "Message", "contains": "İstanbul"}, None),
        ({"field": "Message", "contains": "line\nbreak", "case_sensitive": True}, None),
        ({"field": "Message.error", "contains": "x"}, None),
        ({"field": "LogGroup", "contains": "x"}, None),
        ({"field": "Message", "exists": False}, None),
        ({"field": "Message", "gt": 3}, None),
        (
            {"any": [{"field": "Message", "contains": "x"}, {"field": "Message", "regex": "y"}]},
            None,
        ),
    ],
)
def test_pushdown_translates_only_what_logs_insights_means_the_same_way(
    condition: dict, expected: str | None
) -> None:
    assert pushdown(Condition.model_validate(condition)) == expected


def test_case_sensitive_non_ascii_text_is_pushed_down() -> None:
    condition = Condition.model_validate(
        {"field": "Message", "contains": "İstanbul", "case_sensitive": True}
    )
    assert pushdown(condition) == "@message like /İstanbul/"


def test_a_log_group_becomes_a_table_name_that_fits_a_job_and_a_storage_key() -> None:
    assert log_group_table("/aws/lambda/orders-api") == "CW_aws_lambda_orders_api"
    long_a, long_b = "/a" * 200, "/a" * 199 + "/b"
    assert len(log_group_table(long_a)) <= 120
    assert log_group_table(long_a) != log_group_table(long_b)


BASE = """
routing: {default_repository: contoso/shop}
"""
SOURCE = """
sources:
  - name: aws
    kind: cloudwatch
    log_groups:
      - name: /aws/lambda/orders
      - {name: /ecs/checkout, columns: {message: Message, role: LogGroup}}
"""


def test_a_definition_names_log_groups_as_it_names_tables() -> None:
    rules = load_rules(
        SOURCE
        + BASE
        + """
failures:
  - {name: lambda-errors, log_groups: [/aws/lambda/orders], when: {field: Message, contains: ERROR}}
""",
        {},
    )
    source = rules.source("aws")
    assert [t.name for t in source.watched] == ["CW_aws_lambda_orders", "CW_ecs_checkout"]
    assert source.table("CW_ecs_checkout").columns.role == "LogGroup"
    assert source.log_group("CW_aws_lambda_orders").name == "/aws/lambda/orders"
    assert [d.name for d in rules.definitions_for("CW_aws_lambda_orders")] == ["lambda-errors"]
    assert rules.definitions_for("CW_ecs_checkout") == ()


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            SOURCE
            + """
failures: [{name: a, log_groups: [/aws/lambda/order], when: {field: Message, exists: true}}]
""",
            "failures[0] (a).log_groups: names log groups no source watches: /aws/lambda/order; "
            "did you mean '/aws/lambda/orders'?",
        ),
        (
            """
sources:
  - name: aws
    kind: cloudwatch
    log_groups: [{name: /x, columns: {message: Text}}]
failures: [{name: a, log_groups: [/x], when: {field: Message, exists: true}}]
""",
            "sources[0] (aws).log_groups[0] (/x): log group /x: columns names what a CloudWatch "
            "record does not have (message: Text); its columns are Message, LogStream, LogGroup",
        ),
        (
            """
sources:
  - {name: aws, kind: cloudwatch, workspace_id: 5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10,
     log_groups: [{name: /x}]}
failures: [{name: a, log_groups: [/x], when: {field: Message, exists: true}}]
""",
            "source aws (cloudwatch) takes log_groups, not workspace_id",
        ),
        (
            """
sources: [{name: aws, kind: cloudwatch}]
failures: [{name: a, tables: [AppTraces], when: {field: Message, exists: true}}]
""",
            "source aws: log_groups needs at least one log group",
        ),
        (
            """
sources: [{name: la, tables: [AppTraces]}]
failures: [{name: a, tables: [AppTraces], when: {field: Message, exists: true}}]
""",
            "source la: workspace_id is required (log-analytics)",
        ),
        (
            """
sources: [{name: aws, kind: cloudwatch, lookback: 15d, log_groups: [{name: /x}]}]
failures: [{name: a, log_groups: [/x], when: {field: Message, exists: true}}]
""",
            "lookback 15 days, 0:00:00 exceeds the 14d CloudWatch accepts events for",
        ),
        (
            """
sources: [{name: aws, kind: cloudwatch, log_groups: [{name: /a-b}, {name: /a_b}]}]
failures: [{name: a, log_groups: [/a-b], when: {field: Message, exists: true}}]
""",
            "sources[0] (aws): source aws lists a table or log group twice",
        ),
        (
            """
sources: [{name: aws, kind: cloudwatch, log_groups: [{name: "/bad name"}]}]
failures: [{name: a, tables: [AppTraces], when: {field: Message, exists: true}}]
""",
            "sources[0] (aws).log_groups[0] (/bad name).name",
        ),
    ],
)
def test_cloudwatch_mistakes_are_named_by_their_path(document: str, problem: str) -> None:
    with pytest.raises(RulesError) as error:
        load_rules(document + BASE, {})
    assert problem in str(error.value)


def test_the_investigation_query_names_the_log_group_and_the_time_range() -> None:
    condition = Condition.model_validate({"field": "Message", "contains": "ERROR"})
    assert investigate_query(GROUP, condition, T0, T0 + timedelta(minutes=30)) == "\n".join(
        [
            f"# log group {GROUP}; time range 2026-11-19 23:00 to 2026-11-20 01:30 UTC",
            "fields @timestamp, @logStream, @message",
            "| filter @message like /(?i)ERROR/",
            "| sort @timestamp desc",
            "| limit 100",
        ]
    )
    regex = Condition.model_validate({"field": "Message", "regex": "E\\d+"})
    assert "filter" not in investigate_query(GROUP, regex, T0, T0)
