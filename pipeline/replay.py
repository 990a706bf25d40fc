"""Manual replay: queue query jobs for any past window, safe to repeat.

A replay queues the same deterministic jobs a timer would for that window (sliced by the
source's max window); counting by record id makes a repeated or overlapping replay count nothing
twice, within the ledger's occurrence retention (older windows are refused). The checkpoints
are not touched.

A request is bounded before anything is queued: tables named twice count once, at most
`MAX_REPLAY_TABLES` distinct tables, a window of at most `MAX_REPLAY_WINDOW`, and at most
`MAX_REPLAY_JOBS` jobs in all; each refusal is a 400 that names the field.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from detection.windows import floor_to_second, job_id, slice_range
from pipeline.messages import QueryJob
from pipeline.retention import retained_since
from pipeline.services import Services

MAX_REPLAY_JOBS = 5_000
MAX_REPLAY_TABLES = 32
MAX_REPLAY_WINDOW = timedelta(days=7)


def _distinct(value: object) -> object:
    """Tables named more than once are replayed once (the jobs would be the same jobs)."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(value))
    return value


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=100)
    tables: (
        Annotated[
            tuple[Annotated[str, Field(min_length=1, max_length=200)], ...],
            BeforeValidator(_distinct),
            Field(min_length=1, max_length=MAX_REPLAY_TABLES),
        ]
        | None
    ) = None
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("end")
    @classmethod
    def _after_start_and_bounded(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is None:
            return end
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > MAX_REPLAY_WINDOW:
            raise ValueError(
                f"start to end spans {end - start}; a replay covers at most "
                f"{MAX_REPLAY_WINDOW.days} days: replay less at once"
            )
        return end


class ReplayRejected(ValueError):
    """The request names something the rules file does not have, or asks for too much."""


def _ceil_to_second(moment: datetime) -> datetime:
    floored = floor_to_second(moment)
    return floored if floored == moment else floored + timedelta(seconds=1)


def run_id(source: str, jobs: list[str]) -> str:
    """The replay's run id, from the jobs it queues: a repeated replay is the same run (it
    counts nothing twice, and the issues either made are undone together)."""
    digest = hashlib.sha256("\n".join([source, *jobs]).encode()).hexdigest()
    return f"replay-{digest[:16]}"


def replay(services: Services, request: ReplayRequest) -> list[QueryJob]:
    try:
        source = services.rules.source(request.source)
    except KeyError as error:
        raise ReplayRejected(str(error).strip("'\"")) from None
    if not source.enabled:
        raise ReplayRejected(
            f"source {source.name} is disabled in the rules file (enabled: false): "
            "nothing would query it"
        )
    watched = [t.name for t in source.watched]
    tables = list(dict.fromkeys(request.tables or watched))
    unknown = sorted(set(tables) - set(watched))
    if unknown:
        raise ReplayRejected(f"source {source.name} does not watch: {', '.join(unknown)}")
    now = services.clock.now()
    if request.start >= now:
        raise ReplayRejected("start is in the future")
    remembered = retained_since(services) + source.lookback
    if request.start < remembered:
        raise ReplayRejected(
            f"start is before {remembered:%Y-%m-%d %H:%M} UTC: the ledger keeps occurrences for "
            f"dedup.occurrence_retention ({services.rules.dedup.occurrence_retention}), so "
            "records from earlier could be counted twice"
        )
    start = floor_to_second(request.start)
    end = min(_ceil_to_second(request.end), floor_to_second(now))
    per_table = -(-(end - start) // source.max_window)
    if per_table * len(tables) > MAX_REPLAY_JOBS:
        raise ReplayRejected(
            f"the window needs {per_table * len(tables)} jobs (max {MAX_REPLAY_JOBS}); "
            "replay less at once"
        )
    windows = [
        (table, window)
        for table in tables
        for window in slice_range(start, end, source.max_window, source.lookback, per_table)
    ]
    run = run_id(source.name, [job_id(source.name, table, window) for table, window in windows])
    jobs = [
        QueryJob.for_window(source.name, table, window, "replay", run) for table, window in windows
    ]
    for job in jobs:
        services.query_queue.send(job.model_dump_json())
    return jobs
