"""The issue a person (and a coding agent) reads: an overridable Jinja2 template, safe whatever
the logs say.

Log text is hostile input here. Secrets and personal data are redacted (`detection.redaction`)
before any text is cut, stored or shown; every place the body puts text from a log makes it inert
there (`detection.markdown`: no mentions, references, links, HTML or hidden characters, table
cells that cannot be split, fences that cannot be closed); error, stack trace, the sample
operation and sample lines sit in blocks marked as untrusted data, which the agent's instructions
say not to obey; the title is the failure's masked name. The body stays under GitHub's 65,536
characters by trimming samples first, then the stack trace. The hidden marker (`detection.markers`)
names the group, so a retried or state-less run finds the issue it already made.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import jinja2

from detection import markdown
from detection.known_issues import issue_section
from detection.markers import marker
from detection.redaction import redact
from detection.rules import KnownIssue

GITHUB_BODY_LIMIT = 65_536
TITLE_LIMIT = 256


def title(name: str) -> str:
    """The failure's name (`detection.fingerprint`: type, culprit, masked message template),
    redacted, inert (`detection.markdown.title`) and short enough for GitHub."""
    text = markdown.title(redact(name))
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


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
class EvidenceRow:
    """One row of the sample operation, as the breadcrumbs show it."""

    time: datetime
    table: str
    kind: str
    summary: str
    root: bool = False


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
    name: str = ""
    culprit: str | None = None
    incidents: int | None = None
    operation_id: str | None = None
    request: str | None = None
    dependency: str | None = None
    evidence: Sequence[EvidenceRow] = ()
    query_service: str = "Log Analytics"
    """Where `kql` runs: Log Analytics (KQL), or CloudWatch Logs Insights for a log group."""
    query_language: str = "kusto"
    first_version: str | None = None
    last_version: str | None = None
    spread: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    users: int | None = None
    tables: Mapping[str, int] = field(default_factory=dict)
    preface: str = ""
    """Faultline's own opening line (`Regression of #12.`), shown before everything else."""
    known_issue: KnownIssue | None = None
    """The rules file's `annotate` entry that covers this failure, shown in a section of its own."""


DEFAULT_TEMPLATE = """\
{% if preface %}{{ preface }}

{% endif %}> [!{{ "CAUTION" if severity in ("critical", "high") else "WARNING" }}]
> **{{ severity | upper }}** {{ category }} failure detected by Faultline rule `{{ definition }}`.

| | |
|---|---|
{% if culprit %}| **Culprit** | {{ culprit }} |
{% endif %}| **Occurrences** | {{ count }} |
{% if incidents is not none %}| **Failing operations** | {{ incidents }} |
{% endif %}| **First seen** | {{ first_seen }}\
{% if first_version %} (version {{ first_version }}){% endif %} |
| **Last seen** | {{ last_seen }}{% if last_version %} (version {{ last_version }}){% endif %} |
| **Where** | `{{ table }}` in source `{{ source }}`{% if role %}, role {{ role }}{% endif %}\
{% if operation %}, operation {{ operation }}{% endif %} |
{% for name, values in spread %}| **{{ name }}** | {{ values }} |
{% endfor %}{% if users %}| **Users affected** | {{ users }} |
{% endif %}{% if tables %}| **Seen in** | {{ tables }} |
{% endif %}| **Rule** | `{{ definition }}`: {{ threshold }}\
{% if description %}. {{ description }}{% endif %} |
{% for name, value in context %}| **{{ name }}** | {{ value }} |
{% endfor %}
{{ chart }}
{% if known_issue %}
{{ known_issue }}{% endif %}
## Error

{{ error_block }}
{% if operation_block %}
## One failing operation

{% if operation_id %}Operation id {{ operation_id }}.{% endif %}\
{% if request %} Request: {{ request }}.{% endif %}\
{% if dependency %} Dependency: {{ dependency }}.{% endif %}

{{ operation_block }}
{% endif %}{% if samples_block %}
## Sample log lines ({{ sample_count }}{% if samples_trimmed %} of {{ sample_total }}\
, trimmed to fit{% endif %})

{{ samples_block }}
{% endif %}
## Investigate

Run this in {{ query_service }}{% if portal_url %} \
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


def _cell(text: str) -> str:
    """Log text for a table cell: redacted, in a code span that nothing can split or escape."""
    return markdown.table_cell(redact(text), code=True)


def _spread(values: Mapping[str, int], shown: int = 5) -> str:
    """`a` (5), `b` (2) and 3 more: the commonest values of a facet."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{_cell(value)} ({count})" for value, count in ordered[:shown]]
    rest = len(ordered) - shown
    return ", ".join(parts) + (f" and {rest} more" if rest > 0 else "")


def _breadcrumbs(rows: Sequence[EvidenceRow]) -> str:
    return "\n".join(
        f"{'*' if row.root else ' '} {row.time:%H:%M:%S}.{row.time.microsecond // 1000:03d}  "
        f"{row.table:<22} {row.kind:<10} {row.summary}"
        for row in rows
    )


def render_body(
    view: IssueView,
    template: str = DEFAULT_TEMPLATE,
    *,
    redact_ips: bool = False,
    signature: str | None = None,
) -> str:
    """The issue body, its marker first whatever the template; samples are dropped (then the
    stack trace cut) until it fits GitHub."""
    compiled = _compiled(template)

    def clean(text: str) -> str:
        return redact(text, redact_ips=redact_ips)

    samples = [clean(s) for s in view.samples]
    stack = clean(view.stack_trace) if view.stack_trace else None
    error = clean("\n".join(p for p in (view.exception_type or "", view.message) if p))
    operation_block = (
        markdown.untrusted_block(
            clean(_breadcrumbs(view.evidence)),
            "the rows one failing operation wrote, in time order (the root cause marked *)",
        )
        if view.evidence
        else None
    )

    def attempt(kept: int, stack_text: str | None, error_text: str) -> str:
        trace = f"{error_text}\n\n{stack_text}" if stack_text else error_text
        return f"{marker(view.fingerprint, signature)}\n" + compiled.render(
            preface=view.preface,
            known_issue=issue_section(view.known_issue) if view.known_issue else "",
            severity=view.severity,
            category=markdown.prose(view.category),
            definition=view.definition,
            description=markdown.prose(clean(view.description)),
            count=view.count,
            first_seen=f"{view.first_seen:%Y-%m-%d %H:%M:%S} UTC",
            last_seen=f"{view.last_seen:%Y-%m-%d %H:%M:%S} UTC",
            table=view.table,
            source=view.source,
            role=_cell(view.role) if view.role else None,
            operation=_cell(view.operation_name) if view.operation_name else None,
            threshold=view.threshold,
            context=[(markdown.table_cell(k), _cell(v)) for k, v in sorted(view.context.items())],
            chart=mermaid_chart(view.hourly) if view.hourly else "",
            error_block=markdown.untrusted_block(
                trace, "the error and stack trace" if stack_text else "the error"
            ),
            samples_block=markdown.untrusted_block("\n".join(samples[-kept:]), "sample log lines")
            if kept
            else None,
            sample_count=kept,
            samples_trimmed=kept < len(samples),
            sample_total=len(samples),
            kql_block=markdown.fence(view.kql, view.query_language),
            query_service=view.query_service,
            portal_url=view.portal_url,
            grouped_by=markdown.prose(", ".join(view.grouped_by) or "message template"),
            fingerprint=view.fingerprint,
            version=view.fingerprint_version,
            culprit=_cell(view.culprit) if view.culprit else None,
            incidents=view.incidents,
            users=view.users,
            first_version=_cell(view.first_version) if view.first_version else None,
            last_version=_cell(view.last_version) if view.last_version else None,
            spread=[(name, _spread(values)) for name, values in sorted(view.spread.items())],
            tables=", ".join(f"`{t}` ({n})" for t, n in sorted(view.tables.items())),
            operation_block=operation_block,
            operation_id=_cell(view.operation_id) if view.operation_id else None,
            request=markdown.prose(clean(view.request)) if view.request else None,
            dependency=markdown.prose(clean(view.dependency)) if view.dependency else None,
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
