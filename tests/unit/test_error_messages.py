"""Configuration mistakes reach a person as messages to act on, not as tracebacks: at the function
app's start-up, and from the local runner (`python -m local_host.run`, what `make run` runs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.exported_logs import (
    HOW_TO_EXPORT,
    Export,
    ExportError,
    check_exports,
    read_export,
)
from bootstrap import load_configuration
from detection.conditions import matches
from detection.records import decode_row, normalize_rows, parse_datetime
from detection.rules import load_rules
from tests.support.exports import as_az_cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
SHIPPED = (ROOT / "faultline.yaml").read_text()


def test_the_function_app_logs_a_bad_rules_file_at_start_up_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The app still indexes (GET /api/health answers 503) and every function refuses to run;
    the host's log shows what to fix, as the rules file's own lines."""
    rules = tmp_path / "faultline.yaml"
    rules.write_text(SHIPPED.replace("{count: 3, within: 10m}", "{cuont: 3, within: 10m}"))
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FAULTLINE_RULES_PATH": str(rules),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import function_app; function_app.configuration_check.join()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr.splitlines() == [
        "the configuration is invalid: every function fails until it is fixed, and "
        "GET /api/health answers 503 with config.loaded false.",
        f"{rules} is invalid:",
        "  failures[1] (failed-request).threshold.cuont: unknown key; did you mean 'count'?",
    ]


def test_a_rules_file_that_cannot_be_read_names_the_variable_that_pointed_at_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "rules.yml"
    env = {"AzureWebJobsStorage": "x", "FAULTLINE_RULES_PATH": str(missing)}
    with pytest.raises(FileNotFoundError) as raised:
        load_configuration(env)
    assert str(raised.value) == (
        f"the rules file {missing} (FAULTLINE_RULES_PATH={missing}) cannot be read: "
        "No such file or directory"
    )


SAMPLE = ROOT / "samples" / "telemetry"
WATCHED = ("AppExceptions", "AppRequests", "AppTraces")


def _export(folder: Path, table: str, document: object) -> None:
    (folder / f"{table}.json").write_text(json.dumps(document))


def _sample(table: str) -> dict:
    return json.loads((SAMPLE / f"{table}.json").read_text())


def test_a_misnamed_export_stops_before_the_run_saying_what_is_expected_and_found(
    tmp_path: Path,
) -> None:
    """One error line per query window used to follow (460 of them), and exit 0."""
    for table in WATCHED:
        _export(tmp_path, table, _sample(table))
    (tmp_path / "AppExceptions.json").rename(tmp_path / "appexceptions.json")
    (tmp_path / "notes.txt").write_text("exported 2026-11-20")
    with pytest.raises(ExportError) as raised:
        check_exports(tmp_path, WATCHED)
    lines = str(raised.value).splitlines()
    assert lines[:3] == [
        f"{tmp_path}: no export for 1 of the 3 tables the rules file watches:",
        "  missing: AppExceptions.json",
        "  found instead: appexceptions.json (rename to AppExceptions.json?), notes.txt",
    ]
    assert lines[3] == HOW_TO_EXPORT.splitlines()[0]
    assert lines[-1] == (
        "To run over only the tables exported here (AppRequests, AppTraces), use a rules file "
        "whose sources list only those (--rules FILE for the local run, FAULTLINE_RULES_PATH for "
        "the app)."
    )


def test_a_folder_with_one_table_lists_every_table_the_rules_watch_without_a_file(
    tmp_path: Path,
) -> None:
    _export(tmp_path, "AppExceptions", _sample("AppExceptions"))
    with pytest.raises(ExportError) as raised:
        check_exports(tmp_path, WATCHED)
    message = str(raised.value)
    assert "no export for 2 of the 3 tables the rules file watches:" in message
    assert "  missing: AppRequests.json, AppTraces.json\n  found instead: no other files" in message
    assert "To run over only the tables exported here (AppExceptions)" in message


def test_no_folder_at_all_says_so(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=rf"^{tmp_path}/nothing: no such folder of exports\.\n"):
        check_exports(tmp_path / "nothing", WATCHED)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("TimeGenerated\tMessage\n2026-11-20T01:00:00Z\tboom\n", r"not JSON \(Expecting value"),
        ('{"value": []}', r"an object with keys 'value'; expected a list of row objects"),
        ('["AppExceptions"]', r"a list, but item 0 is a str, not a row object"),
        ("42", r"a JSON int; expected a list of row objects \(the az CLI's\)"),
        ('{"tables": []}', r'has "tables", but tables\[0\] is not a query result'),
        ('{"tables": [{"name": "PrimaryResult", "rows": []}]}', r'has "tables", but tables'),
        ('[{"Message": "boom"}]', r"no TimeGenerated column \(columns: Message\)"),
    ],
    ids=["tsv", "object", "list-of-strings", "number", "no-tables", "no-columns", "no-time"],
)
def test_any_other_shape_stops_before_the_run_saying_what_is_expected(
    tmp_path: Path, content: str, expected: str
) -> None:
    for table in WATCHED:
        _export(tmp_path, table, _sample(table))
    (tmp_path / "AppTraces.json").write_text(content)
    with pytest.raises(ExportError) as raised:
        check_exports(tmp_path, WATCHED)
    header, problem, *rest = str(raised.value).splitlines()
    assert header == f"{tmp_path}: exports that cannot be read:"
    assert re.match(r"  AppTraces\.json: " + expected, problem)
    assert rest == HOW_TO_EXPORT.splitlines()


@pytest.mark.parametrize("table", sorted(p.stem for p in SAMPLE.glob("App*.json")))
def test_the_az_cli_output_reads_as_the_query_api_response_does(tmp_path: Path, table: str) -> None:
    """Same rows, same arrivals, the same records and the same rows matching each definition;
    only the CLI's text for numbers (`4.0`, which the API sends as 4.0 and KQL prints as 4)
    and booleans (`False`) stays as the CLI wrote it."""
    document = _sample(table)
    _export(tmp_path, table, as_az_cli(document))
    api, cli = read_export(SAMPLE / f"{table}.json"), read_export(tmp_path / f"{table}.json")
    assert cli.arrivals == api.arrivals
    assert [c.name for c in cli.columns if c.type == "dynamic"] == [
        c.name for c in api.columns if c.type == "dynamic"
    ]
    rules = load_rules(SHIPPED, {})
    spec = rules.sources[0].table(table)

    def described(export: Export) -> list[tuple]:
        normalized = normalize_rows(spec, export.columns, export.rows)
        fields = ("message", "level", "exception_type", "stack_trace", "operation_id", "role")
        return [tuple(getattr(r, f) for f in fields) for r in normalized.records]

    def matching(export: Export) -> list[tuple[bool, ...]]:
        rows = [decode_row(export.columns, values) for values in export.rows]
        return [tuple(matches(d.when, row) for d in rules.definitions_for(table)) for row in rows]

    assert described(cli) == described(api)
    assert matching(cli) == matching(api)
    assert any(any(row) for row in matching(cli)), "the sample has failures to match"


def test_without_an_ingestion_time_column_rows_arrive_when_they_were_generated(
    tmp_path: Path,
) -> None:
    document = _sample("AppRequests")
    _export(tmp_path, "AppRequests", as_az_cli(document, drop=("IngestionTime",)))
    export = read_export(tmp_path / "AppRequests.json")
    names = [c["name"] for c in document["tables"][0]["columns"]]
    generated = sorted(
        parse_datetime(row[names.index("TimeGenerated")], "TimeGenerated")
        for row in document["tables"][0]["rows"]
    )
    assert export.arrivals == generated


def test_an_empty_az_cli_result_is_a_table_without_rows(tmp_path: Path) -> None:
    _export(tmp_path, "AppTraces", [])
    export = read_export(tmp_path / "AppTraces.json")
    assert (export.columns, export.rows, export.earliest_generated()) == ((), [], None)


def test_an_export_powershell_wrote_in_utf_16_reads(tmp_path: Path) -> None:
    rows = [{"TableName": "PrimaryResult", "TimeGenerated": "2026-11-20T01:00:00Z", "M": "é"}]
    (tmp_path / "AppTraces.json").write_text(json.dumps(rows), encoding="utf-16")
    export = read_export(tmp_path / "AppTraces.json")
    assert export.rows == [["2026-11-20T01:00:00Z", "é"]]
