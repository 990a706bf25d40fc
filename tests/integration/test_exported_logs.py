"""The exported-logs source: service-like filtering, and malformed rows logged and skipped, from
either export shape (the query API's response, the az CLI's `-o json` rows)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.windows import QueryWindow
from local_host.host import QueueDriver
from pipeline.messages import FailureNotice, QueryJob
from tests.support.exports import as_az_cli
from tests.support.storage import queued_bodies, wire_time

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("Level", "string"),
    ("Message", "string"),
    ("CorrelationId", "string"),
    ("ServiceName", "string"),
    ("Properties", "dynamic"),
    ("IngestionTime", "datetime"),
]


def _row(
    minute: int, message: str, properties: str | None, level: str = "Error", time: object = None
) -> list:
    at = T0 + timedelta(minutes=minute)
    generated = wire_time(at) if time is None else time
    return [
        generated,
        level,
        message,
        f"c-{minute}",
        "orders-worker",
        properties,
        wire_time(at + timedelta(seconds=30)),
    ]


@pytest.mark.parametrize("shape", ["query-api", "az-cli"])
def test_malformed_rows_are_logged_with_table_and_reason_and_the_rest_is_counted(
    shape, tmp_path, storage_env, clock, functions, azurite, caplog
) -> None:
    rows = [
        _row(1, "order AB-1 failed: card declined", '{"retryable": false}'),
        _row(2, "order AB-2 failed: card declined", '{"retryable": false}'),
        _row(3, "order AB-3 failed: card declined", '{"retryable": fals'),
        _row(4, "order AB-4 failed: card declined", '{"retryable": false}', time="not-a-date"),
        _row(5, "order AB-5 failed: card declined", '{"retryable": true}'),
        _row(6, "order AB-6 failed: card declined", '{"retryable": false}', level="Warning"),
        _row(40, "order AB-7 failed: card declined", '{"retryable": false}'),
    ]
    export = {
        "tables": [
            {
                "name": "OrdersService_CL",
                "columns": [{"name": n, "type": t} for n, t in COLUMNS],
                "rows": rows,
            }
        ]
    }
    written = export if shape == "query-api" else as_az_cli(export)
    (tmp_path / "OrdersService_CL.json").write_text(json.dumps(written))
    services = bootstrap({**storage_env, "FAULTLINE_LOGS_EXPORT_DIR": str(tmp_path)}, clock=clock)
    install(services)
    try:
        job = QueryJob.for_window(
            "production", "OrdersService_CL", QueryWindow(T0, T0 + timedelta(minutes=15))
        )
        services.query_queue.send(job.model_dump_json())
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        driver = QueueDriver(
            queues, services.settings.query_queue, functions.user_function("query_and_detect")
        )
        with caplog.at_level(logging.WARNING):
            assert driver.drain().processed == 1
    finally:
        install(None)
    assert "skipped malformed row 2 of OrdersService_CL" in caplog.text
    assert "dynamic column Properties is not valid JSON" in caplog.text
    assert "skipped malformed row 3 of OrdersService_CL" in caplog.text
    assert "TimeGenerated is not a datetime: 'not-a-date'" in caplog.text
    notices = [
        FailureNotice.model_validate_json(b)
        for b in queued_bodies(azurite, services.settings.failure_queue)
    ]
    assert [(n.definition, n.count) for n in notices] == [("order-processing-failure", 2)]
    founder = services.ledger.summary(notices[0].fingerprint).founder
    assert founder.context == {"order_id": "AB-1"}
