"""Row normalization per table, in wire form and as the SDK decodes it."""

import json
from datetime import UTC, datetime

import pytest

from detection.records import Column, normalize_rows, record_id
from detection.rules import ColumnMap, TableSpec

pytestmark = pytest.mark.unit

DOTNET_DETAILS = json.dumps(
    [
        {
            "outerId": "0",
            "id": "1",
            "type": "System.InvalidOperationException",
            "message": "Order 1042 is already shipped",
            "parsedStack": [
                {
                    "assembly": "Contoso.Orders",
                    "method": "Contoso.Orders.OrderService.ShipAsync",
                    "level": 0,
                    "line": 118,
                    "fileName": "/src/Orders/OrderService.cs",
                },
                {
                    "assembly": "Contoso.Orders",
                    "method": "Contoso.Orders.Api.OrdersController.Ship",
                    "level": 1,
                    "line": 40,
                    "fileName": "/src/Orders/Api/OrdersController.cs",
                },
            ],
        },
        {
            "outerId": "1",
            "id": "2",
            "type": "System.TimeoutException",
            "message": "The operation timed out",
            "parsedStack": [{"method": "Contoso.Db.Client.Execute", "level": 0}],
        },
    ]
)
PYTHON_DETAILS = json.dumps(
    [
        {
            "outerId": "0",
            "id": "1",
            "type": "KeyError",
            "message": "'sku'",
            "rawStack": "Traceback (most recent call last):\n"
            '  File "/app/catalog/views.py", line 88, in get_item\n'
            "    return items[sku]\nKeyError: 'sku'",
        }
    ]
)

CASES = [
    (
        "AppExceptions",
        [
            ("TimeGenerated", "datetime"),
            ("OuterType", "string"),
            ("OuterMessage", "string"),
            ("SeverityLevel", "int"),
            ("Details", "dynamic"),
            ("OperationName", "string"),
            ("OperationId", "string"),
            ("AppRoleName", "string"),
            ("IngestionTime", "datetime"),
        ],
        [
            "2026-11-20T00:01:02.1234567Z",
            "System.InvalidOperationException",
            "Order 1042 is already shipped",
            3,
            DOTNET_DETAILS,
            "POST /orders/{id}/ship",
            "op-1",
            "orders-api",
            "2026-11-20T00:02:00Z",
        ],
        {
            "message": "Order 1042 is already shipped",
            "exception_type": "System.InvalidOperationException",
            "level": "3",
            "operation_name": "POST /orders/{id}/ship",
            "role": "orders-api",
            "stack_contains": [
                "   at Contoso.Orders.OrderService.ShipAsync"
                " in /src/Orders/OrderService.cs:line 118",
                " ---> System.TimeoutException: The operation timed out",
            ],
        },
    ),
    (
        "AppExceptions",
        [
            ("TimeGenerated", "datetime"),
            ("ExceptionType", "string"),
            ("InnermostMessage", "string"),
            ("Details", "dynamic"),
        ],
        ["2026-11-20T00:01:02Z", "KeyError", "'sku'", PYTHON_DETAILS],
        {
            "message": "'sku'",
            "exception_type": "KeyError",
            "stack_contains": ['File "/app/catalog/views.py", line 88, in get_item'],
        },
    ),
    (
        "AppRequests",
        [
            ("TimeGenerated", "datetime"),
            ("Name", "string"),
            ("ResultCode", "string"),
            ("Success", "bool"),
            ("AppRoleName", "string"),
        ],
        ["2026-11-20T00:01:02Z", "GET /api/cart", "503", False, "checkout-web"],
        {"message": "GET /api/cart failed with 503", "role": "checkout-web"},
    ),
    (
        "AppDependencies",
        [
            ("TimeGenerated", "datetime"),
            ("DependencyType", "string"),
            ("Target", "string"),
            ("Name", "string"),
            ("ResultCode", "string"),
            ("Success", "bool"),
        ],
        [
            "2026-11-20T00:01:02Z",
            "SQL",
            "orders-db.database.windows.net",
            "SELECT orders",
            "-2",
            False,
        ],
        {"message": "SQL call to orders-db.database.windows.net SELECT orders failed with -2"},
    ),
    (
        "FunctionAppLogs",
        [
            ("TimeGenerated", "datetime"),
            ("Level", "string"),
            ("Message", "string"),
            ("FunctionName", "string"),
            ("ExceptionType", "string"),
            ("ExceptionMessage", "string"),
            ("ExceptionDetails", "string"),
            ("_ResourceId", "string"),
        ],
        [
            "2026-11-20T00:01:02Z",
            "Error",
            "Executed 'Functions.Reserve' (Failed)",
            "Functions.Reserve",
            "System.ArgumentNullException",
            "Value cannot be null. (Parameter 'sku')",
            "System.ArgumentNullException: Value cannot be null.\n   at Inventory.Reserve.Run()",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/inventory-func",
        ],
        {
            "message": "Value cannot be null. (Parameter 'sku')",
            "level": "Error",
            "exception_type": "System.ArgumentNullException",
            "operation_name": "Functions.Reserve",
            "role": "inventory-func",
            "stack_contains": ["at Inventory.Reserve.Run()"],
        },
    ),
    (
        "ContainerLogV2",
        [
            ("TimeGenerated", "datetime"),
            ("ContainerName", "string"),
            ("PodName", "string"),
            ("LogMessage", "dynamic"),
            ("LogLevel", "string"),
        ],
        [
            "2026-11-20T00:01:02Z",
            "payments",
            "payments-7d9f",
            json.dumps({"level": "error", "msg": "card declined"}),
            "error",
        ],
        {
            "message": "card declined",
            "level": "error",
            "role": "payments",
            "operation_name": "payments-7d9f",
        },
    ),
    (
        "ContainerLogV2",
        [("TimeGenerated", "datetime"), ("ContainerName", "string"), ("LogMessage", "dynamic")],
        [
            "2026-11-20T00:01:02Z",
            "catalog",
            json.dumps("panic: runtime error: index out of range [3]"),
        ],
        {"message": "panic: runtime error: index out of range [3]", "role": "catalog"},
    ),
    (
        "AppServiceConsoleLogs",
        [
            ("TimeGenerated", "datetime"),
            ("Level", "string"),
            ("ResultDescription", "string"),
            ("Host", "string"),
            ("_ResourceId", "string"),
        ],
        [
            "2026-11-20T00:01:02Z",
            "Error",
            "Traceback (most recent call last): ...",
            "lw0sdlwk0001",
            "/subscriptions/x/providers/Microsoft.Web/sites/checkout-web",
        ],
        {
            "message": "Traceback (most recent call last): ...",
            "level": "Error",
            "role": "checkout-web",
        },
    ),
]


@pytest.mark.parametrize(("table", "columns", "row", "expected"), CASES)
def test_known_tables_normalize(table: str, columns: list, row: list, expected: dict) -> None:
    result = normalize_rows(TableSpec(name=table), [Column(*c) for c in columns], [row])
    assert result.rejected == ()
    record = result.records[0]
    assert record.table == table
    assert record.time_generated.tzinfo is not None
    for key, value in expected.items():
        if key == "stack_contains":
            for fragment in value:
                assert fragment in (record.stack_trace or "")
        else:
            assert getattr(record, key) == value, key


def test_custom_table_uses_its_column_map() -> None:
    spec = TableSpec(name="Orders_CL", columns=ColumnMap(message="Msg", level="Lvl", role="Svc"))
    columns = [
        Column("TimeGenerated", "datetime"),
        Column("Msg", "string"),
        Column("Lvl", "string"),
        Column("Svc", "string"),
    ]
    record = normalize_rows(
        spec, columns, [["2026-11-20T00:00:00Z", "boom", "Error", "orders"]]
    ).records[0]
    assert (record.message, record.level, record.role) == ("boom", "Error", "orders")


def test_malformed_rows_are_rejected_with_reasons_and_the_rest_flows() -> None:
    spec = TableSpec(name="Orders_CL", columns=ColumnMap(message="Message"))
    columns = [
        Column("TimeGenerated", "datetime"),
        Column("Message", "string"),
        Column("Properties", "dynamic"),
    ]
    rows = [
        ["2026-11-20T00:00:00Z", "ok", '{"retryable": false}'],
        [None, "no time", "{}"],
        ["not-a-date", "bad time", "{}"],
        ["2026-11-20T00:00:01Z", "bad json", '{"retryable": fals'],
        ["2026-11-20T00:00:02Z", "short row"],
        "not a row",
        ["2026-11-20T00:00:03Z", "also ok", None],
    ]
    result = normalize_rows(spec, columns, rows)
    assert [r.message for r in result.records] == ["ok", "also ok"]
    reasons = {r.index: r.reason for r in result.rejected}
    assert reasons[1] == "TimeGenerated is missing"
    assert reasons[2].startswith("TimeGenerated is not a datetime")
    assert reasons[3].startswith("dynamic column Properties is not valid JSON")
    assert reasons[4] == "row has 2 values for 3 columns"
    assert reasons[5] == "row has no values for 3 columns"
    assert all(r.table == "Orders_CL" for r in result.rejected)


def test_record_id_is_the_same_for_wire_and_sdk_forms_and_ignores_ingestion_time() -> None:
    columns = [
        Column("TimeGenerated", "datetime"),
        Column("Message", "string"),
        Column("IngestionTime", "datetime"),
    ]
    wire = ["2026-11-20T00:01:02.5Z", "boom", "2026-11-20T00:02:00Z"]
    sdk = [
        datetime(2026, 11, 20, 0, 1, 2, 500000, tzinfo=UTC),
        "boom",
        datetime(2026, 11, 20, 0, 9, tzinfo=UTC),
    ]
    spec = TableSpec(name="AppTraces")
    first, second = (normalize_rows(spec, columns, [row]).records[0] for row in (wire, sdk))
    assert first.record_id == second.record_id
    other = normalize_rows(spec, columns, [["2026-11-20T00:01:02.5Z", "boom!", None]]).records[0]
    assert other.record_id != first.record_id
    assert first.record_id == record_id("AppTraces", dict(first.fields))


def test_record_id_column_is_used_when_configured() -> None:
    spec = TableSpec(name="AppTraces", record_id_column="_ItemId")
    columns = [
        Column("TimeGenerated", "datetime"),
        Column("Message", "string"),
        Column("_ItemId", "string"),
    ]
    result = normalize_rows(
        spec, columns, [["2026-11-20T00:00:00Z", "x", "item-1"], ["2026-11-20T00:00:00Z", "y", ""]]
    )
    assert result.records[0].record_id == "item-1"
    assert result.rejected[0].reason == "record id column _ItemId is empty"


def test_lone_surrogates_become_replacement_characters_so_every_store_takes_the_row() -> None:
    columns = [Column("TimeGenerated", "datetime"), Column("Message", "string"),
               Column("Properties", "dynamic")]  # fmt: skip
    row = ["2026-11-20T00:00:00Z", "bad \ud800 text", '{"k": "\\ud83d alone", "\\udfff": 1}']
    [record] = normalize_rows(TableSpec(name="AppTraces"), columns, [row]).records
    assert record.message == "bad \ufffd text"
    assert record.fields["Properties"] == {"k": "\ufffd alone", "\ufffd": 1}
    record.message.encode("utf-8")


@pytest.mark.parametrize(
    ("spec", "column", "value", "version"),
    [
        (TableSpec(name="AppExceptions"), Column("AppVersion", "string"), "2.14.0", "2.14.0"),
        (TableSpec(name="AppTraces"), Column("Application_Version", "string"), "1.9", "1.9"),
        (
            TableSpec(name="AppRequests"),
            Column("Properties", "dynamic"),
            '{"service.version": "3.0.1"}',
            "3.0.1",
        ),
        (
            TableSpec(name="Orders_CL", columns=ColumnMap(message="Msg", app_version="Build")),
            Column("Build", "string"),
            "2024.11.3-hotfix",
            "2024.11.3-hotfix",
        ),
        (
            TableSpec(name="Orders_CL", columns=ColumnMap(message="Msg")),
            Column("X", "string"),
            "1",
            None,
        ),
    ],
    ids=["AppVersion", "Application_Version", "service.version", "column-map", "none"],
)
def test_records_carry_the_app_version(
    spec: TableSpec, column: Column, value: str, version: str | None
) -> None:
    """What regressions by release compare with the version an issue was resolved in."""
    columns = [Column("TimeGenerated", "datetime"), Column("Msg", "string"), column]
    record = normalize_rows(spec, columns, [["2026-11-20T00:00:00Z", "boom", value]]).records[0]
    assert record.app_version == version
