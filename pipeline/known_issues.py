"""The rules file's known issues, applied to a group as the ledger holds it: its founding
occurrence's exception type and (redacted) message are what an entry's tests read."""

from __future__ import annotations

from detection.known_issues import KnownFacts, audit_reason, known_issue
from detection.occurrence import Occurrence
from detection.rules import KnownIssue
from pipeline.services import Services


def covering(
    services: Services, fingerprint: str, definition: str, founder: Occurrence | None = None
) -> KnownIssue | None:
    """The known issue that covers the group now, if any (the ledger is read only when the
    rules have entries and the caller has not read the founder already)."""
    entries = services.rules.known_issues
    if not entries:
        return None
    if founder is None:
        summary = services.ledger.summary(fingerprint)
        founder = summary.founder if summary else None
    facts = KnownFacts(
        fingerprint=fingerprint,
        definition=definition,
        exception_type=founder.exception_type if founder else None,
        message=founder.message if founder else "",
    )
    return known_issue(entries, facts, services.clock.now())


def audit_match(
    services: Services, entry: KnownIssue, fingerprint: str, repository: str, issue: int | None
) -> None:
    """One audit row per group and entry: a suppressed failure's every notice, or an annotated
    issue's every refresh, would otherwise repeat it."""
    action = "suppressed" if entry.action == "suppress" else "annotated"
    services.audit.record(
        fingerprint,
        action,
        repository,
        issue,
        audit_reason(entry),
        services.clock.now(),
        key=f"known-issue|{entry.name}|{action}",
    )
