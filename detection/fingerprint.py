"""A failure's fingerprint: one root cause, one stable id, whatever varies between occurrences.

The fingerprint is stateless: a hash of the algorithm version, the failure definition and the
parts of the record that identify the failure, so the same failure gets the same id in every
process, after restarts and next month (no Python `hash()`, no state). As Sentry does, it is
built from typed components that record whether they contributed and why (a hint):

- `role`: the service (App Insights role, Functions app, container) the failure happened in,
  since the same message from two services is two failures (Sentry groups per project);
- `exception_type`: the exception chain's types, outermost first;
- `frames`: the top in-app frames of the root cause (`detection.stacktrace`), as
  `module.function` without files or line numbers; library and framework frames are ignored;
- `message`: the message's first line as a template (`detection.masks`): it contributes only
  when there are no in-app frames, since a stack identifies a bug better than a message whose
  wording often carries data.

A definition can pin its fingerprint to chosen fields instead (Sentry's fingerprint rules).
Near-duplicate templates are merged later, with state, by `detection.merge`: when the message
contributed, `Fingerprint.template` is what to merge and `Fingerprint.scope` (the hash of
everything else) is the merge state to use, so only messages of the same definition, service and
exception type are ever merged. Changing any of this regroups everything: bump
FINGERPRINT_VERSION and add a line to CHANGELOG.

CHANGELOG
- 1: masks for uuid, e-mail, url, datetime, ip, hex, path, quoted, quantity, number;
  top 3 stack frames.
- 2: token-wise mask table (adds mac, IPv6, hosts, times, weekday/month names, key=value values,
  empty values, ids with digits, user names), kinds erased in the hash, value runs and units
  folded; stack traces parsed per runtime (.NET, Java, Python, Node, Go) into exception chains
  with in-app frames only, compiler-generated names normalized, top 5 frames of the root cause;
  the message counts only without in-app frames; traces embedded in messages are parsed too;
  the service (role) contributes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detection.conditions import resolve, to_string
from detection.masks import mask, template_key
from detection.records import LogRecord
from detection.rules import FieldPath
from detection.stacktrace import (
    DEFAULT_RULES,
    FrameRules,
    looks_like_trace,
    parse_chain,
    root_cause,
)

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


def message_template(message: str) -> str:
    """The message's headline with every masked value replaced by `<name>` (for people)."""
    return mask(headline(message))[:MAX_COMPONENT]


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


def fingerprint_summary(print_: Fingerprint) -> Mapping[str, Any]:
    """A JSON-ready description of what the fingerprint was built from."""
    return {
        "version": print_.version,
        "components": [
            {"name": c.name, "value": c.value, "contributes": c.contributes, "hint": c.hint}
            for c in print_.components
        ],
    }
