"""Known issues: the rules file's entries are validated by name, matched purely (with property
tests over the tests an entry combines and its expiry), and applied where the workflow starts
(`suppress`: counted, no issue, audited once) and where the issue and the agent's instructions
are written (`annotate`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.known_issues import (
    KnownFacts,
    agent_note,
    audit_reason,
    expired,
    issue_section,
    known_issue,
    named_in,
)
from detection.rules import KnownIssue, RulesError
from pipeline.workflow.activities import sync_issue
from pipeline.workflow.assignment import assign_issue
from pipeline.workflow.messages import Synced
from pipeline.workflow.starter import start_workflow
from tests.support.failures import FRIDAY_MORNING, group_id
from tests.unit.test_issue_workflow import SHOP, Flow, _rules
from tests.unit.test_rules import _load, _minimal

pytestmark = pytest.mark.unit

CHECKOUT = group_id("checkout")
FACTS = KnownFacts(
    fingerprint=CHECKOUT,
    definition="unhandled-exception",
    exception_type="TypeError",
    message="Cannot read properties of undefined (reading 'total') [abc123]",
)


def _entry(**fields: Any) -> KnownIssue:
    return KnownIssue.model_validate(
        {"name": "cart-null", "action": "annotate", "cause": "a known cause", **fields}
    )


# -- the rules file ----------------------------------------------------------------------------


def _problems(entries: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(RulesError) as raised:
        _load(_minimal(known_issues=entries))
    return [line.strip() for line in str(raised.value).splitlines()[1:]]


def test_entries_load_with_every_kind_of_match() -> None:
    rules = _load(
        _minimal(
            known_issues=[
                {
                    "name": "flaky-dns",
                    "match": {"exception_types": ["SocketException"], "message": r"EAI_AGAIN"},
                    "action": "suppress",
                    "expires": "2026-12-31",
                },
                {
                    "name": "cart-null",
                    "match": {"fingerprints": [CHECKOUT], "definitions": ["failed-request"]},
                    "action": "annotate",
                    "cause": "the cart expires while the page is open",
                    "workaround": "reload the page",
                    "links": ["https://wiki.contoso.com/cart"],
                },
            ]
        )
    )
    first, second = rules.known_issues
    assert first.expires == date(2026, 12, 31) and first.action == "suppress"
    assert second.match.fingerprints == (CHECKOUT,)
    assert [str(link) for link in second.links] == ["https://wiki.contoso.com/cart"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"name": "dns", "match": {"message": "(?=x)"}, "action": "suppress"},
            "known_issues[0] (dns).match.message: invalid regular expression",
        ),
        (
            {"name": "dns", "match": {}, "action": "suppress"},
            "known_issues[0] (dns).match: a known issue matches by at least one of",
        ),
        (
            {"name": "dns", "match": {"definitions": ["failed-requests"]}, "action": "suppress"},
            "known_issues[0] (dns).match.definitions: names an unknown failure definition: "
            "failed-requests; did you mean 'failed-request'?",
        ),
        (
            {"name": "dns", "match": {"fingerprints": ["xyz"]}, "action": "suppress"},
            "known_issues[0] (dns).match.fingerprints[0]: String should match pattern",
        ),
        (
            {"name": "dns", "match": {"definitions": ["failed-request"]}, "action": "hide"},
            "known_issues[0] (dns).action: Input should be 'suppress' or 'annotate'",
        ),
        (
            {"name": "dns", "match": {"definitions": ["failed-request"]}, "action": "annotate"},
            "known_issues[0] (dns): an annotate entry needs a cause",
        ),
        (
            {
                "name": "dns",
                "match": {"definitions": ["failed-request"]},
                "action": "suppress",
                "expires": "soon",
            },
            "known_issues[0] (dns).expires: Input should be a valid date",
        ),
    ],
    ids=["re2", "empty-match", "unknown-definition", "fingerprint", "action", "annotate", "date"],
)
def test_a_bad_entry_is_named_in_the_error(entry: dict[str, Any], expected: str) -> None:
    problems = _problems([entry])
    assert any(line.startswith(expected) for line in problems), problems


def test_entry_names_are_unique() -> None:
    entry = {"name": "dns", "match": {"definitions": ["failed-request"]}, "action": "suppress"}
    assert "known_issues: names must be unique; used twice: dns" in _problems([entry, entry])


# -- matching ----------------------------------------------------------------------------------


def test_every_test_an_entry_gives_must_hold() -> None:
    assert known_issue([_entry(match={"exception_types": ["TypeError"]})], FACTS, FRIDAY_MORNING)
    both = _entry(match={"exception_types": ["TypeError"], "definitions": ["failed-request"]})
    assert known_issue([both], FACTS, FRIDAY_MORNING) is None
    assert known_issue([_entry(match={"message": r"reading '\w+'"})], FACTS, FRIDAY_MORNING)
    assert known_issue([_entry(match={"message": "^reading"})], FACTS, FRIDAY_MORNING) is None
    whole = _entry(match={"exception_types": ["Type"]})
    assert known_issue([whole], FACTS, FRIDAY_MORNING) is None, "types compare whole"


def test_the_first_matching_entry_that_has_not_expired_applies() -> None:
    old = _entry(name="old", match={"fingerprints": [CHECKOUT]}, expires="2026-11-19")
    suppress = _entry(name="quiet", match={"fingerprints": [CHECKOUT]}, action="suppress")
    later = _entry(name="later", match={"fingerprints": [CHECKOUT]})
    chosen = known_issue([old, suppress, later], FACTS, FRIDAY_MORNING)
    assert chosen is not None and chosen.name == "quiet"


_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@given(
    fingerprint=st.sampled_from([CHECKOUT, group_id("other")]),
    definition=st.sampled_from(["unhandled-exception", "failed-request"]),
    exception_type=st.one_of(st.none(), st.sampled_from(["TypeError", "KeyError"])),
    message=_texts,
    by_fingerprint=st.booleans(),
    by_definition=st.booleans(),
    by_type=st.booleans(),
    by_message=st.booleans(),
)
def test_a_match_is_exactly_the_conjunction_of_the_tests_given(
    fingerprint: str,
    definition: str,
    exception_type: str | None,
    message: str,
    by_fingerprint: bool,
    by_definition: bool,
    by_type: bool,
    by_message: bool,
) -> None:
    if not (by_fingerprint or by_definition or by_type or by_message):
        by_fingerprint = True
    facts = KnownFacts(fingerprint, definition, exception_type, message)
    match: dict[str, Any] = {}
    expected = True
    if by_fingerprint:
        match["fingerprints"] = [CHECKOUT]
        expected &= fingerprint == CHECKOUT
    if by_definition:
        match["definitions"] = ["unhandled-exception"]
        expected &= definition == "unhandled-exception"
    if by_type:
        match["exception_types"] = ["TypeError"]
        expected &= exception_type == "TypeError"
    if by_message:
        match["message"] = "a+b"
        expected &= "ab" in message  # one `a` or more, then `b`, somewhere
    entry = _entry(match=match)
    assert (known_issue([entry], facts, FRIDAY_MORNING) is not None) == expected


@given(
    expires=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    seconds=st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
)
def test_an_entry_applies_through_the_whole_utc_day_it_expires_on(
    expires: date, seconds: int
) -> None:
    entry = _entry(match={"fingerprints": [CHECKOUT]}, expires=expires.isoformat())
    now = datetime(expires.year, expires.month, expires.day, tzinfo=UTC) + timedelta(
        seconds=seconds
    )
    assert expired(entry, now) == (now.date() > expires)
    assert (known_issue([entry], FACTS, now) is None) == (now.date() > expires)


# -- what the issue and the agent are told -----------------------------------------------------


def test_the_section_is_inert_whatever_the_rules_file_says() -> None:
    entry = _entry(
        match={"fingerprints": [CHECKOUT]},
        cause="cache evicted; ask @oncall, see #12",
        workaround="**restart** <b>the</b> pod",
        links=["https://wiki.contoso.com/cart?x=1"],
    )
    section = issue_section(entry)
    assert section.startswith("## Known issue: cart-null\n")
    assert "ask `@`oncall, see `#`12" in section
    assert "<b>" not in section and "\\<b\\>" in section and "\\*\\*restart\\*\\*" in section
    assert "- <https://wiki.contoso.com/cart?x=1>" in section
    assert "Known cause: cache evicted" in agent_note(entry)


# -- in the workflow ---------------------------------------------------------------------------


def _with_known(action: str, **fields: Any) -> Flow:
    rules = _rules(
        known_issues=[
            {
                "name": "cart-null",
                "match": {"exception_types": ["TypeError"], "message": "reading 'total'"},
                "action": action,
                "cause": "the cart expires while the page is open",
                "workaround": "reload the page",
                "links": ["https://wiki.contoso.com/cart"],
                **fields,
            }
        ]
    )
    return Flow(rules)


class _Starter:
    def __init__(self) -> None:
        self.started: list[str] = []

    def is_running(self, instance_id: str) -> bool:
        return False

    def start(self, orchestrator: str, instance_id: str, request: Any) -> bool:
        self.started.append(instance_id)
        return True


def test_a_suppressed_failure_is_counted_but_makes_no_issue_and_is_audited_once() -> None:
    flow = _with_known("suppress")
    starter = _Starter()
    for total in (3, 5, 9):
        notice = flow.occur("checkout", total)
        assert start_workflow(flow.services, notice.model_dump_json(), starter) == "suppressed"
    assert starter.started == []
    assert flow.tracker.issues == {}
    summary = flow.services.ledger.summary(CHECKOUT)
    assert summary is not None and summary.count == 9, "the ledger still counts every one"
    (row,) = flow.memory.audit.entries(CHECKOUT)
    assert (row.action, row.reason) == ("suppressed", "known issue cart-null")


def test_an_expired_suppression_lets_the_issue_be_made() -> None:
    flow = _with_known("suppress", expires="2026-11-19")
    starter = _Starter()
    notice = flow.occur("checkout", 3)
    assert start_workflow(flow.services, notice.model_dump_json(), starter) != "suppressed"
    assert len(starter.started) == 1 and flow.memory.audit.entries(CHECKOUT) == []


def test_an_annotated_issue_carries_the_section_and_the_agent_is_told() -> None:
    flow = _with_known("annotate")
    notice = flow.occur("checkout", 3)
    created = sync_issue(flow.services, flow.request(notice))
    assert isinstance(created, Synced) and created.number is not None
    body = flow.tracker.get(SHOP, created.number).body
    section = body.index("## Known issue: cart-null")
    assert section < body.index("## Error")
    assert "**Cause.** the cart expires while the page is open" in body
    assert "- <https://wiki.contoso.com/cart>" in body
    request = flow.request(notice, assign=created, issue=created.number)
    assign_issue(flow.services, request)
    (agent,) = [a for a in flow.tracker.agent_requests if a]
    assert "Known workaround: reload the page" in agent["custom_instructions"]
    flow.clock.moment += timedelta(hours=2)
    sync_issue(flow.services, flow.request(flow.occur("checkout", 6)))
    annotated = [e for e in flow.memory.audit.entries(CHECKOUT) if e.action == "annotated"]
    assert [(e.issue, e.reason) for e in annotated] == [(1, "known issue cart-null")]


def test_a_failure_no_entry_covers_gets_no_section() -> None:
    flow = _with_known("annotate", match={"exception_types": ["KeyError"]})
    created = sync_issue(flow.services, flow.request(flow.occur("checkout", 3)))
    assert isinstance(created, Synced) and created.number is not None
    assert "Known issue" not in flow.tracker.get(SHOP, created.number).body


@pytest.mark.parametrize("expires", [None, "2026-12-31"])
def test_the_audit_reason_names_its_entry_for_the_digest(expires: str | None) -> None:
    extra = {"expires": expires} if expires else {}
    entry = _entry(name="cdn-timeouts", match={"definitions": ["failed-request"]}, **extra)
    assert named_in(audit_reason(entry)) == "cdn-timeouts"
    assert named_in("12 occurrence(s) of unhandled-exception") is None
