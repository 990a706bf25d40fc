"""Known issues: which entry of the rules file's `known_issues` covers a failure, and what its
issue and its coding agent are told about it.

Pure: the failure's facts and the time come in, so the ingest side (a suppressed failure never
reaches GitHub) and the issue side (an annotated one carries its section) decide alike. An entry
applies through the whole UTC day its `expires` names, and from the next day on not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from detection import markdown
from detection.rules import KnownIssue, Regex, compile_regex


@dataclass(frozen=True)
class KnownFacts:
    """What a known issue can match on: the group and its founding occurrence."""

    fingerprint: str
    definition: str
    exception_type: str | None
    message: str


def expired(entry: KnownIssue, now: datetime) -> bool:
    """Whether `now` is past the end of the entry's last day (UTC)."""
    if entry.expires is None:
        return False
    return now >= datetime.combine(entry.expires, time(), UTC) + timedelta(days=1)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Regex:
    """Each entry's pattern, compiled once per process (the rules were validated at load)."""
    return compile_regex(pattern)


def matches(entry: KnownIssue, facts: KnownFacts) -> bool:
    """Every test the entry gives holds for the failure."""
    match = entry.match
    return (
        (not match.fingerprints or facts.fingerprint in match.fingerprints)
        and (not match.definitions or facts.definition in match.definitions)
        and (not match.exception_types or facts.exception_type in match.exception_types)
        and (match.message is None or _compiled(match.message).search(facts.message) is not None)
    )


def known_issue(
    entries: Sequence[KnownIssue], facts: KnownFacts, now: datetime
) -> KnownIssue | None:
    """The first entry that has not expired and matches the failure, or None."""
    return next((e for e in entries if not expired(e, now) and matches(e, facts)), None)


AUDIT_PREFIX = "known issue "


def audit_reason(entry: KnownIssue) -> str:
    """The reason of the audit row that says the entry matched a group (`suppressed` or
    `annotated`); the digest reads the entry's name back from it (`named_in`)."""
    until = f" (until {entry.expires:%Y-%m-%d})" if entry.expires else ""
    return f"{AUDIT_PREFIX}{entry.name}{until}"


def named_in(reason: str) -> str | None:
    """The known issue an audit row's reason names (`audit_reason`), or None."""
    if not reason.startswith(AUDIT_PREFIX):
        return None
    return reason.removeprefix(AUDIT_PREFIX).split(" (until ", 1)[0] or None


def issue_section(entry: KnownIssue) -> str:
    """The issue body's "Known issue" section. The text comes from the rules file, yet it is
    made inert like log text: a workaround that says `@team` or `#12` must not ping or link."""
    lines = [f"## Known issue: {markdown.prose(entry.name)}", ""]
    if entry.cause:
        lines.append(f"**Cause.** {markdown.prose(entry.cause)}")
        lines.append("")
    if entry.workaround:
        lines.append(f"**Workaround.** {markdown.prose(entry.workaround)}")
        lines.append("")
    lines.extend(f"- <{link}>" for link in entry.links)  # validated URLs: no space, `<` or `>`
    return "\n".join(lines).rstrip("\n") + "\n"


def agent_note(entry: KnownIssue) -> str:
    """The entry as the coding agent's instructions state it: start from what is known."""
    parts = [f"This failure is a known issue ({entry.name})."]
    if entry.cause:
        parts.append(f"Known cause: {entry.cause}")
    if entry.workaround:
        parts.append(f"Known workaround: {entry.workaround}")
    if entry.links:
        parts.append("See: " + ", ".join(str(link) for link in entry.links))
    parts.append("Start from this; say in the pull request if the evidence points elsewhere.")
    return "\n".join(parts)
