"""A CloudWatch log group's export (`aws logs filter-log-events -o json`, the bundled sample in
samples/cloudwatch) replayed through the query job like the Log Analytics exports: windows on
its `ingestionTime`, so the event an extension delivered 40 minutes late is counted when it
arrived, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.queue import QueueServiceClient

from adapters.exported_logs import ExportError, read_export
from bootstrap import bootstrap, install
from detection.rules import log_group_table
from detection.windows import QueryWindow
from local_host.host import FunctionTable, QueueDriver
from pipeline.messages import FailureNotice, QueryJob
from pipeline.services import Services
from tests.support.storage import queued_bodies

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "cloudwatch"
GROUP = "/aws/lambda/orders"
TABLE = log_group_table(GROUP)
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
RULES = f"""
sources:
  - name: aws
    kind: cloudwatch
    log_groups: [{{name: {GROUP}}}]
failures:
  - name: lambda-errors
    log_groups: [{GROUP}]
    when: {{field: Message, contains: "[ERROR]", case_sensitive: true}}
    threshold: {{count: 3, within: 30m}}
routing: {{default_repository: contoso/shop}}
"""


@pytest.fixture
def services(storage_env, clock, tmp_path) -> Iterator[Services]:
    rules = tmp_path / "faultline.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {
        **storage_env,
        "FAULTLINE_RULES_PATH": str(rules),
        "FAULTLINE_LOGS_EXPORT_DIR": str(SAMPLE),
    }
    built = bootstrap(env, clock=clock)
    install(built)
    yield built
    install(None)


def run(services: Services, functions: FunctionTable, azurite, start: datetime, end: datetime):
    job = QueryJob.for_window("aws", TABLE, QueryWindow(start, end))
    services.query_queue.send(job.model_dump_json())
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    QueueDriver(
        queues, services.settings.query_queue, functions.user_function("query_and_detect")
    ).drain()


def test_the_sample_replays_with_its_late_event_counted_once(services, functions, azurite) -> None:
    run(services, functions, azurite, T0, T0 + timedelta(minutes=15))
    notices = [
        FailureNotice.model_validate_json(body)
        for body in queued_bodies(azurite, services.settings.failure_queue)
    ]
    assert [(n.count, n.table, n.source) for n in notices] == [(4, TABLE, "aws")]
    group = notices[0].fingerprint
    founder = services.ledger.summary(group).founder
    assert "payment capture failed for order" in founder.message
    run(services, functions, azurite, T0 + timedelta(minutes=15), T0 + timedelta(minutes=45))
    assert services.ledger.summary(group).count == 4
    run(services, functions, azurite, T0 + timedelta(minutes=45), T0 + timedelta(minutes=60))
    assert services.ledger.summary(group).count == 5
    run(services, functions, azurite, T0 - timedelta(minutes=5), T0 + timedelta(minutes=60))
    assert services.ledger.summary(group).count == 5
    assert {o["Table"] for o in services.ledger.occurrences(group)} == {TABLE}


def test_an_export_that_is_not_log_events_is_refused_with_what_is_expected(tmp_path) -> None:
    path = tmp_path / f"{TABLE}.json"
    path.write_text('{"events": {"message": "not a list"}}', encoding="utf-8")
    with pytest.raises(ExportError, match="aws logs filter-log-events -o json"):
        read_export(path)


def test_the_sample_is_read_in_arrival_order() -> None:
    export = read_export(SAMPLE / f"{TABLE}.json")
    assert [c.name for c in export.columns] == [
        "TimeGenerated",
        "IngestionTime",
        "Message",
        "LogStream",
    ]
    assert export.arrivals == sorted(export.arrivals)
    late = max(export.rows, key=lambda row: row[1] - row[0])
    assert late[1] - late[0] == timedelta(minutes=40)
