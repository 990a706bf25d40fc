"""Every metric Faultline emits about itself, in one place.

The use cases report through the `Metrics` port with these constants; the Azure adapter makes an
OpenTelemetry instrument of each (Application Insights keeps them in `customMetrics`, the
workspace in `AppMetrics`), the local run sums them into `out/metrics.json`, and the workbook and
alert rules in `infra/app/` query them by name. `tests/unit/test_telemetry.py` checks that every
name the workbook and the alerts query is listed here, that every attribute they split by is one
the metric carries, and that each metric here is emitted by some use case.

Attributes stay few and bounded (a definition, a table, a repository, an outcome): each distinct
combination is its own time series in Application Insights. Fingerprints and issue numbers go to
the structured logs instead (`LOG_FIELDS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.ports import Metric

if TYPE_CHECKING:
    from detection.occurrence import Occurrence

OCCURRENCES = Metric(
    "faultline.occurrences",
    "counter",
    "{occurrence}",
    "Failing rows counted into the ledger, each once however often a query returns it.",
    ("definition",),
)
NOTICES = Metric(
    "faultline.notices",
    "counter",
    "{notice}",
    "Failure notices handed to the issue workflow: a group crossed its threshold, or recurred.",
    ("definition",),
)
ISSUES = Metric(
    "faultline.issues",
    "counter",
    "{issue}",
    "Changes to issues on the tracker: `created`, `updated` (body refreshed), `commented`, "
    "`reopened`, `resolved` (closed by the quiet-period pass).",
    ("action", "repository"),
)
ASSIGNMENTS = Metric(
    "faultline.assignments",
    "counter",
    "{issue}",
    "How each issue's assignment step ended: `assigned`, `failed` (said on the issue) or "
    "`skipped` (policy `none`, or outside business hours with `unassigned`).",
    ("outcome", "kind"),
)
TIME_TO_ISSUE = Metric(
    "faultline.time_to_issue",
    "histogram",
    "s",
    "From a failure's first occurrence (its first row's TimeGenerated) to the creation of its "
    "issue: ingestion delay, polling, the threshold's wait and the hourly budget together.",
    ("definition", "repository"),
)
QUERY_LAG = Metric(
    "faultline.query.lag",
    "histogram",
    "s",
    "How far behind a finished query job is: the time it finished minus the end of its window "
    "(ingestion time), per table.",
    ("source", "table"),
)
QUERY_ROWS = Metric(
    "faultline.query.rows",
    "counter",
    "{row}",
    "Rows the log source returned to query jobs.",
    ("source", "table"),
)
QUERY_JOBS = Metric(
    "faultline.query.jobs",
    "counter",
    "{job}",
    "Query jobs by how they ended: `done`, `incomplete`, `split`, `throttled`, `waiting` (every "
    "query slot held), `poisoned`, `no-definitions`, `failed` (raised; the host retries it).",
    ("source", "table", "outcome"),
)
ALERT_DELIVERIES = Metric(
    "faultline.alert_deliveries",
    "counter",
    "{delivery}",
    "Alert webhook requests by how they were answered: `queued`, `duplicate` (a redelivery), "
    "`ignored` (nothing to detect), `unauthenticated`, `malformed`, `too-large`, `unknown` "
    "(no such webhook), `unavailable` (its secret could not be read).",
    ("webhook", "outcome"),
)
POISONED = Metric(
    "faultline.poisoned",
    "counter",
    "{message}",
    "Messages kept as poisoned for operators: `query-jobs` (refused, or failed every attempt), "
    "`failure-notices` (the workflow could not be started), `refused` (GitHub or the vault "
    "refused an issue for good), `alert-jobs` (an alert delivery failed every attempt), "
    "`github-events` (a webhook event failed every attempt).",
    ("kind",),
)
GITHUB_BUDGET = Metric(
    "faultline.github.budget",
    "histogram",
    "%",
    "Share of GitHub's rate-limit window used (x-ratelimit-used / x-ratelimit-limit), as the "
    "last answer to each workflow step reported it, per resource (`core`, `search`).",
    ("resource",),
)

METRICS: tuple[Metric, ...] = (
    OCCURRENCES,
    NOTICES,
    ISSUES,
    ASSIGNMENTS,
    TIME_TO_ISSUE,
    QUERY_LAG,
    QUERY_ROWS,
    QUERY_JOBS,
    ALERT_DELIVERIES,
    POISONED,
    GITHUB_BUDGET,
)
BY_NAME = {metric.name: metric for metric in METRICS}

LOG_FIELDS = ("fingerprint", "issue", "operation_id")
"""The `extra=` fields the ingest and workflow logs carry, which become `customDimensions` of
their rows in `traces`: the failure's group, its issue (`owner/name#number`) and the failing
operation's id in the monitored workspace."""


def operation_id(founder: Occurrence | None) -> str:
    """The failing operation's id in the monitored workspace (`operation_Id`, else the trace
    id), from a group's founding occurrence; "" when its row named none."""
    if founder is None:
        return ""
    for key in founder.keys:
        kind, _, value = key.partition(":")
        if kind == "op":
            return value
    return ""


def log_fields(
    fingerprint: str, *, issue: str = "", founder: Occurrence | None = None
) -> dict[str, str]:
    """The `extra=` of a log record about one failure: every field of `LOG_FIELDS`, empty when
    not known yet, so a query can filter on any of them without testing for its presence."""
    return {"fingerprint": fingerprint, "issue": issue, "operation_id": operation_id(founder)}
