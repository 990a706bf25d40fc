"""The issue a person reads: an overridable Jinja2 template, safe whatever the logs say.

Log text is hostile input here. Secrets and personal data are redacted before anything leaves;
`@mentions` and `#123` references outside code are neutralised so nobody is pinged and nothing
is cross-linked by accident; code blocks use a fence longer than any backtick run inside them, so
no log line can close its fence; the body stays under GitHub's 65,536-character limit by trimming
samples first, then the stack trace. A hidden marker names the fingerprint, so a retried or
state-less run finds the issue it already made.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jinja2

GITHUB_BODY_LIMIT = 65_536
TITLE_LIMIT = 256
MARKER_PREFIX = "faultline:fingerprint="
_ZERO_WIDTH_JOINER = "\u200d"

REDACTIONS: Sequence[tuple[str, re.Pattern[str], str]] = tuple(
    (name, re.compile(pattern), replacement)
    for name, pattern, replacement in (
        (
            "private-key",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            "[REDACTED private key]",
        ),
        ("jwt", r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}\b", "[REDACTED jwt]"),
        (
            "bearer",
            r"(?i)\b(authorization\s*[:=]\s*)?(bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}",
            "[REDACTED credential]",
        ),
        (
            "github-token",
            r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b",
            "[REDACTED github token]",
        ),
        ("aws-key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "[REDACTED aws key]"),
        (
            "connection-secret",
            r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|sig)"
            r"\s*=\s*[^;&\s\"']+",
            r"\1=[REDACTED]",
        ),
        (
            "key-value-secret",
            r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|apikey|client[_-]?secret)"
            r"[\w.-]*)(\"?\s*[:=]\s*\"?)([^\s\"',;&]{4,})",
            r"\1\2[REDACTED]",
        ),
        ("url-credentials", r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", r"\1[REDACTED]@"),
        ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b", "[REDACTED email]"),
    )
)
_CARD_CANDIDATE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
IP_REDACTION = re.compile(
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")
_REFERENCE = re.compile(r"(?<![\w&`])#(?=\d)")
_HTML = re.compile(r"[<>]")


def redact(text: str, *, redact_ips: bool = False) -> str:
    """Remove secrets and personal data; control characters go too."""
    cleaned = _CONTROL.sub("", text)
    for _, pattern, replacement in REDACTIONS:
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = _CARD_CANDIDATE.sub(_redact_card, cleaned)
    if redact_ips:
        cleaned = IP_REDACTION.sub("[REDACTED ip]", cleaned)
    return cleaned


def _redact_card(match: re.Match[str]) -> str:
    """Payment card numbers pass the Luhn check; other long numbers (ids, times) stay."""
    digits = [int(d) for d in re.sub(r"\D", "", match.group())]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return "[REDACTED card number]" if checksum % 10 == 0 else match.group()


def neutralise(text: str) -> str:
    """Prose from logs: no mentions, no issue links, no HTML, on one line."""
    one_line = " ".join(text.split())
    one_line = _MENTION.sub("@" + _ZERO_WIDTH_JOINER, one_line)
    one_line = _REFERENCE.sub("#" + _ZERO_WIDTH_JOINER, one_line)
    return _HTML.sub(lambda m: "&lt;" if m.group() == "<" else "&gt;", one_line)


def fence(text: str, language: str = "") -> str:
    """A code block no content can break out of: the fence outgrows any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"


def marker(fingerprint: str) -> str:
    return f"<!-- {MARKER_PREFIX}{fingerprint} -->"


def find_marker(body: str | None) -> str | None:
    match = re.search(re.escape(MARKER_PREFIX) + r"([0-9a-f]{8,64})", body or "")
    return match.group(1) if match else None


def title(definition: str, message: str, exception_type: str | None) -> str:
    """`[definition] ExceptionType: message`, neutralised and short enough for GitHub."""
    head = f"{exception_type}: " if exception_type and exception_type not in message else ""
    text = neutralise(redact(f"[{definition}] {head}{message}"))
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


TALLY_HOURS = 48


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def tally_hours(
    tally: Mapping[datetime, int], times: Iterable[datetime], newest: datetime
) -> dict[datetime, int]:
    """Occurrences per hour with `times` added, kept for the `TALLY_HOURS` hours up to `newest`:
    the chart's day plus a day's margin for late records, so a body is rendered from one summary
    row instead of a query over every occurrence of the day."""
    oldest = _hour(newest) - timedelta(hours=TALLY_HOURS - 1)
    counts = {hour: count for hour, count in tally.items() if hour >= oldest}
    for moment in times:
        hour = _hour(moment)
        if hour >= oldest:
            counts[hour] = counts.get(hour, 0) + 1
    return counts


def hourly_counts(
    tally: Mapping[datetime, int], end: datetime, hours: int = 24
) -> list[tuple[datetime, int]]:
    """Occurrences per hour over the last `hours` hours ending at `end` (for the chart)."""
    top = _hour(end)
    return [
        (hour, tally.get(hour, 0))
        for hour in (top - timedelta(hours=h) for h in reversed(range(hours)))
    ]


def mermaid_chart(series: Sequence[tuple[datetime, int]]) -> str:
    """A Mermaid xychart GitHub renders: occurrences per hour, UTC."""
    labels = ", ".join(f'"{moment:%H}"' for moment, _ in series)
    values = ", ".join(str(count) for _, count in series)
    top = max((count for _, count in series), default=0)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "Occurrences per hour (UTC)"',
            f"    x-axis [{labels}]",
            f'    y-axis "occurrences" 0 --> {max(top, 1)}',
            f"    bar [{values}]",
            "```",
        ]
    )


@dataclass(frozen=True)
class IssueView:
    """Everything the template may show, already measured; rendering redacts and fences it."""

    fingerprint: str
    fingerprint_version: int
    definition: str
    description: str
    severity: str
    category: str
    table: str
    source: str
    count: int
    first_seen: datetime
    last_seen: datetime
    threshold: str
    message: str
    exception_type: str | None
    stack_trace: str | None
    role: str | None
    operation_name: str | None
    samples: Sequence[str]
    context: Mapping[str, str]
    kql: str
    portal_url: str | None
    hourly: Sequence[tuple[datetime, int]] = field(default_factory=tuple)
    grouped_by: Sequence[str] = ()


DEFAULT_TEMPLATE = """\
{{ marker }}
> [!{{ "CAUTION" if severity in ("critical", "high") else "WARNING" }}]
> **{{ severity | upper }}** {{ category }} failure detected by Faultline rule `{{ definition }}`.

| | |
|---|---|
| **Occurrences** | {{ count }} |
| **First seen** | {{ first_seen }} |
| **Last seen** | {{ last_seen }} |
| **Where** | `{{ table }}` in source `{{ source }}`{% if role %}, role `{{ role }}`{% endif %}\
{% if operation %}, operation `{{ operation }}`{% endif %} |
| **Rule** | `{{ definition }}`: {{ threshold }}{% if description %}. {{ description }}{% endif %} |
{% for name, value in context %}| **{{ name }}** | `{{ value }}` |
{% endfor %}
{{ chart }}

## Error

{{ error_block }}
{% if stack_block %}
## Stack trace

{{ stack_block }}
{% endif %}{% if sample_blocks %}
## Sample log lines ({{ sample_blocks | length }}{% if samples_trimmed %} of {{ sample_total }}\
, trimmed to fit{% endif %})

{% for block in sample_blocks %}{{ block }}
{% endfor %}{% endif %}
## Investigate

Run this in Log Analytics{% if portal_url %} \
([open in the Azure portal]({{ portal_url }})){% endif %}:

{{ kql_block }}

<sub>Grouped by {{ grouped_by }} (fingerprint `{{ fingerprint }}`, algorithm v{{ version }}).</sub>
"""


@functools.lru_cache(maxsize=8)
def _compiled(template: str) -> jinja2.Template:
    """Compiling dominates rendering, and a process renders with one or two templates."""
    environment = jinja2.Environment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    return environment.from_string(template)


def render_body(
    view: IssueView, template: str = DEFAULT_TEMPLATE, *, redact_ips: bool = False
) -> str:
    """The issue body; samples are dropped (then the stack trace cut) until it fits GitHub."""
    compiled = _compiled(template)

    def clean(text: str) -> str:
        return redact(text, redact_ips=redact_ips)

    samples = [fence(clean(s)) for s in view.samples]
    stack = clean(view.stack_trace) if view.stack_trace else None
    error = clean("\n".join(p for p in (view.exception_type or "", view.message) if p))

    def attempt(kept: int, stack_text: str | None, error_text: str) -> str:
        return compiled.render(
            marker=marker(view.fingerprint),
            severity=view.severity,
            category=neutralise(view.category),
            definition=view.definition,
            description=neutralise(clean(view.description)),
            count=view.count,
            first_seen=f"{view.first_seen:%Y-%m-%d %H:%M:%S} UTC",
            last_seen=f"{view.last_seen:%Y-%m-%d %H:%M:%S} UTC",
            table=view.table,
            source=view.source,
            role=neutralise(clean(view.role)).replace("`", "'") if view.role else None,
            operation=neutralise(clean(view.operation_name)).replace("`", "'")
            if view.operation_name
            else None,
            threshold=view.threshold,
            context=[
                (neutralise(k), neutralise(clean(v)).replace("`", "'"))
                for k, v in sorted(view.context.items())
            ],
            chart=mermaid_chart(view.hourly) if view.hourly else "",
            error_block=fence(error_text),
            stack_block=fence(stack_text) if stack_text else None,
            sample_blocks=samples[:kept],
            samples_trimmed=kept < len(samples),
            sample_total=len(samples),
            kql_block=fence(view.kql, "kusto"),
            portal_url=view.portal_url,
            grouped_by=", ".join(view.grouped_by) or "message template",
            fingerprint=view.fingerprint,
            version=view.fingerprint_version,
        )

    for kept in range(len(samples), -1, -1):
        body = attempt(kept, stack, error)
        if len(body) <= GITHUB_BODY_LIMIT:
            return body
    notice = "\n… (trimmed to fit GitHub's issue size limit)"
    for limit in (20_000, 8_000, 2_000, 0):
        stack_text = stack[:limit] + notice if stack and limit else None
        body = attempt(
            0, stack_text, error[: max(limit, 2_000)] + (notice if len(error) > limit else "")
        )
        if len(body) <= GITHUB_BODY_LIMIT:
            return body
    raise ValueError("the issue template alone exceeds GitHub's body limit")
