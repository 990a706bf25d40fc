"""The queue trigger's work: run one query job, detect failures, count them exactly once.

Service limits never make us busy-wait: no more queries run at once than the identity's query
slots allow (a job that finds them all held waits its turn on the queue); a throttled job goes
back on the queue, invisible until the service's Retry-After has passed; a partial or capped
result is split into halves that are queued as new jobs; a query the service refuses, or a
message that is not a job, goes straight to the poison queue with its reason. Any other error
propagates, so the Functions host retries the message and, after `maxDequeueCount` attempts,
moves it to the poison queue itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError

from detection import insights
from detection.detect import detect
from detection.kql import build_query
from detection.records import LogRecord, normalize_rows
from detection.rules import Condition, FailureDefinition, LogSource
from detection.windows import QueryWindow
from pipeline.counting import CountReport, count_detections, in_transition
from pipeline.messages import QueryJob
from pipeline.metrics import POISONED, QUERY_JOBS, QUERY_LAG, QUERY_ROWS
from pipeline.notify import emit_trouble
from pipeline.ports import QueryPlan, QueryRejected, Throttled
from pipeline.services import Services

log = logging.getLogger(__name__)

SLOT_MARGIN = timedelta(minutes=1)
"""A query slot is held this long past the query's server timeout, then lapses (a crashed
worker never gives it back)."""
HOST_MAX_DEQUEUE_COUNT = 5
"""Must equal host.json's `extensions.queues.maxDequeueCount` (a test checks)."""


@dataclass
class JobReport:
    """What one job did, for logs and tests."""

    job: QueryJob | None
    outcome: str
    rows: int = 0
    rejected_rows: int = 0
    detections: int = 0
    new_occurrences: int = 0
    held: int = 0
    notices: int = 0
    follow_up_jobs: list[QueryJob] = field(default_factory=list)


def run_query_job(services: Services, body: str, dequeue_count: int = 1) -> JobReport:
    try:
        job = QueryJob.model_validate_json(body)
    except ValidationError as error:
        report = _poison(services, None, body, f"not a query job: {error.errors()[0]['msg']}")
        _count_job(services, report)
        return report
    try:
        report = _run(services, job)
    except QueryRejected as error:
        report = _poison(services, job, body, str(error))
    except Exception:
        _count_job(services, JobReport(job, "failed"))
        final = dequeue_count >= HOST_MAX_DEQUEUE_COUNT
        log.exception(
            "query job %s (%s) failed on attempt %d of %d%s",
            job.job_id,
            job.describe(),
            dequeue_count,
            HOST_MAX_DEQUEUE_COUNT,
            "; the host now moves it to the poison queue" if final else "; the host will retry it",
        )
        raise
    _count_job(services, report)
    return report


def _count_job(services: Services, report: JobReport) -> None:
    """How the job ended; and for a job that read its window, the rows it got and how far
    behind that window's end it finished. A replay (and its halves and retries) reads an old
    window on purpose, so it is left out of the lag, which the lag alert watches."""
    job = report.job
    source, table = (job.source, job.table) if job else ("(unreadable)", "(unreadable)")
    services.metrics.count(QUERY_JOBS, source=source, table=table, outcome=report.outcome)
    if job is None or report.outcome not in ("done", "incomplete", "split"):
        return
    services.metrics.count(QUERY_ROWS, report.rows, source=source, table=table)
    if job.origin != "replay" and report.outcome != "split":
        lag = (services.clock.now() - job.end).total_seconds()
        services.metrics.record(QUERY_LAG, lag, source=source, table=table)


def _run(services: Services, job: QueryJob) -> JobReport:
    rules = services.rules
    try:
        source = rules.source(job.source)
        spec = source.table(job.table)
    except KeyError as error:
        raise QueryRejected(f"job names what the rules file no longer watches: {error}") from None
    definitions = rules.definitions_for(job.table)
    if not definitions:
        log.info("no failure definition covers %s; job %s skipped", job.table, job.job_id)
        services.checkpoints.mark_read(job.source, job.table, job.start, job.end)
        return JobReport(job, "no-definitions")
    window = QueryWindow(job.start, job.end, source.lookback)
    conditions = tuple(d.when for d in definitions)
    plan = _plan(services, source, job.table, window, conditions)
    holder = f"{job.job_id}:{uuid.uuid4().hex[:12]}"
    hold = timedelta(seconds=services.settings.query_timeout_seconds) + SLOT_MARGIN
    slot = services.query_slots.acquire(holder, services.clock.now(), hold)
    if slot is None:
        return _wait_for_a_slot(services, job)
    try:
        outcome = services.log_source.run(plan)
    except Throttled as throttled:
        return _requeue_throttled(services, job, throttled)
    finally:
        services.query_slots.release(slot, holder)
    report = JobReport(job, "done", rows=len(outcome.rows))
    if outcome.incomplete:
        halves = window.halves()
        if halves is not None:
            origin = "replay" if job.origin == "replay" else "split"
            report.follow_up_jobs = [
                QueryJob.for_window(job.source, job.table, w, origin, job.run) for w in halves
            ]
            for follow_up in report.follow_up_jobs:
                services.query_queue.send(follow_up.model_dump_json())
            log.warning(
                "job %s (%s) was incomplete (%s); split into halves",
                job.job_id,
                job.describe(),
                outcome.incomplete,
            )
            report.outcome = "split"
            return report
        log.error(
            "job %s (%s) is incomplete (%s) and cannot be split further; "
            "processing the %d rows returned",
            job.job_id,
            job.describe(),
            outcome.incomplete,
            len(outcome.rows),
        )
        report.outcome = "incomplete"
    normalized = normalize_rows(spec, outcome.columns, outcome.rows)
    for rejected in normalized.rejected:
        log.warning(
            "skipped malformed row %d of %s in job %s: %s",
            rejected.index,
            rejected.table,
            job.job_id,
            rejected.reason,
        )
    report.rejected_rows = len(normalized.rejected)
    report.detections, counted = detect_and_count(
        services, job.source, normalized.records, definitions, run=job.run
    )
    report.new_occurrences, report.notices = counted.new_occurrences, counted.notices
    report.held = counted.held
    # only now, with every row of the window placed, may held operations count it as read
    services.checkpoints.mark_read(job.source, job.table, job.start, job.end)
    log.info(
        "job %s (%s): %d rows, %d failures, %d new occurrences, %d held for their cause, "
        "%d notices",
        job.job_id,
        job.describe(),
        report.rows,
        report.detections,
        report.new_occurrences,
        report.held,
        report.notices,
    )
    return report


def _plan(
    services: Services,
    source: LogSource,
    table: str,
    window: QueryWindow,
    conditions: tuple[Condition, ...],
) -> QueryPlan:
    """The query for the source's kind: KQL for a workspace's table, Logs Insights for a log
    group (whose results stop at 10,000 rows whatever `max_rows_per_query` says)."""
    limit = services.settings.max_rows_per_query
    if source.kind == "cloudwatch":
        group = source.log_group(table)
        query = insights.build_query(window, conditions, limit=min(limit, insights.ROW_LIMIT))
        return QueryPlan("", table, window, conditions, query, log_group=group.name)
    workspace = source.workspace_id or ""
    return QueryPlan(
        workspace, table, window, conditions, build_query(table, window, conditions, limit=limit)
    )


def detect_and_count(
    services: Services,
    source: str,
    records: Sequence[LogRecord],
    definitions: Sequence[FailureDefinition],
    run: str | None = None,
) -> tuple[int, CountReport]:
    """Judge records against the definitions, then group, correlate and count them: the step a
    query job's rows and an alert webhook's records (`pipeline.alerts`) share. Returns how many
    detections there were and what counting did."""
    detections = detect(records, definitions, with_previous=in_transition(services))
    return len(detections), count_detections(services, source, detections, run=run)


def _wait_for_a_slot(services: Services, job: QueryJob) -> JobReport:
    """Every query slot of this identity is held: the job waits its turn on the queue. Not a
    failure and not a throttle, so it counts towards neither the host's attempts nor ours."""
    delay = timedelta(seconds=services.settings.query_slot_wait_seconds)
    services.query_queue.send(job.model_dump_json(), delay=delay)
    log.info(
        "job %s (%s) waits %ss: all %d query slots are held",
        job.job_id,
        job.describe(),
        int(delay.total_seconds()),
        services.settings.max_concurrent_queries,
    )
    return JobReport(job, "waiting", follow_up_jobs=[job])


def _requeue_throttled(services: Services, job: QueryJob, throttled: Throttled) -> JobReport:
    attempts = job.throttled_attempts + 1
    if attempts > services.settings.max_throttled_attempts:
        return _poison(
            services,
            job,
            job.model_dump_json(),
            f"still throttled after {job.throttled_attempts} delayed retries: {throttled}",
        )
    origin = "replay" if job.origin == "replay" else "throttled"
    again = job.model_copy(update={"throttled_attempts": attempts, "origin": origin})
    services.query_queue.send(again.model_dump_json(), delay=throttled.retry_after)
    log.warning(
        "job %s (%s) throttled; back on the queue in %ss (attempt %d)",
        job.job_id,
        job.describe(),
        int(throttled.retry_after.total_seconds()),
        attempts,
    )
    return JobReport(job, "throttled", follow_up_jobs=[again])


def _poison(services: Services, job: QueryJob | None, body: str, reason: str) -> JobReport:
    """Park a job that cannot succeed where operators look, with the reason, and say so loudly."""
    log.error("query job %s is poisoned: %s", job.job_id if job else "(unreadable)", reason)
    services.poison_queue.send(json.dumps({"reason": reason, "job": body}))
    return JobReport(job, "poisoned")


def record_poisoned(services: Services, body: str) -> str:
    """The poison queue's trigger: log and keep every poisoned job (host-moved or ours)."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        envelope = None
    if isinstance(envelope, dict) and "reason" in envelope and "job" in envelope:
        reason, job_body = str(envelope["reason"]), str(envelope["job"])
    else:
        reason, job_body = f"failed {HOST_MAX_DEQUEUE_COUNT} attempts (moved by the host)", body
    try:
        job = QueryJob.model_validate_json(job_body)
        job_id, description = job.job_id, job.describe()
    except ValidationError:
        job_id = "unreadable-" + hashlib.sha256(job_body.encode()).hexdigest()[:24]
        description = "(not a query job)"
    services.poisoned_jobs.add(job_id, description, reason, job_body)
    services.metrics.count(POISONED, kind="query-jobs")
    log.error("poisoned query job %s (%s): %s", job_id, description, reason)
    emit_trouble(services, f"query-jobs|{job_id}", f"poisoned query job {description}", reason)
    return job_id
