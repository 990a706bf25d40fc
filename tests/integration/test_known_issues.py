"""Known issues for real: the failure notice through the app's starter function, the workflow
on durabletask's backend, state in Azurite, issues on the GitHub wire fake. A suppressed failure
opens nothing and is still counted; an annotated one's issue and its Copilot instructions say
what is known. The matching itself is in `tests/unit/test_known_issues.py`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_workflow import make_workflow
from tests.support.failures import notice

pytestmark = pytest.mark.integration

__all__ = ["make_workflow"]  # the fixture, shared with the workflow's tests


def _known(action: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "cart-null",
            "match": {"exception_types": ["TypeError"], "message": "reading 'total'"},
            "action": action,
            "cause": "the cart expires while the page is open",
            "workaround": "reload the page",
            "links": ["https://wiki.contoso.com/cart"],
        }
    ]


def test_a_suppressed_failure_opens_no_issue_and_is_still_counted(make_workflow) -> None:
    flow = make_workflow(known_issues=_known("suppress"))
    flow.notify(notice(count=3))
    flow.notify(notice(count=7))
    assert flow.shop_issues() == [] and flow.github.calls("POST") == []
    summary = flow.services.ledger.summary(notice().fingerprint)
    assert summary is not None and summary.count == 7
    assert flow.actions(notice().fingerprint) == ["suppressed"]


def test_an_annotated_failure_carries_what_is_known_to_its_issue_and_agent(make_workflow) -> None:
    flow = make_workflow(known_issues=_known("annotate"))
    flow.notify(notice())
    [issue] = flow.shop_issues()
    assert "## Known issue: cart-null" in issue["body"]
    assert "**Workaround.** reload the page" in issue["body"]
    instructions = issue["agent_assignment"]["custom_instructions"]
    assert "Known cause: the cart expires while the page is open" in instructions
    assert "UNTRUSTED-DATA" in instructions
    assert sorted(flow.actions(notice().fingerprint)) == ["annotated", "assigned", "created"]
