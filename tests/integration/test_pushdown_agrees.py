"""The KQL a condition compiles to selects exactly the rows the Python evaluator accepts.

Property-based: random conditions over a table of awkward values (nulls, numeric strings, bools,
dynamic objects), run through the real LogsQueryClient against the KQL-evaluating fake.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.monitor.query import LogsQueryClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.conditions import matches
from detection.kql import build_query
from detection.records import Column, decode_row
from detection.rules import Condition
from detection.windows import QueryWindow
from tests.fakes.log_analytics import LogAnalyticsFake

pytestmark = pytest.mark.integration

WORKSPACE = "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("Level", "string"),
    ("Code", "string"),
    ("Ok", "bool"),
    ("Count", "long"),
    ("Ratio", "real"),
    ("Props", "dynamic"),
    ("Id", "long"),
]
VALUES = {
    "Level": ["Error", "error", "Warning", "", "ERROR "],
    "Code": ["500", "503", "404", "abc", "", "5.0"],
    "Ok": [True, False, None],
    "Count": [0, 3, 10, -1, None],
    "Ratio": [0.5, 3.0, None, -2.25],
    "Props": [
        None,
        json.dumps({"a": 1, "b": "x"}),
        json.dumps({"a": "3", "flag": True}),
        json.dumps({"a": None}),
        json.dumps({"flag": "false", "nested": {"k": "v"}}),
    ],
}
FIELDS = [
    "Level",
    "Code",
    "Ok",
    "Count",
    "Ratio",
    "Props.a",
    "Props.b",
    "Props.flag",
    "Props.nested.k",
    "Props.missing",
]
SCALARS = st.one_of(
    st.sampled_from(["Error", "error", "500", "3", "x", "", "v", "true"]),
    st.sampled_from([0, 3, 10, 500, 2.25]),
    st.booleans(),
)


def _rows() -> list[list]:
    rows = []
    for i in range(60):
        rows.append(
            [
                (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                *(VALUES[name][(i * (k + 3)) % len(VALUES[name])] for k, name in enumerate(VALUES)),
                i,
            ]
        )
    return rows


def _leaf() -> st.SearchStrategy[dict]:
    field = st.sampled_from(FIELDS)
    return st.one_of(
        st.builds(
            lambda f, v, cs: {"field": f, "equals": v, "case_sensitive": cs},
            field,
            SCALARS,
            st.booleans(),
        ),
        st.builds(lambda f, v: {"field": f, "not_equals": v}, field, SCALARS),
        st.builds(
            lambda f, v: {"field": f, "in": v}, field, st.lists(SCALARS, min_size=1, max_size=3)
        ),
        st.builds(
            lambda f, v: {"field": f, "not_in": v}, field, st.lists(SCALARS, min_size=1, max_size=3)
        ),
        st.builds(
            lambda f, v, cs: {"field": f, "contains": v, "case_sensitive": cs},
            field,
            st.sampled_from(["rr", "E", "0", "x", '"', ""]),
            st.booleans(),
        ),
        st.builds(
            lambda f, v: {"field": f, "regex": v},
            field,
            st.sampled_from(["^5\\d\\d$", "(?i)error", "^$", "\\d"]),
        ),
        st.builds(
            lambda f, op, v: {"field": f, op: v},
            field,
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from([-1, 0, 2.5, 3, 500]),
        ),
        st.builds(lambda f, v: {"field": f, "exists": v}, field, st.booleans()),
    )


CONDITIONS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def fake_and_client():
    rows = _rows()
    with LogAnalyticsFake() as fake:
        fake.add_table(
            WORKSPACE, "Things_CL", COLUMNS, rows, [T0 + timedelta(minutes=1)] * len(rows)
        )
        client = LogsQueryClient(
            fake.credential, endpoint=fake.endpoint, connection_verify=fake.ca_path, retry_total=0
        )
        yield rows, client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=CONDITIONS)
def test_service_side_and_python_side_select_the_same_rows(fake_and_client, raw: dict) -> None:
    rows, client = fake_and_client
    condition = Condition.model_validate(raw)
    window = QueryWindow(T0, T0 + timedelta(minutes=5))
    result = client.query_workspace(
        WORKSPACE,
        build_query("Things_CL", window, [condition]),
        timespan=(window.time_generated_from, window.time_generated_to),
    )
    table = result.tables[0]
    from_service = sorted(row[table.columns.index("Id")] for row in table.rows)
    columns = [Column(n, t) for n, t in COLUMNS]
    in_python = sorted(r[-1] for r in rows if matches(condition, decode_row(columns, r)))
    assert from_service == in_python
