"""The local run's report: `out/index.html`, a page per issue and a summary, readable offline.

A dry run leaves one Markdown file per issue; reading sixty of them in an editor, with their
Mermaid charts as source text, says little about what the run did. The report shows each issue
as GitHub would render it (GitHub's own cmark-gfm, in its safe mode, so the hostile log text an
issue quotes stays text; Mermaid from npm draws the charts, copied beside the pages so they open
from disk with no network), and a summary of the run: occurrences over time per failure, issues
created per hour against the rules' budget, the grouping log's merges, links from every issue
to its evidence and back, and Faultline's own metrics as the run measured them.

Everything comes from what the run leaves: the dry-run sink's `<owner>/<repo>/<n>.json` files and
the ports of `pipeline.ports` (ledger, grouping log, issue states, audit log) read once at the end,
while Azurite still holds them. The summary's charts are SVG drawn here (they must stay legible
over three days of hours, which Mermaid's category axis does not); the issue pages keep the
Mermaid blocks the issues carry, since that is what GitHub shows.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cmarkgfm
import jinja2
from cmarkgfm.cmark import Options
from markupsafe import Markup, escape

from adapters.markdown_issues import issue_files
from detection.grouping import Grouping
from detection.markers import find_marker
from local_host.azurite import PROJECT_ROOT
from pipeline.digest import DIGEST_LABEL
from pipeline.ports import AuditEntry, LedgerEntry
from pipeline.services import Services

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "report_templates"
ASSETS = HERE / "report_assets"
MERMAID = PROJECT_ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
"""Installed by `npm ci` (package.json pins the version); copied into the report's assets."""
HOUR = timedelta(hours=1)
EVIDENCE_ROWS = 200
"""Occurrence rows listed on an issue page; the rest are counted, and `--occurrences` has all."""

GFM_EXTENSIONS = ("table", "strikethrough", "autolink", "tagfilter", "tasklist")
GFM_OPTIONS = Options.CMARK_OPT_GITHUB_PRE_LANG
"""GitHub's extensions, and `<pre lang=...>` as GitHub writes it. `CMARK_OPT_UNSAFE` stays off:
raw HTML in a body becomes `<!-- raw HTML omitted -->` and `javascript:` links lose their
target, whatever the log text in it tried."""
_MERMAID_BLOCK = re.compile(r'<pre lang="mermaid"><code>(.*?)</code></pre>', re.DOTALL)
_ALERT = re.compile(r"<blockquote>\n<p>\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\](?:\n|</p>\n)")


# -- Markdown as GitHub renders it ---------------------------------------------------------------


def render_markdown(text: str) -> Markup:
    """An issue body or comment as HTML, the way GitHub shows it: cmark-gfm in safe mode, then
    two of GitHub's own touches. A ```mermaid block becomes `<pre class="mermaid">` for Mermaid
    to draw (its text stays HTML-escaped; Mermaid decodes it), and a `> [!CAUTION]` quote
    becomes an alert box. Both rewrite markup only cmark itself can have produced: log text
    reaches the HTML escaped, so it can never spell `<pre lang="mermaid">` or `<blockquote>`."""
    html = cmarkgfm.markdown_to_html_with_extensions(
        text, options=GFM_OPTIONS, extensions=list(GFM_EXTENSIONS)
    )
    html = _MERMAID_BLOCK.sub(r'<pre class="mermaid">\1</pre>', html)
    html = _ALERT.sub(_alert, html)
    return Markup(html)  # cmark-gfm's safe-mode output, rewritten as above


def _alert(match: re.Match[str]) -> str:
    kind = match.group(1).lower()
    opened = match.group(0).endswith("</p>\n")
    return (
        f'<blockquote class="markdown-alert markdown-alert-{kind}">\n'
        f'<p class="markdown-alert-title">{kind.capitalize()}</p>\n' + ("" if opened else "<p>")
    )


# -- series and the budget -----------------------------------------------------------------------


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every clock hour from `start`'s to `end`'s, both included (UTC)."""
    first, last = _hour(start), _hour(end)
    return [first + HOUR * n for n in range(int((last - first) / HOUR) + 1)]


def per_hour(times: Iterable[datetime], hours: Sequence[datetime]) -> list[int]:
    """How many of `times` fall in each of `hours` (times outside them are not counted)."""
    counts = Counter(_hour(moment) for moment in times)
    return [counts.get(hour, 0) for hour in hours]


@dataclass(frozen=True)
class BudgetHour:
    """One clock hour of issue creation, against the rules' hourly budgets."""

    hour: datetime
    created: int
    by_repository: Mapping[str, int]
    waits: int
    """Workflows told to wait for a slot (Faultline's budget or GitHub's limits) in the hour."""


@dataclass(frozen=True)
class Budget:
    """The rules' `rate_limits` for new issues, and what the run did against them."""

    per_hour: int
    per_repository: int
    hours: tuple[BudgetHour, ...]
    busiest: int
    """Most issues created in any 60 minutes: the limiter's own window, not a clock hour."""
    busiest_from: datetime | None
    busiest_per_repository: Mapping[str, int]
    """The same, for each repository's own budget."""

    @property
    def repositories(self) -> list[str]:
        return sorted(self.busiest_per_repository)

    @property
    def kept(self) -> bool:
        return self.busiest <= self.per_hour and all(
            n <= self.per_repository for n in self.busiest_per_repository.values()
        )


def busiest_window(
    times: Iterable[datetime], window: timedelta = HOUR
) -> tuple[int, datetime | None]:
    """The most `times` inside any `window` (half-open, as the rate limiter counts it), and when
    that window starts: the figure to hold against an hourly budget that slides."""
    ordered = sorted(times)
    best, start, low = 0, None, 0
    for high, moment in enumerate(ordered):
        while moment - ordered[low] >= window:
            low += 1
        if high - low + 1 > best:
            best, start = high - low + 1, ordered[low]
    return best, start


def issue_budget(
    audit: Sequence[AuditEntry], hours: Sequence[datetime], per_hour: int, per_repository: int
) -> Budget:
    """Issues created per clock hour (from the audit log's `created` entries, stamped with the
    run's simulated clock) and waits for a slot, against the budgets."""
    created = [e for e in audit if e.action == "created"]
    waits = Counter(_hour(e.at) for e in audit if e.action == "rate-limited")
    by_hour: dict[datetime, Counter[str]] = defaultdict(Counter)
    for entry in created:
        by_hour[_hour(entry.at)][entry.repository] += 1
    rows = tuple(
        BudgetHour(
            hour,
            sum(by_hour[hour].values()),
            dict(sorted(by_hour[hour].items())),
            waits.get(hour, 0),
        )
        for hour in hours
    )
    busiest, since = busiest_window(e.at for e in created)
    repositories = sorted({e.repository for e in created})
    per_repo = {
        repository: busiest_window(e.at for e in created if e.repository == repository)[0]
        for repository in repositories
    }
    return Budget(per_hour, per_repository, rows, busiest, since, per_repo)


# -- SVG charts ----------------------------------------------------------------------------------


def _ticks(top: int, most: int = 5) -> list[int]:
    """Round steps (1, 2, 5 times a power of ten) from 0 to at least `top`, at most `most`+1."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if top / (step * factor) <= most:
                size = step * factor
                return list(range(0, top + size, size)) if top else [0, 1]
        step *= 10


def _hour_label(hour: datetime, multi_day: bool) -> str:
    return f"{hour:%a %H:%M}" if multi_day else f"{hour:%H:%M}"


SERIES_CLASSES = 6
"""Stacked series take the colours `series-0` to `series-5` of report.css, in turn."""


def bar_chart(
    hours: Sequence[datetime],
    series: Mapping[str, Sequence[int]],
    *,
    what: str,
    budgets: Sequence[tuple[str, int]] = (),
    width: int = 960,
    height: int = 220,
) -> Markup:
    """Bars per hour, stacked by series (a legend names them when there are several), a labelled
    axis every few hours, and a dashed line per budget: an inline SVG that needs no script. Each
    segment's tooltip gives its hour, value and series."""
    for name, values in series.items():
        if len(values) != len(hours):
            raise ValueError(f"{name}: {len(hours)} hours but {len(values)} values")
    totals = [sum(column) for column in zip(*series.values(), strict=True)] or [0] * len(hours)
    legend = 18 if len(series) > 1 else 0
    left, right, top_margin, bottom = 44, 150 if budgets else 16, 12 + legend, 32
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    ticks = _ticks(max([*totals, *(limit for _, limit in budgets), 1]))
    ceiling = ticks[-1]
    multi_day = bool(hours) and _hour(hours[0]).date() != _hour(hours[-1]).date()

    def y(value: float) -> float:
        return top_margin + plot_h - plot_h * value / ceiling

    slot = plot_w / max(len(hours), 1)
    stride = next((s for s in (1, 2, 3, 4, 6, 12, 24, 48) if len(hours) / s <= 12), 96)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(what)} per hour">'
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for number, name in enumerate(series):
        if legend:
            parts.append(
                f'<rect class="bar series-{number % SERIES_CLASSES}" x="{left + number * 170}" '
                f'y="4" width="10" height="10"/><text class="axis" x="{left + number * 170 + 14}" '
                f'y="13">{escape(name)}</text>'
            )
    for index, hour in enumerate(hours):
        x, base = left + index * slot, 0
        for number, (name, values) in enumerate(series.items()):
            value = values[index]
            if value:
                label = f"{_hour_label(hour, True)} UTC: {value} {what}"
                parts.append(
                    f'<rect class="bar series-{number % SERIES_CLASSES}" '
                    f'x="{x + slot * 0.1:.1f}" y="{y(base + value):.1f}" '
                    f'width="{slot * 0.8:.1f}" height="{y(base) - y(base + value):.1f}">'
                    f"<title>{escape(label)}{escape(f' in {name}' if legend else '')}</title>"
                    "</rect>"
                )
                base += value
        if _hour(hour).hour % stride == 0 or (stride >= 24 and index == 0):
            parts.append(
                f'<text class="axis" x="{x + slot / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle">{escape(_hour_label(hour, multi_day))}</text>'
            )
    parts.append(
        f'<line class="axis-line" x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" '
        f'y2="{y(0):.1f}"/>'
    )
    for number, (name, limit) in enumerate(budgets):
        parts.append(
            f'<line class="budget budget-{number}" x1="{left}" x2="{left + plot_w}" '
            f'y1="{y(limit):.1f}" y2="{y(limit):.1f}"/><text class="budget-label budget-{number}" '
            f'x="{left + plot_w + 6}" y="{y(limit) + 4:.1f}">{escape(name)} {limit}/h</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # numbers and escaped labels only


def sparkline(values: Sequence[int], *, summary: str, width: int = 180, height: int = 28) -> Markup:
    """One failure's occurrences per hour as a row of bars on the run's common time axis, so
    rows compare at a glance: one SVG path, its tooltip the summary."""
    peak = max(values, default=0) or 1
    slot = width / max(len(values), 1)
    path = "".join(
        f"M{i * slot + slot * 0.1:.1f} {height}h{slot * 0.8:.1f}v-{height * v / peak:.1f}"
        f"h-{slot * 0.8:.1f}z"
        for i, v in enumerate(values)
        if v
    )
    return Markup(  # numbers and an escaped summary only
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(summary)}">'
        f"<title>{escape(summary)}</title>"
        f'<line class="axis-line" x1="0" x2="{width}" y1="{height}" y2="{height}"/>'
        f'<path class="bar" d="{path}"/></svg>'
    )


# -- what the run left ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One issue the dry-run sink wrote (its `.json`), and where its page goes."""

    repository: str
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    comments: tuple[str, ...]
    created_at: datetime
    closed_at: datetime | None
    source: Path
    """The sink's `<n>.json`; the page is written beside it as `<n>.html`."""
    group: str | None = None
    """The live group the issue is about: the issue states' record, else its body's marker."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.repository, self.number)

    @property
    def digest(self) -> bool:
        """The pinned digest issue (`pipeline.digest`): a summary, not a failure."""
        return DIGEST_LABEL in self.labels

    @classmethod
    def read(cls, path: Path) -> Issue:
        data = json.loads(path.read_text(encoding="utf-8"))
        closed = data.get("closed_at")
        return cls(
            repository=data["repository"],
            number=int(data["number"]),
            title=data["title"],
            body=data["body"],
            state=data["state"],
            labels=tuple(data.get("labels", ())),
            assignees=tuple(data.get("assignees", ())),
            comments=tuple(data.get("comments", ())),
            created_at=datetime.fromisoformat(data["created_at"]),
            closed_at=datetime.fromisoformat(closed) if closed else None,
            source=path,
        )


def sink_issues(out: Path) -> list[Issue]:
    """Every issue the dry-run sink keeps under `out` (`<owner>/<repo>/<n>.json`, or deeper for
    a GitLab project: the layout `adapters.markdown_issues` writes and reloads), by repository
    and number."""
    found = [Issue.read(path) for path in issue_files(out, ".json")]
    return sorted(found, key=lambda issue: issue.key)


@dataclass(frozen=True)
class Evidence:
    """One counted occurrence, as the ledger keeps it."""

    time: datetime
    table: str
    definition: str
    record_id: str
    operation: str | None
    role: str | None
    root: bool


@dataclass(frozen=True)
class Fold:
    """A group folded into an older one, and how the grouping log decided it."""

    absorbed: str
    into: str
    """The group it was folded into (itself folded since, or the live group)."""
    how: str
    """`merge step` (templates that differ only where a value varies) or `alias` (a fold for
    another reason, such as a previous fingerprint version's id)."""
    title: str
    """The absorbed group's failure, where the ledger counted any of it."""


@dataclass(frozen=True)
class Failure:
    """A live group: what the ledger counted, how it was grouped, and its issues."""

    group: str
    title: str
    definition: str
    count: int
    incidents: int
    first_seen: datetime
    last_seen: datetime
    crossed_at: datetime | None
    evidence: tuple[Evidence, ...]
    """Newest first; may be fewer than `count` once the daily clean-up pruned old rows."""
    issues: tuple[tuple[str, int], ...] = ()
    issue_urls: Mapping[tuple[str, int], str] = field(default_factory=dict)
    """Where an issue lives when it has no page here (real GitHub runs)."""
    templates: int = 1
    pattern: str | None = None
    """The merge step's pattern for the group (`<*>` where values varied), if it has one."""
    folds: tuple[Fold, ...] = ()


@dataclass(frozen=True)
class Decisions:
    """The grouping log, replayed: how many templates founded, joined or were merged into a
    group (the log keeps a decision per distinct template)."""

    templates: int
    founded: int
    joined: int
    scopes: int


@dataclass(frozen=True)
class MetricRow:
    """One of Faultline's own metrics as the run measured it (`out/metrics.json`)."""

    name: str
    unit: str
    description: str
    figure: str
    parts: tuple[str, ...]


def metric_rows(out: Path) -> tuple[MetricRow, ...]:
    """The run's own metrics, as Application Insights would chart them; none when the run wrote
    no metrics file (`local_host.metrics`)."""
    path = out / "metrics.json"
    if not path.is_file():
        return ()
    rows = []
    for name, entry in sorted(json.loads(path.read_text(encoding="utf-8"))["metrics"].items()):
        parts = tuple(
            ", ".join(f"{key}={value}" for key, value in series["attributes"].items())
            + f": {_metric_figure(entry['kind'], series)}"
            for series in entry["series"]
        )
        figure = _metric_figure(entry["kind"], entry)
        rows.append(MetricRow(name, entry["unit"], entry["description"], figure, parts))
    return tuple(rows)


def _metric_figure(kind: str, figures: Mapping[str, Any]) -> str:
    if kind == "counter":
        return f"{figures['total']:g}"
    return (
        f"{figures['count']} measured; p50 {figures['p50']:g}, p95 {figures['p95']:g}, "
        f"max {figures['max']:g}"
    )


@dataclass(frozen=True)
class Report:
    """Everything the pages show, gathered once."""

    generated_at: datetime
    start: datetime
    end: datetime
    failures: tuple[Failure, ...]
    issues: tuple[Issue, ...]
    audit: tuple[AuditEntry, ...]
    budget: Budget
    decisions: Decisions
    metrics: tuple[MetricRow, ...] = ()

    @property
    def hours(self) -> list[datetime]:
        return hours_between(self.start, self.end)


def gather(out: Path, services: Services) -> Report:
    """Read what the run left: the sink's issue files and, through the ports, the ledger's
    groups and occurrences, the grouping log, the issue states and the audit log."""
    grouping = services.grouping.snapshot()
    summaries = services.ledger.summaries()
    by_group = {entry.fingerprint: entry for entry in summaries}
    audit = tuple(sorted(services.audit.entries(), key=lambda e: (e.at, e.fingerprint)))
    issues_of, group_of_issue = _issue_numbers(services, summaries, grouping)
    issues = []
    for issue in sink_issues(out):
        if issue.digest:
            issues.append(issue)  # its marker names the digest, not a failure's group
            continue
        marked = find_marker(issue.body)
        group = group_of_issue.get(issue.key) or (grouping.resolve(marked) if marked else None)
        issues.append(replace(issue, group=group))
    pages = {issue.key for issue in issues}
    templates = _templates(grouping)

    failures = []
    for entry in sorted(summaries, key=lambda e: (-e.count, e.fingerprint)):
        group = entry.fingerprint
        if entry.folded_into or grouping.resolve(group) != group:
            continue
        keys = tuple(sorted(issues_of.get(group, ())))
        urls = {
            key: recorded.url
            for key in keys
            if key not in pages
            and (recorded := services.issues.peek(group, key[0])) is not None
            and recorded.url
        }
        folds = tuple(
            Fold(
                absorbed,
                templates.merged.get(absorbed) or grouping.aliases.get(absorbed, group),
                "merge step" if absorbed in templates.merged else "alias",
                _title(by_group.get(absorbed)),
            )
            for absorbed in grouping.absorbed_by(group)
        )
        failures.append(
            Failure(
                group=group,
                title=_title(entry),
                definition=entry.definition,
                count=entry.count,
                incidents=entry.incidents,
                first_seen=entry.first_seen,
                last_seen=entry.last_seen,
                crossed_at=entry.threshold_crossed_at,
                evidence=_evidence(services.ledger.occurrences(group)),
                issues=keys,
                issue_urls=urls,
                templates=templates.per_group.get(group, 1),
                pattern=templates.patterns.get(group),
                folds=folds,
            )
        )

    moments = [e.first_seen for e in summaries] + [e.last_seen for e in summaries]
    moments += [e.at for e in audit] + [i.created_at for i in issues]
    now = services.clock.now()
    start, end = (min(moments), max(moments)) if moments else (now, now)
    limits = services.rules.rate_limits
    return Report(
        generated_at=now,
        start=start,
        end=end,
        failures=tuple(failures),
        issues=tuple(issues),
        audit=audit,
        budget=issue_budget(
            audit,
            hours_between(start, end),
            limits.issues_per_hour,
            limits.issues_per_hour_per_repository,
        ),
        decisions=templates.decisions,
        metrics=metric_rows(out),
    )


def _issue_numbers(
    services: Services, summaries: Sequence[LedgerEntry], grouping: Grouping
) -> tuple[dict[str, list[tuple[str, int]]], dict[tuple[str, int], str]]:
    """Each live group's issues (its own and those of the groups folded into it, which the
    workflow closed as duplicates), and each issue's live group, from the issue states."""
    issues_of: dict[str, list[tuple[str, int]]] = {}
    group_of_issue: dict[tuple[str, int], str] = {}
    for entry in summaries:
        live = grouping.resolve(entry.fingerprint)
        known = issues_of.setdefault(live, [])
        for key in services.issues.issues_of(entry.fingerprint):
            if key not in known:
                known.append(key)
            group_of_issue.setdefault(key, live)
    return issues_of, group_of_issue


@dataclass(frozen=True)
class _Templates:
    """What the replayed grouping log says of message templates."""

    merged: Mapping[str, str]
    """Group ids the merge step folded, and the group each was folded into."""
    per_group: Mapping[str, int]
    """Templates each live group holds."""
    patterns: Mapping[str, str]
    """Each group's current pattern, `<*>` where its templates' words varied."""
    decisions: Decisions


def _templates(grouping: Grouping) -> _Templates:
    merged: dict[str, str] = {}
    per_group: Counter[str] = Counter()
    patterns: dict[str, str] = {}
    founded = joined = 0
    for state in grouping.scopes.values():
        merged.update(state.aliases)
        for template, group in state.template_groups.items():
            per_group[grouping.resolve(group)] += 1
            founded += template == group
            joined += template != group
        patterns.update({group: " ".join(p) for group, p in state.patterns.items()})
    decisions = Decisions(sum(per_group.values()), founded, joined, len(grouping.scopes))
    return _Templates(merged, per_group, patterns, decisions)


def _title(entry: LedgerEntry | None) -> str:
    """A group's failure as its issue is titled: the founding occurrence's masked name."""
    if entry is None:
        return ""
    founder = entry.founder
    return (founder.title or founder.message) if founder is not None else entry.definition


def _evidence(rows: Iterable[Mapping[str, Any]]) -> tuple[Evidence, ...]:
    found = [
        Evidence(
            time=row["TimeGenerated"],
            table=row["Table"],
            definition=row.get("Definition") or "",
            record_id=row["RecordId"],
            operation=row.get("Operation"),
            role=row.get("Role"),
            root=bool(row.get("Root")),
        )
        for row in rows
    ]
    return tuple(sorted(found, key=lambda e: (e.time, e.record_id), reverse=True))


# -- the pages -----------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["utc"] = lambda moment: (
        f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else ""
    )
    environment.filters["markdown"] = render_markdown
    return environment


def page_path(issue: Issue) -> Path:
    """Where an issue's page goes: beside the sink's `<n>.md` and `<n>.json`."""
    return issue.source.with_suffix(".html")


def _href(origin: Path, target: Path, fragment: str = "") -> str:
    """A link from the page at `origin` to `target`, relative so the report opens from disk."""
    relative = os.path.relpath(target, origin.parent).replace(os.sep, "/")
    return quote(relative) + (f"#{quote(fragment)}" if fragment else "")


def write(report: Report, out: Path) -> Path:
    """Write `out/index.html`, a page per issue and the assets; returns the index's path."""
    out.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"
    assets.mkdir(exist_ok=True)
    for asset in ASSETS.iterdir():
        shutil.copyfile(asset, assets / asset.name)
    charts = MERMAID.is_file()
    if charts:
        shutil.copyfile(MERMAID, assets / MERMAID.name)
    else:
        log.warning(
            "%s is missing (run `bash .ci/setup`, which runs npm ci): the issue pages show "
            "their Mermaid charts as text",
            MERMAID,
        )
    environment = _environment()
    index = out / "index.html"
    pages = {issue.key: page_path(issue) for issue in report.issues}
    failures = {failure.group: failure for failure in report.failures}
    hours = report.hours

    def issue_link(origin: Path, key: tuple[str, int], failure: Failure | None) -> str | None:
        if key in pages:
            return _href(origin, pages[key])
        return failure.issue_urls.get(key) if failure else None

    index.write_text(
        environment.get_template("index.html").render(
            report=report,
            hours=hours,
            occurrence_chart=bar_chart(
                hours,
                {
                    "occurrences": per_hour(
                        (e.time for f in report.failures for e in f.evidence), hours
                    )
                },
                what="occurrences",
            ),
            budget_chart=bar_chart(
                hours,
                {
                    repository: [h.by_repository.get(repository, 0) for h in report.budget.hours]
                    for repository in report.budget.repositories
                },
                what="issues created",
                budgets=[
                    ("overall", report.budget.per_hour),
                    ("per repository", report.budget.per_repository),
                ],
            ),
            sparklines={
                f.group: sparkline(
                    per_hour((e.time for e in f.evidence), hours),
                    summary=f"{f.count} occurrences, {_hour_label(_hour(f.first_seen), True)} "
                    f"to {_hour_label(_hour(f.last_seen), True)} UTC",
                )
                for f in report.failures
            },
            issue_link=lambda key, failure: issue_link(index, key, failure),
            page=lambda issue: _href(index, pages[issue.key]),
            folded=[fold for f in report.failures for fold in f.folds],
            folded_issues=[e for e in report.audit if e.action == "folded"],
            assets="assets",
            charts=False,
        ),
        encoding="utf-8",
    )
    audit_of: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in report.audit:
        audit_of[entry.fingerprint].append(entry)
    for issue in report.issues:
        origin = pages[issue.key]
        failure = failures.get(issue.group) if issue.group else None
        groups = {issue.group, *(f.absorbed for f in failure.folds)} if failure else set()
        related = sorted(
            {
                key
                for key in (failure.issues if failure else ())
                if key != issue.key and key in pages
            }
        )
        origin.write_text(
            environment.get_template("issue.html").render(
                issue=issue,
                failure=failure,
                evidence=failure.evidence[:EVIDENCE_ROWS] if failure else (),
                actions=sorted(
                    (e for g in groups if g for e in audit_of.get(g, ())),
                    key=lambda e: e.at,
                ),
                related=[(key, _href(origin, pages[key])) for key in related],
                index=_href(origin, index),
                summary_row=_href(origin, index, f"g-{issue.group}") if failure else None,
                markdown=_href(origin, origin.with_suffix(".md")),
                state_file=_href(origin, origin.with_suffix(".json")),
                assets=_href(origin, assets),
                charts=charts,
            ),
            encoding="utf-8",
        )
    return index


def write_report(out: Path, services: Services) -> Path:
    """The local run's last step: gather what it left and write `out/index.html`."""
    return write(gather(out, services), out)
