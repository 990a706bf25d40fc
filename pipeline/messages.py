"""Messages that travel on the Storage Queues between the pipeline's stages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from detection.windows import QueryWindow, job_id


class QueryJob(BaseModel):
    """Query one table of one source over one ingestion-time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    source: str
    table: str
    start: AwareDatetime
    end: AwareDatetime
    origin: Literal["timer", "replay", "split", "throttled"] = "timer"
    throttled_attempts: int = Field(default=0, ge=0)

    @classmethod
    def for_window(
        cls, source: str, table: str, window: QueryWindow, origin: str = "timer"
    ) -> QueryJob:
        return cls.model_validate(
            {
                "job_id": job_id(source, table, window),
                "source": source,
                "table": table,
                "start": window.start,
                "end": window.end,
                "origin": origin,
            }
        )

    def describe(self) -> str:
        return f"{self.source}/{self.table} [{self.start.isoformat()}, {self.end.isoformat()})"


class FailureNotice(BaseModel):
    """A failure that crossed its threshold (or recurred after): the issue workflow's input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    fingerprint_version: int
    definition: str
    table: str
    source: str
    count: int
    first_seen: datetime
    last_seen: datetime
    threshold_crossed_at: datetime
    message: str
    exception_type: str | None = None
    stack_trace: str | None = None
    role: str | None = None
    operation_name: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    samples: list[str] = Field(default_factory=list)
    grouped_by: list[str] = Field(default_factory=list)
