"""What each real failure in `traces/` is grouped by, pinned as a readable snapshot beside it.

For every input in `traces/<runtime>/` (a captured or copied stack trace, or an App Insights
`Details` item list), the test builds the row a workspace would hold, fingerprints it and compares
`fingerprint_summary` (basis, components, which contributed and why) with the committed
`<input name without extension>.summary.json` next to the input (JSON, sorted keys). The golden
hash test in `test_fingerprint.py` says *that* the fingerprint changed; a failure here says *what*
changed, as a unified diff of the pretty-printed JSON.

A change of grouping is deliberate: regenerate the snapshots, read the diff and commit it.

    FAULTLINE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_fingerprint_snapshots.py

The rows: `appinsights/*.json` is an AppExceptions row (`Details`, with `OuterType` and
`OuterMessage` taken from the outermost item, as App Insights fills them); `functions/*.txt` is a
FunctionAppLogs error row the host writes under `Function.<name>`, its exception text in
`ExceptionDetails` and that text's first line as `ExceptionMessage`; every other text is console
output kept as one ContainerLogV2 row (a trace stitched into one `LogMessage`). All rows belong to
one service, `shop`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from detection.fingerprint import fingerprint, fingerprint_summary
from detection.records import Column, LogRecord, normalize_rows
from detection.rules import TableSpec

pytestmark = pytest.mark.unit

TRACES = Path(__file__).parent / "traces"
SUFFIX = ".summary.json"
UPDATE = os.environ.get("FAULTLINE_UPDATE_SNAPSHOTS") == "1"
TIME = "2026-11-20T00:00:00Z"


def _inputs() -> list[Path]:
    return sorted(
        path
        for path in TRACES.glob("*/*")
        if path.suffix in (".txt", ".json") and not path.name.endswith(SUFFIX)
    )


def _snapshot(path: Path) -> Path:
    return path.with_name(path.stem + SUFFIX)


def _text(path: Path) -> str:
    """A text fixture without its `#>` provenance lines."""
    return "\n".join(line for line in path.read_text().split("\n") if not line.startswith("#> "))


def _row(path: Path) -> tuple[str, dict[str, Any]]:
    if path.parent.name == "appinsights":
        details = json.loads(path.read_text())["Details"]
        outer = details[0]
        return "AppExceptions", {
            "TimeGenerated": TIME,
            "AppRoleName": "shop",
            "OuterType": outer["type"],
            "OuterMessage": outer["message"],
            "Details": details,
        }
    text = _text(path)
    if path.parent.name == "functions":
        function = re.search(r"Functions\.(\w+)", text)
        assert function, path
        return "FunctionAppLogs", {
            "TimeGenerated": TIME,
            "_ResourceId": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Web/sites/SHOP",
            "Category": f"Function.{function.group(1)}",
            "Level": "Error",
            "ExceptionMessage": text.strip().split("\n", 1)[0],
            "ExceptionDetails": text,
        }
    return "ContainerLogV2", {"TimeGenerated": TIME, "ContainerName": "shop", "LogMessage": text}


def _record(path: Path) -> LogRecord:
    table, row = _row(path)
    columns = [Column(name, "dynamic" if name == "Details" else "string") for name in row]
    normalized = normalize_rows(TableSpec(name=table), columns, [list(row.values())])
    assert not normalized.rejected, normalized.rejected
    (record,) = normalized.records
    return record


def _pretty(summary: Any) -> str:
    return json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: str(p.relative_to(TRACES)))
def test_grouping_matches_the_committed_snapshot(path: Path) -> None:
    actual = _pretty(fingerprint_summary(fingerprint("traces", _record(path))))
    snapshot = _snapshot(path)
    if UPDATE:
        snapshot.write_text(actual)
    assert snapshot.exists(), (
        f"no snapshot {snapshot.name}: run with FAULTLINE_UPDATE_SNAPSHOTS=1 and commit it"
    )
    expected = snapshot.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"{snapshot.name} (committed)",
            f"{snapshot.name} (now)",
        )
    )
    assert actual == expected, (
        f"grouping of {path.relative_to(TRACES)} changed (if deliberate, run with "
        f"FAULTLINE_UPDATE_SNAPSHOTS=1 and commit the diff):\n{diff}"
    )


def test_every_snapshot_has_its_input() -> None:
    inputs = {_snapshot(path) for path in _inputs()}
    stale = sorted(
        str(p.relative_to(TRACES)) for p in TRACES.glob(f"*/*{SUFFIX}") if p not in inputs
    )
    assert not stale, f"snapshots without an input (delete them): {stale}"


def test_every_runtime_has_inputs() -> None:
    runtimes = {path.parent.name for path in _inputs()}
    expected = {"appinsights", "dotnet", "functions", "go", "java", "node", "python"}
    assert runtimes == expected
