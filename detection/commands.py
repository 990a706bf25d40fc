"""`/faultline` commands in issue comments: a small strict grammar, and the replies' text.

A comment is a command when its first line, trimmed, starts with the word `/faultline`; the rest
of the comment is free text for people and is ignored. The first line must then be exactly one
of:

    /faultline mute                    muted until unmuted
    /faultline mute <n><m|h|d|w>       muted for a while (at most a year)
    /faultline mute until <n> more     muted until <n> more occurrences are counted
    /faultline resolve                 resolved: the next occurrence is a regression
    /faultline resolve in <version>    resolved in that release
    /faultline why                     what the fingerprint was built from
    /faultline merge #<n>              fold this failure into issue #<n>'s group
    /faultline unmerge                 undo a merge made by command

Words are separated by single spaces or tabs and are case-sensitive, as a command line's are.
Anything else starting with `/faultline` is a `CommandError` whose message is fixed text: the
comment is hostile input, so no reply ever quotes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from detection import markdown

COMMAND_WORD = "/faultline"
MAX_MUTE = timedelta(days=366)
MAX_MORE = 1_000_000_000
MAX_ISSUE = 2_147_483_647  # GitHub's issue numbers are 32-bit
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}")
"""A release name: SemVer, CalVer, a build number, a short commit; no spaces or markup."""

_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(weeks=1)
_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_COUNT = re.compile(r"[1-9][0-9]{0,9}")
_ISSUE = re.compile(r"#([1-9][0-9]{0,9})")

USAGE = (
    "`/faultline mute [<n>m|h|d|w | until <n> more]`, `/faultline resolve [in <version>]`, "
    "`/faultline why`, `/faultline merge #<n>` or `/faultline unmerge`"
)


@dataclass(frozen=True)
class Mute:
    duration: timedelta | None = None
    more: int | None = None


@dataclass(frozen=True)
class Resolve:
    version: str | None = None


@dataclass(frozen=True)
class Why:
    pass


@dataclass(frozen=True)
class Merge:
    number: int


@dataclass(frozen=True)
class Unmerge:
    pass


Command = Mute | Resolve | Why | Merge | Unmerge


@dataclass(frozen=True)
class CommandError:
    """A `/faultline` line that is not a command; `message` is Faultline's own text."""

    message: str


def _duration(word: str) -> timedelta | None:
    match = _DURATION.fullmatch(word)
    if match is None:
        return None
    duration = int(match.group(1)) * _UNITS[match.group(2)]
    return duration if duration <= MAX_MUTE else None


def parse(comment: str) -> Command | CommandError | None:
    """The command in a comment's first line; None when the comment is not a command."""
    line = comment.lstrip("\r\n").partition("\n")[0].strip(" \t\r")
    words = re.split(r"[ \t]+", line)
    if words[0] != COMMAND_WORD:
        return None
    verb, rest = (words[1], words[2:]) if len(words) > 1 else ("", [])
    if verb == "mute":
        if not rest:
            return Mute()
        if len(rest) == 1 and (duration := _duration(rest[0])) is not None:
            return Mute(duration=duration)
        counted = len(rest) == 3 and rest[0] == "until" and rest[2] == "more"
        if counted and _COUNT.fullmatch(rest[1]) and int(rest[1]) <= MAX_MORE:
            return Mute(more=int(rest[1]))
        return CommandError(
            "`mute` takes nothing, a duration of at most a year (`30m`, `12h`, `7d`, `2w`), "
            "or `until <n> more`."
        )
    if verb == "resolve":
        if not rest:
            return Resolve()
        if len(rest) == 2 and rest[0] == "in" and VERSION.fullmatch(rest[1]):
            return Resolve(version=rest[1])
        return CommandError(
            "`resolve` takes nothing or `in <version>` (letters, digits and `.`, `_`, `+`, `-`)."
        )
    if verb == "merge":
        match = _ISSUE.fullmatch(rest[0]) if len(rest) == 1 else None
        if match is not None and int(match.group(1)) <= MAX_ISSUE:
            return Merge(number=int(match.group(1)))
        return CommandError("`merge` takes one issue of this repository, as `#<number>`.")
    if verb in ("why", "unmerge"):
        if rest:
            return CommandError(f"`{verb}` takes nothing.")
        return Why() if verb == "why" else Unmerge()
    return CommandError(f"That is not a Faultline command. Commands: {USAGE}.")


def render(command: Command) -> str:
    """The command line that parses to `command` (the grammar's other direction)."""
    match command:
        case Mute(duration=None, more=None):
            return f"{COMMAND_WORD} mute"
        case Mute(duration=None, more=int(more)):
            return f"{COMMAND_WORD} mute until {more} more"
        case Mute(duration=duration) if duration is not None:
            for unit in ("w", "d", "h", "m"):
                if duration % _UNITS[unit] == timedelta(0):
                    return f"{COMMAND_WORD} mute {duration // _UNITS[unit]}{unit}"
            raise ValueError(f"{duration} is not a whole number of minutes")
        case Resolve(version=None):
            return f"{COMMAND_WORD} resolve"
        case Resolve(version=str(version)):
            return f"{COMMAND_WORD} resolve in {version}"
        case Merge(number=number):
            return f"{COMMAND_WORD} merge #{number}"
        case Why():
            return f"{COMMAND_WORD} why"
        case Unmerge():
            return f"{COMMAND_WORD} unmerge"
    raise ValueError(f"not a command: {command!r}")


STEERING_ROLES = frozenset({"triage", "write", "maintain", "admin"})
"""Who may steer: GitHub's roles from triage up (triage may already close and label issues)."""


def may_steer(role: str, permission: str) -> bool:
    """Whether a person with this `role_name` and legacy `permission` may run commands. A
    custom role is judged by the permission it is built on (write or admin)."""
    return role in STEERING_ROLES or permission in ("write", "admin")


def explain(group: str, summary: str, absorbed: Sequence[str]) -> str:
    """The `/faultline why` reply: what the fingerprint was built from (the founding
    occurrence's components, as stored with it: `detection.fingerprint.fingerprint_summary`),
    and which other fingerprints the group holds. Component values come from log text, so
    each sits in a code span."""
    try:
        parsed = json.loads(summary) if summary else {}
    except ValueError:
        parsed = {}
    details = parsed if isinstance(parsed, dict) else {}
    components = details.get("components")
    lines = [
        f"This failure's group is {markdown.inline_code(group)}, fingerprinted by algorithm "
        f"v{markdown.prose(str(details.get('version', '?')))} from its "
        f"{markdown.prose(str(details.get('basis', 'message')))}.",
        "",
    ]
    if isinstance(components, list) and components:
        lines += ["| component | value | counted | why |", "|---|---|---|---|"]
        for component in components:
            if not isinstance(component, dict):
                continue
            lines.append(
                "| "
                + " | ".join(
                    [
                        markdown.table_cell(str(component.get("name", ""))),
                        markdown.table_cell(str(component.get("value", "")), code=True),
                        "yes" if component.get("contributes") else "no",
                        markdown.table_cell(str(component.get("hint", ""))),
                    ]
                )
                + " |"
            )
    else:
        lines.append("Its founding occurrence recorded no components.")
    if absorbed:
        shown = ", ".join(markdown.inline_code(a) for a in absorbed[:20])
        more = f" and {len(absorbed) - 20} more" if len(absorbed) > 20 else ""
        lines += ["", f"Fingerprints folded into this group: {shown}{more}."]
    return "\n".join(lines)
