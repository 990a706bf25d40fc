"""What each channel is sent: Slack Block Kit, a Teams Adaptive Card, a webhook's JSON body and
its signature. Pure: the dispatcher passes the message and the secrets it read.

Log text is hostile here as in issues. Every text that came from logs (a failure's title, a
reason) is redacted, its invisible characters shown, and then made inert for its place:

- Slack parses `&`, `<` and `>` as its control characters (`<!channel>`, `<@U123>`,
  `<https://evil|click>`) in mrkdwn, so those are escaped as Slack documents (`&amp;`, `&lt;`,
  `&gt;`); `@here`, `@channel` and `@everyone` get a word joiner after the `@`, and `<!`, `<@`
  and `<#` one after the `<`, so no client reads a mention or a broadcast wherever it lands.
  Log text goes in plain_text objects where a block allows, which Slack never parses for links
  or mentions.
- Teams renders TextBlock as Markdown, so log text is put in a RichTextBlock's TextRun, which
  Adaptive Cards render verbatim; a card mentions people only through `msteams.entities`, which
  Faultline never writes.
- A webhook's template is rendered in Jinja2's immutable sandbox (the template cannot reach
  Python's internals), and every string it outputs is JSON-escaped unless it is already JSON
  (`| tojson`), so log text cannot break out of its string; the result must parse as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detection.markdown import reveal_invisible
from detection.notify import EVENT_TITLES, NotificationEvent
from detection.redaction import redact

SIGNATURE_HEADER = "X-Faultline-Signature-256"
TIMESTAMP_HEADER = "X-Faultline-Timestamp"
EVENT_HEADER = "X-Faultline-Event"
DELIVERY_HEADER = "X-Faultline-Delivery"
ADAPTIVE_CARD_VERSION = "1.5"
"""The newest card version Teams renders on every client that Workflows posts to."""
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_FIELD_LIMIT = 2000
SEVERITY_MARKS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}
_BROADCAST = re.compile(r"([@＠﹫])(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_SLACK_SPECIAL = re.compile(r"<(?=[!@#])")
"""`<!here>`, `<@U123>`, `<#C123>`: Slack's mention syntax, defused even where it is not parsed."""


@dataclass(frozen=True)
class Message:
    """One message on a channel: an event (with how many the throttle held back before it), or,
    without an event, a storm's summary saying how many were held back since when."""

    rule: str
    channel: str
    event: NotificationEvent | None = None
    held_back: int = 0
    held_since: datetime | None = None

    @property
    def heading(self) -> str:
        if self.event is None:
            return f"{self.held_back} notification(s) held back"
        return f"{EVENT_TITLES[self.event.kind]}: {self.event.title}"


def untrusted(text: str, limit: int) -> str:
    """Log text made safe to show anywhere: redacted, invisible characters shown, broadcasts
    defused, one line, at most `limit` characters."""
    cleaned = reveal_invisible(redact(text), keep="\n")
    cleaned = _BROADCAST.sub("\\1\u2060", " ".join(cleaned.split()))
    cleaned = _SLACK_SPECIAL.sub("<\u2060", cleaned)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped, as its formatting guide asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


def _held_note(message: Message) -> str:
    if message.event is None:
        return (
            f"The `{message.rule}` rule held back {message.held_back} notification(s) since "
            f"{_when(message.held_since)} to stay within its throttle; they are in the audit "
            "trail and on the issues themselves."
        )
    return (
        f"{message.held_back} more notification(s) were held back since "
        f"{_when(message.held_since)} (rule `{message.rule}`)."
    )


def _facts(event: NotificationEvent) -> list[tuple[str, str]]:
    """The figures every channel shows, all Faultline's own values (no log text)."""
    facts = [
        ("Severity", event.severity or "-"),
        ("Occurrences", str(event.count)),
        ("First seen", _when(event.first_seen)),
        ("Last seen", _when(event.last_seen)),
    ]
    if event.repository:
        issue = f"#{event.issue}" if event.issue is not None else ""
        facts.append(("Issue", f"{event.repository}{issue}"))
    if event.definition:
        facts.append(("Rule", event.definition))
    return facts


def slack_blocks(message: Message) -> dict[str, Any]:
    """A Block Kit message: a header, the figures as fields, buttons to the issue and the query,
    and what the throttle held back."""
    event = message.event
    mark = SEVERITY_MARKS.get(event.severity, "") if event else "⏸"
    heading = untrusted(f"{mark} {message.heading}".strip(), SLACK_HEADER_LIMIT)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": heading, "emoji": True}}
    ]
    if event is not None:
        fields = [
            {"type": "mrkdwn", "text": slack_escape(f"*{name}*\n{value}")[:SLACK_FIELD_LIMIT]}
            for name, value in _facts(event)
        ]
        blocks.append({"type": "section", "fields": fields})
        if event.reason:
            reason = untrusted(event.reason, SLACK_TEXT_LIMIT)
            blocks.append({"type": "section", "text": {"type": "plain_text", "text": reason}})
        buttons = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": label},
                "url": url,
                "action_id": action,
            }
            for label, url, action in (
                ("Open the issue", event.issue_url, "faultline-issue"),
                ("Run the query", event.query_url, "faultline-query"),
            )
            if url
        ]
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
    if message.held_back or event is None:
        note = slack_escape(_held_note(message))[:SLACK_TEXT_LIMIT]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {"text": slack_escape(heading), "blocks": blocks, "unfurl_links": False}


def teams_card(message: Message) -> dict[str, Any]:
    """An Adaptive Card in the envelope a Teams Workflows webhook takes."""
    event = message.event
    body: list[dict[str, Any]] = [
        {
            "type": "RichTextBlock",
            "inlines": [
                {
                    "type": "TextRun",
                    "text": untrusted(message.heading, 300),
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": "Attention" if event and event.severity == "critical" else "Default",
                }
            ],
        }
    ]
    actions: list[dict[str, Any]] = []
    if event is not None:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": value} for name, value in _facts(event)],
            }
        )
        if event.reason:
            body.append(
                {
                    "type": "RichTextBlock",
                    "inlines": [{"type": "TextRun", "text": untrusted(event.reason, 2000)}],
                }
            )
        actions = [
            {"type": "Action.OpenUrl", "title": label, "url": url}
            for label, url in (
                ("Open the issue", event.issue_url),
                ("Run the query", event.query_url),
            )
            if url
        ]
    if message.held_back or event is None:
        body.append(
            {
                "type": "RichTextBlock",
                "inlines": [{"type": "TextRun", "text": _held_note(message), "isSubtle": True}],
            }
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


class TemplateOutputInvalid(ValueError):
    """A webhook template failed (an unsafe or undefined name) or rendered something that is
    not JSON; the message says which and where."""


def _json_string_content(value: Any) -> Any:
    """Jinja's `finalize`: a plain string is escaped for a JSON string's inside; what `tojson`
    made (Markup) and numbers pass as they are."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return value


def webhook_context(message: Message) -> dict[str, Any]:
    """What a webhook template sees: the event as JSON-ready data (log text made inert as
    everywhere else), the rule, the channel and the held-back count."""
    event = None
    if message.event is not None:
        event = message.event.model_dump(mode="json")
        event["title"] = untrusted(message.event.title, 1000)
        event["reason"] = untrusted(message.event.reason, 2000)
    return {
        "event": event,
        "rule": message.rule,
        "channel": message.channel,
        "held_back": message.held_back,
        "held_since": message.held_since.isoformat() if message.held_since else None,
    }


def webhook_body(message: Message, template: str | None) -> bytes:
    """The JSON body: the template rendered in the sandbox, or the context itself."""
    context = webhook_context(message)
    if template is None:
        return json.dumps(context, ensure_ascii=False, sort_keys=True).encode()
    import jinja2
    import jinja2.sandbox

    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(
        autoescape=False, undefined=jinja2.StrictUndefined, finalize=_json_string_content
    )
    try:
        rendered = environment.from_string(template).render(**context)
    except jinja2.TemplateError as error:  # the sandbox's SecurityError, an undefined name
        raise TemplateOutputInvalid(
            f"the {message.channel} webhook template failed: {type(error).__name__}: {error}"
        ) from None
    try:
        json.loads(rendered)
    except json.JSONDecodeError as error:
        raise TemplateOutputInvalid(
            f"the {message.channel} webhook template rendered invalid JSON at line "
            f"{error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    return rendered.encode()


def sign(body: bytes, key: bytes, timestamp: int) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: the receiver recomputes it with
    the shared key and refuses a stale timestamp, so a captured request cannot be replayed."""
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, key: bytes, timestamp: int, signature: str) -> bool:
    """What a receiver does (and the tests do): compare in constant time."""
    return hmac.compare_digest(sign(body, key, timestamp), signature)
