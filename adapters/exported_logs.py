"""Log Analytics query results exported to JSON files: a log source for back-fills and offline runs.

Each table is one file, named exactly `<Table>.json` (the table's name is the file's; the names
inside the files are the query's result, `PrimaryResult`), in either shape people export:

- the output of `az monitor log-analytics query -o json`: a list of row objects. The CLI turns
  every value into text (`str()` of what the service sent: `"None"`, `"True"`, `"3"`), names no
  column types, and adds a `TableName` key. So here `"None"` is null (a string column is never
  null in Log Analytics, so only a text that is literally `None` is misread), `TableName` is
  dropped, `TimeGenerated` and `IngestionTime` are datetimes, and a column whose every value is
  JSON text, one of them an object or array, is dynamic (the service sends dynamic values as
  JSON text). Values that are already typed (a tool that keeps JSON types) are kept as they are.
- the query API's response body: `{"tables": [{"name", "columns": [{"name", "type"}], "rows"}]}`.
- for a CloudWatch log group (its file named by its table, `CW_aws_lambda_orders.json`), what
  `aws logs filter-log-events --log-group-name <group> -o json` prints: `{"events":
  [{"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}]}`, times in epoch
  milliseconds. Its rows have the columns Logs Insights gives the online source (`Message`,
  `LogStream`, and `LogGroup` from the query's log group), and its `ingestionTime` is the
  arrival, so late events replay late.

Export with `| extend IngestionTime = ingestion_time()` so windows work as they do online. A file
without that column is read as if each row arrived when it was generated: windows then select on
TimeGenerated, and late arrivals, which the ingestion-time windows exist for, are not replayed.

Rows are filtered the way the service would filter them: ingestion-time window, TimeGenerated
bound, then the failure conditions. Rows that cannot be decoded are passed on, so the normalizer
reports them like any malformed row from the service. A folder or file that cannot be read that
way at all is an ExportError, which `check_exports` raises before a run starts, for every problem
at once.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from detection.conditions import matches
from detection.insights import MAX_FUTURE
from detection.kql import INGESTION_TIME_COLUMN
from detection.records import Column, MalformedRow, decode_row, parse_datetime
from detection.rule_errors import closest
from pipeline.ports import QueryOutcome, QueryPlan, QueryRejected

TIME_COLUMN = "TimeGenerated"
CLI_TABLE_KEY = "TableName"
"""The key the az CLI adds to every row, naming the query's result (`PrimaryResult`)."""

HOW_TO_EXPORT = (
    "Each table the rules watch needs a file named exactly <Table>.json (case matters), holding\n"
    "either the output of\n"
    "  az monitor log-analytics query -w <workspace-id> -o json --analytics-query \\\n"
    '    "<Table> | where TimeGenerated > ago(1d) | extend IngestionTime = ingestion_time()" \\\n'
    "    > <Table>.json\n"
    'or the query API\'s response body, {"tables": [{"name": "PrimaryResult", "columns": '
    '[{"name": ..., "type": ...}], "rows": [[...]]}]}.'
)


class ExportError(ValueError):
    """An export folder or file that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class Export:
    """A table's rows sorted by ingestion time, so a window is two binary searches away."""

    columns: tuple[Column, ...]
    arrivals: list[datetime]
    rows: list[list[Any]]

    def earliest_generated(self) -> datetime | None:
        """The earliest readable TimeGenerated (where a replay of the export starts)."""
        names = [c.name for c in self.columns]
        if TIME_COLUMN not in names:
            return None  # an export without rows
        index = names.index(TIME_COLUMN)
        moments = []
        for values in self.rows:
            try:
                moments.append(parse_datetime(values[index], TIME_COLUMN))
            except (MalformedRow, IndexError):
                continue
        return min(moments, default=None)


def read_export(path: Path) -> Export:
    """One table's export, in either shape (see the module docstring); ExportError otherwise."""
    try:
        # from bytes, json detects UTF-16 too: what PowerShell's `>` writes the az CLI's output in
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise ExportError(f"{path.name}: cannot be read ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportError(
            f"{path.name}: not JSON ({error}); was it exported with -o json?"
        ) from None
    if isinstance(document, list):
        columns, rows = _from_row_objects(document, path)
    elif isinstance(document, dict) and "tables" in document:
        columns, rows = _from_query_response(document, path)
    elif isinstance(document, dict) and "events" in document:
        columns, rows = _from_log_events(document, path)
    else:
        if isinstance(document, dict):
            found = "an object with keys " + ", ".join(map(repr, list(document)[:10]))
        else:
            found = f"a JSON {type(document).__name__}"
        raise ExportError(
            f"{path.name}: {found}; expected a list of row objects (the az CLI's) or an "
            'object with "tables" (the query API\'s)'
        )
    if not columns:
        return Export((), [], [])  # the az CLI's output for a query without rows: `[]`
    names = [c.name for c in columns]
    if TIME_COLUMN not in names:
        raise ExportError(
            f"{path.name}: no {TIME_COLUMN} column (columns: {', '.join(names)[:300]}); "
            "export the table's rows as they are, with every column"
        )
    arrival = names.index(INGESTION_TIME_COLUMN if INGESTION_TIME_COLUMN in names else TIME_COLUMN)
    timed = []
    for values in rows:
        try:
            timed.append((parse_datetime(values[arrival], names[arrival]), values))
        except (MalformedRow, IndexError, TypeError):
            continue
    timed.sort(key=lambda pair: pair[0])
    return Export(columns, [t for t, _ in timed], [v for _, v in timed])


def _from_query_response(
    document: dict[str, Any], path: Path
) -> tuple[tuple[Column, ...], list[Any]]:
    tables = document["tables"]
    result = tables[0] if isinstance(tables, list) and tables else None
    columns = result.get("columns") if isinstance(result, dict) else None
    rows = result.get("rows") if isinstance(result, dict) else None
    if not (isinstance(columns, list) and isinstance(rows, list) and all(map(_column, columns))):
        raise ExportError(
            f'{path.name}: has "tables", but tables[0] is not a query result; expected '
            '{"tables": [{"columns": [{"name": ..., "type": ...}], "rows": [[...]]}]}'
        )
    return tuple(Column(c["name"], c["type"]) for c in columns), rows


CLOUDWATCH_COLUMNS = (
    Column(TIME_COLUMN, "datetime"),
    Column(INGESTION_TIME_COLUMN, "datetime"),
    Column("Message", "string"),
    Column("LogStream", "string"),
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_log_events(document: dict[str, Any], path: Path) -> tuple[tuple[Column, ...], list[Any]]:
    """`aws logs filter-log-events` output: each event a row, its epoch-millisecond times as
    datetimes; an event missing a field is passed on with it empty, to be rejected as malformed."""
    events = document["events"]
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ExportError(
            f'{path.name}: has "events", but not a list of log events; expected the output of '
            "aws logs filter-log-events -o json"
        )

    def moment(value: Any) -> datetime | None:
        is_number = isinstance(value, int) and not isinstance(value, bool)
        return EPOCH + timedelta(milliseconds=value) if is_number else None

    rows = [
        [
            moment(e.get("timestamp")),
            moment(e.get("ingestionTime")),
            e.get("message"),
            e.get("logStreamName"),
        ]
        for e in events
    ]
    return (CLOUDWATCH_COLUMNS, rows) if rows else ((), [])


def _column(column: Any) -> bool:
    return (
        isinstance(column, dict)
        and isinstance(column.get("name"), str)
        and isinstance(column.get("type"), str)
    )


def _from_row_objects(items: list[Any], path: Path) -> tuple[tuple[Column, ...], list[Any]]:
    """The az CLI's rows: values turned back from text where the CLI's `str()` is reversible."""
    strays = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if strays:
        raise ExportError(
            f"{path.name}: a list, but item {strays[0]} is a {type(items[strays[0]]).__name__}, "
            "not a row object; expected the az CLI's -o json output, a list of objects"
        )
    names = list(dict.fromkeys(k for item in items for k in item if k != CLI_TABLE_KEY))
    rows = [[_cli_value(item.get(name)) for name in names] for item in items]
    columns = tuple(
        Column(name, _cli_type(name, [row[i] for row in rows])) for i, name in enumerate(names)
    )
    return columns, rows


def _cli_value(value: Any) -> Any:
    return None if value == "None" else value


def _cli_type(name: str, values: list[Any]) -> str:
    """A column type for `decode_row`: the CLI names none, so it is read from the values. A
    column is dynamic when every value looks like the JSON text the service sends for one and
    some value is an object or array; a value that only starts like JSON (truncated) does not
    make the column text, so the row is rejected as malformed, as it would be from the API."""
    if name in (TIME_COLUMN, INGESTION_TIME_COLUMN):
        return "datetime"
    structured = False
    for value in values:
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            structured = True
            continue
        text = value.lstrip() if isinstance(value, str) else ""
        if not text.startswith(('"', "{", "[")):
            return "string"  # a message, a number, `True`: not JSON a service would send
        if not structured and text[0] in "{[":
            try:
                structured = isinstance(json.loads(text), (dict, list))
            except json.JSONDecodeError:
                continue
    return "dynamic" if structured else "string"


def check_exports(directory: Path, tables: Iterable[str]) -> dict[str, Export]:
    """Every table's export, read; or one ExportError listing every problem with the folder:
    tables the rules watch that have no file (with the files found instead, and the table each
    seems meant for), and files that are not an export. Checked before a run starts, because a
    missing table otherwise fails each of its query jobs, one error line per window."""
    if not directory.is_dir():
        raise ExportError(f"{directory}: no such folder of exports.\n{HOW_TO_EXPORT}")
    wanted = sorted(set(tables))
    files = sorted(p.name for p in directory.iterdir() if p.is_file())
    missing = [t for t in wanted if f"{t}.json" not in files]
    problems: list[str] = []
    exports: dict[str, Export] = {}
    for table in wanted:
        if table not in missing:
            try:
                exports[table] = read_export(directory / f"{table}.json")
            except ExportError as error:
                problems.append(f"  {error}")
    if missing:
        others = [f for f in files if f.removesuffix(".json") not in wanted]
        found = [_meant_for(f, missing) for f in others[:20]] or ["no other files"]
        problems[:0] = [
            f"  missing: {', '.join(f'{t}.json' for t in missing)}",
            f"  found instead: {', '.join(found)}" + (" ..." if len(others) > 20 else ""),
        ]
    if problems:
        count = f"{len(missing)} of the {len(wanted)} tables the rules file watches"
        head = f"no export for {count}" if missing else "exports that cannot be read"
        lines = [f"{directory}: {head}:", *problems, HOW_TO_EXPORT]
        present = [t for t in wanted if t not in missing]
        if missing and present:
            lines.append(
                f"To run over only the tables exported here ({', '.join(present)}), use a rules "
                "file whose sources list only those (--rules FILE for the local run, "
                "FAULTLINE_RULES_PATH for the app)."
            )
        raise ExportError("\n".join(lines))
    return exports


def _meant_for(file: str, missing: list[str]) -> str:
    """`appexceptions.json (rename to AppExceptions.json?)`: a file and the table it seems for."""
    guess = closest(Path(file).stem, missing)
    return f"{file} (rename to {guess[0]}.json?)" if guess else file


class ExportedLogsSource:
    """Exports read from one folder, or several (a log group's export kept apart from a
    workspace's tables, as the local run keeps its CloudWatch sample): each table's file is the
    first found, in the order given."""

    def __init__(self, *directories: Path) -> None:
        self._directories = directories

    @cache  # noqa: B019 - one source per process; exports are immutable while it runs
    def _load(self, table: str) -> Export:
        paths = [directory / f"{table}.json" for directory in self._directories]
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            where = ", ".join(map(str, paths))
            raise QueryRejected(f"no export for table {table} at {where}")
        try:
            return read_export(path)
        except ExportError as error:
            raise QueryRejected(f"{path.parent}: {error}") from None

    def run(self, plan: QueryPlan) -> QueryOutcome:
        export = self._load(plan.table)
        window = plan.window
        low = bisect.bisect_left(export.arrivals, window.start)
        high = bisect.bisect_left(export.arrivals, window.end)
        columns, rows = export.columns, export.rows[low:high]
        if plan.log_group is not None and export.columns:
            # a log group's export does not name the group; its query does
            columns = (*columns, Column("LogGroup", "string"))
            rows = [[*values, plan.log_group] for values in rows]
        # a log group's events may be ahead of their arrival by what CloudWatch accepts
        latest = window.end + MAX_FUTURE if plan.log_group else window.time_generated_to
        selected = []
        for values in rows:
            try:
                row = decode_row(columns, values)
                generated = parse_datetime(row.get(TIME_COLUMN), TIME_COLUMN)
            except MalformedRow:
                selected.append(values)
                continue
            in_range = window.time_generated_from <= generated < latest
            if in_range and any(matches(c, row) for c in plan.conditions):
                selected.append(values)
        return QueryOutcome(columns, selected)
