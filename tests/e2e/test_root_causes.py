"""One root cause, one issue, measured through the production path on the bundled samples.

`python -m local_host.run --occurrences FILE` replays a sample through the registered
functions (Azurite, the Durable runtime, the dry-run issue sink) and writes every occurrence the
ledger counted, read back from Table Storage. Joined with the sample's labels:

- every failing row is counted exactly once;
- issues = root causes over their threshold, where a root cause is over its threshold when its
  rows of any one definition cross that definition's N-in-M (across tables: a root cause's
  exception, request, dependency and log rows are one cause);
- no issue holds the rows of two root causes;
- the digest the run published (its pinned issue and its messages) tells the same occurrences
  per day, new failures and top recurring failures as the occurrences file (`check_digest`).

The bundled alert webhook deliveries (samples/webhooks/deliveries.json, posted by every local
run) are labelled too: each alert they fire is one root cause, so one issue, however often it is
delivered or resolved. So is the CloudWatch export the night replays beside its tables
(samples/cloudwatch/, labelled by event index in its own labels.json): its events are rows like
any table's, under the same checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.exported_logs import CLOUDWATCH_COLUMNS, EPOCH
from detection.detect import first_crossing
from detection.records import Column, decode_row, parse_datetime, record_id
from detection.rules import Rules, load_rules
from samples.generate import rendered

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
NIGHT = ROOT / "samples" / "telemetry"
CLOUDWATCH = ROOT / "samples" / "cloudwatch"
RULES = load_rules((ROOT / "faultline.yaml").read_text(), {})


def _table(path: Path, rules: Rules) -> tuple[str, list[Column], list[list]]:
    """A table's export as (name, columns, rows in file order): the query API's response, or a
    log group's `filter-log-events` output with the columns the exported source gives it."""
    document = json.loads(path.read_text())
    if "events" in document:
        table = path.stem
        [group] = [g.name for s in rules.sources for g in s.log_groups if g.table == table]
        columns = [*CLOUDWATCH_COLUMNS, Column("LogGroup", "string")]
        rows = [
            [
                EPOCH + timedelta(milliseconds=event["timestamp"]),
                EPOCH + timedelta(milliseconds=event["ingestionTime"]),
                event["message"],
                event["logStreamName"],
                group,
            ]
            for event in document["events"]
        ]
        return table, columns, rows
    content = document["tables"][0]
    columns = [Column(c["name"], c["type"]) for c in content["columns"]]
    return content["name"], columns, content["rows"]


def _rows(folders: list[Path]) -> dict[tuple[str, str], tuple[str, int]]:
    """(table, record id) -> (table, row index), as the product identifies rows."""
    found = {}
    for path in sorted(p for folder in folders for p in folder.glob("*.json")):
        if path.name == "labels.json":
            continue
        table, columns, rows = _table(path, RULES)
        for index, values in enumerate(rows):
            try:
                row = decode_row(columns, values)
            except ValueError:
                continue
            found[(table, record_id(table, row))] = (table, index)
    return found


def _expected(folders: list[Path]) -> tuple[dict[tuple[str, int], str], set[str]]:
    """Which root cause each failing row belongs to, and the causes over their threshold."""
    rules = RULES
    cause_of: dict[tuple[str, int], str] = {}
    times: dict[tuple[str, str], list] = defaultdict(list)
    for data in folders:
        labels = json.loads((data / "labels.json").read_text())
        for table, label in labels.items():
            _, columns, rows = _table(data / f"{table}.json", rules)
            index_of = [c.name for c in columns].index("TimeGenerated")
            for definition, causes in label["root_causes"].items():
                for cause, indexes in causes.items():
                    for index in indexes:
                        cause_of[(table, index)] = cause
                        moment = parse_datetime(rows[index][index_of], "TimeGenerated")
                        times[(cause, definition)].append(moment)
    over = {
        cause
        for (cause, definition), moments in times.items()
        if first_crossing(sorted(moments), rules.definition(definition).threshold) is not None
    }
    return cause_of, over


def _webhook_causes(data: Path) -> set[str]:
    """The root causes the sample alert webhooks fire (each over its one-alert threshold), of
    the deliveries within the sample's span (the night's; the three days end before them)."""
    manifest = json.loads((ROOT / "samples" / "webhooks" / "deliveries.json").read_text())
    first, last = _span(data)
    return {
        cause
        for item in manifest["deliveries"]
        if first <= parse_datetime(item["at"], "at") <= last
        for cause in item["root_causes"]
    }


def _span(data: Path) -> tuple[datetime, datetime]:
    """The earliest and latest TimeGenerated of the sample's rows."""
    moments = []
    for path in sorted(data.glob("*.json")):
        if path.name == "labels.json":
            continue
        table = json.loads(path.read_text())["tables"][0]
        index = [c["name"] for c in table["columns"]].index("TimeGenerated")
        for row in table["rows"]:
            try:
                moments.append(parse_datetime(row[index], "TimeGenerated"))
            except ValueError:
                continue  # the sample's malformed rows, there on purpose
    return min(moments), max(moments)


def _replay(data: Path, tmp_path: Path) -> tuple[list[dict], str]:
    """The occurrences the run counted, and what it printed."""
    occurrences = tmp_path / "occurrences.jsonl"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_host.run",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
            "--occurrences",
            str(occurrences),
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")},
            "PYTHONPATH": str(ROOT),
        },
        check=True,
        timeout=3600,
        stdout=subprocess.PIPE,
        text=True,
    )
    counted = [json.loads(line) for line in occurrences.read_text().splitlines()]
    return counted, completed.stdout


def _check(data: Path, tmp_path: Path) -> None:
    """Every row counted once, and one issue per root cause over its threshold."""
    folders = [data, CLOUDWATCH] if data == NIGHT else [data]
    rows = _rows(folders)
    cause_of, over = _expected(folders)
    everything, stdout = _replay(data, tmp_path)
    hooks = {hook.name for hook in RULES.webhooks}
    alerted = [o for o in everything if o["table"] in hooks]
    counted = [o for o in everything if o["table"] not in hooks]
    alert_issues = {o["issue"] for o in alerted}
    assert None not in alert_issues, "every alert that fired is on an issue"
    assert len(alert_issues) == len(_webhook_causes(data)), "one issue per alert that fired"
    places = [rows[(o["table"], o["record_id"])] for o in counted]
    assert len(places) == len(set(places)), "no row counted twice"
    assert set(places) == set(cause_of), "every failing row counted"
    causes_by_issue: dict[str, set[str]] = defaultdict(set)
    for occurrence, place in zip(counted, places, strict=True):
        if occurrence["issue"]:
            causes_by_issue[occurrence["issue"]].add(cause_of[place])
    mixed = {issue: causes for issue, causes in causes_by_issue.items() if len(causes) > 1}
    assert not mixed, f"issues holding several root causes: {mixed}"
    issues_of: dict[str, int] = defaultdict(int)
    for causes in causes_by_issue.values():
        for cause in causes:
            issues_of[cause] += 1
    split = sorted(cause for cause, issues in issues_of.items() if issues > 1)
    assert not split, f"root causes with several issues: {split}"
    issued = set(issues_of)
    assert issued == over, (
        f"root causes over threshold without an issue: {sorted(over - issued)}; "
        f"with an issue but not over: {sorted(issued - over)}"
    )
    _check_what_it_said(stdout, len(set(causes_by_issue) | alert_issues), tmp_path / "out")
    for schedule in RULES.notifications.digests:
        check_digest(tmp_path / "out", everything, schedule.name)


def _check_what_it_said(stdout: str, over: int, out: Path) -> None:
    """Not on a terminal, progress is plain lines; the summary counts the distinct failures over
    their threshold as the labels do; the last lines name an issue file that exists."""
    assert "\r" not in stdout, "no bar redrawn in place in a log"
    printed = stdout.splitlines()
    assert any(line.startswith("  replay   100%  done in ") for line in printed)
    assert any(line.startswith("  settling 100%  done in ") for line in printed)
    said = " ".join(line.strip() for line in printed)
    assert f"created for the {over:,} distinct failures over their threshold" in said
    [first] = [line for line in printed if line.startswith("  the first issue:  ")]
    page = Path(first.removeprefix("  the first issue:  "))
    assert page.is_file() and page.is_relative_to(out) and page.suffix == ".md"


def test_the_night_makes_one_issue_per_root_cause_over_its_threshold(tmp_path) -> None:
    _check(NIGHT, tmp_path)
    # the digest's check bites: one occurrence of the top failure less, and it no longer agrees
    everything = [json.loads(line) for line in (tmp_path / "occurrences.jsonl").open()]
    [name] = [d.name for d in RULES.notifications.digests]
    busiest = max(
        {o["issue"] for o in everything if o["issue"]}, key=[o["issue"] for o in everything].count
    )
    first = next(i for i, o in enumerate(everything) if o["issue"] == busiest)
    with pytest.raises(AssertionError):
        check_digest(tmp_path / "out", everything[:first] + everything[first + 1 :], name)


def test_three_days_make_one_issue_per_root_cause_over_its_threshold(tmp_path) -> None:
    _check(rendered("days", ROOT / "samples" / "days"), tmp_path)


def check_digest(out: Path, occurrences: list[dict], name: str) -> None:
    """The digest the run published (its issue and its messages under `notifications/`) tells
    the figures the occurrences file gives, recounted here from the file alone: occurrences per
    day, new failures (the run starts empty, so every issue in scope was made in it), and the
    top recurring failures with their counts in the period and the one before."""
    [schedule] = [d for d in RULES.notifications.digests if d.name == name]
    routed = {r.repository for r in RULES.routing.routes if r.name in schedule.routes}
    scope = {*schedule.repositories, *routed} or {schedule.repository}
    sent = {
        json.loads(path.read_text())["channel"]: json.loads(path.read_text())
        for path in (out / "notifications").glob("*-digest.json")
    }
    assert set(sent) == set(schedule.channels), "the digest went to each of its channels"
    [webhook] = [m["payload"]["digest"] for m in sent.values() if m["kind"] == "webhook"]
    start = datetime.fromisoformat(webhook["start"])
    end = datetime.fromisoformat(webhook["end"])
    previous = start - (end - start)

    per_issue: dict[str, int] = defaultdict(int)
    before: dict[str, int] = defaultdict(int)
    daily = [0] * round((end - start) / timedelta(days=1))
    for occurrence in occurrences:
        issue = occurrence["issue"]
        if issue is None or issue.split("#")[0] not in scope:
            continue
        moment = datetime.fromisoformat(occurrence["time"])
        if start <= moment < end:
            per_issue[issue] += 1
            daily[(moment - start) // timedelta(days=1)] += 1
        elif previous <= moment < start:
            before[issue] += 1
    total = sum(daily)
    assert total > 0, "the digest covers the replay's days"
    assert webhook["daily"] == daily and webhook["occurrences"] == total
    counts = webhook["counts"]
    issues = set(per_issue) | set(before)
    # a regression may open a linked new issue, which the digest counts as regressed
    assert len(issues) - counts["regressed"] <= counts["new"] <= len(issues)
    ranked = sorted(per_issue.values(), reverse=True)[: len(webhook["top"])]
    assert [t["count"] for t in webhook["top"]] == ranked, "the top are the largest"
    for top in webhook["top"]:
        issue = f"{top['repository']}#{top['issue']}"
        assert (top["count"], top["previous"]) == (per_issue[issue], before[issue]), issue
        assert sum(top["daily"]) == top["count"]
    if not any(k.action == "suppress" for k in RULES.known_issues):
        assert webhook["suppressed"] == []

    pages = [
        json.loads(path.read_text())
        for path in out.glob("*/*/*.json")
        if "faultline:digest" in json.loads(path.read_text()).get("labels", [])
    ]
    [page] = [p for p in pages if p["repository"] == schedule.repository]
    body = page["body"]
    headline = f"{counts['new']} new, {counts['regressed']} regressed"
    assert headline in body and f"; {total} occurrence(s)" in body
    assert f"    bar [{', '.join(str(count) for count in daily)}]" in body
    assert f"### New failures ({counts['new']})" in body
    assert f"### Top recurring failures ({len(webhook['top'])})" in body
    [slack] = [m["payload"] for m in sent.values() if m["kind"] == "slack"]
    fields = [f["text"] for b in slack["blocks"] if "fields" in b for f in b["fields"]]
    assert f"*New failures*\n{counts['new']}" in fields
    assert any(f.startswith(f"*Occurrences*\n{total} ") for f in fields)
