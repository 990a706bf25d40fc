"""The Logs Insights filter a condition pushes down never drops a row detection would keep.

Property-based: random conditions over log events with awkward text (case, regex metacharacters,
slashes, non-ASCII, line breaks), put with `PutLogEvents` and queried with `StartQuery` through
the real boto3 client against the CloudWatch Logs wire fake; every event the Python evaluator
accepts must come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cloudwatch import COLUMNS, CloudWatchLogsSource, access_key_credentials, logs_client
from detection.conditions import matches
from detection.insights import build_query
from detection.records import decode_row
from detection.rules import Condition
from detection.windows import QueryWindow
from pipeline.ports import QueryPlan
from tests.fakes.cloudwatch import CloudWatchLogsFake, millis

pytestmark = pytest.mark.integration

GROUP = "/aws/lambda/orders"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
MESSAGES = [
    "ERROR Timeout after 30s",
    "error: timeout",
    "Warning: disk 91%",
    "GET /api/cart 503",
    "a/b.c(1) [x]",
    "İstanbul KELVIN \u212a",
    "line one\nline two",
    '{"level":"error","msg":"boom"}',
    "ok",
]
STREAMS = ["web-1", "Web-2", "worker/3"]
TEXT = st.sampled_from(
    ["error", "ERROR", "timeout", "503", "/", ".", "(1)", "İ", "k", "\u212a", "line", "two", "ok"]
)
FIELDS = st.sampled_from(["Message", "LogStream", "LogGroup", "Level", "Message.level"])


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda f, v, cs: {"field": f, "contains": v, "case_sensitive": cs},
            FIELDS,
            TEXT,
            st.booleans(),
        ),
        st.builds(
            lambda f, v, cs: {"field": f, "equals": v, "case_sensitive": cs},
            FIELDS,
            st.one_of(st.sampled_from(MESSAGES + STREAMS), TEXT),
            st.booleans(),
        ),
        st.builds(
            lambda f, v: {"field": f, "in": v},
            FIELDS,
            st.lists(st.sampled_from(MESSAGES + STREAMS + ["WEB-1"]), min_size=1, max_size=3),
        ),
        st.builds(lambda f, v: {"field": f, "exists": v}, FIELDS, st.booleans()),
        st.builds(lambda f, v: {"field": f, "regex": v}, FIELDS, st.sampled_from(["\\d", "^ok$"])),
        st.builds(lambda f, v: {"field": f, "equals": v}, FIELDS, st.sampled_from([503, True])),
    )


CONDITIONS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def logs() -> Iterator[CloudWatchLogsSource]:
    with CloudWatchLogsFake(T0 + timedelta(minutes=1)) as fake:
        client = logs_client(
            "eu-west-1",
            access_key_credentials(lambda: "AKIDPUSHDOWN:secret"),
            endpoint=fake.endpoint,
            verify=fake.ca_path,
        )
        client.create_log_group(logGroupName=GROUP)
        for stream in STREAMS:
            client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
            client.put_log_events(
                logGroupName=GROUP,
                logStreamName=stream,
                logEvents=[
                    {"timestamp": millis(T0) + i, "message": message}
                    for i, message in enumerate(MESSAGES)
                ],
            )
        yield CloudWatchLogsSource(client, max_rows=10_000, poll_every=timedelta(0))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=CONDITIONS)
def test_the_pushed_down_filter_keeps_every_row_detection_keeps(
    logs: CloudWatchLogsSource, raw: dict[str, Any]
) -> None:
    condition = Condition.model_validate(raw)
    window = QueryWindow(T0, T0 + timedelta(minutes=5))
    query = build_query(window, [condition], limit=10_000)
    outcome = logs.run(QueryPlan("", "CW_aws_lambda_orders", window, (condition,), query, GROUP))
    returned = {(row[3], row[2]) for row in outcome.rows}
    every = [[T0.isoformat(), T0.isoformat(), m, s, GROUP] for s in STREAMS for m in MESSAGES]
    kept = {(r[3], r[2]) for r in every if matches(condition, decode_row(COLUMNS, r))}
    assert kept <= returned


def test_a_pushed_down_filter_leaves_the_other_rows_in_cloudwatch(
    logs: CloudWatchLogsSource,
) -> None:
    condition = Condition.model_validate(
        {
            "any": [
                {"field": "Message", "contains": "timeout"},
                {"field": "LogStream", "equals": "W"},
            ]
        }
    )
    window = QueryWindow(T0, T0 + timedelta(minutes=5))
    query = build_query(window, [condition], limit=10_000)
    outcome = logs.run(QueryPlan("", "CW_aws_lambda_orders", window, (condition,), query, GROUP))
    assert sorted((row[3], row[2]) for row in outcome.rows) == sorted(
        (stream, message) for stream in STREAMS for message in MESSAGES[:2]
    )
