"""Manual replay: queue query jobs for any past window, safe to repeat.

A replay queues the same deterministic jobs a timer would for that window (sliced by the
source's max window); counting by record id makes a repeated or overlapping replay count nothing
twice, within the ledger's occurrence retention (older windows are refused). The checkpoints
are not touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from detection.windows import floor_to_second, slice_range
from pipeline.bootstrap import Services
from pipeline.messages import QueryJob
from pipeline.retention import retained_since

MAX_REPLAY_JOBS = 5_000


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    tables: tuple[str, ...] | None = Field(default=None, min_length=1)
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> ReplayRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ReplayRejected(ValueError):
    """The request names something the rules file does not have, or asks for too much."""


def _ceil_to_second(moment: datetime) -> datetime:
    floored = floor_to_second(moment)
    return floored if floored == moment else floored + timedelta(seconds=1)


def replay(services: Services, request: ReplayRequest) -> list[QueryJob]:
    try:
        source = services.rules.source(request.source)
    except KeyError as error:
        raise ReplayRejected(str(error).strip("'\"")) from None
    watched = [t.name for t in source.tables]
    tables = list(request.tables or watched)
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
    jobs = [
        QueryJob.for_window(source.name, table, window, "replay")
        for table in tables
        for window in slice_range(start, end, source.max_window, source.lookback, per_table)
    ]
    for job in jobs:
        services.query_queue.send(job.model_dump_json())
    return jobs
