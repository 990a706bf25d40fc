"""Fingerprint version 2, frozen as it shipped: computed beside the current version during an
upgrade's transition so that issues made under version 2 are found (Sentry's secondary hashes).

Do not change this package: its value must equal what version 2 deployments stored. It goes when
the transition from version 2 is over (see `detection.fingerprint` CHANGELOG).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from detection.conditions import resolve, to_string
from detection.fingerprint_v2.masks import template_key
from detection.fingerprint_v2.stacktrace import (
    DEFAULT_RULES,
    FrameRules,
    looks_like_trace,
    parse_chain,
    root_cause,
)
from detection.records import LogRecord
from detection.rules import FieldPath

FINGERPRINT_VERSION = 2
TOP_FRAMES = 5
MAX_COMPONENT = 500


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
    template: str = ""
    scope: str = ""

    @property
    def mergeable(self) -> bool:
        """Whether the merge step may fold this fingerprint's template into a near duplicate."""
        return bool(self.scope)


def headline(message: str) -> str:
    """The first non-empty line: what a message says before any trace or dump it carries."""
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _digest(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _pinned(record: LogRecord, override: Sequence[FieldPath]) -> tuple[Component, ...]:
    return tuple(
        Component(
            str(path),
            template_key(to_string(resolve(record.fields, path)))[:MAX_COMPONENT],
            True,
            "pinned by the definition's fingerprint fields",
        )
        for path in override
    )


def _derived(record: LogRecord, rules: FrameRules) -> tuple[tuple[Component, ...], str]:
    trace = record.stack_trace
    if not trace and looks_like_trace(record.message):
        trace = record.message
    chain = parse_chain(trace, rules)
    types = list(dict.fromkeys(t for t in (record.exception_type, *(c.type for c in chain)) if t))
    cause = root_cause(chain)
    frames = [f.function for f in cause.frames if f.in_app][:TOP_FRAMES] if cause else []
    ignored = sum(1 for c in chain for f in c.frames if not f.in_app)
    template = template_key(headline(record.message))
    components = (
        Component(
            "role",
            record.role or "",
            bool(record.role),
            "the service that failed" if record.role else "no service (role) recorded",
        ),
        Component(
            "exception_type",
            " > ".join(types)[:MAX_COMPONENT],
            bool(types),
            "exception chain, outermost first" if types else "no exception type",
        ),
        Component(
            "frames",
            " | ".join(frames)[:MAX_COMPONENT],
            bool(frames),
            (
                f"top {len(frames)} in-app frames of {cause.type or 'the root cause'}"
                if frames and cause
                else "no in-app frames"
            )
            + (f" ({ignored} library frames ignored)" if ignored else ""),
        ),
        Component(
            "message",
            template[:MAX_COMPONENT],
            not frames,
            "not used: the in-app frames identify the failure"
            if frames
            else "message template (values masked)",
        ),
    )
    return components, template


def fingerprint(
    definition: str,
    record: LogRecord,
    override: Sequence[FieldPath] | None = None,
    rules: FrameRules = DEFAULT_RULES,
) -> Fingerprint:
    """The fingerprint of a record under a failure definition."""
    if override:
        components, template = _pinned(record, override), ""
    else:
        components, template = _derived(record, rules)
    contributing = [f"{c.name}={c.value}" for c in components if c.contributes]
    value = _digest([str(FINGERPRINT_VERSION), definition, *contributing])
    by_message = any(c.name == "message" and c.contributes for c in components)
    others = [part for part in contributing if not part.startswith("message=")]
    scope = _digest([str(FINGERPRINT_VERSION), definition, *others]) if by_message else ""
    return Fingerprint(value, FINGERPRINT_VERSION, components, template, scope)
