"""Query + detect through the real LogsQueryClient, the LA wire-format fake and Azurite,
with the functions invoked as the host invokes them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from bootstrap import bootstrap, install
from detection.windows import QueryWindow
from local_host.host import FunctionTable, QueueDriver, http_request, timer_request
from pipeline.messages import FailureNotice, QueryJob
from tests.fakes.log_analytics import LogAnalyticsFake, Partial, ServerError, Throttle
from tests.support.storage import queued_bodies, wire_time

pytestmark = pytest.mark.integration

WORKSPACE = "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
REQUEST_COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("Name", "string"),
    ("ResultCode", "string"),
    ("Success", "bool"),
    ("DurationMs", "real"),
    ("OperationId", "string"),
    ("AppRoleName", "string"),
]


def request_row(at: datetime, code: str, success: bool, op: str) -> list:
    return [wire_time(at), "GET /api/cart", code, success, 12.5, op, "checkout-web"]


@pytest.fixture
def la():
    with LogAnalyticsFake() as fake:
        yield fake


@pytest.fixture
def services(storage_env, clock, la):
    env = {
        **storage_env,
        "FAULTLINE_LOGS_ENDPOINT": la.endpoint,
        "FAULTLINE_LOGS_CA_BUNDLE": la.ca_path,
    }
    built = bootstrap(env, clock=clock, credential=la.credential)
    install(built)
    yield built
    install(None)


@pytest.fixture
def jobs_queue(services, functions: FunctionTable, azurite) -> QueueDriver:
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    return QueueDriver(
        service, services.settings.query_queue, functions.user_function("query_and_detect")
    )


@pytest.fixture
def poison_queue(services, functions: FunctionTable, azurite) -> QueueDriver:
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    return QueueDriver(
        service, services.settings.poison_queue, functions.user_function("record_poisoned_query")
    )


def _seed_requests(la: LogAnalyticsFake) -> None:
    """4 failing 503s within 10 minutes (crosses 3-in-10m), 2 failing 404s, 4 successes."""
    rows, arrivals = [], []
    for i in range(10):
        at = T0 + timedelta(minutes=i)
        code, success = ("503", False) if i < 4 else ("404", False) if i < 6 else ("200", True)
        rows.append(request_row(at, code, success, f"op-{i}"))
        arrivals.append(at + timedelta(seconds=40))
    la.add_table(WORKSPACE, "AppRequests", REQUEST_COLUMNS, rows, arrivals)


def _enqueue(services, start: datetime, end: datetime, table: str = "AppRequests") -> QueryJob:
    job = QueryJob.for_window("production", table, QueryWindow(start, end))
    services.query_queue.send(job.model_dump_json())
    return job


def _notices(azurite, services) -> list[FailureNotice]:
    return [
        FailureNotice.model_validate_json(b)
        for b in queued_bodies(azurite, services.settings.failure_queue)
    ]


def _counts(services, notices: list[FailureNotice]) -> dict[str, int]:
    return {n.fingerprint: services.ledger.summary(n.fingerprint).count for n in notices}


def test_a_job_counts_candidates_once_and_hands_off_the_crossed_failure(
    services, la, jobs_queue, azurite
) -> None:
    _seed_requests(la)
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    assert jobs_queue.drain().processed == 1
    query = la.requests[0].query
    assert "ResultCode) matches regex" in query and "tobool(Success)" in query
    notices = _notices(azurite, services)
    assert len(notices) == 1
    notice = notices[0]
    assert (notice.definition, notice.count, notice.table) == ("failed-request", 4, "AppRequests")
    founder = services.ledger.summary(notice.fingerprint).founder
    assert founder.title == "GET /api/cart failed with 503"
    assert notice.threshold_crossed_at == T0 + timedelta(minutes=2)

    _enqueue(services, T0, T0 + timedelta(minutes=15))
    _enqueue(services, T0 - timedelta(minutes=5), T0 + timedelta(minutes=7))
    assert jobs_queue.drain().processed == 2
    assert _notices(azurite, services) == []
    assert services.ledger.summary(notice.fingerprint).count == 4


def test_a_replays_job_hands_off_with_its_run_id(services, la, jobs_queue, azurite) -> None:
    """The issue a replay's notice creates records the run, so an undo can select it."""
    _seed_requests(la)
    window = QueryWindow(T0, T0 + timedelta(minutes=15))
    job = QueryJob.for_window("production", "AppRequests", window, "replay", "replay-" + "ab" * 8)
    services.query_queue.send(job.model_dump_json())
    assert jobs_queue.drain().processed == 1
    assert [n.run for n in _notices(azurite, services)] == ["replay-" + "ab" * 8]


def test_late_arrivals_are_found_by_ingestion_time_and_trigger_a_recurrence_notice(
    services, la, jobs_queue, azurite
) -> None:
    _seed_requests(la)
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    jobs_queue.drain()
    first = _notices(azurite, services)[0]
    late_at = T0 + timedelta(minutes=3, seconds=30)
    la.add_table(
        WORKSPACE,
        "AppRequests",
        REQUEST_COLUMNS,
        [request_row(late_at, "503", False, "op-late")],
        [T0 + timedelta(minutes=40)],
    )
    _enqueue(services, T0 + timedelta(minutes=15), T0 + timedelta(minutes=30))
    jobs_queue.drain()
    assert _notices(azurite, services) == []
    _enqueue(services, T0 + timedelta(minutes=30), T0 + timedelta(minutes=45))
    jobs_queue.drain()
    recurrence = _notices(azurite, services)
    assert [(n.fingerprint, n.count) for n in recurrence] == [(first.fingerprint, 5)]


def test_throttling_puts_the_job_back_invisible_for_retry_after(
    services, la, jobs_queue, azurite
) -> None:
    _seed_requests(la)
    la.fail_next(Throttle(retry_after=120))
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    result = jobs_queue.drain()
    assert (result.processed, result.failed) == (1, 0)
    queue = QueueClient.from_connection_string(
        azurite.connection_string, services.settings.query_queue
    )
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.peek_messages()) == []
    assert [r.status for r in la.requests] == [429]


def test_throttled_job_runs_when_visible_again(services, la, jobs_queue, azurite) -> None:
    _seed_requests(la)
    la.fail_next(Throttle(retry_after=1))
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    jobs_queue.drain()
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    while not jobs_queue.drain().processed and datetime.now(UTC) < deadline:
        pass
    assert [r.status for r in la.requests] == [429, 200]
    assert [n.count for n in _notices(azurite, services)] == [4]


def test_partial_results_split_the_window_and_nothing_is_lost(
    services, la, jobs_queue, azurite
) -> None:
    _seed_requests(la)
    la.fail_next(Partial())
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    assert jobs_queue.drain().processed == 3
    assert len(la.requests) == 3
    assert sum(_counts(services, _notices(azurite, services)).values()) == 4


@pytest.mark.parametrize("whose", ["the service's", "our own"])
def test_the_row_cap_splits_until_each_slice_fits(
    services, la, jobs_queue, azurite, storage_env, clock, whose
) -> None:
    """The service trims at its cap with a partial error; our `take` stops at our cap with a
    whole-looking result. Either way the window is split and nothing is lost."""
    env = {
        **storage_env,
        "FAULTLINE_LOGS_ENDPOINT": la.endpoint,
        "FAULTLINE_LOGS_CA_BUNDLE": la.ca_path,
        "FAULTLINE_MAX_ROWS_PER_QUERY": "2",
    }
    install(bootstrap(env, clock=clock, credential=la.credential))
    if whose == "the service's":
        la.max_rows = 2
    _seed_requests(la)
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    jobs_queue.drain()
    assert len(la.requests) > 3
    notices = _notices(azurite, services)
    assert sum(_counts(services, notices[-1:]).values()) == 4


def test_a_job_that_keeps_failing_ends_in_the_poison_queue_loudly(
    services, la, jobs_queue, poison_queue, functions, caplog
) -> None:
    _seed_requests(la)
    for _ in range(5):
        la.fail_next(ServerError(status=503))
    job = _enqueue(services, T0, T0 + timedelta(minutes=15))
    with caplog.at_level(logging.ERROR):
        result = jobs_queue.drain()
        assert (result.failed, result.poisoned) == (5, 1)
        assert poison_queue.drain().processed == 1
    assert "attempt 5 of 5; the host now moves it to the poison queue" in caplog.text
    assert f"poisoned query job {job.job_id}" in caplog.text
    response = functions.user_function("health_check")(http_request("GET", "health"))
    assert json.loads(response.get_body())["storage"]["poisoned_jobs"] == 1


def test_transient_5xx_is_retried_by_the_host_and_then_succeeds(
    services, la, jobs_queue, azurite
) -> None:
    _seed_requests(la)
    la.fail_next(ServerError(status=502))
    la.fail_next(ServerError(status=500))
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    result = jobs_queue.drain()
    assert (result.failed, result.processed) == (2, 1)
    assert [n.count for n in _notices(azurite, services)] == [4]


def test_a_query_the_service_refuses_is_poisoned_at_once_with_its_reason(
    services, la, jobs_queue, poison_queue, caplog
) -> None:
    _seed_requests(la)
    _enqueue(services, T0, T0 + timedelta(minutes=15), table="AppTraces")
    with caplog.at_level(logging.ERROR):
        assert jobs_queue.drain().processed == 1
        poison_queue.drain()
    assert "Failed to resolve table or column expression named 'AppTraces'" in caplog.text
    assert services.poisoned_jobs.count() == 1


def test_a_message_that_is_not_a_job_is_poisoned_and_the_rest_flow(
    services, la, jobs_queue, poison_queue, azurite, caplog
) -> None:
    _seed_requests(la)
    services.query_queue.send("{not json")
    services.query_queue.send(json.dumps({"job_id": "x", "source": "production"}))
    _enqueue(services, T0, T0 + timedelta(minutes=15))
    with caplog.at_level(logging.ERROR):
        assert jobs_queue.drain().processed == 3
        poison_queue.drain()
    assert caplog.text.count("is poisoned: not a query job") == 2
    assert services.poisoned_jobs.count() == 2
    assert [n.count for n in _notices(azurite, services)] == [4]


def test_a_lost_hand_off_is_resent_when_the_host_retries(services, la, functions, azurite) -> None:
    _seed_requests(la)
    job = QueryJob.for_window(
        "production", "AppRequests", QueryWindow(T0, T0 + timedelta(minutes=15))
    )
    failures = QueueClient.from_connection_string(
        azurite.connection_string, services.settings.failure_queue
    )
    failures.delete_queue()
    handler = functions.user_function("query_and_detect")
    message = QueueMessage(id="1", body=job.model_dump_json().encode(), dequeue_count=1)
    with pytest.raises(Exception, match="QueueNotFound|queue does not exist"):
        handler(message)
    failures.create_queue()
    handler(QueueMessage(id="1", body=job.model_dump_json().encode(), dequeue_count=2))
    notices = _notices(azurite, services)
    assert [n.count for n in notices] == [4]
    assert not services.ledger.summary(notices[0].fingerprint).handoff_pending


def test_replay_over_http_queues_jobs_and_repeating_it_counts_nothing_twice(
    services, la, jobs_queue, functions, azurite, clock
) -> None:
    _seed_requests(la)
    replay = functions.user_function("replay_window")
    body = json.dumps(
        {
            "source": "production",
            "tables": ["AppRequests"],
            "start": "2026-11-20T00:50:00Z",
            "end": "2026-11-20T01:20:00Z",
        }
    ).encode()
    first = replay(http_request("POST", "replay", body))
    assert first.status_code == 202 and json.loads(first.get_body())["queued"] == 2
    second = replay(http_request("POST", "replay", body))
    assert json.loads(second.get_body())["jobs"] == json.loads(first.get_body())["jobs"]
    assert jobs_queue.drain().processed == 4
    notices = _notices(azurite, services)
    assert {n.count for n in notices} == {4}
    assert services.ledger.summary(notices[0].fingerprint).count == 4


def test_the_daily_clean_up_forgets_occurrences_past_the_retention_and_keeps_counts(
    services, la, jobs_queue, functions, azurite, clock
) -> None:
    _seed_requests(la)
    window = (datetime(2026, 11, 20, 0, 50, tzinfo=UTC), datetime(2026, 11, 20, 1, 20, tzinfo=UTC))
    _enqueue(services, *window)
    jobs_queue.drain()
    [notice] = _notices(azurite, services)
    prune = functions.user_function("prune_occurrence_ledger")
    prune(timer_request())
    _enqueue(services, *window)
    jobs_queue.drain()
    assert services.ledger.summary(notice.fingerprint).count == 4, "retained rows still dedupe"
    clock.advance(timedelta(days=31))
    prune(timer_request())
    assert services.ledger.prune(clock.now()) == 0, "the clean-up left nothing that old"
    assert services.ledger.summary(notice.fingerprint).count == 4


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{", "body"),
        (
            json.dumps(
                {
                    "tables": ["AppRequests"],
                    "start": "2026-11-20T00:00:00Z",
                    "end": "2026-11-20T01:00:00Z",
                }
            ),
            "source: Field required",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "start": "2026-11-20T01:00:00",
                    "end": "2026-11-20T02:00:00Z",
                }
            ),
            "start: Input should have timezone info",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "start": "2026-11-20T02:00:00Z",
                    "end": "2026-11-20T01:00:00Z",
                }
            ),
            "end must be after start",
        ),
        (
            json.dumps(
                {
                    "source": "staging",
                    "start": "2026-11-20T00:00:00Z",
                    "end": "2026-11-20T01:00:00Z",
                }
            ),
            "no source named 'staging'",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "tables": ["Nope"],
                    "start": "2026-11-20T00:00:00Z",
                    "end": "2026-11-20T01:00:00Z",
                }
            ),
            "does not watch: Nope",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "start": "2026-11-21T00:00:00Z",
                    "end": "2026-11-22T01:00:00Z",
                }
            ),
            "start is in the future",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "start": "2026-10-22T00:00:00Z",
                    "end": "2026-11-20T01:00:00Z",
                }
            ),
            "replay less at once",
        ),
        (
            json.dumps(
                {
                    "source": "production",
                    "start": "2025-01-01T00:00:00Z",
                    "end": "2025-01-02T00:00:00Z",
                }
            ),
            "dedup.occurrence_retention (30 days, 0:00:00)",
        ),
    ],
)
def test_replay_rejects_bad_requests_with_a_clear_400(
    services, functions, payload, problem
) -> None:
    body = payload if isinstance(payload, bytes) else payload.encode()
    response = functions.user_function("replay_window")(http_request("POST", "replay", body))
    assert response.status_code == 400
    assert problem in response.get_body().decode()


def test_health_reports_config_storage_and_checkpoint_lag(services, functions, clock) -> None:
    functions.user_function("fan_out_queries")(timer_request())
    clock.advance(timedelta(minutes=10))
    response = functions.user_function("health_check")(http_request("GET", "health"))
    report = json.loads(response.get_body())
    assert response.status_code == 200
    assert report["config"]["loaded"] and report["storage"] == {
        "reachable": True,
        "poisoned_jobs": 0,
        "poisoned_notices": 0,
        "poisoned_github_events": 0,
    }
    lags = {c["table"]: c["lag_seconds"] for c in report["checkpoints"]}
    assert len(lags) == 8 and set(lags.values()) == {720}
