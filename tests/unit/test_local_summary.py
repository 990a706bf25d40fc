"""What the local run says at its end: what happened, in plain sentences (an assignment that
waited for business hours is told as waited-then-done, not as two counters side by side), and
what to open (the issue folders, the first issue, and the run's report only once it exists)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from detection.rules import BusinessHours, load_rules
from local_host.summary import (
    Assignment,
    DefinitionRow,
    RunSummary,
    summarise,
    summary_lines,
    where_to_look,
)
from pipeline.ports import Counted
from tests.support.failures import group_id, notice, occurrences
from tests.support.memory import Memory, MemoryTracker
from tests.support.workflows import MemoryWorkflows

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
AMSTERDAM = BusinessHours(timezone="Europe/Amsterdam", start=time(8), end=time(18))
FRIDAY = datetime(2026, 11, 20, tzinfo=UTC)
COPILOT = "Copilot coding agent"


def _text(lines: list[str]) -> str:
    """The summary's words, whatever the wrapping."""
    return " ".join(line.strip() for line in lines if line.strip())


def night(**changes: object) -> RunSummary:
    """The bundled night as the run reports it: 25 issues, all created before business hours
    and assigned when they began, inside the replayed span."""
    summary = RunSummary(
        sample="the bundled night of sample telemetry (samples/telemetry)",
        replay_start=FRIDAY + timedelta(seconds=12),
        replay_end=FRIDAY + timedelta(hours=7, minutes=22, seconds=40),
        settled=timedelta(0),
        wall_seconds=33.6,
        dry_run=True,
        query_jobs=264,
        poisoned_jobs=0,
        notices=166,
        failing_operations=185,
        definitions=(
            DefinitionRow("console-error", 2, 0, 6),
            DefinitionRow("unhandled-exception", 29, 25, 1406),
        ),
        actions={
            "created": 25,
            "updated": 22,
            "commented": 9,
            "assignment-deferred": 25,
            "assigned": 25,
        },
        business_hours=AMSTERDAM,
        assignments=tuple(
            Assignment(f"contoso/shop#{n}", COPILOT, FRIDAY + timedelta(hours=1, minutes=n))
            for n in range(1, 26)
        ),
    )
    return replace(summary, **changes)  # type: ignore[arg-type]


def test_the_night_is_told_in_sentences_with_spans_counts_and_assignments() -> None:
    lines = summary_lines(night())
    assert max(len(line) for line in lines) <= 100
    text = _text(lines)
    for sentence in [
        "Replayed the bundled night of sample telemetry (samples/telemetry), Fri 2026-11-20 00:00 "
        "to 07:22 UTC: 7 h 22 min of simulated time in 34 s of wall time.",
        "No workflow was left waiting at its end.",
        "Found 1,412 failing rows (occurrences, each counted once) in 185 failing operations, "
        "grouped into 31 distinct failures; 25 of them crossed their threshold",
        "264 query jobs ran (0 poisoned); 166 failure notices went to the issue workflow.",
        "Issues as Markdown files (a dry run: nothing sent to GitHub):",
        "25 issues created for the 25 distinct failures over their threshold.",
        "Then 22 issue bodies refreshed with new counts, 9 comments on recurrences and no issue "
        "reopened.",
        "25 issues assigned to Copilot coding agent.",
        "All 25 were created outside business hours (Mon-Fri 08:00-18:00 Europe/Amsterdam) and "
        "waited for them: assigned when they began, Fri 2026-11-20 07:00 UTC (08:00 "
        "Europe/Amsterdam), in simulated time during the replay.",
        "Problems: none.",
    ]:
        assert sentence in text
    assert "    unhandled-exception                29             25       1,406" in lines
    for confusing in ("deferred", "settled after", "0:00:00"):
        assert confusing not in text


def test_a_run_that_settles_says_how_much_simulated_time_the_waiting_took() -> None:
    summary = night(
        replay_end=FRIDAY + timedelta(hours=7),
        settled=timedelta(days=2, hours=5, minutes=40),
        actions={"created": 25, "folded": 1, "rate-limited": 4, "skipped-as-duplicate": 2},
    )
    text = _text(summary_lines(summary))
    assert (
        "Workflows still waiting at its end (hourly issue budget, business hours) then needed "
        "2 days 05 h 40 min more of simulated time to finish." in text
    )
    assert "25 issues created for the 25 distinct failures over their threshold; 1 later " in text
    assert "4 waits for the hourly issue budget or GitHub's limits" in text
    assert "2 duplicates avoided" in text
    assert "Then no issue body refreshed with new counts, no comment" in text


def test_assignments_on_several_mornings_at_once_and_still_waiting_are_each_told() -> None:
    mornings = [
        Assignment(f"contoso/shop#{n}", COPILOT, FRIDAY + timedelta(days=day, hours=20))
        for n, day in enumerate([-3, -3, -2, -1, 3, 4], start=1)
    ]
    summary = night(
        replay_start=FRIDAY - timedelta(days=3),
        assignments=(
            *mornings,
            Assignment("contoso/shop#7", COPILOT),
            Assignment("contoso/orders#1", "alice, bob"),
            Assignment("contoso/shop#8", None, FRIDAY + timedelta(hours=17, minutes=30)),
        ),
    )
    text = _text(summary_lines(summary))
    assert "8 issues assigned: 7 to Copilot coding agent and 1 to alice, bob." in text
    assert (
        "6 were created outside business hours (Mon-Fri 08:00-18:00 Europe/Amsterdam) and "
        "waited for them: assigned when they began, 2 on Wed 2026-11-18 07:00 UTC, 1 on Thu "
        "2026-11-19 07:00 UTC, 1 on Fri 2026-11-20 07:00 UTC, 1 on Tue 2026-11-24 07:00 UTC and "
        "1 later (08:00 Europe/Amsterdam), in simulated time during the replay and the settling."
        in text
    )
    assert "2 were created inside business hours and assigned at once." in text
    assert (
        "1 issue still waited for business hours when the run ended; it would be assigned at "
        "Mon 2026-11-23 07:00 UTC." in text
    )


def test_issues_left_unassigned_failed_or_still_waiting_are_not_told_as_assigned() -> None:
    summary = night(
        actions={"created": 4, "assignment-skipped": 2, "assign-failed": 1},
        assignments=(
            Assignment("contoso/shop#1", None, FRIDAY + timedelta(hours=2), failed=True),
            Assignment("contoso/shop#2", None, FRIDAY + timedelta(hours=17, minutes=30)),
        ),
    )
    text = _text(summary_lines(summary))
    assert "issue assigned" not in text and "issues assigned" not in text
    assert (
        "2 issues left unassigned: created outside business hours, which the rules leave "
        "unassigned." in text
    )
    assert (
        "1 issue still waited for business hours when the run ended; it would be assigned at "
        "Mon 2026-11-23 07:00 UTC." in text
    )
    assert text.endswith("Problems: 1 failed assignment")


def test_problems_are_named_when_there_are_any() -> None:
    summary = night(poisoned_jobs=2, actions={"created": 25, "assign-failed": 1, "refused": 3})
    assert _text(summary_lines(summary)[-2:]) == (
        "Problems: 2 poisoned query jobs, 1 failed assignment, 3 writes refused by GitHub "
        "(see /api/health)"
    )


def test_a_run_that_assigned_nothing_says_so() -> None:
    text = _text(summary_lines(night(assignments=())))
    assert "No issue was assigned (the rules assign none)." in text


def test_the_summary_is_read_from_the_stores_the_workflow_wrote() -> None:
    """On the in-memory ports: a failure noticed on Saturday is created at once and assigned
    on Monday morning; one noticed on Monday morning is assigned at once; a group the merge step
    folded into another is not counted apart."""
    clock = _Clock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))  # Saturday
    memory = Memory(MemoryTracker(clock.now))
    rules = load_rules((ROOT / "faultline.yaml").read_text(), {})
    services = memory.services(rules, clock.now, {"FAULTLINE_WORKFLOW_RECHECK_SECONDS": "900"})
    workflows = MemoryWorkflows(services, clock, memory.failure_queue)

    def noticed(name: str) -> None:
        failure = notice(name)
        counted = [Counted(o, True) for o in occurrences(failure.fingerprint, failure.count)]
        services.ledger.record(failure.fingerprint, counted, rules.thresholds())
        memory.failure_queue.send(failure.model_dump_json())
        workflows.drain()

    noticed("weekend")
    replayed_to = clock.now()
    workflows.advance(datetime(2026, 11, 23, 9, 0, tzinfo=UTC) - clock.now())
    noticed("monday")
    workflows.wait_until_idle()
    folded = group_id("folded")
    memory.ledger.record(folded, [Counted(o, True) for o in occurrences(folded, 2)], {})
    memory.ledger.fold(group_id("weekend"), folded)

    summary = summarise(
        services,
        sample="a test",
        replay_start=replayed_to - timedelta(hours=1),
        replay_end=replayed_to,
        settled=clock.now() - replayed_to,
        wall_seconds=1.0,
        dry_run=True,
        query_jobs=3,
        notices=2,
    )
    assert summary.groups == 2 and summary.occurrences == 3 + 2 + 3
    assert summary.actions["created"] == 2
    assert summary.assignments == (
        Assignment("contoso/shop#1", COPILOT, datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        Assignment("contoso/shop#2", COPILOT, None),
    )
    text = _text(summary_lines(summary))
    assert "2 issues assigned to Copilot coding agent." in text
    assert (
        "1 was created outside business hours (Mon-Fri 08:00-18:00 Europe/Amsterdam) and waited "
        "for them: assigned when they began, Mon 2026-11-23 07:00 UTC (08:00 Europe/Amsterdam), "
        "in simulated time after the replay, while settling." in text
    )
    assert "1 was created inside business hours and assigned at once." in text


class _Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _issue(out: Path, repository: str, number: int, created_at: str | None) -> None:
    folder = out / repository
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{number}.md").write_text(f"# issue {number}\n")
    (folder / f"{number}.json").write_text(json.dumps({"number": number, "created_at": created_at}))


def test_the_last_lines_name_the_issue_folders_and_the_first_issue(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _issue(out, "contoso/shop", 1, "2026-11-20T01:10:00Z")
    _issue(out, "contoso/shop", 2, "2026-11-20T02:00:00Z")
    _issue(out, "contoso/shop", 10, "2026-11-20T05:00:00Z")
    _issue(out, "contoso/orders", 1, "2026-11-20T00:40:00Z")
    (out / "contoso" / "shop" / "notes.md").write_text("not an issue")
    assert where_to_look(out, cwd=tmp_path) == [
        "",
        "Where to look",
        "  the issues:       out/contoso/shop/ (3 issues), out/contoso/orders/ (1 issue)",
        " " * 20 + "(N.md: issue N as GitHub would show it; N.json: what GitHub would be sent)",
        "  the first issue:  out/contoso/orders/1.md",
    ]


def test_the_report_is_named_only_once_it_exists(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _issue(out, "contoso/shop", 1, None)
    assert not any("index.html" in line for line in where_to_look(out, cwd=tmp_path))
    (out / "index.html").write_text("<!doctype html>")
    assert where_to_look(out, cwd=tmp_path)[-1] == (
        "  the whole run:    out/index.html (open it in a browser)"
    )


def test_outside_the_working_directory_paths_are_absolute(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    _issue(out, "contoso/shop", 1, None)
    lines = where_to_look(out, cwd=tmp_path / "project")
    assert lines[-1] == f"  the first issue:  {out}/contoso/shop/1.md"


def test_with_no_issue_and_with_github_the_last_lines_say_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert where_to_look(out, cwd=tmp_path)[2] == (
        "  the issues:       none were created (the dry-run folder is out/)"
    )
    assert where_to_look(out, github="acme/shop", cwd=tmp_path)[2].startswith(
        "  the issues:       https://github.com/acme/shop/issues"
    )


def test_notifications_are_told_with_what_the_throttles_held_and_what_failed() -> None:
    actions = {"created": 25, "notified": 7, "notification-held": 3, "notification-failed": 1}
    text = _text(summary_lines(night(actions=actions)))
    assert (
        "Notifications: 7 messages written as files (a dry run: nothing sent); 3 events held "
        "back by a rule's throttle (a storm's count goes out in one later message); "
        "1 delivery failed."
    ) in text
    assert text.endswith("Problems: 1 notification not delivered")
    assert "Notifications" not in _text(summary_lines(night()))


def test_the_last_lines_name_the_notifications_by_channel(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _issue(out, "contoso/shop", 1, None)
    folder = out / "notifications"
    folder.mkdir()
    for number, channel in enumerate(("oncall", "orders-team", "oncall"), start=1):
        record = {"channel": channel, "payload": {}}
        (folder / f"{number:04d}-{channel}-issue-created.json").write_text(json.dumps(record))
    assert where_to_look(out, cwd=tmp_path)[-1] == (
        "  notifications:    out/notifications/ (3 messages: 2 to oncall, 1 to orders-team)"
    )
