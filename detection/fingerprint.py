"""A failure's fingerprint: one root cause, one stable id, whatever varies between occurrences.

Version 1 masks the usual variable values in the message (a table of named masks, as Sentry's
parameterization does), keeps the exception type and the top frames of the stack without line
numbers, and hashes them with the definition's name. Each part records why it contributed (a
hint), so an issue can say what it was grouped by. Changing any of this regroups everything:
bump FINGERPRINT_VERSION and add a line to CHANGELOG.

CHANGELOG
- 1: masks for uuid, e-mail, url, datetime, ip, hex, path, quoted, quantity, number;
  top 3 stack frames.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detection.conditions import resolve, to_string
from detection.records import LogRecord
from detection.rules import FieldPath

FINGERPRINT_VERSION = 1
TOP_FRAMES = 3

MASKS: Sequence[tuple[str, re.Pattern[str]]] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "uuid",
            r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b",
        ),
        ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
        ("url", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"),
        (
            "datetime",
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
        ),
        ("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
        (
            "hex",
            r"\b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b(?=[^\w]|$)",
        ),
        ("path", r"(?:[A-Za-z]:\\|/)[\w.-]+(?:[\\/][\w.-]+)+"),
        ("quoted", r"'[^'\n]{1,200}'|\"[^\"\n]{1,200}\""),
        ("quantity", r"\b\d+(?:\.\d+)?\s?(?:ns|us|ms|s|sec|m|min|h|d|b|kb|mb|gb|tb|%)(?![\w])"),
        ("number", r"-?\b\d+(?:\.\d+)?\b"),
    )
)

_FRAME_PATTERNS = (
    re.compile(r"^\s*at (?:async )?(?P<fn>[\w$.<>`\[\]/]+)\s*\("),  # Java, Node
    re.compile(r"^\s*at (?P<fn>[\w.<>`\[\]]+(?:\([^)]*\))?)(?: in |$)"),  # .NET
    re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<fn>\S+)'),  # Python
    re.compile(r"^(?P<fn>[\w./*()-]+\.[\w*()]+)\(.*\)$"),  # Go
)


@dataclass(frozen=True)
class Component:
    """One input to the fingerprint and why it did or did not count."""

    name: str
    value: str
    contributes: bool
    hint: str


@dataclass(frozen=True)
class Fingerprint:
    value: str
    version: int
    components: tuple[Component, ...]


def message_template(message: str) -> str:
    """The message with every masked value class replaced by `<name>`."""
    template = message.strip()
    for name, pattern in MASKS:
        template = pattern.sub(f"<{name}>", template)
    return re.sub(r"\s+", " ", template)[:500]


def stack_frames(stack: str | None) -> list[str]:
    """Function names of the stack's frames, top first, without files or line numbers."""
    if not stack:
        return []
    frames = []
    for line in stack.splitlines():
        for pattern in _FRAME_PATTERNS:
            match = pattern.match(line)
            if match:
                frames.append(re.sub(r"\(.*\)$", "", match.group("fn")))
                break
    return frames


def _digest(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def fingerprint(
    definition: str, record: LogRecord, override: Sequence[FieldPath] | None = None
) -> Fingerprint:
    """The fingerprint of a record under a failure definition."""
    if override:
        values = [message_template(to_string(resolve(record.fields, p))) for p in override]
        components = tuple(
            Component(str(p), v, True, "pinned by the definition's fingerprint fields")
            for p, v in zip(override, values, strict=True)
        )
    else:
        frames = stack_frames(record.stack_trace)[:TOP_FRAMES]
        components = (
            Component(
                "exception_type",
                record.exception_type or "",
                bool(record.exception_type),
                "exception type" if record.exception_type else "no exception type",
            ),
            Component(
                "frames",
                " | ".join(frames),
                bool(frames),
                f"top {len(frames)} stack frames" if frames else "no stack frames",
            ),
            Component("message", message_template(record.message), True, "message template"),
        )
    contributing = [c.value for c in components if c.contributes]
    value = _digest([str(FINGERPRINT_VERSION), definition, *contributing])
    return Fingerprint(value, FINGERPRINT_VERSION, components)


def fingerprint_summary(print_: Fingerprint) -> Mapping[str, Any]:
    """A JSON-ready description of what the fingerprint was built from."""
    return {
        "version": print_.version,
        "components": [
            {"name": c.name, "value": c.value, "contributes": c.contributes, "hint": c.hint}
            for c in print_.components
        ],
    }
