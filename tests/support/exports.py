"""Exports in the shape `az monitor log-analytics query -o json` writes them.

The CLI (azure-cli-extensions, `src/log-analytics/azext_loganalytics/custom.py`) turns each result
table's rows into objects: a `TableName` key naming the result, then every column as `str()` of
the value the service sent, so null is `"None"`, booleans `"True"`, numbers their text, and dynamic
values (JSON text on the wire) stay JSON text.
"""

from __future__ import annotations

from typing import Any


def as_az_cli(document: dict[str, Any], drop: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The CLI's output for a query API response body; `drop` leaves columns out (a query
    without `| extend IngestionTime = ingestion_time()`)."""
    rows = []
    for table in document["tables"]:
        names = [column["name"] for column in table["columns"]]
        for values in table["rows"]:
            row = {"TableName": table["name"]}
            row.update({n: str(v) for n, v in zip(names, values, strict=True) if n not in drop})
            rows.append(row)
    return rows
