"""What people did to an issue on GitHub, and what it means for Faultline: one interpretation for
both paths that learn it (a webhook event as it happens, or the issue read by the next sync), so
the two can never disagree.

- Closed as completed (or as a duplicate, or without a reason, as older issues are): resolved.
  The next occurrence is a regression.
- Closed as not planned: muted. Occurrences are still counted, but the issue is left alone.
- With the label `faultline:mute`, open or closed: muted; with `faultline:mute-until:<date>` (a
  UTC date, `2026-12-31`, or minute, `2026-12-31T18:00Z`, the end of the mute), muted until then
  (the until-label alone mutes too, so one label is enough). When a mute with an end is over,
  its labels come off and the issue is what its state says.
- `faultline:keep-open`: never closed automatically (a quiet-period close honours it).
- Otherwise open: active.

Labels are the state people see and change, so Faultline's own mute commands set them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

MUTE_LABEL = "faultline:mute"
MUTE_UNTIL_PREFIX = "faultline:mute-until:"
KEEP_OPEN_LABEL = "faultline:keep-open"

Status = Literal["active", "resolved", "muted"]

_UNTIL = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})Z)?")


@dataclass(frozen=True)
class Steering:
    """An issue's status as people set it: `muted_until` bounds a mute (None: until unmuted)."""

    status: Status
    muted_until: datetime | None = None
    keep_open: bool = False


def mute_until_label(until: datetime) -> str:
    """The label that mutes until `until` (to the minute, in UTC)."""
    return f"{MUTE_UNTIL_PREFIX}{until.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def parse_until(text: str) -> datetime | None:
    """The end of a mute from a label's suffix: a date means the end of that day (UTC)."""
    match = _UNTIL.fullmatch(text.strip())
    if match is None:
        return None
    try:
        day = datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
        if match.group(2) is None:
            return day + timedelta(days=1)
        return day.replace(hour=int(match.group(2)), minute=int(match.group(3)))
    except ValueError:
        return None


def interpret(state: str, state_reason: str | None, labels: Iterable[str]) -> Steering:
    """The issue's status from its state, GitHub's `state_reason` and its labels."""
    names = {label.casefold(): label for label in labels}
    keep_open = KEEP_OPEN_LABEL in names
    untils = [
        until
        for folded, label in names.items()
        if folded.startswith(MUTE_UNTIL_PREFIX)
        and (until := parse_until(label[len(MUTE_UNTIL_PREFIX) :])) is not None
    ]
    if MUTE_LABEL in names or untils:  # a muted issue is not reopened, closed or not
        return Steering("muted", max(untils) if untils else None, keep_open)
    if state == "closed":
        if state_reason == "not_planned":
            return Steering("muted", None, keep_open)
        return Steering("resolved", None, keep_open)
    return Steering("active", None, keep_open)


def mute_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """The labels that make a mute, among `labels` (to take off when it ends)."""
    return tuple(
        label
        for label in labels
        if label.casefold() == MUTE_LABEL or label.casefold().startswith(MUTE_UNTIL_PREFIX)
    )


def muted(
    steering: Steering, now: datetime, count: int = 0, mute_until_count: int | None = None
) -> bool:
    """Whether the issue is muted now: a mute with an end (a time, or a total the failure's
    count reaches) is over once it is reached."""
    if steering.status != "muted":
        return False
    if steering.muted_until is not None and now >= steering.muted_until:
        return False
    return mute_until_count is None or count < mute_until_count


def quiet_close_due(
    steering: Steering, last_seen: datetime, now: datetime, quiet: timedelta | None
) -> bool:
    """Whether the quiet-period close (`dedup.resolve_after_quiet`) closes the issue now: only an
    active issue people have not asked to keep open, whose failure has not recurred for `quiet`.
    A muted issue is left as people set it, and a resolved one is closed already."""
    if quiet is None or steering.status != "active" or steering.keep_open:
        return False
    return now - last_seen >= quiet


def quiet_close_comment(last_seen: datetime, quiet: timedelta) -> str:
    """What the issue says when it is closed for being quiet, so people know why and how to stop
    it happening again."""
    days = quiet.total_seconds() / 86400
    period = f"{days:g} day(s)" if days >= 1 else f"{quiet.total_seconds() / 3600:g} hour(s)"
    return (
        f"Resolved: this failure has not recurred for {period} (last seen "
        f"{last_seen:%Y-%m-%d %H:%M:%S} UTC), so Faultline closes this issue "
        "(`dedup.resolve_after_quiet`). The next occurrence reopens it as a regression. Label an "
        f"issue `{KEEP_OPEN_LABEL}` to keep it open."
    )
