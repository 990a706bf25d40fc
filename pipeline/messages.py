"""Messages that travel on the Storage Queues between the pipeline's stages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from detection.windows import QueryWindow, job_id
from pipeline.ports import LedgerEntry


class QueryJob(BaseModel):
    """Query one table of one source over one ingestion-time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
    start: AwareDatetime
    end: AwareDatetime
    origin: Literal["timer", "replay", "split", "throttled"] = "timer"
    throttled_attempts: int = Field(default=0, ge=0, le=1000)
    run: str | None = Field(default=None, pattern=r"^replay-[0-9a-f]{16}$")
    """The replay this job belongs to (its halves and retries too), so issues it opens say so."""

    @model_validator(mode="after")
    def _ordered(self) -> QueryJob:
        if self.end <= self.start:
            raise ValueError("a job's window ends after it starts")
        return self

    @classmethod
    def for_window(
        cls,
        source: str,
        table: str,
        window: QueryWindow,
        origin: str = "timer",
        run: str | None = None,
    ) -> QueryJob:
        return cls.model_validate(
            {
                "job_id": job_id(source, table, window),
                "source": source,
                "table": table,
                "start": window.start,
                "end": window.end,
                "origin": origin,
                "run": run,
            }
        )

    def describe(self) -> str:
        return f"{self.source}/{self.table} [{self.start.isoformat()}, {self.end.isoformat()})"


class FailureNotice(BaseModel):
    """A group that crossed its threshold (or recurred after): the issue workflow's input.

    It names the group and its totals at hand-off; everything the issue shows is read from the
    ledger when the workflow runs, so a notice stays small whatever the logs hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    fingerprint_version: int = Field(ge=1)
    definition: str = Field(max_length=63)
    table: str = Field(max_length=200)
    source: str = Field(max_length=63)
    count: int = Field(ge=1)
    first_seen: datetime
    last_seen: datetime
    threshold_crossed_at: datetime
    role: str | None = Field(default=None, max_length=500)
    fields: dict[str, Any] = Field(default_factory=dict, max_length=32)
    """The founding record's values of the fields routing conditions read."""
    run: str | None = Field(default=None, max_length=64)
    """The replay whose job crossed the threshold, recorded on the issue it creates (undo)."""

    @classmethod
    def of(cls, entry: LedgerEntry, run: str | None = None) -> FailureNotice:
        """The notice of a group as the ledger holds it now, routed by its founding record."""
        founder = entry.founder
        if founder is None:
            raise ValueError(
                f"group {entry.fingerprint} has no founding occurrence to notify about"
            )
        return cls(
            fingerprint=entry.fingerprint,
            fingerprint_version=founder.version,
            definition=entry.definition,
            table=founder.table,
            source=founder.source,
            count=entry.count,
            first_seen=entry.first_seen,
            last_seen=entry.last_seen,
            threshold_crossed_at=entry.threshold_crossed_at or entry.last_seen,
            role=founder.role,
            fields=founder.routing_fields(),
            run=run,
        )

    @field_validator("fields")
    @classmethod
    def _small(cls, fields: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(fields, default=str)) > 16_000:
            raise ValueError("routing fields are limited to 16,000 characters")
        return fields
