"""`CloudWatchLogsSource` through the real boto3 client against the CloudWatch Logs wire fake (and
moto's STS in server mode for the managed identity's federation): rows as records, late events
in a later window, the service's limits and refusals as the port's outcomes and errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from moto.server import ThreadedMotoServer

from adapters.cloudwatch import (
    CONCURRENCY_RETRY,
    THROTTLED_RETRY,
    CloudWatchLogsSource,
    QueryFailed,
    access_key_credentials,
    logs_client,
    web_identity_credentials,
)
from detection.insights import build_query
from detection.records import normalize_rows
from detection.rules import Condition, LogGroup
from detection.windows import QueryWindow
from pipeline.ports import QueryPlan, QueryRejected, Throttled
from tests.fakes.cloudwatch import CloudWatchLogsFake, millis

pytestmark = pytest.mark.integration

GROUP = "/aws/lambda/orders"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
ERRORS = Condition.model_validate({"field": "Message", "contains": "error"})


@pytest.fixture
def fake() -> Iterator[CloudWatchLogsFake]:
    with CloudWatchLogsFake(T0) as running:
        yield running


def client(fake: CloudWatchLogsFake, key: str = "AKIDADAPTER") -> Any:
    return logs_client(
        "eu-west-1",
        access_key_credentials(lambda: f"{key}:secret"),
        endpoint=fake.endpoint,
        verify=fake.ca_path,
    )


def put(fake: CloudWatchLogsFake, at: datetime, *messages: str, stream: str = "s1") -> None:
    """Put events timestamped `at` (and a millisecond apart), ingested at the fake's now."""
    logs = client(fake, "AKIDPRODUCER")
    if GROUP not in fake.groups:
        logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": millis(at) + i, "message": m} for i, m in enumerate(messages)],
    )


def plan(start: datetime, minutes: int = 5, group: str = GROUP) -> QueryPlan:
    window = QueryWindow(start, start + timedelta(minutes=minutes))
    return QueryPlan(
        "",
        "CW_aws_lambda_orders",
        window,
        (ERRORS,),
        build_query(window, [ERRORS], limit=100),
        group,
    )


def source(fake: CloudWatchLogsFake, **options: Any) -> CloudWatchLogsSource:
    return CloudWatchLogsSource(
        client(fake), max_rows=options.pop("max_rows", 100), poll_every=timedelta(0), **options
    )


def test_rows_become_records_with_event_and_ingestion_time(fake: CloudWatchLogsFake) -> None:
    fake.now = T0 + timedelta(seconds=30)
    put(fake, T0, "ERROR payment declined", "ok", stream="i-0abc")
    outcome = source(fake).run(plan(T0))
    assert outcome.incomplete is None
    records = normalize_rows(LogGroup(name=GROUP).spec, outcome.columns, outcome.rows).records
    assert [(r.message, r.instance, r.time_generated, r.ingested_at) for r in records] == [
        ("ERROR payment declined", "i-0abc", T0, T0 + timedelta(seconds=30))
    ]
    assert records[0].fields["LogGroup"] == GROUP
    assert fake.operations()[-3:] == ["StartQuery", "GetQueryResults", "GetQueryResults"]


def test_a_late_event_is_read_by_the_window_of_its_ingestion_not_of_its_timestamp(
    fake: CloudWatchLogsFake,
) -> None:
    fake.now = T0 + timedelta(minutes=50)  # an agent that buffered for 50 minutes
    put(fake, T0 + timedelta(minutes=1), "ERROR late")
    logs = source(fake)
    assert logs.run(plan(T0)).rows == []
    late = logs.run(plan(T0 + timedelta(minutes=50)))
    assert [row[2] for row in late.rows] == ["ERROR late"]


def test_an_event_up_to_the_lookback_late_is_still_read(fake: CloudWatchLogsFake) -> None:
    fake.now = T0 + timedelta(days=13)
    put(fake, T0, "ERROR from a laptop that slept")
    window = QueryWindow(fake.now, fake.now + timedelta(minutes=5), lookback=timedelta(days=14))
    query = build_query(window, [ERRORS], limit=100)
    outcome = source(fake).run(QueryPlan("", "CW_x", window, (ERRORS,), query, GROUP))
    assert [row[2] for row in outcome.rows] == ["ERROR from a laptop that slept"]


def test_a_result_at_the_row_limit_is_incomplete(fake: CloudWatchLogsFake) -> None:
    put(fake, T0, *[f"ERROR {i}" for i in range(5)])
    outcome = source(fake, max_rows=5).run(plan(T0))
    assert len(outcome.rows) == 5
    assert outcome.incomplete == "5 rows reached the 5-row limit"


def test_throttling_is_throttled_with_a_delay(fake: CloudWatchLogsFake) -> None:
    put(fake, T0, "ERROR x")
    logs = source(fake)
    fake.throttle("StartQuery")
    with pytest.raises(Throttled) as caught:
        logs.run(plan(T0))
    assert caught.value.retry_after == THROTTLED_RETRY
    fake.throttle("GetQueryResults")
    with pytest.raises(Throttled):
        logs.run(plan(T0))
    assert [q.status for q in fake.queries.values()] == ["Cancelled"]  # its slot is free again
    assert [row[2] for row in logs.run(plan(T0)).rows] == ["ERROR x"]


def test_the_account_query_concurrency_limit_is_throttled_until_a_slot_frees(
    fake: CloudWatchLogsFake,
) -> None:
    fake.max_concurrent = 1
    put(fake, T0, "ERROR x")
    logs = source(fake)
    held = client(fake).start_query(
        logGroupName=GROUP, startTime=0, endTime=1, queryString="fields @message"
    )
    with pytest.raises(Throttled) as caught:
        logs.run(plan(T0))
    assert caught.value.retry_after == CONCURRENCY_RETRY
    client(fake).stop_query(queryId=held["queryId"])
    assert [row[2] for row in logs.run(plan(T0)).rows] == ["ERROR x"]


def test_a_query_still_running_at_the_bound_is_stopped_and_its_window_split(
    fake: CloudWatchLogsFake,
) -> None:
    fake.hold_queries = True
    put(fake, T0, "ERROR x")
    clock = iter(range(100))
    logs = source(fake, wait=timedelta(seconds=3), monotonic=lambda: float(next(clock)))
    outcome = logs.run(plan(T0))
    assert outcome.incomplete == "the query did not complete within 3s"
    assert [q.status for q in fake.queries.values()] == ["Cancelled"]


def test_a_failed_query_is_raised_for_a_retry(fake: CloudWatchLogsFake) -> None:
    put(fake, T0, "ERROR x")
    fake.hold_queries = True
    logs = source(fake, wait=timedelta(minutes=1), sleep=lambda s: _cancel_all(fake))
    with pytest.raises(QueryFailed, match="ended Cancelled"):
        logs.run(plan(T0))


def _cancel_all(fake: CloudWatchLogsFake) -> None:
    """Someone else stops the query while the job waits for it."""
    for query in fake.queries.values():
        query.status = "Cancelled"


@pytest.mark.parametrize(
    ("make_plan", "code"),
    [
        (lambda: plan(T0, group="/aws/lambda/missing"), "ResourceNotFoundException"),
        (
            lambda: QueryPlan(
                "", "CW_x", QueryWindow(T0, T0 + timedelta(minutes=1)), (), "stats count(*)", GROUP
            ),
            "MalformedQueryException",
        ),
    ],
)
def test_what_no_retry_can_fix_is_rejected_with_the_log_group(
    fake: CloudWatchLogsFake, make_plan: Any, code: str
) -> None:
    put(fake, T0, "ERROR x")
    with pytest.raises(QueryRejected, match=code) as caught:
        source(fake).run(make_plan())
    assert "log group" in str(caught.value)


class FederatedIdentity:
    """The Function App's managed identity as azure-identity presents it: a token per scope."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYXVsdGxpbmUifQ.c2ln", 4_102_444_800)


@pytest.fixture
def sts() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_the_managed_identity_is_federated_to_the_iam_role(
    fake: CloudWatchLogsFake, sts: str
) -> None:
    put(fake, T0, "ERROR x")
    identity = FederatedIdentity()
    credentials = web_identity_credentials(
        "arn:aws:iam::123456789012:role/faultline-reader",
        lambda: identity.get_token("api://AzureADTokenExchange/.default").token,
        "eu-west-1",
        sts_endpoint=sts,
    )
    logs = logs_client("eu-west-1", credentials, endpoint=fake.endpoint, verify=fake.ca_path)
    outcome = CloudWatchLogsSource(logs, max_rows=100, poll_every=timedelta(0)).run(plan(T0))
    assert [row[2] for row in outcome.rows] == ["ERROR x"]
    assert identity.scopes == [("api://AzureADTokenExchange/.default",)]
    role_key = credentials.get_frozen_credentials().access_key
    assert role_key not in ("AKIDADAPTER", "AKIDPRODUCER")
    assert fake.access_keys[role_key] == 3  # StartQuery and two GetQueryResults, as the role
