"""What a failure's issue shows: the view of its group (from the ledger's summary and the
rules), rendered through the issue template with its marker signed."""

from __future__ import annotations

from detection.insights import investigate_query
from detection.issue import DEFAULT_TEMPLATE, EvidenceRow, IssueView, render_body
from detection.kql import failure_query, issue_query, portal_url
from detection.markers import marker_signature
from detection.occurrence import Occurrence
from detection.tally import hourly_counts
from pipeline.known_issues import covering
from pipeline.messages import FailureNotice
from pipeline.services import Services


def issue_body(services: Services, view: IssueView, repository: str) -> str:
    """The issue body, its marker signed for this repository once a marker key is set."""
    key = services.marker_key()
    return render_body(
        view,
        services.issue_template or DEFAULT_TEMPLATE,
        redact_ips=services.rules.redaction.ip_addresses,
        signature=marker_signature(key, repository, view.fingerprint) if key else None,
    )


def issue_view(services: Services, notice: FailureNotice, count: int) -> IssueView:
    """What the issue shows, from the ledger's summary of the group (the founding occurrence,
    the sample operation, the spread) and the rules."""
    rules = services.rules
    definition = rules.definition(notice.definition)
    workspace = next(
        (s.workspace_resource_id for s in rules.sources if s.name == notice.source), None
    )  # None for a webhook's failure: its records were not queried from a workspace
    summary = services.ledger.summary(notice.fingerprint)
    founder = summary.founder if summary else None
    webhook = next((w for w in rules.webhooks if w.name == notice.source), None)
    source = next((s for s in rules.sources if s.name == notice.source), None)
    service, language = "Log Analytics", "kusto"
    if webhook is not None:
        kql = f"// {webhook.name}: received from a {webhook.kind} alert webhook, not queried"
    elif source is not None and source.kind == "cloudwatch":
        group = source.log_group(notice.table).name
        kql = investigate_query(group, definition.when, notice.first_seen, notice.last_seen)
        service, language = "CloudWatch Logs Insights", "sql"
    elif founder:
        kql = failure_query(founder, definition.when, notice.first_seen, notice.last_seen)
    else:
        kql = issue_query(notice.table, definition.when, notice.first_seen, notice.last_seen)
    evidence = summary.evidence if summary else ()
    root = next((o for o in evidence if o.group == notice.fingerprint), None)
    facets = dict(summary.facets) if summary else {}
    users = facets.pop("users", {})
    known = covering(services, notice.fingerprint, notice.definition, founder)
    return IssueView(
        fingerprint=notice.fingerprint,
        fingerprint_version=notice.fingerprint_version,
        definition=notice.definition,
        description=definition.description,
        severity=definition.severity,
        category=definition.category,
        table=notice.table,
        source=notice.source,
        count=count,
        first_seen=notice.first_seen,
        last_seen=notice.last_seen,
        threshold=f"{definition.threshold.count} in {definition.threshold.within}",
        message=founder.message if founder else "",
        exception_type=founder.exception_type if founder else None,
        stack_trace=founder.stack_trace if founder else None,
        role=notice.role,
        operation_name=founder.operation_name if founder else None,
        samples=list(summary.samples) if summary else [],
        context=dict(founder.context) if founder else {},
        kql=kql,
        query_service=service,
        query_language=language,
        portal_url=portal_url(workspace, kql, notice.first_seen, notice.last_seen)
        if workspace
        else None,
        hourly=hourly_counts(summary.hourly if summary else {}, notice.last_seen),
        grouped_by=list(founder.grouped_by) if founder else [],
        name=founder.title if founder else "",
        culprit=founder.culprit if founder else None,
        incidents=summary.incidents if summary else None,
        operation_id=next((o.operation_id for o in evidence if o.operation_id), None),
        request=next((_call_line(o) for o in evidence if o.kind == "request"), None),
        dependency=next((_call_line(o) for o in evidence if o.kind == "dependency"), None),
        evidence=[
            EvidenceRow(o.time, o.table, o.kind, _evidence_summary(o), o is root) for o in evidence
        ],
        first_version=summary.first_version if summary else None,
        last_version=summary.last_version if summary else None,
        spread={
            name.capitalize(): values
            for name, values in facets.items()
            if name in ("versions", "instances")
        },
        users=len(users) or None,
        tables=dict(summary.tables) if summary else {},
        known_issue=known if known is not None and known.action == "annotate" else None,
    )


def _call_line(occurrence: Occurrence) -> str:
    """`POST https://x/api/orders -> 500 in 39 ms`: a request's or dependency's own columns."""
    call = occurrence.call
    what = " ".join(
        p
        for p in (
            call.get("DependencyType"),
            call.get("Target"),
            call.get("Name"),
            call.get("Url"),
        )
        if p
    )
    command = call.get("Data")
    if command and command not in what:
        what += f" ({command[:300]})"
    duration = call.get("DurationMs")
    took = (
        f" in {float(duration):.0f} ms"
        if duration and duration.replace(".", "", 1).isdigit()
        else ""
    )
    return f"{what} -> {call.get('ResultCode') or 'no result code'}{took}"


def _evidence_summary(occurrence: Occurrence) -> str:
    if occurrence.kind in ("request", "dependency") and occurrence.call:
        return _call_line(occurrence)
    head = f"{occurrence.exception_type}: " if occurrence.exception_type else ""
    return (head + " ".join(occurrence.message.split()))[:300]
