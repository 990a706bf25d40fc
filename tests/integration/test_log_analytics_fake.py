"""The Log Analytics fake, driven through the real ``LogsQueryClient``.

These prove the fake filters rows the way the service would (so later tests can trust it to show
which rows leave "Azure") and that it reproduces the service's error answers on the wire.
"""

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpResponse
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryResult

from tests.fakes.log_analytics import LogAnalyticsFake, Partial, ServerError, Throttle

pytestmark = pytest.mark.integration

WS = "00000000-0000-0000-0000-000000000001"
T0 = datetime(2026, 11, 20, tzinfo=UTC)

COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("Id", "string"),
    ("Name", "string"),
    ("Success", "bool"),
    ("ResultCode", "string"),
    ("SeverityLevel", "int"),
    ("DurationMs", "real"),
    ("Properties", "dynamic"),
]
# Id, Name, Success, ResultCode, SeverityLevel, DurationMs, Properties; one minute apart.
ROWS: list[list[Any]] = [
    ["a", "GET /api/orders", False, "500", 1, 120.5, '{"user": {"id": "u1"}, "ms": 12}'],
    ["b", "GET /API/users", True, "200", 3, 5.0, '{"user": {"id": "u2"}, "flag": "true"}'],
    ["c", "POST /login", False, "503", 0, 300.0, '{"count": "3", "ms": "7.5"}'],
    ["d", "GET /health", True, "", 2, 1.0, None],
    ["e", "GET /api/orders", False, "404", 4, 99.9, "not json"],
]


def _wire_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _kql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _kql_time(moment: datetime) -> str:
    return f"datetime({moment.strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z)"


@pytest.fixture
def la() -> Iterator[LogAnalyticsFake]:
    with LogAnalyticsFake() as fake:
        fake.add_table(
            WS,
            "AppRequests",
            COLUMNS,
            [[_wire_time(T0 + timedelta(minutes=i)), *row] for i, row in enumerate(ROWS)],
            [T0 + timedelta(minutes=i, seconds=30) for i in range(len(ROWS))],
        )
        yield fake


@pytest.fixture
def client(la: LogAnalyticsFake) -> Iterator[LogsQueryClient]:
    with LogsQueryClient(
        la.credential, endpoint=la.endpoint, connection_verify=la.ca_path, retry_total=0
    ) as logs:
        yield logs


def _run(client: LogsQueryClient, query: str, **kwargs: Any) -> LogsQueryResult:
    result = client.query_workspace(WS, query, timespan=kwargs.pop("timespan", None), **kwargs)
    assert isinstance(result, LogsQueryResult)
    return result


def _ids(client: LogsQueryClient, where: str) -> list[str]:
    result = _run(client, f"AppRequests\n| where {where}")
    return [row["Id"] for row in result.tables[0].rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # equality, case-sensitive and not
        ("Success == false", ["a", "c", "e"]),
        ("Success != false", ["b", "d"]),
        ('ResultCode == "500"', ["a"]),
        ('ResultCode != "500"', ["b", "c", "d", "e"]),
        ('Name == "get /api/orders"', []),
        ('Name =~ "get /api/orders"', ["a", "e"]),
        ('Name !~ "get /api/orders"', ["b", "c", "d"]),
        # ordering on numbers and datetimes
        ("SeverityLevel < 2", ["a", "c"]),
        ("SeverityLevel <= 2", ["a", "c", "d"]),
        ("SeverityLevel > 2", ["b", "e"]),
        ("SeverityLevel >= 3", ["b", "e"]),
        ("DurationMs > 99.9", ["a", "c"]),
        ("DurationMs >= 99.9", ["a", "c", "e"]),
        ("TimeGenerated >= datetime(2026-11-20T00:03:00.0000000Z)", ["d", "e"]),
        ("TimeGenerated < datetime(2026-11-20T00:01:00Z)", ["a"]),
        # substring and regex
        ('Name contains "API"', ["a", "b", "e"]),
        ('Name contains_cs "API"', ["b"]),
        ('Name !contains "api"', ["c", "d"]),
        ('ResultCode matches regex "^5\\\\d\\\\d$"', ["a", "c"]),
        ('Name matches regex "login|health"', ["c", "d"]),
        # set membership
        ('ResultCode in ("500", "503")', ["a", "c"]),
        ('ResultCode !in ("500", "503")', ["b", "d", "e"]),
        ('Name in~ ("get /health", "POST /LOGIN")', ["c", "d"]),
        ("SeverityLevel in (0, 4)", ["c", "e"]),
        # emptiness and nulls: strings are never null in KQL, dynamic values can be
        ("isempty(ResultCode)", ["d"]),
        ("isnotempty(ResultCode)", ["a", "b", "c", "e"]),
        ("isnull(ResultCode)", []),
        ("isnull(Properties)", ["d"]),
        ("isnotnull(Properties)", ["a", "b", "c", "e"]),
        # boolean structure; `and` binds tighter than `or`
        ('Success == true or SeverityLevel >= 4 and Name contains "orders"', ["b", "d", "e"]),
        ('(Success == true or SeverityLevel >= 4) and Name contains "api"', ["b", "e"]),
        ("not(Success == true)", ["a", "c", "e"]),
        ('not(ResultCode in ("500", "503")) and not(isempty(ResultCode))', ["b", "e"]),
        # strings and numbers never match each other
        ("ResultCode == 500", []),
        ("Success == 1", []),
    ],
)
def test_where_operators(client: LogsQueryClient, where: str, expected: list[str]) -> None:
    assert _ids(client, where) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('Properties["user"]["id"] == "u1"', ["a"]),
        ('tostring(Properties["user"]["id"]) == "u2"', ["b"]),
        ('isnull(Properties["user"]["id"])', ["c", "d", "e"]),
        ('tostring(Properties["user"]["id"]) == ""', ["c", "d", "e"]),
        ('isempty(Properties["user"])', ["c", "d", "e"]),
        ('todouble(Properties["ms"]) > 10', ["a"]),
        ('todouble(Properties["ms"]) < 10', ["c"]),
        ('tolong(Properties["count"]) == 3', ["c"]),
        ('tobool(Properties["flag"]) == true', ["b"]),
        ('Properties["user"]["id"] contains "U"', ["a", "b"]),
        # KQL null semantics: null != x is true, but ordering against null is null
        ('Properties["user"]["id"] != "u1"', ["b", "c", "d", "e"]),
        ('not(todouble(Properties["ms"]) < 10)', ["a"]),
        # a dynamic column holding text that is not JSON is a string without keys
        ('tostring(Properties) == "not json"', ["e"]),
        ('isnull(Properties["user"]) and isnotnull(Properties)', ["c", "e"]),
    ],
)
def test_dynamic_paths_and_conversions(
    client: LogsQueryClient, where: str, expected: list[str]
) -> None:
    assert _ids(client, where) == expected


def test_ingestion_and_time_generated_windows_are_half_open(client: LogsQueryClient) -> None:
    # Row i was ingested at T0 + i min + 30 s and generated at T0 + i min.
    start, end = T0 + timedelta(minutes=1, seconds=30), T0 + timedelta(minutes=3, seconds=30)
    query = "\n".join(
        [
            "AppRequests",
            f"| where ingestion_time() >= {_kql_time(start)}"
            f" and ingestion_time() < {_kql_time(end)}",
            "| where TimeGenerated >= datetime(2026-11-20T00:00:00.0000000Z)"
            " and TimeGenerated < datetime(2026-11-20T00:02:00.0000000Z)",
        ]
    )
    assert [row["Id"] for row in _run(client, query).tables[0].rows] == ["b"]


def test_datetimes_compare_at_tick_precision(la: LogAnalyticsFake, client: LogsQueryClient) -> None:
    la.add_table(
        WS,
        "Ticks",
        [("TimeGenerated", "datetime"), ("Id", "string")],
        [["2026-11-20T00:15:00Z", "edge"], ["2026-11-20T00:15:00.0000001Z", "after"]],
        [T0, T0],
    )
    query = "Ticks\n| where TimeGenerated <= datetime(2026-11-20T00:15:00.0000000Z)"
    assert [row["Id"] for row in _run(client, query).tables[0].rows] == ["edge"]


def test_body_timespan_restricts_time_generated(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    span = (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    result = _run(client, "AppRequests", timespan=span)
    assert [row["Id"] for row in result.tables[0].rows] == ["b", "c"]
    assert la.requests[-1].timespan == "2026-11-20T00:01:00.000Z/2026-11-20T00:03:00.000Z"


def test_extend_ingestion_time_adds_a_datetime_column(client: LogsQueryClient) -> None:
    query = 'AppRequests\n| where Id == "c"\n| extend IngestionTime = ingestion_time()'
    table = _run(client, query).tables[0]
    assert table.columns == [name for name, _ in COLUMNS] + ["IngestionTime"]
    assert table.columns_types[-1] == "datetime"
    assert table.rows[0]["IngestionTime"] == T0 + timedelta(minutes=2, seconds=30)
    assert table.rows[0]["TimeGenerated"] == T0 + timedelta(minutes=2)


def test_no_rows_still_reports_the_columns(client: LogsQueryClient) -> None:
    query = 'AppRequests\n| where Id == "zzz"\n| extend IngestionTime = ingestion_time()'
    table = _run(client, query).tables[0]
    assert table.rows == []
    assert table.columns[-1] == "IngestionTime"


@pytest.mark.parametrize(
    "value",
    ['say "hi"', "C:\\temp\\new", "two\nlines\r\n", "tab\there", 'mixed \\" quote', "ünïcode ✓"],
)
def test_escaped_strings_round_trip(
    la: LogAnalyticsFake, client: LogsQueryClient, value: str
) -> None:
    la.add_table(
        WS,
        "Escapes",
        [("TimeGenerated", "datetime"), ("Text", "string")],
        [[_wire_time(T0), value], [_wire_time(T0), value + "x"]],
        [T0, T0],
    )
    rows = _run(client, f"Escapes\n| where Text == {_kql_string(value)}").tables[0].rows
    assert [row["Text"] for row in rows] == [value]


def test_load_export_uses_its_ingestion_time_column(
    la: LogAnalyticsFake, client: LogsQueryClient, tmp_path: Path
) -> None:
    export = {
        "tables": [
            {
                "name": "AppExceptions",
                "columns": [
                    {"name": "TimeGenerated", "type": "datetime"},
                    {"name": "ProblemId", "type": "string"},
                    {"name": "IngestionTime", "type": "datetime"},
                ],
                "rows": [
                    ["2026-11-20T00:00:00Z", "p1", "2026-11-20T00:01:00.1234567Z"],
                    ["2026-11-20T00:00:00Z", "p2", "2026-11-20T00:20:00Z"],
                ],
            }
        ]
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    la.load_export(WS, path)
    query = (
        "AppExceptions\n| where ingestion_time() < datetime(2026-11-20T00:15:00Z)"
        "\n| extend IngestionTime = ingestion_time()"
    )
    table = _run(client, query).tables[0]
    assert table.columns == ["TimeGenerated", "ProblemId", "IngestionTime"]
    assert [row["ProblemId"] for row in table.rows] == ["p1"]
    assert table.rows[0]["IngestionTime"] == datetime(2026, 11, 20, 0, 1, 0, 123456, tzinfo=UTC)


def test_requests_are_recorded(la: LogAnalyticsFake, client: LogsQueryClient) -> None:
    _run(client, "AppRequests")
    recorded = la.requests[-1]
    assert (recorded.workspace_id, recorded.query, recorded.timespan) == (WS, "AppRequests", None)
    assert recorded.status == 200


def test_throttle_returns_429_with_retry_after(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    la.fail_next(Throttle(retry_after=7))
    with pytest.raises(HttpResponseError) as caught:
        _run(client, "AppRequests")
    assert caught.value.status_code == 429
    assert isinstance(caught.value.response, HttpResponse)
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.error is not None and caught.value.error.code == "ThrottledError"
    assert len(_run(client, "AppRequests").tables[0].rows) == len(ROWS)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise(la: LogAnalyticsFake, client: LogsQueryClient, status: int) -> None:
    la.fail_next(ServerError(status=status))
    with pytest.raises(HttpResponseError) as caught:
        _run(client, "AppRequests")
    assert caught.value.status_code == status


def test_faults_are_consumed_in_order(la: LogAnalyticsFake, client: LogsQueryClient) -> None:
    la.fail_next(Throttle(retry_after=1))
    la.fail_next(ServerError(status=503))
    for expected in (429, 503):
        with pytest.raises(HttpResponseError) as caught:
            _run(client, "AppRequests")
        assert caught.value.status_code == expected
    _run(client, "AppRequests")
    assert [r.status for r in la.requests] == [429, 503, 200]


def test_partial_returns_half_the_rows_with_a_partial_error(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    la.fail_next(Partial())
    result = client.query_workspace(WS, "AppRequests", timespan=None)
    assert isinstance(result, LogsQueryPartialResult)
    assert [row["Id"] for row in result.partial_data[0].rows] == ["a", "b"]
    assert result.partial_error is not None
    assert result.partial_error.code == "PartialError"


def test_max_rows_caps_the_result_like_the_service(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    la.max_rows = 3
    result = client.query_workspace(WS, "AppRequests", timespan=None)
    assert isinstance(result, LogsQueryPartialResult)
    assert [row["Id"] for row in result.partial_data[0].rows] == ["a", "b", "c"]
    assert result.partial_error is not None and result.partial_error.details
    message = result.partial_error.details[0]["innererror"]["message"]
    assert "Query result set has exceeded the internal record count limit 3" in message
    assert isinstance(_run(client, "AppRequests\n| where Success == true"), LogsQueryResult)


def test_take_returns_that_many_rows_as_a_whole_result(client: LogsQueryClient) -> None:
    result = _run(client, "AppRequests\n| take 2")
    assert isinstance(result, LogsQueryResult)
    assert [row["Id"] for row in result.tables[0].rows] == ["a", "b"]


def test_max_bytes_trims_the_result_like_the_service(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    whole = client.query_workspace(WS, "AppRequests", timespan=None)
    assert isinstance(whole, LogsQueryResult)
    first_row = len(json.dumps(list(whole.tables[0].rows[0]), default=str))
    la.max_bytes = first_row * 2 + 10
    result = client.query_workspace(WS, "AppRequests", timespan=None)
    assert isinstance(result, LogsQueryPartialResult)
    assert 1 <= len(result.partial_data[0].rows) < len(whole.tables[0].rows)
    assert result.partial_error is not None and result.partial_error.details
    message = result.partial_error.details[0]["innererror"]["message"]
    assert f"exceeded the internal data size limit {la.max_bytes}" in message


def _bad_request(client: LogsQueryClient, query: str) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        client.query_workspace(WS, query, timespan=None)
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "BadArgumentError"
    return caught.value


def test_unknown_table_is_a_semantic_error(client: LogsQueryClient) -> None:
    error = _bad_request(client, "AppRequestz\n| where Success == true")
    assert error.error is not None and error.error.innererror["code"] == "SemanticError"
    assert error.model is not None and "'AppRequestz'" in error.model.message


@pytest.mark.parametrize(
    "where",
    ["Nope == 1", 'Name["key"] == "x"', 'Name matches regex "("'],
)
def test_unresolvable_expressions_are_semantic_errors(client: LogsQueryClient, where: str) -> None:
    error = _bad_request(client, f"AppRequests\n| where {where}")
    assert error.error is not None and error.error.innererror["code"] == "SemanticError"


@pytest.mark.parametrize(
    "query",
    [
        "AppRequests\n| where",
        "AppRequests\n| summarize count() by Name",
        'AppRequests\n| where Name has "api"',
        "AppRequests\n| where Success",
        'AppRequests\n| where Name == "bad \\q escape"',
        "AppRequests\n| where TimeGenerated > datetime(yesterday)",
        "AppRequests\n| extend IngestionTime = ingestion_time()\n| where Success == true",
        "AppRequests\n| extend X = now()",
        "AppRequests\n| take 5\n| where Success == true",
        "AppRequests | sort by TimeGenerated",
    ],
)
def test_unsupported_queries_are_syntax_errors(client: LogsQueryClient, query: str) -> None:
    error = _bad_request(client, query)
    assert error.error is not None and error.error.innererror["code"] == "SyntaxError"


def test_unknown_workspace_is_not_found(client: LogsQueryClient) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.query_workspace("not-a-workspace", "AppRequests", timespan=None)
    assert caught.value.status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_requests_without_bearer_token_get_401(
    la: LogAnalyticsFake, headers: dict[str, str]
) -> None:
    response = httpx.post(
        f"{la.endpoint}/workspaces/{WS}/query",
        json={"query": "AppRequests", "timespan": None, "workspaces": None},
        headers=headers,
        verify=ssl.create_default_context(cafile=la.ca_path),
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthorizationRequiredError"
    assert la.requests == []


def test_an_identity_without_log_analytics_reader_gets_403(la: LogAnalyticsFake) -> None:
    other = la.add_credential()
    with LogsQueryClient(
        other, endpoint=la.endpoint, connection_verify=la.ca_path, retry_total=0
    ) as logs:
        with pytest.raises(HttpResponseError) as caught:
            logs.query_workspace(WS, "AppRequests", timespan=None)
        assert caught.value.status_code == 403
        assert caught.value.error is not None
        assert caught.value.error.code == "InsufficientAccessError"
        assert caught.value.error.message == (
            "The provided credentials have insufficient access to perform the requested operation"
        )
        assert la.requests[-1].status == 403
        la.grant_reader(WS, other)
        assert isinstance(logs.query_workspace(WS, "AppRequests", timespan=None), LogsQueryResult)
        la.revoke_reader(WS, other)
        with pytest.raises(HttpResponseError):
            logs.query_workspace(WS, "AppRequests", timespan=None)


def test_a_revoked_reader_role_takes_effect_on_the_next_query(
    la: LogAnalyticsFake, client: LogsQueryClient
) -> None:
    assert _run(client, "AppRequests").tables[0].rows
    la.revoke_reader(WS)
    with pytest.raises(HttpResponseError) as caught:
        client.query_workspace(WS, "AppRequests", timespan=None)
    assert caught.value.status_code == 403
    la.grant_reader(WS)
    assert _run(client, "AppRequests").tables[0].rows


def test_a_token_the_fake_did_not_issue_is_refused(la: LogAnalyticsFake) -> None:
    response = httpx.post(
        f"{la.endpoint}/workspaces/{WS}/query",
        json={"query": "AppRequests", "timespan": None, "workspaces": None},
        headers={"Authorization": "Bearer not-a-token-for-this-api"},
        verify=ssl.create_default_context(cafile=la.ca_path),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "InvalidTokenError"
    assert la.requests == []
