"""The local run's report: Markdown rendered as GitHub does and kept inert, the budget counted as
the rate limiter counts it, charts drawn from the numbers, and pages that link where they say."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from adapters.markdown_issues import MarkdownIssueSink
from adapters.telemetry import Measurement
from detection.fingerprint import FINGERPRINT_VERSION, Fingerprint
from detection.issue import IssueView, render_body, title
from detection.merge import split_template, template_id
from detection.occurrence import Occurrence
from detection.rules import load_rules
from local_host import report
from local_host.metrics import figures
from local_host.report import (
    bar_chart,
    busiest_window,
    gather,
    hours_between,
    issue_budget,
    per_hour,
    render_markdown,
    sparkline,
    write,
)
from pipeline.metrics import ISSUES, METRICS, TIME_TO_ISSUE
from pipeline.ports import AuditEntry, Counted, IssueState
from tests.support.memory import Memory, MemoryTracker

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
HOSTILE = (
    "<script>alert(1)</script> @octocat please see #12 and GH-7 "
    "[click](javascript:alert(1)) <img src=x onerror=alert(2)> <!-- hidden -->"
)


class _Html(HTMLParser):
    """Tags, links, ids and the text outside code of a rendered page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.prose: list[str] = []
        self._code = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._code += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag in ("code", "pre")

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.prose.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


# -- Markdown ------------------------------------------------------------------------------------


def test_a_mermaid_block_becomes_a_mermaid_pre_with_its_text_still_escaped() -> None:
    html = render_markdown(
        'Before\n\n```mermaid\nxychart-beta\n    title "A < B"\n    bar [1, 2]\n```\n\n'
        "```kusto\nAppTraces | take 1\n```\n"
    )
    assert '<pre class="mermaid">xychart-beta\n    title &quot;A &lt; B&quot;\n' in html
    assert '<pre lang="mermaid">' not in html
    assert '<pre lang="kusto"><code>AppTraces | take 1\n</code></pre>' in html


def test_github_extensions_render_tables_strikethrough_autolinks_and_tasks() -> None:
    html = render_markdown(
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ www.example.com\n\n- [x] done\n- [ ] open\n"
    )
    parsed = _Html(html)
    assert parsed.named("table") and parsed.named("del")
    assert {"href": "http://www.example.com"} in parsed.named("a")
    boxes = parsed.named("input")
    assert [box.get("type") for box in boxes] == ["checkbox", "checkbox"]
    assert "checked" in boxes[0] and "checked" not in boxes[1]


def test_alerts_are_shown_as_github_shows_them_and_only_real_quotes_become_alerts() -> None:
    html = render_markdown("> [!CAUTION]\n> **Mind** this.\n\n`> [!NOTE]`\n\n> [!TIP]\n")
    assert (
        '<blockquote class="markdown-alert markdown-alert-caution">\n'
        '<p class="markdown-alert-title">Caution</p>\n<p><strong>Mind</strong> this.</p>'
    ) in html
    assert '<blockquote class="markdown-alert markdown-alert-tip">\n' in html
    assert "<code>&gt; [!NOTE]</code>" in html


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<pre lang="mermaid"><code>graph TD; A-->B</code></pre>',
        "<blockquote>\n<p>[!CAUTION]\n</p></blockquote>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://example.com></iframe>",
    ],
)
def test_raw_html_in_markdown_is_omitted_never_passed_through(attack: str) -> None:
    parsed = _Html(render_markdown(f"text {attack} more\n\n{attack}\n"))
    made = {tag for tag, _ in parsed.tags}
    assert made <= {"p"}, f"{attack!r} made {made}"


def test_links_to_script_urls_lose_their_target() -> None:
    parsed = _Html(
        render_markdown("[a](javascript:alert(1)) [b](vbscript:x) [c](data:text/html,x)")
    )
    assert [a.get("href") for a in parsed.named("a")] == ["", "", ""]


def test_hostile_log_text_in_an_issue_body_renders_as_text_pinging_and_linking_nobody() -> None:
    view = IssueView(
        fingerprint="0123456789abcdef0123456789abcdef",
        fingerprint_version=FINGERPRINT_VERSION,
        definition="unhandled-exception",
        description="",
        severity="high",
        category="bug",
        table="AppExceptions",
        source="production",
        count=3,
        first_seen=T0,
        last_seen=T0 + timedelta(hours=1),
        threshold="1 in 1:00:00",
        message=HOSTILE,
        exception_type="System.Exception",
        stack_trace=None,
        role="@octocat <b>api</b>",
        operation_name=HOSTILE,
        samples=[HOSTILE, "```\n@admins close #1\n```"],
        context={"user": HOSTILE},
        kql="AppExceptions | take 1",
        portal_url=None,
    )
    html = render_markdown(render_body(view))
    parsed = _Html(html)
    assert not {"script", "img", "iframe"} & {tag for tag, _ in parsed.tags}
    assert all(not (a.get("href") or "").startswith("javascript") for a in parsed.named("a"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    prose = "".join(parsed.prose)
    assert not re.search(r"@\w", prose), "a mention outside code would ping someone"
    assert not re.search(r"(#|GH-)\d", prose), "a reference outside code would link an issue"


# -- the budget ----------------------------------------------------------------------------------


def test_hours_run_from_the_first_clock_hour_to_the_last_both_included() -> None:
    hours = hours_between(T0 + timedelta(minutes=50), T0 + timedelta(hours=2, minutes=1))
    assert hours == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    times = [T0 + timedelta(minutes=m) for m in (5, 59, 60, 130, 400)]
    assert per_hour(times, hours) == [2, 1, 1]


def test_the_busiest_window_slides_across_clock_hours_as_the_limiter_counts() -> None:
    late = [T0 + timedelta(minutes=m) for m in (40, 50, 55)]
    early = [T0 + timedelta(minutes=m) for m in (60, 70, 80)]
    assert busiest_window(late + early) == (6, T0 + timedelta(minutes=40))
    assert busiest_window([T0, T0 + timedelta(hours=1)]) == (1, T0), "the window is half-open"
    assert busiest_window([]) == (0, None)


def _audit(action: str, minutes: int, repository: str = "contoso/shop") -> AuditEntry:
    return AuditEntry("f" * 32, action, repository, 1, "", T0 + timedelta(minutes=minutes))


def test_issues_per_hour_count_creations_by_repository_and_waits_against_the_budget() -> None:
    audit = [
        _audit("created", 10),
        _audit("created", 20, "contoso/orders"),
        _audit("updated", 25),
        _audit("rate-limited", 30),
        _audit("created", 70),
    ]
    budget = issue_budget(audit, hours_between(T0, T0 + timedelta(hours=2)), 2, 1)
    assert [(h.created, h.waits) for h in budget.hours] == [(2, 1), (1, 0), (0, 0)]
    assert budget.hours[0].by_repository == {"contoso/orders": 1, "contoso/shop": 1}
    assert (budget.busiest, budget.busiest_from) == (2, T0 + timedelta(minutes=10))
    assert budget.busiest_per_repository == {"contoso/orders": 1, "contoso/shop": 1}
    assert budget.kept, "contoso/shop's two issues are 60 minutes apart: one per window"


def test_a_budget_is_broken_by_a_sliding_hour_even_when_each_clock_hour_keeps_it() -> None:
    audit = [_audit("created", m, f"o/r{m}") for m in (50, 55, 65, 70)]
    budget = issue_budget(audit, hours_between(T0, T0 + timedelta(hours=1)), 3, 10)
    assert [h.created for h in budget.hours] == [2, 2]
    assert budget.busiest == 4 and not budget.kept
    one_repository = [_audit("created", m) for m in (50, 55, 65, 70)] + [_audit("created", 130)]
    per_repository = issue_budget(one_repository, hours_between(T0, T0 + timedelta(hours=2)), 9, 3)
    assert [h.created for h in per_repository.hours] == [2, 2, 1], "each clock hour keeps 3"
    assert per_repository.busiest_per_repository == {"contoso/shop": 4}
    assert not per_repository.kept


# -- charts --------------------------------------------------------------------------------------


def test_a_bar_chart_draws_a_bar_per_busy_hour_and_the_budget_line_at_its_height() -> None:
    hours = hours_between(T0, T0 + timedelta(hours=3))
    chart = bar_chart(
        hours, {"issues": [0, 4, 10, 2]}, what="issues <created>", budgets=[("overall", 10)]
    )
    svg = _Html(chart)
    bars = [r for r in svg.named("rect") if "bar" in (r.get("class") or "")]
    assert len(bars) == 3, "no legend for a single series, no bar for an empty hour"
    heights = [float(b["height"] or 0) for b in bars]
    assert heights[1] == pytest.approx(heights[0] * 10 / 4)
    (line,) = [line for line in svg.named("line") if "budget" in (line.get("class") or "")]
    assert float(line["y1"] or 0) == pytest.approx(float(bars[1]["y"] or 0))
    assert "overall 10/h" in chart
    assert "UTC: 4 issues &lt;created&gt;</title>" in chart


def test_stacked_series_sit_on_each_other_under_a_legend_and_budget_lines() -> None:
    hours = hours_between(T0, T0 + timedelta(hours=1))
    chart = bar_chart(
        hours,
        {"o/shop": [3, 0], "o/<orders>": [2, 1]},
        what="issues created",
        budgets=[("overall", 5), ("per repository", 3)],
    )
    svg = _Html(chart)
    bars = [r for r in svg.named("rect") if r.get("width") != "10"]
    assert [b["class"] for b in bars] == ["bar series-0", "bar series-1", "bar series-1"]
    shop, orders, _ = bars
    assert float(orders["y"] or 0) + float(orders["height"] or 0) == pytest.approx(
        float(shop["y"] or 0), abs=0.15
    ), "the second series starts where the first ends"
    lines = {line.get("class"): line for line in svg.named("line")}
    assert float(lines["budget budget-0"]["y1"] or 0) == pytest.approx(float(orders["y"] or 0))
    assert "o/&lt;orders&gt;</text>" in chart, "the legend names each series, escaped"
    assert "UTC: 2 issues created in o/&lt;orders&gt;</title>" in chart
    assert "per repository 3/h" in chart


def test_a_bar_chart_labels_a_multi_day_axis_every_few_hours_by_day() -> None:
    hours = hours_between(T0, T0 + timedelta(hours=71))
    svg = bar_chart(hours, {"occurrences": [1] * 72}, what="occurrences")
    labels = re.findall(r'text-anchor="middle">([^<]+)<', svg)
    assert 6 <= len(labels) <= 12
    assert labels[0] == "Fri 00:00"
    with pytest.raises(ValueError, match="occurrences: 72 hours but 3 values"):
        bar_chart(hours, {"occurrences": [1, 2, 3]}, what="occurrences")


def test_a_sparkline_scales_its_bars_to_its_own_peak_and_escapes_its_summary() -> None:
    svg = sparkline([0, 2, 4, 0], summary="<b>6</b> occurrences", height=20)
    assert "v-10.0" in svg and "v-20.0" in svg
    assert svg.count("z") == 2
    assert "&lt;b&gt;6&lt;/b&gt; occurrences" in svg


# -- gathering and writing -----------------------------------------------------------------------


def _print(word: str) -> Fingerprint:
    template = f"Invalid user {word} rejected"
    return Fingerprint(
        value=template_id(split_template(template)),
        version=FINGERPRINT_VERSION,
        components=(),
        template=template,
        scope="shop-api|log",
        title=f"Invalid user <*> rejected {HOSTILE}" if word == "alice" else template,
    )


def _occurrence(print_: Fingerprint, minutes: int) -> Occurrence:
    return Occurrence(
        definition="error-trace",
        fingerprint=print_.value,
        version=FINGERPRINT_VERSION,
        table="AppTraces",
        record_id=f"{print_.value[:8]}-{minutes}",
        time=T0 + timedelta(minutes=minutes),
        kind="log",
        rank=0,
        message=print_.template,
        keys=(f"op:{minutes:032x}",),
        role="<script>role</script>",
        title=print_.title,
    )


@pytest.fixture
def run_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """What a run leaves: five templates the merge step folded into one group, their counted
    occurrences, the real dry-run sink's files for the group's issue, its state and audit."""
    mermaid = tmp_path / "mermaid.min.js"
    mermaid.write_text("/* stands in for node_modules/mermaid/dist/mermaid.min.js */")
    monkeypatch.setattr(report, "MERMAID", mermaid)
    now = T0 + timedelta(hours=3)
    memory = Memory(MemoryTracker(lambda: now))
    services = memory.services(load_rules((ROOT / "faultline.yaml").read_text(), {}), lambda: now)
    prints = {word: _print(word) for word in ("alice", "bob", "carol", "dave", "erin")}
    thresholds = services.rules.thresholds()
    for minutes, word in enumerate(("alice", "bob", "carol", "dave")):
        groups = services.grouping.assign([prints[word]])
        occurrence = _occurrence(prints[word], minutes * 20)
        services.ledger.record(groups[prints[word].value], [Counted(occurrence, True)], thresholds)
    groups = services.grouping.assign([prints["erin"]])
    survivor = groups[prints["erin"].value]
    services.ledger.record(
        survivor,
        [Counted(_occurrence(prints["erin"], 100), True)],
        thresholds,
        absorbed=services.grouping.absorbed_by(survivor),
    )
    out = tmp_path / "out"
    sink = MarkdownIssueSink(out, lambda: T0 + timedelta(minutes=30))
    body = render_body(
        IssueView(
            fingerprint=survivor,
            fingerprint_version=FINGERPRINT_VERSION,
            definition="error-trace",
            description="",
            severity="high",
            category="bug",
            table="AppTraces",
            source="production",
            count=5,
            first_seen=T0,
            last_seen=T0 + timedelta(minutes=100),
            threshold="1 in 1:00:00",
            message=HOSTILE,
            exception_type=None,
            stack_trace=None,
            role=None,
            operation_name=None,
            samples=[HOSTILE],
            context={},
            kql="AppTraces | take 1",
            portal_url="https://portal.azure.com/#blade/query",
        )
    )
    issue = sink.create("contoso/shop", title(f"Invalid user {HOSTILE}"), body, ["<b>bad</b>"])
    sink.comment("contoso/shop", issue.number, "4 new occurrence(s) @someone")
    services.issues.save(IssueState(survivor, "contoso/shop", number=issue.number))
    services.audit.record(survivor, "created", "contoso/shop", 1, "5 occurrence(s)", T0)
    services.audit.record(survivor, "rate-limited", "contoso/shop", None, "<i>slot</i>", T0)
    written = write(gather(out, services), out)
    assert written == out / "index.html"
    return out, {word: p.value for word, p in prints.items()}


def test_the_report_shows_the_merged_group_with_its_folds_pattern_and_decisions(
    run_left: tuple[Path, dict[str, str]],
) -> None:
    out, ids = run_left
    index = (out / "index.html").read_text()
    parsed = _Html(index)
    rows = {attrs.get("id") for attrs in parsed.named("tr")}
    assert f"g-{ids['alice']}" in rows, "the survivor (the oldest group) has the summary row"
    assert not {f"g-{ids[w]}" for w in ("bob", "carol", "dave", "erin")} & rows
    for word in ("bob", "carol", "dave"):
        assert ids[word] in index, f"the fold of {word}'s group is listed"
    assert index.count("merge step") == 3
    assert "Invalid user &lt;*&gt; rejected" in index, "the merged pattern says why"
    assert "5 distinct message templates" in index and "4 founded" in index
    assert "1 joined" in index


def test_every_page_keeps_hostile_text_escaped(run_left: tuple[Path, dict[str, str]]) -> None:
    out, _ = run_left
    for page in (out / "index.html", out / "contoso" / "shop" / "1.html"):
        html = page.read_text()
        parsed = _Html(html)
        scripts = [attrs.get("src") for attrs in parsed.named("script")]
        assert all(src and src.endswith(".js") for src in scripts), f"{page}: {scripts}"
        assert not {"img", "iframe", "b", "i"} & {tag for tag, _ in parsed.tags}, page
        assert "&lt;script&gt;" in html


def test_the_issue_page_links_its_evidence_the_summary_and_its_files_and_they_exist(
    run_left: tuple[Path, dict[str, str]],
) -> None:
    out, ids = run_left
    page = out / "contoso" / "shop" / "1.html"
    parsed = _Html(page.read_text())
    hrefs = [a["href"] for a in parsed.named("a") if a.get("href")]
    assert f"../../index.html#g-{ids['alice']}" in hrefs
    assert {"#evidence", "1.md", "1.json", "https://portal.azure.com/#blade/query"} <= set(hrefs)
    evidence = page.read_text().split('id="evidence"')[1].split('id="workflow"')[0]
    assert evidence.count("<tr>") == 1 + 5, "a header and the five occurrences of the group"
    ids_of = {p: {a.get("id") for _, a in _Html(p.read_text()).tags} for p in out.rglob("*.html")}
    for origin, anchors in ids_of.items():
        for anchor in _Html(origin.read_text()).named("a"):
            link = urlsplit(anchor.get("href") or "")
            if link.scheme:
                assert link.scheme == "https", link
                continue
            target = (origin.parent / unquote(link.path)).resolve() if link.path else origin
            assert target.is_file(), f"{origin}: {link.geturl()} points nowhere"
            if link.fragment:
                assert link.fragment in ids_of.get(target, anchors), f"{origin}: {link.geturl()}"
    assets = {p.name for p in (out / "assets").iterdir()}
    assert assets == {"mermaid.min.js", "report.css", "report.js"}


def test_the_runs_own_metrics_are_listed_with_their_figures_and_only_when_measured(
    tmp_path: Path,
) -> None:
    assert report.metric_rows(tmp_path) == (), "no metrics file, no section"
    measured = [
        Measurement(ISSUES.name, "counter", 1, {"action": "created", "repository": "a/b"}, T0),
        Measurement(ISSUES.name, "counter", 1, {"action": "created", "repository": "a/b"}, T0),
        Measurement(ISSUES.name, "counter", 1, {"action": "reopened", "repository": "a/b"}, T0),
        Measurement(TIME_TO_ISSUE.name, "histogram", 60, {"definition": "x"}, T0),
        Measurement(TIME_TO_ISSUE.name, "histogram", 600, {"definition": "x"}, T0),
    ]
    document = {"metrics": figures(measured)}
    (tmp_path / "metrics.json").write_text(json.dumps(document))
    rows = {row.name: row for row in report.metric_rows(tmp_path)}
    assert set(rows) == {metric.name for metric in METRICS}, "every metric, zero when unseen"
    assert rows[ISSUES.name].figure == "3"
    assert rows[ISSUES.name].parts == (
        "action=created, repository=a/b: 2",
        "action=reopened, repository=a/b: 1",
    )
    assert rows[TIME_TO_ISSUE.name].figure == "2 measured; p50 60, p95 600, max 600"
