"""What the local run tells the user at the end: what happened, in plain words, and what to open.

The counts come from the product's own records, read back while Azurite still holds them: the
ledger's groups (what was found), the audit log (what the issue workflow did, and when) and the
dry-run sink's files (where the issues are). `RunSummary` holds them as plain values, so the
wording is decided (and tested) apart from a run.

The summary used to print the audit log's counters side by side, which read as contradictions:
"assignments deferred to business hours 54" above "assigned 54", after "settled after 0:00:00 of
simulated time". All three were true: the night's issues were created before business hours,
waited, and were assigned when business hours began, still inside the replayed span, so nothing
was left to settle. Here each assignment is told with its story: to whom, whether it waited, and
until when, in simulated time."""

from __future__ import annotations

import json
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.markdown_issues import issue_files
from detection.rules import BusinessHours
from detection.scheduling import next_business_start
from local_host.progress import duration
from pipeline.services import Services

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WIDTH = 100
"""Columns the summary is wrapped to (a terminal's 80 would break the definitions' table)."""
OPENINGS_LISTED = 4
"""Business-hours openings named one by one before the rest are summed up (three days have
three; a week-long settle could have more)."""


@dataclass(frozen=True)
class DefinitionRow:
    """The groups of one root definition (the failure definition a group's first row matched)."""

    definition: str
    groups: int
    over_threshold: int
    occurrences: int


@dataclass(frozen=True)
class Assignment:
    """One issue's assignment, as the audit log tells it."""

    issue: str
    """owner/repo#number"""
    assignee: str | None
    """Who it went to, as the workflow recorded it; None while it still waits."""
    deferred_at: datetime | None = None
    """When the workflow found itself outside business hours and began to wait."""
    failed: bool = False
    """GitHub did not assign it (the issue says so, labelled faultline:needs-assignee)."""


@dataclass(frozen=True)
class RunSummary:
    """What one local run did, in simulated and wall time."""

    sample: str
    replay_start: datetime
    replay_end: datetime
    settled: timedelta
    """Simulated time the waiting workflows needed after the replay's last tick."""
    wall_seconds: float
    dry_run: bool
    query_jobs: int
    poisoned_jobs: int
    notices: int
    failing_operations: int
    definitions: tuple[DefinitionRow, ...]
    actions: Mapping[str, int]
    """The audit log's entries counted by action (created, commented, rate-limited, ...)."""
    business_hours: BusinessHours
    assignments: tuple[Assignment, ...] = field(default=())

    @property
    def groups(self) -> int:
        return sum(row.groups for row in self.definitions)

    @property
    def over_threshold(self) -> int:
        return sum(row.over_threshold for row in self.definitions)

    @property
    def occurrences(self) -> int:
        return sum(row.occurrences for row in self.definitions)


def summarise(
    services: Services,
    *,
    sample: str,
    replay_start: datetime,
    replay_end: datetime,
    settled: timedelta,
    wall_seconds: float,
    dry_run: bool,
    query_jobs: int,
    notices: int,
) -> RunSummary:
    """Read the run's records back from its stores. Groups folded into an older one (the merge
    step joined them) are counted once, under the group they joined."""
    groups = [e for e in services.ledger.summaries() if not e.folded_into]
    rows = []
    for definition in sorted({e.definition for e in groups}):
        mine = [e for e in groups if e.definition == definition]
        rows.append(
            DefinitionRow(
                definition,
                groups=len(mine),
                over_threshold=sum(e.threshold_crossed_at is not None for e in mine),
                occurrences=sum(e.count for e in mine),
            )
        )
    entries = services.audit.entries()
    deferred: dict[str, datetime] = {}
    assigned: dict[str, str] = {}
    failed: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.at):
        if entry.issue is None:
            continue
        issue = f"{entry.repository}#{entry.issue}"
        if entry.action == "assignment-deferred":
            deferred.setdefault(issue, entry.at)
        elif entry.action == "assigned":
            assigned.setdefault(issue, entry.reason)
        elif entry.action == "assign-failed":
            failed.add(issue)
    return RunSummary(
        sample=sample,
        replay_start=replay_start,
        replay_end=replay_end,
        settled=settled,
        wall_seconds=wall_seconds,
        dry_run=dry_run,
        query_jobs=query_jobs,
        poisoned_jobs=services.poisoned_jobs.count(),
        notices=notices,
        failing_operations=sum(e.incidents for e in groups),
        definitions=tuple(rows),
        actions=Counter(e.action for e in entries),
        business_hours=services.rules.business_hours,
        assignments=tuple(
            Assignment(issue, assigned.get(issue), deferred.get(issue), issue in failed)
            for issue in sorted({*deferred, *assigned, *failed})
        ),
    )


def summary_lines(summary: RunSummary) -> list[str]:
    """The closing summary, as printed: sentences, each wrapped to `WIDTH` columns."""
    actions = summary.actions
    start = summary.replay_start.replace(second=0, microsecond=0)
    end = summary.replay_end.replace(second=0, microsecond=0)
    lines = [
        "",
        "Summary",
        f"  Replayed {summary.sample}, {_between(start, end)}: "
        f"{_span(end - start)} of simulated time in {duration(summary.wall_seconds)} of wall "
        "time.",
        "  "
        + (
            "Workflows still waiting at its end (hourly issue budget, business hours) then "
            f"needed {_span(summary.settled)} more of simulated time to finish."
            if summary.settled > timedelta(0)
            else "No workflow was left waiting at its end."
        ),
        "",
        f"  Found {_count(summary.occurrences, 'failing row')} (occurrences, each counted once) "
        f"in {_count(summary.failing_operations, 'failing operation')}, grouped into "
        f"{_count(summary.groups, 'distinct failure')}; {summary.over_threshold} of them crossed "
        "their threshold (N occurrences within M minutes).",
        f"  {_count(summary.query_jobs, 'query job')} ran ({summary.poisoned_jobs} poisoned); "
        f"{_count(summary.notices, 'failure notice')} went to the issue workflow.",
        f"    {'root definition':28} {'failures':>8} {'over threshold':>14} {'occurrences':>11}",
        *(
            f"    {row.definition:28} {row.groups:>8} {row.over_threshold:>14} "
            f"{row.occurrences:>11,}"
            for row in summary.definitions
        ),
        "",
        "  Issues "
        + (
            "as Markdown files (a dry run: nothing sent to GitHub):"
            if summary.dry_run
            else "on GitHub:"
        ),
        f"    {_count(actions.get('created', 0), 'issue')} created for the "
        f"{_count(summary.over_threshold, 'distinct failure')} over their threshold"
        + (
            f"; {actions['folded']} later folded into an older issue when the merge step "
            "joined their groups."
            if actions.get("folded")
            else "."
        ),
        "    Then "
        + _listed(
            [
                _count(actions.get("updated", 0), "issue body", "issue bodies", zero="no")
                + " refreshed with new counts",
                _count(actions.get("commented", 0), "comment", zero="no") + " on recurrences",
                _count(actions.get("reopened", 0), "issue", zero="no") + " reopened",
            ]
        )
        + ".",
    ]
    if actions.get("skipped-as-duplicate"):
        lines.append(
            f"    {_count(actions['skipped-as-duplicate'], 'duplicate')} avoided: a retried "
            "create found the issue it had already made by its hidden marker."
        )
    if actions.get("rate-limited"):
        lines.append(
            f"    {_count(actions['rate-limited'], 'wait')} for the hourly issue budget or "
            "GitHub's limits (the workflow waits; nothing is dropped)."
        )
    lines += _assignment_lines(summary)
    lines += _notification_lines(summary)
    problems = [
        _count(count, what) + after
        for what, count, after in [
            ("poisoned query job", summary.poisoned_jobs, ""),
            ("failed assignment", actions.get("assign-failed", 0), ""),
            ("write", actions.get("refused", 0), " refused by GitHub (see /api/health)"),
            ("notification", actions.get("notification-failed", 0), " not delivered"),
        ]
        if count
    ]
    lines += ["", "  Problems: " + (", ".join(problems) if problems else "none.")]
    return [wrapped for line in lines for wrapped in _wrap(line)]


def _notification_lines(summary: RunSummary) -> list[str]:
    """Where notifications went, from the dispatcher's audit rows: sent (or, in a dry run,
    written), held back by their rule's throttle, failed."""
    actions = summary.actions
    sent, held = actions.get("notified", 0), actions.get("notification-held", 0)
    failed = actions.get("notification-failed", 0)
    if not (sent or held or failed):
        return []
    how = "written as files (a dry run: nothing sent)" if summary.dry_run else "sent"
    return [
        "",
        f"  Notifications: {_count(sent, 'message')} {how}; "
        f"{_count(held, 'event', zero='no')} held back by a rule's throttle (a storm's "
        "count goes out in one later message)"
        + (f"; {_count(failed, 'delivery', 'deliveries')} failed." if failed else "."),
    ]


def notifications_written(out: Path) -> Counter[str]:
    """The dry-run channel's messages (`notifications/NNNN-<channel>-<event>.json`), counted
    by the channel each names."""
    found: Counter[str] = Counter()
    for path in sorted((out / "notifications").glob("*.json")):
        try:
            found[str(json.loads(path.read_text(encoding="utf-8"))["channel"])] += 1
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _assignment_lines(summary: RunSummary) -> list[str]:
    """To whom, and for those created outside business hours, until when they waited. A
    deferred assignment that was completed is told as done, at the opening it waited for."""
    assignments = summary.assignments
    skipped = summary.actions.get("assignment-skipped", 0)
    lines = []
    if skipped:
        lines.append(
            f"    {_count(skipped, 'issue')} left unassigned: created outside business hours, "
            "which the rules leave unassigned."
        )
    if not assignments:
        return lines or ["    No issue was assigned (the rules assign none)."]
    hours = summary.business_hours
    done = [a for a in assignments if a.assignee is not None]
    to_whom = Counter(a.assignee for a in done)
    if len(to_whom) == 1:
        lines.append(f"    {_count(len(done), 'issue')} assigned to {next(iter(to_whom))}.")
    elif to_whom:
        names = _listed([f"{n} to {who}" for who, n in to_whom.most_common()])
        lines.append(f"    {_count(len(done), 'issue')} assigned: {names}.")
    waited = Counter(next_business_start(a.deferred_at, hours) for a in done if a.deferred_at)
    at_once = len(done) - waited.total()
    if waited:
        openings = sorted(waited.items())
        if len(openings) == 1:
            when = _moment(openings[0][0])
        else:
            named = [f"{n} on {_moment(m)}" for m, n in openings[:OPENINGS_LISTED]]
            later = sum(n for _, n in openings[OPENINGS_LISTED:])
            when = _listed(named + ([f"{later} later"] if later else []))
        zone = ZoneInfo(hours.timezone)
        local = {m.astimezone(zone).strftime("%H:%M") for m, _ in openings}
        if len(local) == 1:
            when += f" ({local.pop()} {hours.timezone})"
        first, last = openings[0][0], openings[-1][0]
        if last <= summary.replay_end:
            during = "during the replay"
        elif first > summary.replay_end:
            during = "after the replay, while settling"
        else:
            during = "during the replay and the settling"
        everyone = "All " if waited.total() == len(assignments) > 1 else ""
        lines.append(
            f"      {everyone}{waited.total()} {'was' if waited.total() == 1 else 'were'} "
            f"created outside business hours ({_hours(hours)}) and waited for them: assigned "
            f"when they began, {when}, in simulated time {during}."
        )
    if at_once:
        lines.append(
            f"      {at_once} {'was' if at_once == 1 else 'were'} created inside business hours "
            "and assigned at once."
        )
    pending = Counter(
        next_business_start(a.deferred_at, hours)
        for a in assignments
        if a.assignee is None and a.deferred_at and not a.failed
    )
    if pending:
        lines.append(
            f"    {_count(pending.total(), 'issue')} still waited for business hours when the "
            "run ended; "
            + ("it" if pending.total() == 1 else "they")
            + " would be assigned at "
            + _listed(
                [
                    _moment(m) + (f" ({n})" if len(pending) > 1 else "")
                    for m, n in sorted(pending.items())
                ]
            )
            + "."
        )
    return lines


def issue_folders(out: Path) -> dict[Path, list[Path]]:
    """The dry-run sink's issue files (`<owner>/<repo>/<number>.md`, or deeper for a GitLab
    project) by folder, in number order."""
    found: dict[Path, list[Path]] = defaultdict(list)
    for page in issue_files(out, ".md"):
        found[page.parent].append(page)
    return {folder: sorted(pages, key=lambda p: int(p.stem)) for folder, pages in found.items()}


def first_issue(folders: Mapping[Path, Sequence[Path]]) -> Path | None:
    """The issue the run created first: the earliest `created_at` in the `.json` beside each
    page (what the sink would have sent to GitHub); the lowest number when that is missing."""

    def created(page: Path) -> tuple[str, str, int]:
        try:
            stamp = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))["created_at"]
        except (OSError, ValueError, KeyError, TypeError):
            stamp = None
        return (stamp or "~", str(page.parent), int(page.stem))

    pages = [page for pages in folders.values() for page in pages]
    return min(pages, key=created) if pages else None


def where_to_look(out: Path, *, github: str | None = None, cwd: Path | None = None) -> list[str]:
    """The run's last lines: what to open. With `github` (owner/name), the issues went there
    instead of to `out`. `out/index.html` is named only if a report was written there by the
    time these lines are printed."""
    show = _shown_from(cwd or Path.cwd())
    lines = ["", "Where to look"]
    if github:
        lines.append(
            f"  the issues:       https://github.com/{github}/issues (routes in the rules "
            "file may send some to other repositories)"
        )
    elif folders := issue_folders(out):
        ranked = sorted(folders.items(), key=lambda item: (-len(item[1]), str(item[0])))
        listed = ", ".join(
            f"{show(folder)}/ ({_count(len(pages), 'issue')})" for folder, pages in ranked
        )
        lines += _wrap(f"  the issues:       {listed}", hang=20)
        lines.append(
            "                    (N.md: issue N as GitHub would show it; N.json: what GitHub "
            "would be sent)"
        )
        first = first_issue(folders)
        if first is not None:
            lines.append(f"  the first issue:  {show(first)}")
    else:
        lines.append(f"  the issues:       none were created (the dry-run folder is {show(out)}/)")
    if channels := notifications_written(out):
        listed = ", ".join(f"{count} to {name}" for name, count in channels.most_common())
        total = _count(channels.total(), "message")
        lines += _wrap(
            f"  notifications:    {show(out / 'notifications')}/ ({total}: {listed})", hang=20
        )
    index = out / "index.html"
    if index.is_file():
        lines.append(f"  the whole run:    {show(index)} (open it in a browser)")
    return lines  # a line of one path is not wrapped: it stays whole, to be copied


def _shown_from(cwd: Path) -> Callable[[Path], str]:
    base = cwd.resolve()

    def show(path: Path) -> str:
        resolved = path.resolve()
        return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else str(resolved)

    return show


def _count(n: int, singular: str, plural: str | None = None, *, zero: str = "0") -> str:
    """`1 issue`, `25 issues`, `1,185 comments`; `zero` stands for 0 (`no issue reopened`)."""
    if n == 0 and zero != "0":
        return f"{zero} {singular}"
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _wrap(line: str, hang: int | None = None) -> list[str]:
    """A long line as several of at most `WIDTH` columns, continued `hang` columns in (by
    default two further in than the line)."""
    if len(line) <= WIDTH:
        return [line]
    indent = len(line) - len(line.lstrip(" ")) + 2 if hang is None else hang
    return textwrap.wrap(
        line,
        WIDTH,
        subsequent_indent=" " * indent,
        break_long_words=False,  # a path stays whole
        break_on_hyphens=False,
    )


def _listed(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _moment(moment: datetime) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M} UTC"


def _between(start: datetime, end: datetime) -> str:
    """`Fri 2026-11-20 00:00 to 07:22 UTC`, the date twice only when it changes."""
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %Y-%m-%d %H:%M}"
    return f"{start:%a %Y-%m-%d %H:%M} to {until} UTC"


def _span(span: timedelta) -> str:
    """Simulated time: `7 h 22 min`, `3 days 01 h 26 min`."""
    minutes = round(span.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    clock = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    if not days:
        return clock
    return f"{days} day{'s' if days > 1 else ''} {hours:02d} h {minutes:02d} min"


def _hours(hours: BusinessHours) -> str:
    """`Mon-Fri 08:00-18:00 Europe/Amsterdam`."""
    days = [_WEEKDAYS.index(d) for d in hours.days]
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        named = f"{_WEEKDAYS[days[0]].title()}-{_WEEKDAYS[days[-1]].title()}"
    else:
        named = ", ".join(_WEEKDAYS[d].title() for d in days)
    return f"{named} {hours.start:%H:%M}-{hours.end:%H:%M} {hours.timezone}"
