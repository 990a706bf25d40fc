"""A failure's fingerprint: one root cause, one stable id, whatever varies between occurrences.

The fingerprint is stateless: a hash of the algorithm version and the parts of the record that
identify the failure, so the same failure gets the same id in every process, after restarts and
next month (no Python `hash()`, no state). As Sentry does, it is built from typed components
that record whether they contributed and why (a hint). What identifies a failure depends on what
the row is (its `basis`):

- `stack`: a row whose stack trace has in-app frames, from any table (an App Insights exception,
  the Functions host's wrapped exception, a traceback in a console line or a JSON log's stack):
  the service, the root cause's exception type, its culprit (`detection.stacktrace`: the
  innermost in-app function, from the crash end, so a deeper stack or a helper between changes
  nothing), the entry of its code path (`entry_frame`: the app frame a framework dispatched to,
  so one shared function failing under two handlers is two failures, reached through two helpers
  of one handler one), and the exception's message template, merged online
  like a log line's (a generic type such as Go's `runtime.Error` or Java's NPE says what went
  wrong only in its message). Neither the table nor the failure definition counts, so the same
  exception seen in three tables is one failure.
- `dependency`: a failed outgoing call: the service, the dependency's type and target, the call's
  name as a route template, its command's template (which SQL query, which cache operation; an
  HTTP call is named by its route), and its result code verbatim (`-2`, a SQL timeout, is not
  `2601`, a duplicate key).
- `request`: a failed incoming request or the host's line: the service, the route template and
  the result code.
- `message`: anything else (log lines, exceptions without in-app frames): the service, the kind
  of row, the exception type if any, and the message's template (`detection.masks`; the source's
  own template when it carries one, such as .NET's `OriginalFormat`).

The `stack` and `message` bases are merged with near-duplicates, online and with state
(`detection.grouping`): `template` is what to merge and `scope` (the hash of everything else)
the merge state to use.

A definition can pin its fingerprint to chosen fields instead (Sentry's fingerprint rules); then
the definition counts too. Changing any of this regroups everything: bump FINGERPRINT_VERSION,
add a line to CHANGELOG, and keep the previous version computable for the upgrade's transition
(`detection.fingerprint_v2`).

CHANGELOG
- 1: masks for uuid, e-mail, url, datetime, ip, hex, path, quoted, quantity, number;
  top 3 stack frames.
- 2: token-wise mask table (adds mac, IPv6, hosts, times, weekday/month names, key=value values,
  empty values, ids with digits, user names), kinds erased in the hash, value runs and units
  folded; stack traces parsed per runtime (.NET, Java, Python, Node, Go) into exception chains
  with in-app frames only, compiler-generated names normalized, top 5 frames of the root cause;
  the message counts only without in-app frames; traces embedded in messages are parsed too;
  the service (role) contributes.
- 3: the table and the definition no longer count (one exception seen in several tables is one
  failure); the service name is case-insensitive; the root cause's type replaces the whole
  chain's types, and its culprit (from the crash end) with the code path's entry replace the top
  five frames; the exception's message template counts (merged online);
  dependencies and requests are identified by target, route template and verbatim result code;
  a log line's own message template is used when it carries one; JSON log lines contribute their
  error's stack, type and message; an error line that quotes the HTTP request it failed on
  (a proxy's error log) counts that request's route template.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from detection.conditions import resolve, to_string
from detection.masks import MASKER, WILDCARD
from detection.records import LogRecord
from detection.rules import FieldPath
from detection.stacktrace import (
    DEFAULT_RULES,
    ChainedException,
    FrameRules,
    culprit_frames,
    entry_frame,
    looks_like_trace,
    parse_chain,
    root_cause,
)
from detection.structured import CRITICAL, ERROR, normalize_level

FINGERPRINT_VERSION = 3
MAX_COMPONENT = 500
MAX_ROUTE_SEGMENTS = 8
MAX_TITLE_TEMPLATE = 160

Basis = Literal["stack", "dependency", "request", "message", "pinned"]
_STRUCTURED_PLACEHOLDER = re.compile(r"\{[^{}\s]{1,80}\}")
_ROUTE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.~-]{0,31}|:[A-Za-z_]\w{0,31}|\{[A-Za-z_]\w{0,31}\}")
_HTTP = re.compile(r"(?i)\bhttps?\b")
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\[[0-9a-fA-F:]+\]")
# A quoted HTTP request line inside a log line, as nginx, Envoy and HAProxy error lines name the
# request they failed on: `request: "GET /api/tracking/3SC123 HTTP/2.0"`.
_REQUEST_LINE = re.compile(
    r'"((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE) [^\s"]{1,2048}) HTTP/\d(?:\.\d)?"'
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
    template: str = ""
    scope: str = ""
    basis: Basis = "message"
    exception_type: str | None = None
    culprit: str | None = None
    title: str = ""

    @property
    def mergeable(self) -> bool:
        """Whether the merge step may fold this fingerprint's template into a near duplicate."""
        return bool(self.scope)

    @property
    def has_in_app_frames(self) -> bool:
        """Whether the row's stack names the code that failed (its culprit)."""
        return self.culprit is not None


def headline(message: str) -> str:
    """The first non-empty line: what a message says before any trace or dump it carries."""
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return ""


def message_template(message: str) -> str:
    """The message's headline with every masked value replaced by `<name>` (for people)."""
    return MASKER.mask(headline(message))[:MAX_COMPONENT]


def _digest(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def service(role: str | None) -> str:
    """A service's name as every table spells it (a resource id's name is upper-cased)."""
    return (role or "").strip().lower()


def route_template(name: str) -> str:
    """A request or call name with its variable path segments as `<*>`: `GET /orders/<*>/items`.

    A segment stays only when it reads like a route word (a short identifier, `:param` or
    `{param}`); ids, numbers and anything a caller could put into a path (text meant for an
    agent, query strings) become `<*>`, so titles and groups never carry one request's data."""
    method, _, path = name.strip().partition(" ")
    if not path:
        method, path = "", method
    path = path.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    segments = [s for s in re.split(r"[/\\]", path) if s][:MAX_ROUTE_SEGMENTS]
    routed = "/".join(
        s if _ROUTE_WORD.fullmatch(s) and not any(c.isdigit() for c in s) else WILDCARD
        for s in segments
    )
    leading = "/" if path.startswith(("/", "\\")) else ""
    text = f"{method} {leading}{routed}" if method else f"{leading}{routed}"
    return text.strip()[:MAX_COMPONENT]


def _target_key(target: str) -> str:
    """A dependency target without what varies per instance (addresses), case-folded."""
    return _IP.sub("<ip>", target.strip().lower())[:MAX_COMPONENT]


def _structured_template(template: str) -> str:
    """A source's own message template (`Pricing failed for cart {CartId}`) in masked form."""
    return MASKER.template_key(_STRUCTURED_PLACEHOLDER.sub(WILDCARD, headline(template)))


def _short(function: str) -> str:
    """The last two parts of a qualified function name, for titles: `CouponCalculator.Apply`."""
    parts = [p for p in re.split(r"[./]", function) if p]
    return ".".join(parts[-2:]) if parts else function


def _short_type(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1] if "." in type_name else type_name


def _people_template(message: str) -> str:
    return _shortened(MASKER.mask(headline(message)))


def _logged_template(template: str) -> str:
    """A template the source logged is already free of values (they are its placeholders): its
    words are shown as written, where masking would turn `Http5xx` or `HTTP 5xx` into `<id>`."""
    return _shortened(headline(template))


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_TITLE_TEMPLATE else text[: MAX_TITLE_TEMPLATE - 1] + "…"


def _pinned(record: LogRecord, override: Sequence[FieldPath]) -> tuple[Component, ...]:
    return tuple(
        Component(
            str(path),
            MASKER.template_key(to_string(resolve(record.fields, path)))[:MAX_COMPONENT],
            True,
            "pinned by the definition's fingerprint fields",
        )
        for path in override
    )


def _role(record: LogRecord) -> Component:
    name = service(record.role)
    hint = "the service that failed" if name else "no service (role) recorded"
    return Component("role", name, bool(name), hint)


def _chain(record: LogRecord, rules: FrameRules) -> list[ChainedException]:
    trace = record.stack_trace
    if not trace and looks_like_trace(record.message):
        trace = record.message
    return parse_chain(trace, rules)


@dataclass(frozen=True)
class _Parts:
    basis: Basis
    components: tuple[Component, ...]
    template: str = ""
    exception_type: str | None = None
    culprit: str | None = None
    title: str = ""


def _by_stack(record: LogRecord, cause: ChainedException) -> _Parts:
    frames = list(culprit_frames(cause))
    entry = entry_frame(cause)
    if entry and entry not in frames:
        frames.append(entry)
    ignored = sum(1 for f in cause.frames if not f.in_app)
    type_name = cause.type or record.exception_type or ""
    message = headline(cause.message or record.message)
    template = MASKER.template_key(message)
    title = (
        f"{_short_type(type_name) or 'Error'} in {_short(frames[0])}: {_people_template(message)}"
    )
    return _Parts(
        "stack",
        (
            _role(record),
            Component(
                "exception_type",
                type_name[:MAX_COMPONENT],
                bool(type_name),
                "the root cause's exception type (wrappers and data-dependent causes ignored)",
            ),
            Component(
                "frames",
                " | ".join(frames)[:MAX_COMPONENT],
                True,
                "culprit from the crash end, and where the code path began"
                + (f" ({ignored} library frames ignored)" if ignored else ""),
            ),
            Component(
                "message",
                template[:MAX_COMPONENT],
                True,
                "the exception's message template (variants merged online)",
            ),
        ),
        template=template[:MAX_COMPONENT],
        exception_type=type_name or None,
        culprit=frames[0],
        title=title,
    )


def _by_call(record: LogRecord) -> _Parts:
    call = record.call
    code = call.get("ResultCode", "").strip() or "none"
    name = route_template(call.get("Name") or record.operation_name or "")
    if record.kind == "dependency":
        kind = call.get("DependencyType", "dependency")
        target = _target_key(call.get("Target", ""))
        command = "" if _HTTP.search(kind) else MASKER.template_key(headline(call.get("Data", "")))
        components: tuple[Component, ...] = (
            _role(record),
            Component("dependency", f"{kind} {target}".strip(), True, "dependency type and target"),
            Component("call", name, bool(name), "the call's name as a route template"),
            Component(
                "command",
                command[:MAX_COMPONENT],
                bool(command),
                "the command's template (which query or operation)"
                if command
                else "no command text (an HTTP call is named by its route)",
            ),
            Component("result_code", code, True, "result code, verbatim"),
        )
        outcome = "no result code" if code == "none" else code
        title = f"{kind} call to {target or 'an unknown target'} failed ({outcome})"
        return _Parts("dependency", components, title=title)
    components = (
        _role(record),
        Component("request", name, bool(name), "the request's route template"),
        Component("result_code", code, True, "result code, verbatim"),
    )
    return _Parts("request", components, title=f"{name or 'request'} failed with {code}")


def _failed_route(record: LogRecord) -> Component | None:
    """The route of the request an error line says it failed on, which names the failure.

    A proxy's error line (`upstream timed out ... request: "GET /api/search?q=x HTTP/1.1"`) is a
    failed request told as text: as for the `request` basis, each route is its own failure (one
    upstream per route, as a rule). Only error lines count: an access line at info level is one
    template whatever its path (Loghub's OpenStack API lines), and only the first request line,
    so a line quoting a referrer's request stays one failure."""
    if normalize_level(record.level) not in (ERROR, CRITICAL):
        return None
    found = _REQUEST_LINE.search(headline(record.message))
    if not found:
        return None
    route = route_template(found.group(1))
    return Component("route", route, True, "the route of the request the error line names")


def _by_message(record: LogRecord, chain: Sequence[ChainedException]) -> _Parts:
    cause = root_cause(chain)
    type_name = (cause.type if cause else "") or record.exception_type or ""
    text = record.message
    if record.template:
        template = _structured_template(record.template)
        hint = "the message template the source logged"
    else:
        template = MASKER.template_key(headline(text))
        hint = "message template (values masked)"
    components: tuple[Component, ...] = (
        _role(record),
        Component("kind", record.kind, True, f"a {record.kind} row"),
        Component(
            "exception_type",
            type_name[:MAX_COMPONENT],
            bool(type_name),
            "exception type" if type_name else "no exception type",
        ),
        Component("message", template[:MAX_COMPONENT], True, hint),
    )
    route = _failed_route(record)
    if route:
        components = (*components, route)
    head = f"{_short_type(type_name)}: " if type_name and type_name not in text else ""
    return _Parts(
        "message",
        components,
        template=template[:MAX_COMPONENT],
        exception_type=type_name or None,
        title=head
        + (_logged_template(record.template) if record.template else _people_template(text)),
    )


def fingerprint(
    definition: str,
    record: LogRecord,
    override: Sequence[FieldPath] | None = None,
    rules: FrameRules = DEFAULT_RULES,
) -> Fingerprint:
    """The fingerprint of a record (the definition counts only when it pins fields)."""
    chain = _chain(record, rules)
    cause = root_cause(chain)
    frames = culprit_frames(cause) if cause else ()
    if override:
        parts = _Parts(
            "pinned",
            _pinned(record, override),
            exception_type=(cause.type if cause else None) or record.exception_type,
            culprit=frames[0] if frames else None,
            title=_people_template(record.message),
        )
    elif cause and frames:
        parts = _by_stack(record, cause)
    elif record.kind in ("dependency", "request") and record.call:
        parts = _by_call(record)
    else:
        parts = _by_message(record, chain)
    contributing = [f"{c.name}={c.value}" for c in parts.components if c.contributes]
    pinned_to = [definition] if parts.basis == "pinned" else []
    value = _digest([str(FINGERPRINT_VERSION), *pinned_to, *contributing])
    scope = ""
    if parts.basis in ("message", "stack"):
        others = [p for p in contributing if not p.startswith("message=")]
        scope = _digest([str(FINGERPRINT_VERSION), "scope", *others])
    return Fingerprint(
        value,
        FINGERPRINT_VERSION,
        parts.components,
        parts.template,
        scope,
        parts.basis,
        parts.exception_type,
        parts.culprit,
        parts.title,
    )


def fingerprint_summary(print_: Fingerprint) -> Mapping[str, Any]:
    """A JSON-ready description of what the fingerprint was built from."""
    return {
        "version": print_.version,
        "basis": print_.basis,
        "components": [
            {"name": c.name, "value": c.value, "contributes": c.contributes, "hint": c.hint}
            for c in print_.components
        ],
    }
