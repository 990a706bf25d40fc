"""CloudWatch log groups through the whole query job: the timer's jobs, the real boto3 client
against the CloudWatch Logs wire fake, detection, and the occurrence ledger in Azurite. Late
events are counted when they arrive, overlapping windows once, and a window at the row limit is
split until nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient, QueueServiceClient

from adapters.cloudwatch import logs_client
from bootstrap import bootstrap, install
from detection.rules import log_group_table
from detection.windows import QueryWindow
from local_host.host import FunctionTable, QueueDriver
from pipeline.fanout import fan_out
from pipeline.messages import FailureNotice, QueryJob
from pipeline.services import Services
from pipeline.workflow.view import issue_view
from tests.fakes.cloudwatch import CloudWatchLogsFake, millis
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

GROUP = "/aws/lambda/orders"
TABLE = log_group_table(GROUP)
RULES = f"""
sources:
  - name: aws
    kind: cloudwatch
    ingestion_delay: 5m
    log_groups: [{{name: {GROUP}}}]
failures:
  - name: lambda-errors
    log_groups: [{GROUP}]
    when: {{field: Message, contains: ERROR}}
    threshold: {{count: 3, within: 30m}}
routing: {{default_repository: contoso/shop}}
"""


@pytest.fixture
def cloudwatch(clock) -> Iterator[CloudWatchLogsFake]:
    with CloudWatchLogsFake(clock.now()) as fake:
        fake.polls_to_complete = 1
        yield fake


def build(
    storage_env, clock, cloudwatch: CloudWatchLogsFake, tmp_path: Path, **extra: str
) -> Services:
    rules = tmp_path / "faultline.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {
        **storage_env,
        "FAULTLINE_RULES_PATH": str(rules),
        "FAULTLINE_AWS_REGION": "eu-west-1",
        "FAULTLINE_CLOUDWATCH_ENDPOINT": cloudwatch.endpoint,
        "FAULTLINE_CLOUDWATCH_CA_BUNDLE": cloudwatch.ca_path,
        **extra,
    }
    built = bootstrap(env, clock=clock)
    install(built)
    return built


@pytest.fixture
def services(storage_env, clock, cloudwatch, tmp_path, monkeypatch) -> Iterator[Services]:
    # botocore's default chain reads the environment when no role or Key Vault pair is set
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALRUN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    yield build(storage_env, clock, cloudwatch, tmp_path)
    install(None)


@pytest.fixture
def jobs_queue(services, functions: FunctionTable, azurite) -> QueueDriver:
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    return QueueDriver(
        service, services.settings.query_queue, functions.user_function("query_and_detect")
    )


def put(fake: CloudWatchLogsFake, ingested: datetime, *events: tuple[datetime, str]) -> None:
    """Events as a Lambda's log agent delivers them, in a stream of their own: put when the
    fake's clock reads `ingested`."""
    fake.now = ingested
    client = logs_client("eu-west-1", None, endpoint=fake.endpoint, verify=fake.ca_path)
    if GROUP not in fake.groups:
        client.create_log_group(logGroupName=GROUP)
    stream = f"2026/11/20/[$LATEST]{len(fake.groups[GROUP]):04d}"
    client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    client.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": millis(at), "message": message} for at, message in events],
    )


def enqueue(services: Services, start: datetime, end: datetime) -> None:
    job = QueryJob.for_window("aws", TABLE, QueryWindow(start, end))
    services.query_queue.send(job.model_dump_json())


def notices(azurite, services: Services) -> list[FailureNotice]:
    return [
        FailureNotice.model_validate_json(body)
        for body in queued_bodies(azurite, services.settings.failure_queue)
    ]


def test_the_timer_queues_a_job_per_log_group_on_ingestion_time(services, clock) -> None:
    report = fan_out(services)
    assert [(j.source, j.table) for j in report.jobs] == [("aws", TABLE)] * len(report.jobs)
    assert report.jobs[-1].end == clock.now() - timedelta(minutes=5)


def test_a_late_event_is_counted_when_it_arrives_and_overlaps_count_once(
    services, cloudwatch, jobs_queue, azurite, clock
) -> None:
    t0 = clock.now()
    put(
        cloudwatch,
        t0 + timedelta(seconds=20),
        *[(t0 + timedelta(seconds=i), f"ERROR {i}") for i in range(3)],
    )
    put(
        cloudwatch,
        t0 + timedelta(minutes=40),
        (t0 + timedelta(minutes=2), "ERROR 3"),
    )
    enqueue(services, t0, t0 + timedelta(minutes=15))
    jobs_queue.drain()
    crossed = notices(azurite, services)
    assert [n.count for n in crossed] == [3]
    group = crossed[0].fingerprint
    enqueue(services, t0 + timedelta(minutes=15), t0 + timedelta(minutes=30))
    enqueue(services, t0 + timedelta(minutes=30), t0 + timedelta(minutes=45))
    jobs_queue.drain()
    assert services.ledger.summary(group).count == 4
    # a replay of the whole hour and a window overlapping both: nothing is counted again
    enqueue(services, t0 - timedelta(minutes=5), t0 + timedelta(minutes=45))
    enqueue(services, t0 + timedelta(minutes=10), t0 + timedelta(minutes=41))
    assert jobs_queue.drain().processed == 2
    assert services.ledger.summary(group).count == 4
    assert len(services.ledger.occurrences(group)) == 4
    shown = issue_view(services, crossed[0], 4)
    assert shown.query_service == "CloudWatch Logs Insights"
    assert shown.kql.startswith(f"# log group {GROUP};")
    assert "| filter @message like /(?i)ERROR/" in shown.kql


def test_a_window_at_the_row_limit_is_split_until_nothing_is_lost(
    storage_env, clock, cloudwatch, tmp_path, monkeypatch, functions, azurite
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALRUN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    services = build(storage_env, clock, cloudwatch, tmp_path, FAULTLINE_MAX_ROWS_PER_QUERY="2")
    try:
        t0 = clock.now()
        for minute in range(5):
            at = t0 + timedelta(minutes=minute * 3)
            put(cloudwatch, at + timedelta(seconds=5), (at, f"ERROR {minute}"))
        enqueue(services, t0, t0 + timedelta(minutes=15))
        queue = QueueServiceClient.from_connection_string(azurite.connection_string)
        QueueDriver(
            queue, services.settings.query_queue, functions.user_function("query_and_detect")
        ).drain()
        starts = [c for c in cloudwatch.calls if c.operation == "StartQuery"]
        assert len(starts) > 3
        assert all("| limit 2" in c.body["queryString"] for c in starts)
        group = notices(azurite, services)[0].fingerprint
        assert services.ledger.summary(group).count == 5
    finally:
        install(None)


def test_a_throttled_job_goes_back_on_the_queue_unseen_until_later(
    services, cloudwatch, jobs_queue, azurite, clock
) -> None:
    t0 = clock.now()
    put(cloudwatch, t0 + timedelta(seconds=20), (t0, "ERROR 0"))
    cloudwatch.throttle("StartQuery")
    enqueue(services, t0, t0 + timedelta(minutes=15))
    result = jobs_queue.drain()
    assert (result.processed, result.failed) == (1, 0)
    queue = QueueClient.from_connection_string(
        azurite.connection_string, services.settings.query_queue
    )
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.peek_messages()) == []
    queried = [(c.operation, c.status) for c in cloudwatch.calls if "Query" in c.operation]
    assert queried == [("StartQuery", 400)]
