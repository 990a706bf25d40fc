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
from datetime import datetime, timedelta
from typing import Any

from detection.digest import (
    CHANGE_HEADINGS,
    Digest,
    duration,
    headline,
    issue_title,
    lag_text,
    period_label,
    sparkline,
)
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
    digest: Digest | None = None
    """A digest instead of an event (`rule` is then the digest's name)."""

    @property
    def heading(self) -> str:
        if self.digest is not None:
            return f"{issue_title(self.digest)}, {period_label(self.digest.period)}"
        if self.event is None:
            return f"{self.held_back} notification(s) held back"
        return f"{EVENT_TITLES[self.event.kind]}: {self.event.title}"


def message_kind(message: Message) -> str:
    """What a message is about, for its header and file name: an event's kind, `digest`, or
    `held-back` (a storm's summary)."""
    if message.digest is not None:
        return "digest"
    return message.event.kind if message.event else "held-back"


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


DIGEST_ROWS = 5
"""How many top failures and assignees a chat message shows (the pinned issue has them all)."""


def _digest_figures(digest: Digest) -> list[tuple[str, str]]:
    health = digest.health
    budget = f"{health.budget_used}/{health.budget_limit}" if health.budget_limit else "-"
    lag = lag_text(health.lag_seconds, "-")
    changes = [(heading, str(len(digest.changes[kind]))) for kind, heading in CHANGE_HEADINGS]
    return [
        *changes,
        ("Occurrences", f"{digest.occurrences} {sparkline(digest.daily)}"),
        ("Duplicates avoided", str(digest.duplicates_avoided)),
        ("Suppressed by known issues", _suppressed_figure(digest)),
        ("Notifications held back", str(digest.notifications_held)),
        ("Pull requests linked", str(digest.pull_requests_linked)),
        ("Lag, poisoned, GitHub budget", f"{lag}, {digest.health.poisoned}, {budget}"),
    ]


def _suppressed_figure(digest: Digest) -> str:
    """`12 (3 failures, cdn-timeouts 9)`: the occurrences known issues kept back, and which
    entry kept back most."""
    if not digest.suppressed:
        return "0"
    failures = sum(row.failures for row in digest.suppressed)
    most = digest.suppressed[0]
    return (
        f"{digest.suppressed_occurrences} ({failures} failure(s), "
        f"{most.known_issue} {most.occurrences})"
    )


def _digest_tables(digest: Digest) -> tuple[list[str], list[str]]:
    """The top failures and the assignees as short text rows: figures are Faultline's, titles
    are log text (made inert by the caller for its channel)."""
    top = [
        f"{r.count:>5}  {sparkline(r.daily)}  {r.trend:<9} {r.title}"
        for r in digest.top[:DIGEST_ROWS]
    ]
    people = [
        f"{a.assignee}: {a.issues} issue(s), {a.with_pull_request} with a PR, first PR "
        f"{duration(a.median_to_first_pull_request)}, close {duration(a.median_to_close)}"
        for a in digest.assignees[:DIGEST_ROWS]
    ]
    return top, people


def _digest_slack(message: Message, digest: Digest) -> dict[str, Any]:
    heading = untrusted(f"📊 {message.heading}", SLACK_HEADER_LIMIT)
    fields = [
        {"type": "mrkdwn", "text": slack_escape(f"*{name}*\n{value}")[:SLACK_FIELD_LIMIT]}
        for name, value in _digest_figures(digest)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": heading, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(headline(digest))}},
        {"type": "section", "fields": fields[:10]},  # Block Kit: at most 10 fields
    ]
    top, people = _digest_tables(digest)
    for title, rows in (("Top recurring", top), ("Assignees", people)):
        if rows:
            text = untrusted(title + ": " + " | ".join(rows), SLACK_TEXT_LIMIT)
            blocks.append({"type": "section", "text": {"type": "plain_text", "text": text}})
    return {"text": slack_escape(heading), "blocks": blocks, "unfurl_links": False}


def _digest_teams(message: Message, digest: Digest) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [
        {
            "type": "RichTextBlock",
            "inlines": [
                {
                    "type": "TextRun",
                    "text": untrusted(message.heading, 300),
                    "weight": "Bolder",
                    "size": "Medium",
                }
            ],
        },
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": headline(digest)}]},
        {
            "type": "FactSet",
            "facts": [{"title": name, "value": value} for name, value in _digest_figures(digest)],
        },
    ]
    top, people = _digest_tables(digest)
    for title, rows in (("Top recurring", top), ("Assignees", people)):
        if rows:
            body.append(
                {
                    "type": "RichTextBlock",
                    "inlines": [
                        {"type": "TextRun", "text": title, "weight": "Bolder"},
                        *({"type": "TextRun", "text": "\n" + untrusted(row, 300)} for row in rows),
                    ],
                }
            )
    return body


def digest_json(digest: Digest) -> dict[str, Any]:
    """The digest as a webhook receives it: its figures, with failure titles made inert."""
    health = digest.health
    return {
        "name": digest.name,
        "start": digest.period.start.isoformat(),
        "end": digest.period.end.isoformat(),
        "counts": {kind: len(lines) for kind, lines in digest.changes.items()},
        "occurrences": digest.occurrences,
        "daily": list(digest.daily),
        "top": [
            {
                "fingerprint": r.fingerprint,
                "title": untrusted(r.title, 300),
                "repository": r.repository,
                "issue": r.issue,
                "count": r.count,
                "previous": r.previous,
                "daily": list(r.daily),
            }
            for r in digest.top
        ],
        "assignees": [
            {
                "assignee": a.assignee,
                "issues": a.issues,
                "with_pull_request": a.with_pull_request,
                "closed": a.closed,
                "median_to_first_pull_request_seconds": _seconds(a.median_to_first_pull_request),
                "median_to_close_seconds": _seconds(a.median_to_close),
            }
            for a in digest.assignees
        ],
        "duplicates_avoided": digest.duplicates_avoided,
        "suppressed": [
            {
                "known_issue": row.known_issue,
                "failures": row.failures,
                "occurrences": row.occurrences,
            }
            for row in digest.suppressed
        ],
        "pull_requests_linked": digest.pull_requests_linked,
        "notifications": {
            "sent": digest.notifications_sent,
            "held_back": digest.notifications_held,
            "failed": digest.notifications_failed,
        },
        "health": {
            "lag_seconds": health.lag_seconds,
            "poisoned": health.poisoned,
            "github_budget_used": health.budget_used,
            "github_budget_limit": health.budget_limit,
        },
    }


def _seconds(span: timedelta | None) -> int | None:
    return None if span is None else int(span.total_seconds())


def slack_blocks(message: Message) -> dict[str, Any]:
    """A Block Kit message: a header, the figures as fields, buttons to the issue and the query,
    and what the throttle held back (or a digest's figures and short tables)."""
    if message.digest is not None:
        return _digest_slack(message, message.digest)
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
    body: list[dict[str, Any]] = (
        _digest_teams(message, message.digest)
        if message.digest
        else [
            {
                "type": "RichTextBlock",
                "inlines": [
                    {
                        "type": "TextRun",
                        "text": untrusted(message.heading, 300),
                        "weight": "Bolder",
                        "size": "Medium",
                        "color": "Attention"
                        if event and event.severity == "critical"
                        else "Default",
                    }
                ],
            }
        ]
    )
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
    if message.held_back or (event is None and message.digest is None):
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
        "digest": digest_json(message.digest) if message.digest else None,
        "rule": message.rule,
        "channel": message.channel,
        "held_back": message.held_back,
        "held_since": message.held_since.isoformat() if message.held_since else None,
    }


def webhook_body(message: Message, template: str | None) -> bytes:
    """The JSON body: the template rendered in the sandbox, or the context itself."""
    context = webhook_context(message)
    if template is None or message.digest is not None:  # a template is written for events
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
