"""Peak memory of one query job over the indexed app: the figure that sizes an instance.

A query job holds its whole result at once (the Log Analytics client reads a response in one
piece), then the normalized records and the detections beside it. Each case runs in a fresh
interpreter that first indexes the app as the host does (`import function_app`); that
interpreter's high-water mark is the baseline. It then runs the job's steps as
`pipeline.ingest` does, on N failing rows of the end-to-end workload (`bench.e2e`) in one window:
the real `LogAnalyticsSource` (azure-monitor-query over HTTPS to the wire fake, which runs in
this process), `normalize_rows` and `detect`, holding every result as the job does. Counting
that follows works per failure group, not per row, so its memory does not grow with the
result and it is left out.

    python -m bench.memory [--rows 2000,20000,100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.e2e import COLUMNS, FULL, T0, WORKSPACE, generate, write_rules
from bench.e2e import _failing_row as failing_row
from tests.fakes import log_analytics as la

ROOT = Path(__file__).resolve().parents[1]
TABLE = "AppExceptions"
"""The widest rows of the workload (a JSON `Details` with a stack trace): the worst case."""
WINDOW = timedelta(minutes=15)
LINE = "{:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13}"

JOB = r"""
import json, re, sys
from datetime import datetime

def peak_mb():
    # VmHWM, not ru_maxrss: the latter survives exec and would carry the parent's peak.
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

import function_app
from adapters.log_analytics import LogAnalyticsSource
from bench.e2e import load_workload_rules
from detection.detect import detect
from detection.kql import build_query
from detection.records import normalize_rows
from detection.windows import QueryWindow
from pipeline.ports import QueryPlan
from tests.fakes.log_analytics import FakeCredential

indexed = peak_mb()
case = json.loads(sys.argv[1])
rules = load_workload_rules(__import__("pathlib").Path(case["rules"]))
source = rules.source("production")
definitions = rules.definitions_for(case["table"])
window = QueryWindow(
    datetime.fromisoformat(case["start"]), datetime.fromisoformat(case["end"]), source.lookback
)
plan = QueryPlan(
    source.workspace_id,
    case["table"],
    window,
    tuple(d.when for d in definitions),
    build_query(case["table"], window, tuple(d.when for d in definitions)),
)
credential = FakeCredential()
credential.token = case["token"]
log_source = LogAnalyticsSource(credential, case["endpoint"], connection_verify=case["ca"])
outcome = log_source.run(plan)
fetched = peak_mb()
normalized = normalize_rows(source.table(case["table"]), outcome.columns, outcome.rows)
detections = detect(normalized.records, definitions)
print(json.dumps({
    "indexed_mb": indexed,
    "fetched_mb": fetched,
    "peak_mb": peak_mb(),
    "rows": len(outcome.rows),
    "detections": len(detections),
    "incomplete": outcome.incomplete,
}))
"""


def workload_rows(count: int, seed: int) -> list[list[object]]:
    """`count` failing rows of the e2e workload's AppExceptions failures, spread over a window."""
    workload = generate(FULL, seed)
    failures = [f for f in workload.failures if f.table == TABLE]
    rng = random.Random(seed)
    return [
        failing_row(failures[i % len(failures)], T0 + WINDOW * (i / count), rng)
        for i in range(count)
    ]


def measure(fake: la.LogAnalyticsFake, rules: Path, rows: int) -> dict[str, object]:
    case = {
        "rules": str(rules),
        "table": TABLE,
        "start": T0.isoformat(),
        "end": (T0 + WINDOW).isoformat(),
        "endpoint": fake.endpoint,
        "ca": fake.ca_path,
        "token": fake.credential.token,
    }
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    done = subprocess.run(
        [sys.executable, "-c", JOB, json.dumps(case)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    figures["asked"] = rows
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000,20000,100000")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    counts = [int(n) for n in arguments.rows.split(",")]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(LINE.format("rows", "response", "indexed", "fetched", "peak", "job", "job/response"))
    with tempfile.TemporaryDirectory() as scratch:
        rules = write_rules(Path(scratch))
        for count in counts:
            rows = workload_rows(count, arguments.seed)
            response_mb = len(json.dumps(rows)) / 2**20
            with la.LogAnalyticsFake() as fake:
                fake.add_table(WORKSPACE, TABLE, COLUMNS[TABLE], rows, [T0 + WINDOW / 2] * count)
                figures = measure(fake, rules, count)
            indexed, peak = float(str(figures["indexed_mb"])), float(str(figures["peak_mb"]))
            fetched, job = float(str(figures["fetched_mb"])), peak - indexed
            print(
                LINE.format(
                    count,
                    f"{response_mb:.1f} MB",
                    f"{indexed:.0f} MB",
                    f"{fetched:.0f} MB",
                    f"{peak:.0f} MB",
                    f"{job:.0f} MB",
                    f"{job / response_mb:.1f}x",
                )
                + (f"  ({figures['incomplete']})" if figures["incomplete"] else "")
            )


if __name__ == "__main__":
    main()
