"""The digest: one page per period that says what broke, what was fixed and what the agents did.

Pure: the pipeline gathers plain facts (each failure's issue and occurrence times from the
ledger and the issue states, the audit rows, Faultline's own health) and this module counts and
renders them. Everything an issue went through is read from the audit trail, the record every
step already writes once: `created` (new, or regressed when it is a regression's linked new
issue), `reopened` (regressed), what people did on GitHub (`steered` rows whose reason says
`resolved:` or `muted`, `command` rows that answer `Resolved` or `Muted`), `assigned` (to
whom), `skipped-as-duplicate` and `folded` (a second issue that was not made),
`notification-held`, `notified` and `notification-failed`, `pull-request-linked`, and
`suppressed` (a group a known issue keeps from becoming an issue, whose occurrences the ledger
counts all the same). Times to the first pull request and to close are measured from the
issue's `created` row.

The GitHub page carries the hidden marker on its first line (`digest_fingerprint`), so the
publisher finds its one pinned issue again rather than opening a second one after a retry or a
lost state. Log text (failure titles) is rendered inert (`detection.markdown`).
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from detection import markdown
from detection.known_issues import named_in
from detection.redaction import redact

TOP = 10
"""How many recurring failures the digest lists."""
LISTED = 20
"""How many failures each of new, regressed, resolved and muted lists by name (all are counted)."""
ISSUE_LIMIT = 65_536
SPARKS = "▁▂▃▄▅▆▇█"

Change = Literal["new", "regressed", "resolved", "muted"]
CHANGE_HEADINGS: tuple[tuple[Change, str], ...] = (
    ("new", "New failures"),
    ("regressed", "Regressions"),
    ("resolved", "Resolved"),
    ("muted", "Muted"),
)
_MUTED = re.compile(r"(?:^|: )muted(?: until [^:]*)?:")


@dataclass(frozen=True)
class Period:
    """The half-open span [start, end) a digest covers: a day or a week."""

    start: datetime
    end: datetime

    @property
    def previous(self) -> Period:
        """The span as long just before, which trends compare against."""
        return Period(self.start - (self.end - self.start), self.start)

    @property
    def days(self) -> tuple[datetime, ...]:
        span = max(1, round((self.end - self.start) / timedelta(days=1)))
        return tuple(self.start + timedelta(days=day) for day in range(span))

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Failure:
    """One failure's issue in one repository, as the ledger and its issue state know it."""

    fingerprint: str
    title: str
    repository: str
    issue: int | None = None
    url: str | None = None
    status: str = "active"
    occurrences: tuple[datetime, ...] = ()
    """Occurrence times; those in the period and the one before it are what counts."""
    first_pull_request_at: datetime | None = None


@dataclass(frozen=True)
class Action:
    """One audit row."""

    fingerprint: str
    action: str
    repository: str
    issue: int | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class Suppressed:
    """What a known issue with action `suppress` kept from becoming issues in the period."""

    known_issue: str
    failures: int
    """Groups it covered that occurred in the period."""
    occurrences: int


@dataclass(frozen=True)
class Health:
    """Faultline's own state when the digest was made."""

    lag_seconds: int | None = None
    """The largest lag of any watched table's checkpoint (None before the first poll)."""
    poisoned: int = 0
    """Jobs, notices, events and notifications kept as poisoned."""
    budget_used: int = 0
    budget_limit: int = 0
    """GitHub's core request budget as its latest answer stated it (0: not known)."""


@dataclass(frozen=True)
class Line:
    """A failure as the digest names it, with when the change happened."""

    fingerprint: str
    title: str
    repository: str
    issue: int | None
    url: str | None
    at: datetime


@dataclass(frozen=True)
class Recurring:
    fingerprint: str
    title: str
    repository: str
    issue: int | None
    url: str | None
    count: int
    previous: int
    daily: tuple[int, ...]

    @property
    def trend(self) -> str:
        if self.previous == 0:
            return "new"
        if self.count > self.previous:
            return f"up {_percent(self.count, self.previous)}"
        if self.count < self.previous:
            return f"down {_percent(self.previous - self.count, self.previous, sign=False)}"
        return "flat"


@dataclass(frozen=True)
class IssueRow:
    """An assigned issue open at some time in the period."""

    repository: str
    issue: int
    url: str | None
    title: str
    assignee: str
    pull_request: bool
    to_first_pull_request: timedelta | None
    to_close: timedelta | None


@dataclass(frozen=True)
class AssigneeRow:
    assignee: str
    issues: int
    with_pull_request: int
    closed: int
    median_to_first_pull_request: timedelta | None
    median_to_close: timedelta | None


@dataclass(frozen=True)
class Digest:
    name: str
    period: Period
    changes: dict[Change, tuple[Line, ...]]
    occurrences: int
    daily: tuple[int, ...]
    top: tuple[Recurring, ...]
    issues: tuple[IssueRow, ...]
    assignees: tuple[AssigneeRow, ...]
    duplicates_avoided: int
    pull_requests_linked: int
    notifications_sent: int
    notifications_held: int
    notifications_failed: int
    health: Health
    suppressed: tuple[Suppressed, ...] = ()
    """Per known issue, by occurrences (most first); only those that kept something back."""

    @property
    def suppressed_occurrences(self) -> int:
        return sum(row.occurrences for row in self.suppressed)


def _percent(part: int, whole: int, *, sign: bool = True) -> str:
    value = round(100 * (part - whole if sign else part) / whole)
    return f"{value}%"


def change_of(action: Action) -> Change | None:
    """What an audit row says happened to the failure's issue, if it is one of the four."""
    if action.action == "created":  # a regression may open a linked new issue (`dedup`)
        return "regressed" if action.reason.startswith("regression of #") else "new"
    if action.action == "reopened":
        return "regressed"
    if action.action == "steered":  # `pipeline.lifecycle.describe` after who did what
        if ": resolved:" in f": {action.reason}":
            return "resolved"
        if _MUTED.search(action.reason):
            return "muted"
    if action.action == "command":  # the reply's first line (`pipeline.commands`)
        if action.reason.startswith("Resolved"):
            return "resolved"
        if action.reason.startswith("Muted "):
            return "muted"
    return None


def _median(values: Iterable[timedelta]) -> timedelta | None:
    found = sorted(values)
    return statistics.median_low(found) if found else None


def build_digest(
    name: str,
    period: Period,
    failures: Sequence[Failure],
    actions: Sequence[Action],
    health: Health,
    suppressed: Sequence[Failure] = (),
) -> Digest:
    """The digest's figures over `period` (audit rows and occurrences before it only serve the
    trend and the times measured from an issue's creation). `suppressed` are the groups with a
    `suppressed` audit row, with their occurrences (they have no issue)."""
    by_issue = {(f.fingerprint, f.repository): f for f in failures}
    days = period.days

    def line(action: Action) -> Line:
        failure = by_issue.get((action.fingerprint, action.repository))
        issue = action.issue if action.issue is not None else (failure and failure.issue)
        return Line(
            action.fingerprint,
            failure.title if failure else action.fingerprint,
            action.repository,
            issue or None,
            failure.url if failure else None,
            action.at,
        )

    ordered = sorted(actions, key=lambda a: (a.at, a.fingerprint, a.action))
    changes: dict[Change, list[Line]] = {"new": [], "regressed": [], "resolved": [], "muted": []}
    for action in ordered:
        change = change_of(action)
        if change is not None and period.holds(action.at):
            changes[change].append(line(action))

    daily_totals = [0] * len(days)
    recurring: list[Recurring] = []
    for failure in failures:
        now = [t for t in failure.occurrences if period.holds(t)]
        before = sum(1 for t in failure.occurrences if period.previous.holds(t))
        daily = [0] * len(days)
        for moment in now:
            index = min(len(days) - 1, (moment - period.start) // timedelta(days=1))
            daily[index] += 1
            daily_totals[index] += 1
        if now:
            recurring.append(
                Recurring(
                    failure.fingerprint,
                    failure.title,
                    failure.repository,
                    failure.issue,
                    failure.url,
                    len(now),
                    before,
                    tuple(daily),
                )
            )
    recurring.sort(key=lambda r: (-r.count, r.fingerprint, r.repository))

    issues = _issue_rows(period, by_issue, ordered)
    in_period = Counter(a.action for a in ordered if period.holds(a.at))
    return Digest(
        name=name,
        period=period,
        changes={kind: tuple(lines) for kind, lines in changes.items()},
        occurrences=sum(daily_totals),
        daily=tuple(daily_totals),
        top=tuple(recurring[:TOP]),
        issues=issues,
        assignees=_assignee_rows(issues),
        duplicates_avoided=in_period["skipped-as-duplicate"] + in_period["folded"],
        pull_requests_linked=in_period["pull-request-linked"],
        notifications_sent=in_period["notified"],
        notifications_held=in_period["notification-held"],
        notifications_failed=in_period["notification-failed"],
        health=health,
        suppressed=_suppressed(period, suppressed, ordered),
    )


def _suppressed(
    period: Period, groups: Sequence[Failure], ordered: Sequence[Action]
) -> tuple[Suppressed, ...]:
    """Per known issue, the suppressed groups' occurrences in the period. A group's one
    `suppressed` row (written once, whenever it was first kept back) names the entry; its later
    occurrences count under the same entry."""
    entry: dict[tuple[str, str], str] = {}
    for action in ordered:
        name = named_in(action.reason) if action.action == "suppressed" else None
        if name is not None and action.at < period.end:
            entry.setdefault((action.fingerprint, action.repository), name)
    failures: Counter[str] = Counter()
    occurrences: Counter[str] = Counter()
    for group in groups:
        name = entry.get((group.fingerprint, group.repository))
        count = sum(1 for moment in group.occurrences if period.holds(moment))
        if name is not None and count:
            failures[name] += 1
            occurrences[name] += count
    rows = [Suppressed(name, failures[name], occurrences[name]) for name in occurrences]
    return tuple(sorted(rows, key=lambda row: (-row.occurrences, row.known_issue)))


def _issue_rows(
    period: Period,
    by_issue: dict[tuple[str, str], Failure],
    ordered: Sequence[Action],
) -> tuple[IssueRow, ...]:
    """Each assigned issue open during the period, with its latest assignee and its times. An
    issue is open from its `created` row (or its latest `reopened`) until it is resolved."""
    opened: dict[tuple[str, str], datetime] = {}
    closed: dict[tuple[str, str], datetime | None] = {}
    assignee: dict[tuple[str, str], str] = {}
    for action in ordered:
        if action.at >= period.end:
            break
        key = (action.fingerprint, action.repository)
        change = change_of(action)
        if change == "new":
            opened.setdefault(key, action.at)
            closed[key] = None
        elif change == "regressed":
            closed[key] = None
        elif change == "resolved":
            closed[key] = action.at
        elif action.action == "assigned":
            assignee[key] = action.reason or "unknown"
    rows: list[IssueRow] = []
    for key, who in sorted(assignee.items()):
        failure = by_issue.get(key)
        start = opened.get(key)
        end = closed.get(key)
        if failure is None or failure.issue is None or start is None:
            continue
        if end is not None and end < period.start:
            continue  # closed before the period: not the period's work
        first = failure.first_pull_request_at
        linked = first is not None and first < period.end
        rows.append(
            IssueRow(
                failure.repository,
                failure.issue,
                failure.url,
                failure.title,
                who,
                linked,
                max(first - start, timedelta(0)) if first is not None and linked else None,
                end - start if end is not None else None,
            )
        )
    return tuple(sorted(rows, key=lambda row: (row.repository, row.issue)))


def _assignee_rows(issues: Sequence[IssueRow]) -> tuple[AssigneeRow, ...]:
    rows = []
    for who in sorted({row.assignee for row in issues}):
        mine = [row for row in issues if row.assignee == who]
        rows.append(
            AssigneeRow(
                who,
                len(mine),
                sum(row.pull_request for row in mine),
                sum(row.to_close is not None for row in mine),
                _median(r.to_first_pull_request for r in mine if r.to_first_pull_request),
                _median(r.to_close for r in mine if r.to_close is not None),
            )
        )
    return tuple(rows)


# -- rendering ------------------------------------------------------------------------------------


def digest_fingerprint(name: str) -> str:
    """The digest's stand-in for a failure's fingerprint: its pinned issue carries the usual
    hidden marker (`detection.markers`, signed once a key is configured) with this value, so the
    trackers' marker search finds it again after a retry or a lost state, as it does issues."""
    return hashlib.blake2b(f"digest|{name}".encode(), digest_size=8).hexdigest()


def duration(span: timedelta | None) -> str:
    """A span as people read it: `45m`, `5h 20m`, `3d 4h`; `-` when there is none."""
    if span is None:
        return "-"
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def lag_text(seconds: int | None, missing: str) -> str:
    """An ingestion lag as people read it: `40s` under a minute, else as `duration` says it."""
    if seconds is None:
        return missing
    return f"{seconds}s" if seconds < 60 else duration(timedelta(seconds=seconds))


def sparkline(values: Sequence[int]) -> str:
    """Counts as block characters, the largest a full block (all zero: the lowest)."""
    top = max(values, default=0)
    if top == 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, v * (len(SPARKS) - 1) // top)] for v in values)


def headline(digest: Digest) -> str:
    """The one-line summary every channel leads with (Faultline's own figures only)."""
    changes = digest.changes
    return (
        f"{len(changes['new'])} new, {len(changes['regressed'])} regressed, "
        f"{len(changes['resolved'])} resolved, {len(changes['muted'])} muted; "
        f"{digest.occurrences} occurrence(s)"
    )


def period_label(period: Period) -> str:
    last = period.end - timedelta(seconds=1)
    if len(period.days) == 1:
        return f"{period.start:%Y-%m-%d}"
    return f"{period.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def issue_title(digest: Digest) -> str:
    return f"Faultline digest: {digest.name}"


def _ref(repository: str, issue: int | None, url: str | None) -> str:
    if issue is None:
        return "-"
    text = markdown.table_cell(f"{repository}#{issue}", code=True)
    return f"[{text}]({url})" if url and url.startswith("https://") else text


def _title(text: str) -> str:
    """A failure's name (log text) in a table cell: redacted and inert."""
    return markdown.table_cell(redact(text)[:200])


def _mermaid_daily(digest: Digest) -> str:
    labels = ", ".join(f'"{day:%m-%d}"' for day in digest.period.days)
    values = ", ".join(str(count) for count in digest.daily)
    top = max(digest.daily, default=0)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "Occurrences per day (UTC)"',
            f"    x-axis [{labels}]",
            f'    y-axis "occurrences" 0 --> {max(top, 1)}',
            f"    bar [{values}]",
            "```",
        ]
    )


_PIE_LABEL = re.compile(r"[^0-9A-Za-z ._\[\]-]")
"""What a Mermaid pie label keeps of an assignee's name (a quote or newline would end it)."""


def _mermaid_assignees(digest: Digest) -> str:
    slices = [
        f'    "{_PIE_LABEL.sub("", row.assignee)[:40] or "?"}" : {row.issues}'
        for row in digest.assignees
    ]
    return "\n".join(["```mermaid", "pie title Issues by assignee", *slices, "```"])


def render_markdown(digest: Digest, marker_line: str) -> str:
    """The pinned issue's body: the marker line (`detection.markers.marker` of the digest's
    fingerprint), headline, Mermaid charts, tables; within GitHub's limit (the long lists are
    cut first)."""
    for listed in (LISTED, 5, 0):
        body = _markdown(digest, listed, marker_line)
        if len(body) <= ISSUE_LIMIT:
            return body
    return body[: ISSUE_LIMIT - 1]


def _markdown(digest: Digest, listed: int, marker_line: str) -> str:
    out = [
        marker_line,
        f"## {markdown.prose(issue_title(digest))}, {period_label(digest.period)}",
        "",
        f"**{headline(digest)}.** Updated in place at every digest; the history of this issue "
        "keeps the earlier ones.",
        "",
        _mermaid_daily(digest),
        "",
    ]
    for kind, heading in CHANGE_HEADINGS:
        lines = digest.changes[kind]
        out.append(f"### {heading} ({len(lines)})")
        out.append("")
        if not lines:
            out += ["None.", ""]
            continue
        out += ["| Failure | Issue | When (UTC) |", "|---|---|---|"]
        for item in lines[:listed]:
            where = _ref(item.repository, item.issue, item.url)
            out.append(f"| {_title(item.title)} | {where} | {item.at:%Y-%m-%d %H:%M} |")
        if len(lines) > listed:
            out.append(f"| and {len(lines) - listed} more | | |")
        out.append("")
    out += [f"### Top recurring failures ({len(digest.top)})", ""]
    if digest.top:
        out += [
            "| Failure | Issue | Occurrences | Previous period | Trend | Per day |",
            "|---|---|---:|---:|---|---|",
        ]
        out += [
            f"| {_title(r.title)} | {_ref(r.repository, r.issue, r.url)} | "
            f"{r.count} | {r.previous} | {r.trend} | {sparkline(r.daily)} |"
            for r in digest.top
        ]
    else:
        out.append("No occurrences in the period.")
    out += ["", f"### Suppressed by known issues ({digest.suppressed_occurrences})", ""]
    if digest.suppressed:
        out += ["| Known issue | Failures | Occurrences |", "|---|---:|---:|"]
        out += [
            f"| {markdown.table_cell(row.known_issue, code=True)} | {row.failures} | "
            f"{row.occurrences} |"
            for row in digest.suppressed
        ]
    else:
        out.append("None: no known issue kept a failure back.")
    out += ["", "### Agents and assignees", ""]
    if digest.assignees:
        out += [
            _mermaid_assignees(digest),
            "",
            "| Assignee | Issues | With a pull request | Closed | Median to first PR "
            "| Median to close |",
            "|---|---:|---:|---:|---|---|",
        ]
        out += [
            f"| {markdown.table_cell(a.assignee)} | {a.issues} | {a.with_pull_request} | "
            f"{a.closed} | {duration(a.median_to_first_pull_request)} | "
            f"{duration(a.median_to_close)} |"
            for a in digest.assignees
        ]
        out += [
            "",
            "| Issue | Assignee | Pull request | To first PR | To close |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {_ref(row.repository, row.issue, row.url)} | {markdown.table_cell(row.assignee)}"
            f" | {'yes' if row.pull_request else 'no'} | {duration(row.to_first_pull_request)}"
            f" | {duration(row.to_close)} |"
            for row in digest.issues[: max(listed, 5) * 5]
        ]
        if len(digest.issues) > max(listed, 5) * 5:
            out.append(f"| and {len(digest.issues) - max(listed, 5) * 5} more | | | | |")
    else:
        out.append("No issue was assigned.")
    health = digest.health
    budget = (
        f"{health.budget_used} of {health.budget_limit} requests"
        if health.budget_limit
        else "not reported"
    )
    lag = lag_text(health.lag_seconds, "no poll yet")
    out += [
        "",
        "### Faultline",
        "",
        "| | |",
        "|---|---:|",
        f"| Duplicate issues avoided | {digest.duplicates_avoided} |",
        f"| Pull requests linked | {digest.pull_requests_linked} |",
        f"| Notifications sent | {digest.notifications_sent} |",
        f"| Notifications held back by throttles | {digest.notifications_held} |",
        f"| Notifications failed | {digest.notifications_failed} |",
        f"| Largest ingestion lag | {lag} |",
        f"| Poisoned jobs kept | {health.poisoned} |",
        f"| GitHub budget used (core, this hour) | {budget} |",
        "",
    ]
    return "\n".join(out)
