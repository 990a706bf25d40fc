"""The Logs Ingestion fake, driven through the real ``LogsIngestionClient``, its records then
read back through the real ``LogsQueryClient`` from the Log Analytics fake.

These prove the fake refuses what the service refuses (so the smoke test's error reports are
tested against real answers) and that an accepted record becomes queryable only after its lag.
"""

import base64
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.monitor.ingestion import LogsIngestionClient
from azure.monitor.query import LogsQueryClient

from tests.fakes.log_analytics import LogAnalyticsFake
from tests.fakes.logs_ingestion import (
    MAX_CALL_BYTES,
    IngestionCredential,
    LogsIngestionFake,
    ServerError,
    Throttle,
)

pytestmark = pytest.mark.integration

WS = "0f4e7f6a-57c1-4c8e-9b1f-6f3c2a1d0e99"
RULE = "dcr-00000000000000000000000000000001"
STREAM = "Custom-FaultlineSmoke_CL"
TABLE = "FaultlineSmoke_CL"
COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("Level", "string"),
    ("Message", "string"),
    ("Service", "string"),
    ("RunId", "string"),
]
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class Stack:
    la: LogAnalyticsFake
    ingestion: LogsIngestionFake
    clock: Clock

    def client(self, credential: object | None = None) -> LogsIngestionClient:
        return LogsIngestionClient(
            self.ingestion.endpoint,
            credential or self.ingestion.credential,  # type: ignore[arg-type]
            connection_verify=self.ingestion.ca_path,
            retry_total=0,
        )

    def rows(self, run_id: str) -> list[dict[str, object]]:
        client = LogsQueryClient(
            self.la.credential, endpoint=self.la.endpoint, connection_verify=self.la.ca_path
        )
        result = client.query_workspace(
            WS,
            f'{TABLE} | where RunId == "{run_id}" | extend IngestedAt = ingestion_time()',
            timespan=(T0 - timedelta(days=1), T0 + timedelta(days=1)),
        )
        table = result.tables[0]  # type: ignore[union-attr]
        return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


@pytest.fixture
def stack() -> Iterator[Stack]:
    clock = Clock()
    with LogAnalyticsFake() as la, LogsIngestionFake(la, lag=30, clock=clock) as ingestion:
        ingestion.add_rule(RULE, STREAM, COLUMNS, workspace_id=WS, table=TABLE)
        yield Stack(la, ingestion, clock)


def record(run_id: str = "run-1", **extra: object) -> dict[str, object]:
    return {
        "TimeGenerated": "2026-11-20T01:59:30Z",
        "Level": "Error",
        "Message": "Faultline smoke test: a synthetic failure",
        "Service": "faultline-smoke",
        "RunId": run_id,
        **extra,
    }


def test_an_accepted_record_is_queryable_once_its_lag_has_passed(stack: Stack) -> None:
    stack.client().upload(RULE, STREAM, [record()])
    (upload,) = stack.ingestion.requests
    assert (upload.status, upload.api_version) == (204, "2023-01-01")
    assert upload.content_encoding == "gzip", "the SDK compresses every call"
    assert stack.ingestion.credential.scopes == ["https://monitor.azure.com/.default"]
    assert stack.rows("run-1") == [], "not yet ingested"
    stack.clock.moment += timedelta(seconds=29)
    assert stack.rows("run-1") == []
    stack.clock.moment += timedelta(seconds=1)
    (row,) = stack.rows("run-1")
    assert row["Level"] == "Error" and row["Service"] == "faultline-smoke"
    assert row["TimeGenerated"] == datetime(2026, 11, 20, 1, 59, 30, tzinfo=UTC)
    assert row["IngestedAt"] == T0 + timedelta(seconds=30), "ingestion_time() is when it landed"


def test_an_uncompressed_body_is_accepted_too(stack: Stack) -> None:
    body = io.BytesIO(json.dumps([record("plain")]).encode())
    stack.client().upload(RULE, STREAM, body)
    stack.clock.moment += timedelta(minutes=1)
    assert [r["RunId"] for r in stack.rows("plain")] == ["plain"]
    assert stack.ingestion.requests[-1].content_encoding is None


def test_a_record_never_ingested_stays_invisible(stack: Stack) -> None:
    stack.ingestion.lag = None
    stack.client().upload(RULE, STREAM, [record("lost")])
    stack.clock.moment += timedelta(days=1)
    assert stack.rows("lost") == []
    assert stack.ingestion.pending == 1


def test_a_token_the_service_did_not_issue_is_401(stack: Stack) -> None:
    with pytest.raises(ClientAuthenticationError) as refused:
        stack.client(IngestionCredential()).upload(RULE, STREAM, [record()])
    assert refused.value.status_code == 401
    assert refused.value.error is not None
    assert refused.value.error.code == "InvalidAuthenticationToken"


def test_an_identity_without_monitoring_metrics_publisher_on_the_rule_is_403(
    stack: Stack,
) -> None:
    outsider = stack.ingestion.add_credential()
    with pytest.raises(HttpResponseError) as refused:
        stack.client(outsider).upload(RULE, STREAM, [record()])
    assert refused.value.status_code == 403
    assert refused.value.error is not None and refused.value.error.code == "OperationFailed"
    assert "does not have access to ingest data" in str(refused.value)
    publisher = stack.ingestion.add_credential(publisher_on=[RULE])
    stack.client(publisher).upload(RULE, STREAM, [record()])


def test_an_unknown_rule_is_404_and_an_undeclared_stream_400(stack: Stack) -> None:
    with pytest.raises(HttpResponseError) as unknown_rule:
        stack.client().upload("dcr-ffffffffffffffffffffffffffffffff", STREAM, [record()])
    assert unknown_rule.value.status_code == 404
    with pytest.raises(HttpResponseError) as unknown_stream:
        stack.client().upload(RULE, "Custom-Other_CL", [record()])
    assert unknown_stream.value.status_code == 400
    assert unknown_stream.value.error is not None
    assert unknown_stream.value.error.code == "InvalidStream"


def test_more_than_a_megabyte_compressed_or_not_is_413(stack: Stack) -> None:
    # random base64 compresses by a quarter at best: the gzip body itself is over the limit
    noise = base64.b64encode(os.urandom(MAX_CALL_BYTES + 100_000)).decode()
    with pytest.raises(HttpResponseError) as compressed:
        stack.client().upload(RULE, STREAM, [record("big", Message=noise)])
    assert compressed.value.status_code == 413
    assert stack.ingestion.requests[-1].body_bytes > MAX_CALL_BYTES
    # one letter repeated compresses to almost nothing, and is still over the limit unpacked
    with pytest.raises(HttpResponseError) as uncompressed:
        stack.client().upload(RULE, STREAM, [record("big", Message="a" * (MAX_CALL_BYTES + 1))])
    assert uncompressed.value.status_code == 413
    assert stack.ingestion.requests[-1].body_bytes < MAX_CALL_BYTES // 100
    stack.clock.moment += timedelta(days=1)
    assert stack.rows("big") == [], "a refused call leaves nothing behind"


def test_a_body_that_says_gzip_and_is_not_is_400(stack: Stack) -> None:
    with pytest.raises(HttpResponseError) as refused:
        stack.client().upload(
            RULE, STREAM, io.BytesIO(b"\x1f\x8b not really gzip"), logging_enable=False
        )
    assert refused.value.status_code == 400


def test_fields_are_truncated_dropped_or_nulled_as_their_column_allows(stack: Stack) -> None:
    stack.client().upload(
        RULE,
        STREAM,
        [
            record("shape", Message="x" * 70_000, Extra="not declared", Level=3),
            {**record("shape"), "TimeGenerated": "yesterday"},
        ],
    )
    stack.clock.moment += timedelta(minutes=1)
    (row,) = stack.rows("shape")
    assert len(str(row["Message"])) == 64 * 1024
    assert "Extra" not in row
    assert row["Level"] == "3", "a number sent to a string column is its text"
    assert stack.ingestion.requests[-1].records == 2, "both accepted; one had no usable time"


@pytest.mark.parametrize(
    ("fault", "status"), [(Throttle(retry_after=7), 429), (ServerError(503), 503)]
)
def test_throttling_and_server_errors_reach_the_client(
    stack: Stack, fault: Throttle | ServerError, status: int
) -> None:
    stack.ingestion.fail_next(fault)
    with pytest.raises(HttpResponseError) as refused:
        stack.client().upload(RULE, STREAM, [record()])
    assert refused.value.status_code == status
    if status == 429:
        assert refused.value.response is not None
        assert refused.value.response.headers["Retry-After"] == "7"
    stack.client().upload(RULE, STREAM, [record("after")])
    assert stack.ingestion.requests[-1].status == 204
