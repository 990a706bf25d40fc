"""Log Analytics query results exported to JSON files: a log source for back-fills and offline runs.

Each table is one file, `<Table>.json`, in the query API's response shape (`{"tables": [...]}`),
exported with `| extend IngestionTime = ingestion_time()` so windows work as they do online.
Rows are filtered the way the service would filter them: ingestion-time window, TimeGenerated
bound, then the failure conditions. Rows that cannot be decoded are passed on, so the normalizer
reports them like any malformed row from the service.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from detection.conditions import matches
from detection.kql import INGESTION_TIME_COLUMN
from detection.records import Column, MalformedRow, decode_row, parse_datetime
from pipeline.ports import QueryOutcome, QueryPlan, QueryRejected


class ExportedLogsSource:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @cache  # noqa: B019 - one source per process; exports are immutable while it runs
    def _load(self, table: str) -> _Export:
        path = self._directory / f"{table}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            result = document["tables"][0]
            columns = tuple(Column(c["name"], c["type"]) for c in result["columns"])
            rows = result["rows"]
        except FileNotFoundError:
            raise QueryRejected(f"no export for table {table} at {path}") from None
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as error:
            raise QueryRejected(f"{path} is not a Log Analytics query export: {error}") from None
        names = [c.name for c in columns]
        arrival = names.index(
            INGESTION_TIME_COLUMN if INGESTION_TIME_COLUMN in names else "TimeGenerated"
        )
        timed = []
        for values in rows:
            try:
                timed.append((parse_datetime(values[arrival], names[arrival]), values))
            except (MalformedRow, IndexError):
                continue
        timed.sort(key=lambda pair: pair[0])
        return _Export(columns, [t for t, _ in timed], [v for _, v in timed])

    def run(self, plan: QueryPlan) -> QueryOutcome:
        export = self._load(plan.table)
        window = plan.window
        low = bisect.bisect_left(export.arrivals, window.start)
        high = bisect.bisect_left(export.arrivals, window.end)
        selected = []
        for values in export.rows[low:high]:
            try:
                row = decode_row(export.columns, values)
                generated = parse_datetime(row.get("TimeGenerated"), "TimeGenerated")
            except MalformedRow:
                selected.append(values)
                continue
            in_range = window.time_generated_from <= generated < window.time_generated_to
            if in_range and any(matches(c, row) for c in plan.conditions):
                selected.append(values)
        return QueryOutcome(export.columns, selected)


@dataclass(frozen=True)
class _Export:
    """A table's rows sorted by ingestion time, so a window is two binary searches away."""

    columns: tuple[Column, ...]
    arrivals: list[datetime]
    rows: list[list[Any]]
