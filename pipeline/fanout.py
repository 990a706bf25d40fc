"""The timer's work: queue one query job per table slice that is due, then move the checkpoint.

Each source is polled at its own `poll_interval`: on a tick, a table is polled only when the
range since its checkpoint (the ingestion time its last poll queued through) has grown to the
interval, less a little grace for the timer's jitter (`poll_grace`). The timer
(`FAULTLINE_TIMER_SCHEDULE`) must fire at least as often as the shortest `poll_interval`: a
source is polled on the first tick after its interval has passed, so its interval is in effect
rounded up to a whole number of timer periods (5m ticks: a 15m source is polled every third
tick, a 7m source every second). A table behind by more than the interval (a first backfill, a
catch-up after an outage) is polled on every tick until it has caught up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from detection.windows import due_range, slice_range
from pipeline.messages import QueryJob
from pipeline.notify import watch_lag
from pipeline.services import Services

log = logging.getLogger(__name__)

MAX_POLL_GRACE = timedelta(minutes=1)


def poll_grace(poll_interval: timedelta) -> timedelta:
    """How early a poll may come: a tenth of the interval, at most a minute, so a tick that
    fires a moment early (or a checkpoint floored to the second) does not skip a whole period."""
    return min(poll_interval / 10, MAX_POLL_GRACE)


def poll_is_due(checkpoint: datetime | None, due_end: datetime, poll_interval: timedelta) -> bool:
    """Whether a table whose jobs are queued through `checkpoint` is polled when the due range
    ends at `due_end`: always the first time, then once `poll_interval` has accumulated."""
    if checkpoint is None:
        return True
    return due_end - checkpoint >= poll_interval - poll_grace(poll_interval)


class FanOutError(RuntimeError):
    """Some tables could not be fanned out this tick; they catch up on the next one."""


@dataclass
class FanOutReport:
    jobs: list[QueryJob] = field(default_factory=list)
    failed_tables: list[str] = field(default_factory=list)


def fan_out(services: Services) -> FanOutReport:
    """Enqueue due windows for every table of an enabled source whose poll interval has passed;
    the checkpoint moves only after enqueue.

    A crash between the two re-enqueues the same jobs (same ids) on the next tick; a duplicate job
    is harmless because occurrences are counted by record id.
    """
    now = services.clock.now()
    watch_lag(services)  # how far the jobs queued by earlier ticks have read, before queueing more
    report = FanOutReport()
    for source in services.rules.enabled_sources:  # a disabled source is configured, not polled
        for table in source.watched:
            try:
                report.jobs.extend(_fan_out_table(services, source.name, table.name, now))
            except Exception:
                log.exception(
                    "fan-out failed for %s/%s; it catches up next tick", source.name, table.name
                )
                report.failed_tables.append(f"{source.name}/{table.name}")
    if report.failed_tables:
        raise FanOutError("fan-out failed for " + ", ".join(report.failed_tables))
    return report


def _fan_out_table(
    services: Services, source_name: str, table: str, now: datetime
) -> list[QueryJob]:
    source = services.rules.source(source_name)
    checkpoint = services.checkpoints.get(source_name, table)
    due = due_range(
        checkpoint.ingested_through if checkpoint else None,
        now,
        source.ingestion_delay,
        source.initial_backfill,
    )
    if due is None or not poll_is_due(
        checkpoint.ingested_through if checkpoint else None, due[1], source.poll_interval
    ):
        return []
    if services.checkpoints.read_through(source_name, table) is None:
        # the read mark starts where reading starts: the first window, or, for a table polled
        # before read marks existed, the checkpoint (what was queued before it is not tracked)
        services.checkpoints.begin_reading(source_name, table, due[0])
    windows = slice_range(*due, source.max_window, source.lookback, source.max_slices_per_tick)
    jobs = [QueryJob.for_window(source_name, table, window) for window in windows]
    for job in jobs:
        services.query_queue.send(job.model_dump_json())
    if not services.checkpoints.advance(checkpoint, source_name, table, windows[-1].end):
        log.warning(
            "checkpoint of %s/%s moved concurrently; duplicate jobs are harmless",
            source_name,
            table,
        )
    behind = due[1] - windows[-1].end
    if behind.total_seconds() > 0:
        log.warning(
            "%s/%s is %s behind; catching up over the next ticks", source_name, table, behind
        )
    log.info(
        "queued %d job(s) for %s/%s up to %s",
        len(jobs),
        source_name,
        table,
        windows[-1].end.isoformat(),
    )
    return jobs
