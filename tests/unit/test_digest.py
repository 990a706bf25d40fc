"""The digest's figures (pure, over plain facts) and its renderings: the GitHub page with its
marker and Mermaid charts, Block Kit, the Adaptive Card (against the vendored 1.5 schema) and
the webhook body. Properties over generated ledgers and audit trails check every figure against
a direct count of the inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft6Validator

from detection.digest import (
    TOP,
    Action,
    Failure,
    Health,
    Period,
    build_digest,
    change_of,
    digest_fingerprint,
    duration,
    lag_text,
    render_markdown,
    sparkline,
)
from detection.lifecycle import Steering
from detection.markers import find_marker, marker
from detection.notify_payloads import Message, slack_blocks, teams_card, webhook_body
from pipeline.lifecycle import describe
from tests.unit.test_notify_payloads import HOSTILE, _check_block_kit, _inert_for_slack

pytestmark = pytest.mark.unit

CARDS = Draft6Validator(
    json.loads(
        (Path(__file__).parents[1] / "fakes" / "schemas" / "adaptive-card-1.5.json").read_text()
    )
)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
WEEK = Period(MONDAY, MONDAY + timedelta(days=7))


def _act(fp: str, action: str, at: datetime, reason: str = "", issue: int = 1) -> Action:
    return Action(fp, action, "contoso/shop", issue, reason, at)


def _sample() -> tuple[list[Failure], list[Action]]:
    hours = [MONDAY + timedelta(hours=h) for h in range(0, 7 * 24, 5)]
    failures = [
        Failure(
            "aa",
            "KeyError in parse_reservation",
            "contoso/shop",
            1,
            "https://github.com/contoso/shop/issues/1",
            occurrences=tuple(hours) + (MONDAY - timedelta(days=2),),
            first_pull_request_at=MONDAY + timedelta(hours=3),
        ),
        Failure(
            "bb",
            HOSTILE,
            "contoso/shop",
            2,
            "https://github.com/contoso/shop/issues/2",
            status="resolved",
            occurrences=(MONDAY + timedelta(days=1), MONDAY - timedelta(days=1, hours=3)),
        ),
        Failure("cc", "Timeout calling payments", "contoso/shop", 3, None, status="muted"),
    ]
    actions = [
        _act("aa", "created", MONDAY + timedelta(hours=1)),
        _act("aa", "assigned", MONDAY + timedelta(hours=1), "Copilot coding agent"),
        _act("aa", "pull-request-linked", MONDAY + timedelta(hours=3)),
        _act("bb", "created", MONDAY - timedelta(days=3), issue=2),
        _act("bb", "assigned", MONDAY - timedelta(days=3), "Claude via label", issue=2),
        _act(
            "bb",
            "steered",
            MONDAY + timedelta(days=2),
            "closed by octo: resolved: the next occurrence is a regression",
            issue=2,
        ),
        _act("cc", "steered", MONDAY + timedelta(days=3), "read from the issue: muted: x", 3),
        _act("aa", "skipped-as-duplicate", MONDAY + timedelta(hours=2)),
        _act("aa", "notified", MONDAY + timedelta(hours=1)),
        _act("aa", "notification-held", MONDAY + timedelta(hours=1)),
        _act("aa", "notification-held", MONDAY - timedelta(hours=1)),  # the week before
    ]
    return failures, actions


def test_the_weekly_digest_counts_what_changed_and_what_the_agents_did() -> None:
    failures, actions = _sample()
    digest = build_digest("shop", WEEK, failures, actions, Health(42, 1, 120, 5000))
    assert {
        kind: [line.fingerprint for line in lines] for kind, lines in digest.changes.items()
    } == {
        "new": ["aa"],
        "regressed": [],
        "resolved": ["bb"],
        "muted": ["cc"],
    }
    assert digest.occurrences == 34 + 1 and sum(digest.daily) == 35
    assert [(r.fingerprint, r.count, r.previous, r.trend) for r in digest.top] == [
        ("aa", 34, 1, "up 3300%"),
        ("bb", 1, 1, "flat"),
    ]
    rows = {row.assignee: row for row in digest.assignees}
    assert rows["Copilot coding agent"].with_pull_request == 1
    assert rows["Copilot coding agent"].median_to_first_pull_request == timedelta(hours=2)
    assert rows["Claude via label"].median_to_close == timedelta(days=5)
    assert (digest.duplicates_avoided, digest.notifications_held) == (1, 1)
    assert (digest.notifications_sent, digest.pull_requests_linked) == (1, 1)


def test_the_page_is_marked_charted_and_inert() -> None:
    failures, actions = _sample()
    line = marker(digest_fingerprint("shop"))
    body = render_markdown(build_digest("shop", WEEK, failures, actions, Health()), line)
    assert find_marker(body) == digest_fingerprint("shop") != digest_fingerprint("orders")
    assert body.count("```mermaid") == 2 and "xychart-beta" in body and "pie title" in body
    assert "<!channel>" not in body and "@here" not in body
    assert "ghp_0123456789" not in body


def test_each_channel_gets_a_valid_digest() -> None:
    failures, actions = _sample()
    digest = build_digest("shop", WEEK, failures, actions, Health(42, 1, 120, 5000))
    message = Message("shop", "oncall", digest=digest)
    slack = slack_blocks(message)
    _check_block_kit(slack)
    _inert_for_slack(slack)
    card = teams_card(message)["attachments"][0]["content"]
    assert [e.message for e in CARDS.iter_errors(card)] == []
    assert "ghp_0123456789" not in json.dumps(card)
    sent = json.loads(webhook_body(message, '{"ignored": "{{ event.title }}"}'))
    assert sent["digest"]["counts"] == {"new": 1, "regressed": 0, "resolved": 1, "muted": 1}
    assert sent["digest"]["health"]["github_budget_used"] == 120


@pytest.mark.parametrize(
    ("action", "reason", "change"),
    [
        ("created", "12 occurrence(s) of unhandled-exception", "new"),
        ("created", "regression of #7", "regressed"),  # dedup.regression: new-issue
        ("reopened", "Regressed: this failure recurred after the issue was closed", "regressed"),
        ("steered", "closed by octo: resolved: the next occurrence is a regression", "resolved"),
        ("steered", "read from the issue: muted until 2026-12-01 00:00 UTC: counted", "muted"),
        ("command", "Muted until 2026-12-01 00:00 UTC. Occurrences are still counted", "muted"),
        ("command", "Resolved in version `2.4.1`: the next occurrence of this failure", "resolved"),
        ("command", "Not muted: GitHub did not set the `faultline:mute` label", None),
        ("steered", "read from the issue: active", None),
        ("commented", "resolved: quoted by someone", None),
    ],
)
def test_what_each_audit_row_says_happened(action: str, reason: str, change: str | None) -> None:
    assert change_of(Action("fp", action, "contoso/shop", 7, reason, MONDAY)) == change


@pytest.mark.parametrize(
    ("steering", "change"),
    [
        (Steering("resolved"), "resolved"),
        (Steering("muted"), "muted"),
        (Steering("muted", MONDAY + timedelta(days=2)), "muted"),
        (Steering("active"), None),
    ],
)
def test_the_steering_audit_rows_as_written_are_read_back(
    steering: Steering, change: str | None
) -> None:
    """The words `pipeline.lifecycle.describe` writes, after the webhook's and the sync's
    prefixes, are what the digest reads: a change of wording fails here, not in a digest."""
    for reason in (
        f"closed by octo: {describe(steering)}",
        f"read from the issue: {describe(steering)}",
    ):
        assert change_of(Action("fp", "steered", "contoso/shop", 7, reason, MONDAY)) == change


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        (None, "-"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=5, minutes=20), "5h 20m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=3, hours=4), "3d 4h"),
    ],
)
def test_durations_read_as_people_write_them(span: timedelta | None, shown: str) -> None:
    assert duration(span) == shown


def test_sparklines_scale_to_the_largest_count() -> None:
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([0, 4, 8]) == "▁▄█"


# -- properties ----------------------------------------------------------------------------------

ACTIONS = (
    "created",
    "reopened",
    "assigned",
    "steered",
    "skipped-as-duplicate",
    "folded",
    "notified",
    "notification-held",
    "notification-failed",
    "pull-request-linked",
)
REASONS = ("read from the issue: resolved: x", "read from the issue: muted: x", "Copilot", "")
moments = st.integers(min_value=-10 * 24, max_value=10 * 24).map(
    lambda h: MONDAY + timedelta(hours=h, minutes=7)
)
fingerprints = st.sampled_from(["a1", "b2", "c3", "d4"])


@st.composite
def facts(draw: Any) -> tuple[list[Failure], list[Action]]:
    failures = [
        Failure(
            fp,
            draw(st.text(max_size=30)),
            "contoso/shop",
            number,
            occurrences=tuple(draw(st.lists(moments, max_size=40))),
            first_pull_request_at=draw(st.none() | moments),
        )
        for number, fp in enumerate(draw(st.sets(fingerprints)), start=1)
    ]
    actions = draw(
        st.lists(
            st.builds(
                lambda fp, action, at, reason: Action(fp, action, "contoso/shop", 1, reason, at),
                fingerprints,
                st.sampled_from(ACTIONS),
                moments,
                st.sampled_from(REASONS),
            ),
            max_size=40,
        )
    )
    return failures, actions


@settings(max_examples=150, deadline=None)
@given(facts(), st.sampled_from([1, 7]))
def test_every_figure_is_a_direct_count_of_the_facts(
    data: tuple[list[Failure], list[Action]], days: int
) -> None:
    failures, actions = data
    period = Period(MONDAY, MONDAY + timedelta(days=days))
    digest = build_digest("p", period, failures, actions, Health())
    inside = [a for a in actions if period.start <= a.at < period.end]
    for kind in ("new", "regressed", "resolved", "muted"):
        assert len(digest.changes[kind]) == sum(change_of(a) == kind for a in inside)  # type: ignore[index]
    occurrences = [t for f in failures for t in f.occurrences if period.holds(t)]
    assert digest.occurrences == len(occurrences) == sum(digest.daily)
    assert len(digest.daily) == days
    assert [r.count for r in digest.top] == sorted((r.count for r in digest.top), reverse=True)
    assert len(digest.top) == min(
        TOP, sum(1 for f in failures if any(map(period.holds, f.occurrences)))
    )
    by_fingerprint = {f.fingerprint: f for f in failures}
    for recurring in digest.top:
        assert sum(recurring.daily) == recurring.count
        before = by_fingerprint[recurring.fingerprint].occurrences
        assert recurring.previous == sum(map(period.previous.holds, before))
    held = sum(a.action == "notification-held" for a in inside)
    assert digest.notifications_held == held
    avoided = sum(a.action in ("skipped-as-duplicate", "folded") for a in inside)
    assert digest.duplicates_avoided == avoided
    assert sum(a.issues for a in digest.assignees) == len(digest.issues)
    for row in digest.assignees:
        assert 0 <= row.with_pull_request <= row.issues and 0 <= row.closed <= row.issues
    body = render_markdown(digest, marker(digest_fingerprint("p")))
    assert find_marker(body) == digest_fingerprint("p") and len(body) <= 65_536
    _check_block_kit(slack_blocks(Message("p", "c", digest=digest)))
    card = teams_card(Message("p", "c", digest=digest))["attachments"][0]["content"]
    assert [e.message for e in CARDS.iter_errors(card)] == []


def test_what_known_issues_kept_back_is_counted_per_entry_in_every_channel() -> None:
    failures, actions = _sample()
    day = MONDAY + timedelta(days=1)
    suppressed = [
        Failure("s1", "s1", "contoso/shop", occurrences=(day, day, MONDAY - timedelta(hours=1))),
        Failure("s2", "s2", "contoso/shop", occurrences=(day,) * 5),
        Failure("s3", "s3", "contoso/shop", occurrences=(day,) * 4),
        Failure("s4", "s4", "contoso/shop", occurrences=(MONDAY - timedelta(days=1),)),
    ]
    actions += [  # each group's one row, whenever it was first kept back
        Action("s1", "suppressed", "contoso/shop", None, "known issue cdn-timeouts", MONDAY),
        Action(
            "s2",
            "suppressed",
            "contoso/shop",
            None,
            "known issue cdn-timeouts (until 2026-12-31)",
            MONDAY - timedelta(days=9),
        ),
        Action("s3", "suppressed", "contoso/shop", None, "known issue flaky-probe", day),
        Action("s4", "suppressed", "contoso/shop", None, "known issue flaky-probe", MONDAY),
    ]
    digest = build_digest("shop", WEEK, failures, actions, Health(), suppressed)
    assert [(s.known_issue, s.failures, s.occurrences) for s in digest.suppressed] == [
        ("cdn-timeouts", 2, 7),  # s1's occurrence before the week does not count
        ("flaky-probe", 1, 4),  # s4 did not occur in the week
    ]
    assert digest.suppressed_occurrences == 11
    assert digest.occurrences == 35  # as without them: they have no issue
    body = render_markdown(digest, marker(digest_fingerprint("shop")))
    assert "### Suppressed by known issues (11)" in body
    assert "| `cdn-timeouts` | 2 | 7 |" in body
    message = Message("shop", "oncall", digest=digest)
    slack = slack_blocks(message)
    _check_block_kit(slack)
    assert "*Suppressed by known issues*\n11 (3 failure(s), cdn-timeouts 7)" in json.dumps(
        slack, ensure_ascii=False
    ).replace("\\n", "\n")
    card = teams_card(message)["attachments"][0]["content"]
    assert [e.message for e in CARDS.iter_errors(card)] == []
    facts = {
        f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]
    }
    assert facts["Suppressed by known issues"] == "11 (3 failure(s), cdn-timeouts 7)"
    sent = json.loads(webhook_body(message, "{}"))["digest"]["suppressed"]
    assert sent[0] == {"known_issue": "cdn-timeouts", "failures": 2, "occurrences": 7}


def test_a_digest_without_suppressions_says_so() -> None:
    failures, actions = _sample()
    digest = build_digest("shop", WEEK, failures, actions, Health())
    assert digest.suppressed == ()
    assert "None: no known issue kept a failure back." in render_markdown(digest, "")


def test_an_ingestion_lag_reads_as_people_say_it() -> None:
    assert lag_text(None, "no poll yet") == "no poll yet"
    assert lag_text(40, "-") == "40s"
    assert lag_text(1200, "-") == "20m"
    assert lag_text(5 * 3600 + 60, "-") == "5h 1m"
