"""An issue's status as people set it on GitHub, applied to its state: the one step that both the
webhook handler (as it happens) and the issue workflow (when it next reads the issue) take, over
the one interpretation in `detection.lifecycle`."""

from __future__ import annotations

from detection.lifecycle import Steering
from pipeline.ports import IssueState


def steer(state: IssueState, steering: Steering) -> IssueState:
    """The state with the issue's status, mute and keep-open as GitHub shows them. A mute's count
    bound (`/faultline mute until N more`) lasts only while the issue stays muted; a version
    named by `/faultline resolve in` only while it stays resolved."""
    still_muted = steering.status == "muted" and state.status == "muted"
    still_resolved = steering.status == "resolved"
    return state.with_changes(
        status=steering.status,
        muted_until=steering.muted_until,
        keep_open=steering.keep_open,
        mute_until_count=state.mute_until_count if still_muted else None,
        resolved_in=state.resolved_in if still_resolved else None,
        resolved_count=state.resolved_count if still_resolved else 0,
        resolved_versions=state.resolved_versions if still_resolved else {},
    )


def describe(steering: Steering) -> str:
    """The audit's words for a status."""
    if steering.status == "muted":
        until = f" until {steering.muted_until:%Y-%m-%d %H:%M} UTC" if steering.muted_until else ""
        return f"muted{until}: occurrences are counted, the issue is left alone"
    if steering.status == "resolved":
        return "resolved: the next occurrence is a regression"
    return "active"


def changed(before: IssueState, after: IssueState) -> bool:
    """Whether steering changed anything worth a write."""
    fields = ("status", "muted_until", "mute_until_count", "keep_open", "resolved_in")
    return any(getattr(before, name) != getattr(after, name) for name in fields)
