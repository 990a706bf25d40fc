"""The CloudWatch Logs fake is as strict as the service where Faultline depends on it: SigV4,
PutLogEvents' acceptance window and order, and Logs Insights' limits and syntax, through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from adapters.cloudwatch import access_key_credentials, logs_client
from tests.fakes.cloudwatch import CloudWatchLogsFake, millis

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GROUP = "/app/api"


@pytest.fixture
def fake() -> Iterator[CloudWatchLogsFake]:
    with CloudWatchLogsFake(NOW) as running:
        yield running


@pytest.fixture
def logs(fake: CloudWatchLogsFake) -> Any:
    client = logs_client(
        "eu-west-1",
        access_key_credentials(lambda: "AKIDFAKETEST:secret"),
        endpoint=fake.endpoint,
        verify=fake.ca_path,
    )
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="s")
    return client


def code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_an_unsigned_request_is_refused(fake: CloudWatchLogsFake) -> None:
    unsigned = boto3.client(
        "logs",
        region_name="eu-west-1",
        endpoint_url=fake.endpoint,
        verify=fake.ca_path,
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    assert code(lambda: unsigned.create_log_group(logGroupName="/x")) == (
        "MissingAuthenticationTokenException"
    )
    assert "/x" not in fake.groups


def test_events_outside_14_days_back_and_2_hours_ahead_are_rejected_the_rest_kept(
    fake: CloudWatchLogsFake, logs: Any
) -> None:
    stamps = [
        NOW - timedelta(days=14, minutes=1),
        NOW - timedelta(days=13),
        NOW + timedelta(hours=1, minutes=59),
        NOW + timedelta(hours=2, minutes=1),
    ]
    answer = logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="s",
        logEvents=[{"timestamp": millis(t), "message": str(i)} for i, t in enumerate(stamps)],
    )
    assert answer["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 1,
        "tooNewLogEventStartIndex": 3,
    }
    assert [e.message for e in fake.groups[GROUP]["s"]] == ["1", "2"]
    assert {e.ingestion_time for e in fake.groups[GROUP]["s"]} == {millis(NOW)}


def test_a_batch_out_of_order_is_refused(logs: Any) -> None:
    events = [
        {"timestamp": millis(NOW), "message": "b"},
        {"timestamp": millis(NOW) - 1, "message": "a"},
    ]
    assert (
        code(lambda: logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=events))
        == "InvalidParameterException"
    )


@pytest.mark.parametrize(
    ("query", "limit", "expected"),
    [
        ("fields @message | limit 10001", None, "InvalidParameterException"),
        ("fields @message", 10_001, "InvalidParameterException"),
        ("fields @message | stats count(*) by bin(5m)", None, "MalformedQueryException"),
        ("fields @message | filter @message like /(/", None, "MalformedQueryException"),
    ],
)
def test_logs_insights_refuses_what_it_does_not_run(
    logs: Any, query: str, limit: int | None, expected: str
) -> None:
    arguments = {"limit": limit} if limit else {}
    assert (
        code(
            lambda: logs.start_query(
                logGroupName=GROUP, startTime=0, endTime=1, queryString=query, **arguments
            )
        )
        == expected
    )


def test_a_query_without_a_limit_returns_the_services_default_of_1000_rows(logs: Any) -> None:
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="s",
        logEvents=[{"timestamp": millis(NOW) + i, "message": f"m{i}"} for i in range(1001)],
    )
    started = logs.start_query(
        logGroupName=GROUP,
        startTime=millis(NOW) // 1000,
        endTime=millis(NOW) // 1000 + 2,
        queryString="fields @message",
    )
    logs.get_query_results(queryId=started["queryId"])
    answer = logs.get_query_results(queryId=started["queryId"])
    assert (answer["status"], len(answer["results"])) == ("Complete", 1000)
