"""The local run's report in a real browser: Debian's headless Chromium, started here, opens
`out/index.html` and every issue page from disk (file://, no network) after a real local run
over the bundled night. Each page loads with no console error, its charts are drawn as SVG,
every link resolves, and a screenshot is not blank."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from tests.support.browser import Chromium, headless_chromium, page_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]

LINKS = "[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"
IDS = "[...document.querySelectorAll('[id]')].map(e => e.id)"
MERMAID_CHARTS = """(async () => {
  const drawn = await window.faultlineCharts;
  const blocks = [...document.querySelectorAll('pre.mermaid')];
  return {
    drawn: drawn ?? null,
    blocks: blocks.length,
    svgs: blocks.filter(b => b.querySelector(':scope > svg')).length,
    bars: blocks.map(b => b.querySelectorAll('svg rect').length),
    text: blocks.filter(b => b.textContent.includes('xychart-beta')).length,
  };
})()"""
INLINE_CHARTS = """({
  charts: document.querySelectorAll('svg.chart').length,
  chartBars: document.querySelectorAll('svg.chart rect.bar').length,
  budgetLines: document.querySelectorAll('svg.chart line.budget').length,
  sparklines: document.querySelectorAll('tr[id^="g-"] svg.sparkline').length,
  failures: document.querySelectorAll('tr[id^="g-"]').length,
})"""


@dataclass
class Seen:
    """One page as the browser showed it."""

    errors: list[str]
    requests: list[str]
    links: list[str]
    ids: set[str]
    charts: dict[str, Any]
    screenshot: bytes | None


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real local run over the bundled night (about half a minute): the report is its last
    step, as `make run` writes it."""
    folder = tmp_path_factory.mktemp("report") / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "local_host.run",
            "--data",
            str(ROOT / "samples" / "telemetry"),
            "--out",
            str(folder),
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")},
            "PYTHONPATH": str(ROOT),
        },
        check=True,
        capture_output=True,
        timeout=900,
    )
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def seen(out: Path, browser: Chromium) -> dict[Path, Seen]:
    """Every page of the report, opened once: the index and each issue's page."""
    pages = [out / "index.html", *sorted(out.glob("*/*/*.html"))]
    found = {}
    for number, page in enumerate(pages):
        visit = browser.visit(page_url(page))
        charts = browser.evaluate(INLINE_CHARTS if number == 0 else MERMAID_CHARTS, visit)
        links = browser.evaluate(LINKS, visit)
        ids = set(browser.evaluate(IDS, visit))
        shot = browser.screenshot() if number < 2 else None
        found[page] = Seen(visit.errors, visit.requests, links, ids, charts, shot)
    return found


def test_the_run_writes_an_index_and_a_page_beside_every_issue_file(out: Path) -> None:
    issues = sorted(out.glob("*/*/*.json"))
    assert len(issues) >= 20, "the night makes 25 issues"
    assert all(path.with_suffix(".html").is_file() for path in issues)
    assert (out / "index.html").is_file()
    index = (out / "index.html").read_text()
    for path in issues:
        assert f'href="{path.relative_to(out).with_suffix(".html")}"' in index


def test_the_summary_lists_the_runs_own_metrics_as_the_run_printed_them(out: Path) -> None:
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    index = (out / "index.html").read_text()
    assert '<section id="metrics">' in index
    created = sum(
        s["total"]
        for s in metrics["faultline.issues"]["series"]
        if s["attributes"]["action"] == "created"
    )
    failures = [
        path
        for path in out.glob("*/*/*.json")
        if "faultline:digest" not in json.loads(path.read_text())["labels"]
    ]
    assert created == len(failures), "one creation per failure's issue file (and one digest)"
    for name in metrics:
        assert f"<code>{name}</code>" in index


def test_the_browser_reports_each_kind_of_error_a_page_can_make(
    tmp_path: Path, browser: Chromium
) -> None:
    """So that 'no errors' below means none happened, not that none could be seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><p>x</p><script src="missing.js"></script><script>'
        'console.error("logged", 42); setTimeout(() => { throw new Error("thrown") });'
        "window.done = new Promise(resolve => setTimeout(resolve, 20));</script>"
    )
    visit = browser.visit(page_url(page))
    browser.evaluate("window.done", visit)
    assert len(visit.errors) == 3, visit.errors
    missing, logged, thrown = sorted(visit.errors, key=lambda e: ("missing" not in e, e))
    assert "missing.js" in missing and "ERR_FILE_NOT_FOUND" in missing
    assert logged == "console.error: logged 42"
    assert thrown.startswith("uncaught: Error: thrown")


def test_every_page_loads_without_console_errors(seen: dict[Path, Seen]) -> None:
    failed = {str(page): s.errors for page, s in seen.items() if s.errors}
    assert not failed


def test_every_page_opens_from_disk_fetching_nothing_from_a_network(
    out: Path, seen: dict[Path, Seen]
) -> None:
    for page, s in seen.items():
        assert page_url(page) in s.requests, f"{page}: the visit saw no request at all"
        assert page_url(out / "assets" / "report.css") in s.requests, page
        remote = [url for url in s.requests if urlsplit(url).scheme not in ("file", "data")]
        assert not remote, f"{page} fetched {remote}"
    issue_page = next(page for page in seen if page != out / "index.html")
    assert page_url(out / "assets" / "mermaid.min.js") in seen[issue_page].requests


def test_the_summary_draws_its_charts_as_svg(out: Path, seen: dict[Path, Seen]) -> None:
    charts = seen[out / "index.html"].charts
    assert charts["charts"] == 2, "occurrences over time, and issues per hour against the budget"
    assert charts["budgetLines"] == 2, "overall and per repository"
    assert charts["chartBars"] >= 6
    assert charts["failures"] == charts["sparklines"] and charts["failures"] >= 25


def test_every_issue_chart_is_drawn_by_mermaid_as_svg_with_bars(
    out: Path, seen: dict[Path, Seen]
) -> None:
    pages = {page: s.charts for page, s in seen.items() if page != out / "index.html"}
    assert pages
    for page, charts in pages.items():
        blocks = 2 if _is_digest(page) else 1
        assert charts["blocks"] == blocks, f"{page}: one chart per failure, the digest's two"
        assert charts["drawn"] == charts["svgs"] == blocks, f"{page}: {charts}"
        assert charts["text"] == 0, f"{page}: Mermaid source left as text"
        bars = charts["bars"]
        assert bars and all(n > 0 for n in bars), f"{page}: {charts}"


def test_every_link_resolves_to_a_file_and_every_anchor_to_an_element(
    out: Path, seen: dict[Path, Seen]
) -> None:
    checked = 0
    for origin, page in seen.items():
        for href in page.links:
            link = urlsplit(href)
            if link.scheme:
                assert link.scheme == "https", f"{origin}: {href} would leave the report"
                continue
            target = (origin.parent / unquote(link.path)).resolve() if link.path else origin
            assert target.is_file(), f"{origin}: {href} points nowhere"
            assert target.is_relative_to(out.resolve()), f"{origin}: {href} leaves the report"
            if link.fragment:
                assert target in seen, f"{origin}: {href} has an anchor in a page never opened"
                assert unquote(link.fragment) in seen[target].ids, f"{origin}: {href}"
            checked += 1
    assert checked > 4 * len(seen), "each page links the summary, evidence, files and issues"


def test_each_issue_page_links_back_to_its_failure_and_to_its_evidence(
    out: Path, seen: dict[Path, Seen]
) -> None:
    digests = 0
    for page, s in seen.items():
        if page == out / "index.html":
            continue
        if _is_digest(page):
            digests += 1
            assert "#evidence" not in s.links and "evidence" not in s.ids, page
            continue
        assert "#evidence" in s.links and "evidence" in s.ids, page
        assert any(link.startswith("../../index.html#g-") for link in s.links), page
    assert digests == 1, "the shipped weekly digest, which is about no one failure"


def _is_digest(page: Path) -> bool:
    return "faultline:digest" in json.loads(page.with_suffix(".json").read_text())["labels"]


@pytest.mark.parametrize("which", [0, 1], ids=["summary", "an issue"])
def test_a_screenshot_is_not_blank(out: Path, seen: dict[Path, Seen], which: int) -> None:
    shot = list(seen.values())[which].screenshot
    assert shot is not None
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    pixels = image.width * image.height
    background = max(count for count, _ in colours)
    assert len(colours) > 16, "text, charts and borders draw in many colours"
    assert background < 0.95 * pixels, "more than a twentieth of the page is drawn on"
