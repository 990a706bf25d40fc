"""Sentry's integration-platform webhooks (an internal integration) as records.

Two resources carry an event (the `Sentry-Hook-Resource` header names it): `event_alert`, sent
when an issue alert rule's action is the integration (`data.event`, `data.triggered_rule`), and
`error`, sent for every error event when the integration subscribes to errors (`data.error`).
The `installation` hook and other resources carry none and are acknowledged, not detected.

The event's exception (`exception.values`, innermost cause first and the exception raised last,
each with `stacktrace.frames` oldest frame first) is written back as the text its runtime would
have printed, so `detection.stacktrace` parses it like any trace in a log line and the
fingerprint keeps the root cause's type, culprit and entry frame and ignores line numbers,
columns and install paths: a Python traceback, a Java trace with `Caused by:`, a V8 stack, a .NET
`ToString()`, a Go panic. Other platforms are written as a Python traceback, whose frames the
parser reads from any file name.

Payload shapes: Sentry's documentation, "Issue Alerts" and "Errors" webhooks
(docs.sentry.io/organization/integrations/integration-platform/webhooks/), whose sample payloads
are the fixtures in tests/fixtures/webhooks/.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from detection.alerts import (
    AlertBatch,
    PayloadRejected,
    alert_record,
    first,
    load_object,
    mapping,
    moment,
    objects,
    text,
)

EVENT_RESOURCES = {"event_alert": "event", "error": "error"}
"""Resources whose `data` holds an event, and the key it is under."""
MAX_FRAMES = 256
MAX_EXCEPTIONS = 20
_PYTHON_CAUSE = "\n\nThe above exception was the direct cause of the following exception:\n\n"


def parse_sentry(
    webhook: str, resource: str | None, body: bytes, received_at: datetime
) -> AlertBatch:
    payload = load_object(body)
    kind = (resource or "").strip().lower()
    if kind not in EVENT_RESOURCES:
        delivery = text(mapping(payload.get("installation")).get("uuid")) or "-"
        return AlertBatch(
            delivery_id=f"{kind or 'unnamed'}:{delivery}",
            ignored=f"Sentry-Hook-Resource {kind or '(missing)'} carries no event",
        )
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise PayloadRejected("missing-data", "a Sentry webhook's body has a `data` object")
    event = data.get(EVENT_RESOURCES[kind])
    if not isinstance(event, Mapping):
        raise PayloadRejected(
            "missing-event", f"a Sentry {kind} webhook has `data.{EVENT_RESOURCES[kind]}`"
        )
    event_id = text(event.get("event_id"), 64)
    if event_id is None:
        raise PayloadRejected("missing-event-id", "the Sentry event has no `event_id`")
    values = objects(mapping(event.get("exception")).get("values"))[-MAX_EXCEPTIONS:]
    platform = (text(event.get("platform"), 40) or "other").lower()
    tags = _tags(event.get("tags"))
    raised = values[-1] if values else {}
    metadata = mapping(event.get("metadata"))
    exception_type = _type_name(raised, platform) or text(metadata.get("type"), 500)
    value = text(raised.get("value")) or text(metadata.get("value"))
    title = text(event.get("title"), 1000)
    message = (
        f"{exception_type}: {value}"
        if exception_type and value
        else first(title, text(event.get("message")), exception_type, value) or "(no message)"
    )
    level = text(event.get("level"), 40)
    culprit = text(event.get("culprit"), 1000)
    release = text(event.get("release"), 200)
    fields: dict[str, Any] = {
        "Status": "firing",
        "Resource": kind,
        "EventId": event_id,
        "IssueId": text(event.get("issue_id"), 64),
        "Level": level,
        "Platform": platform,
        "Title": title,
        "Culprit": culprit,
        "Environment": tags.get("environment") or text(event.get("environment"), 200),
        "Release": release,
        "Tags": tags,
        "TriggeredRule": text(data.get("triggered_rule"), 500),
        "WebUrl": text(event.get("web_url"), 2000),
    }
    record = alert_record(
        webhook=webhook,
        record_id=f"sentry:{event_id}",
        time=moment(event.get("datetime")) or moment(event.get("timestamp")) or received_at,
        message=message,
        fields=fields,
        level=level,
        kind="exception" if values else "log",
        exception_type=exception_type,
        stack_trace=render_exceptions(values, platform),
        operation_name=culprit,
        operation_id=_trace_id(event),
        role=first(tags.get("service"), _project_slug(event), text(event.get("project"), 200)),
        app_version=release,
        instance=tags.get("server_name"),
    )
    return AlertBatch(delivery_id=event_id, records=(record,))


def _tags(value: Any) -> dict[str, str]:
    """Sentry sends tags as `[[key, value], ...]` (or, from some versions, an object)."""
    if isinstance(value, Mapping):
        return {str(k)[:200]: v[:1000] for k, v in value.items() if isinstance(v, str)}
    tags: dict[str, str] = {}
    if isinstance(value, list):
        for pair in value[:200]:
            if isinstance(pair, list) and len(pair) == 2:
                key, val = text(pair[0], 200), text(pair[1], 1000)
                if key and val:
                    tags[key] = val
    return tags


def _project_slug(event: Mapping[str, Any]) -> str | None:
    """The project's slug from the event's API URL (`.../projects/<org>/<slug>/events/<id>/`):
    the event itself carries only the project's number."""
    parts = (text(event.get("url"), 2000) or "").split("/")
    if "projects" in parts:
        index = parts.index("projects")
        if len(parts) > index + 3 and parts[index + 3] == "events":
            return parts[index + 2] or None
    return None


def _trace_id(event: Mapping[str, Any]) -> str | None:
    trace = mapping(mapping(event.get("contexts")).get("trace"))
    return text(trace.get("trace_id"), 64)


def _type_name(exception: Mapping[str, Any], platform: str) -> str | None:
    """The exception's type; Java's and Python's SDKs put the package or module in `module`."""
    name = text(exception.get("type"), 500)
    module = text(exception.get("module"), 500)
    if name and module and platform == "java" and "." not in name:
        return f"{module}.{name}"
    return name


def _frames(exception: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The exception's frames, oldest first as Sentry sends them (the last `MAX_FRAMES`)."""
    return objects(mapping(exception.get("stacktrace")).get("frames"))[-MAX_FRAMES:]


def _where(frame: Mapping[str, Any]) -> str:
    return text(frame.get("abs_path"), 1000) or text(frame.get("filename"), 1000) or "<unknown>"


def _line(frame: Mapping[str, Any]) -> int:
    line = frame.get("lineno")
    return line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else 0


def _python(exception: Mapping[str, Any], type_name: str, value: str) -> list[str]:
    lines = ["Traceback (most recent call last):"]
    for frame in _frames(exception):
        function = text(frame.get("function"), 500) or "<module>"
        lines.append(f'  File "{_where(frame)}", line {_line(frame)}, in {function}')
    return [*lines, f"{type_name}: {value}" if value else type_name]


def _java(exception: Mapping[str, Any], type_name: str, value: str) -> list[str]:
    lines = [f"{type_name}: {value}" if value else type_name]
    for frame in reversed(_frames(exception)):
        module = text(frame.get("module"), 500)
        function = text(frame.get("function"), 500) or "<unknown>"
        source = text(frame.get("filename"), 500) or "Unknown Source"
        line = _line(frame)
        qualified = f"{module}.{function}" if module else function
        lines.append(f"\tat {qualified}({source}{f':{line}' if line else ''})")
    return lines


def _node(exception: Mapping[str, Any], type_name: str, value: str) -> list[str]:
    lines = [f"{type_name}: {value}" if value else type_name]
    for frame in reversed(_frames(exception)):
        function = text(frame.get("function"), 500)
        column = frame.get("colno") if isinstance(frame.get("colno"), int) else 0
        place = f"{_where(frame)}:{_line(frame)}:{column}"
        lines.append(f"    at {function} ({place})" if function else f"    at {place}")
    return lines


def _dotnet(exception: Mapping[str, Any], type_name: str, value: str) -> list[str]:
    lines = [f"{type_name}: {value}" if value else type_name]
    for frame in reversed(_frames(exception)):
        module = text(frame.get("module"), 500)
        function = text(frame.get("function"), 500) or "<unknown>"
        qualified = f"{module}.{function}" if module else function
        line = _line(frame)
        where = f" in {_where(frame)}:line {line}" if line else ""
        lines.append(f"   at {qualified}(){where}")
    return lines


def _go(exception: Mapping[str, Any], type_name: str, value: str) -> list[str]:
    lines = [f"panic: {value or type_name}", "", "goroutine 1 [running]:"]
    for frame in reversed(_frames(exception)):
        module = text(frame.get("module"), 500)
        function = text(frame.get("function"), 500) or "unknown"
        lines.append(f"{module}.{function}(...)" if module else f"{function}(...)")
        lines.append(f"\t{_where(frame)}:{_line(frame)}")
    return lines


_RENDERERS = {
    "python": _python,
    "java": _java,
    "javascript": _node,
    "node": _node,
    "csharp": _dotnet,
    "go": _go,
}


def render_exceptions(values: list[dict[str, Any]], platform: str) -> str | None:
    """The exception chain as its runtime prints it (see the module docstring), or None when no
    exception has frames (the message then identifies the failure)."""
    if not any(_frames(v) for v in values):
        return None
    render = _RENDERERS.get(platform, _python)
    blocks = []
    for exception in values:
        type_name = _type_name(exception, platform) or "Error"
        value = (text(exception.get("value"), 1000) or "").split("\n", 1)[0]
        blocks.append("\n".join(render(exception, type_name, value)))
    if render is _python:
        return _PYTHON_CAUSE.join(blocks)
    if render is _java:
        outer, *causes = reversed(blocks)
        return "\n".join([outer, *(f"Caused by: {cause}" for cause in causes)])
    return blocks[-1]
