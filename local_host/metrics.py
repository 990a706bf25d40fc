"""The local run's own metrics: what Application Insights would have charted, summed from the run's
metrics file (`FAULTLINE_METRICS_FILE`, which the driver and its Durable worker process both
append to) into `out/metrics.json` and a few lines of the run's summary.

Every metric of the catalogue (`pipeline.metrics`) is in the JSON, zero when the run never
emitted it; a counter with its total and its totals per attribute combination, a histogram with
its count, p50, p95 and maximum, overall and per combination. The file is consumed: a later run
into the same `--out` sums only its own measurements.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.telemetry import Measurement, read_measurements
from pipeline.metrics import (
    ASSIGNMENTS,
    GITHUB_BUDGET,
    ISSUES,
    METRICS,
    NOTICES,
    OCCURRENCES,
    POISONED,
    QUERY_LAG,
    TIME_TO_ISSUE,
)

SUMMARY = "metrics.json"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` from 0 to 100) of `values`, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(share / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def figures(measurements: Iterable[Measurement]) -> dict[str, Any]:
    """Every catalogue metric's figures, overall and per attribute combination."""
    values: dict[str, dict[tuple[tuple[str, Any], ...], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for measurement in measurements:
        key = tuple(sorted(measurement.attributes.items()))
        values[measurement.metric][key].append(measurement.value)
    result: dict[str, Any] = {}
    for metric in METRICS:
        series = values.get(metric.name, {})
        every = [value for points in series.values() for value in points]
        entry: dict[str, Any] = {
            "kind": metric.kind,
            "unit": metric.unit,
            "description": metric.description,
            **_aggregate(metric.kind, every),
            "series": [
                {"attributes": dict(key), **_aggregate(metric.kind, points)}
                for key, points in sorted(series.items())
            ],
        }
        result[metric.name] = entry
    return result


def _aggregate(kind: str, points: Sequence[float]) -> dict[str, float]:
    if kind == "counter":
        return {"total": sum(points)}
    return {
        "count": len(points),
        "p50": percentile(points, 50),
        "p95": percentile(points, 95),
        "max": max(points, default=0.0),
    }


def _by(entry: Mapping[str, Any], attribute: str) -> dict[str, float]:
    """A counter's totals per value of one attribute."""
    totals: dict[str, float] = defaultdict(float)
    for series in entry["series"]:
        totals[str(series["attributes"].get(attribute, ""))] += series["total"]
    return dict(totals)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The figures an operator looks at first, in a few lines."""
    issues = _by(result[ISSUES.name], "action")
    assignments = _by(result[ASSIGNMENTS.name], "outcome")
    changes = ", ".join(f"{action} {issues.get(action, 0):.0f}" for action in _ISSUE_ACTIONS)
    handed = ", ".join(f"{outcome} {n:.0f}" for outcome, n in sorted(assignments.items()))
    waited, lag = result[TIME_TO_ISSUE.name], result[QUERY_LAG.name]
    worst = max(lag["series"], key=lambda series: series["max"], default=None)
    worst_table = f", worst {worst['attributes'].get('table')}" if worst else ""
    budget = result[GITHUB_BUDGET.name]
    github = (
        f"GitHub budget used at most {budget['max']:.0f}%"
        if budget["count"]
        else "no GitHub budget reported (dry run)"
    )
    return [
        f"  occurrences counted {result[OCCURRENCES.name]['total']:.0f}, "
        f"notices {result[NOTICES.name]['total']:.0f}, "
        f"poisoned {result[POISONED.name]['total']:.0f}",
        f"  issues {changes}; assignments {handed or 'none'}",
        f"  first occurrence to issue: p50 {_duration(waited['p50'])}, "
        f"p95 {_duration(waited['p95'])} ({waited['count']} issues)",
        f"  query lag: p50 {_duration(lag['p50'])}, p95 {_duration(lag['p95'])}, "
        f"max {_duration(lag['max'])}{worst_table} ({lag['count']} jobs); {github}",
    ]


_ISSUE_ACTIONS = ("created", "updated", "commented", "reopened")


def report_metrics(metrics_file: str | None, out: Path) -> list[str]:
    """Sum the run's metrics file into `out/metrics.json`, consume the file, print the summary
    and return its lines; nothing when the run wrote no metrics file."""
    if not metrics_file or not Path(metrics_file).exists():
        return []
    path = Path(metrics_file)
    result = figures(read_measurements(path))
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).write_text(
        json.dumps({"metrics": result}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    path.unlink()
    lines = [f"\nFaultline's own metrics ({out / SUMMARY}):", *summary_lines(result)]
    print("\n".join(lines))
    return lines
