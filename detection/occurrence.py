"""One detected row as the stores keep it: redacted, bounded, JSON-able, enough to count and show.

A `Detection` holds the whole row (every column) for the moment it is judged; what outlives the
query job (the operation waiting for its cause, the ledger's sample incident, the issue's
evidence) is this smaller value. Its text is redacted (`detection.redaction`) and only then
capped, so no secret is stored, no secret is half-shown at a cut, and no store or queue message
can be pushed over its size limit by one long log line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from detection.conditions import resolve
from detection.correlation import correlation_keys
from detection.detect import Detection
from detection.fingerprint import fingerprint_summary
from detection.redaction import redact_then_clip
from detection.rules import FieldPath

MAX_MESSAGE = 4_000
MAX_STACK = 16_000
MAX_CALL_VALUE = 1_000


def _routable(value: Any) -> Any:
    """A field value a route condition compares: scalars as they are, anything else as text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return (
        str(value)[:MAX_CALL_VALUE]
        if isinstance(value, str)
        else json.dumps(value)[:MAX_CALL_VALUE]
    )


@dataclass(frozen=True)
class Occurrence:
    """A detected row: which failure, where and when, and what a person needs to see of it."""

    definition: str
    fingerprint: str
    version: int
    table: str
    record_id: str
    time: datetime
    kind: str
    rank: int
    message: str
    group: str = ""
    source: str = ""
    keys: tuple[str, ...] = ()
    previous: str | None = None
    role: str | None = None
    operation_name: str | None = None
    exception_type: str | None = None
    stack_trace: str | None = None
    title: str = ""
    basis: str = ""
    culprit: str | None = None
    grouped_by: tuple[str, ...] = ()
    components: str = ""
    context: Mapping[str, str] = field(default_factory=dict)
    call: Mapping[str, str] = field(default_factory=dict)
    app_version: str | None = None
    instance: str | None = None
    user: str | None = None
    recovered: bool = False
    """Its operation showed no failure of its own (`only_when_operation_fails`)."""
    route_fields: Mapping[str, Any] = field(default_factory=dict)
    """The record's values of the fields routing conditions read (`Rules.route_fields`)."""
    ingested: datetime | None = None
    """When the workspace ingested the row (None when its source gives no ingestion time, as an
    alert webhook's records): the clock a held operation settles on (`detection.settling`)."""

    @property
    def arrived(self) -> datetime:
        """The row's ingestion time, else its own time: the best known moment it became
        readable."""
        return self.ingested if self.ingested is not None else self.time

    @classmethod
    def of(
        cls,
        detection: Detection,
        group: str = "",
        *,
        redact_ips: bool = False,
        route_fields: Sequence[FieldPath] = (),
    ) -> Occurrence:
        """The occurrence as it may be stored: every text from the log redacted, then cut."""
        record, print_ = detection.record, detection.fingerprint
        keys = correlation_keys(record)

        def clean(text: str, limit: int) -> str:
            return redact_then_clip(text, limit, redact_ips=redact_ips)

        return cls(
            definition=detection.definition,
            fingerprint=print_.value,
            version=print_.version,
            table=record.table,
            record_id=record.record_id,
            time=record.time_generated,
            kind=record.kind,
            rank=detection.rank,
            message=clean(record.message, MAX_MESSAGE),
            group=group,
            keys=keys,
            previous=detection.previous,
            role=record.role,
            operation_name=clean(record.operation_name, MAX_CALL_VALUE)
            if record.operation_name
            else None,
            exception_type=print_.exception_type or record.exception_type,
            stack_trace=clean(record.stack_trace, MAX_STACK) if record.stack_trace else None,
            title=clean(print_.title, MAX_CALL_VALUE),
            basis=print_.basis,
            culprit=print_.culprit,
            grouped_by=tuple(c.hint for c in print_.components if c.contributes),
            components=clean(json.dumps(fingerprint_summary(print_)), MAX_STACK),
            context={k: clean(v, MAX_CALL_VALUE) for k, v in detection.context.items()},
            call={k: clean(v, MAX_CALL_VALUE) for k, v in record.call.items()},
            app_version=record.app_version,
            instance=record.instance,
            user=record.user,
            route_fields={
                str(path): _routable(resolve(record.fields, path)) for path in route_fields
            },
            ingested=record.ingested_at,
        )

    def routing_fields(self) -> dict[str, Any]:
        """`route_fields` as the nested record a condition reads (`Properties.tenant`)."""
        nested: dict[str, Any] = {}
        for dotted, value in self.route_fields.items():
            column, *keys = dotted.split(".")
            node = nested
            for key in [column, *keys][:-1]:
                node = node.setdefault(key, {})
            node[[column, *keys][-1]] = value
        return nested

    @property
    def operation(self) -> str | None:
        """The operation's primary correlation key (`inv:` or `op:`), if the row has one."""
        return self.keys[0] if self.keys else None

    @property
    def operation_id(self) -> str | None:
        """The operation's id without its key prefix (for people and exports)."""
        return self.keys[-1].split(":", 1)[1] if self.keys else None

    def to_json(self) -> str:
        body: dict[str, Any] = asdict(self)
        body["time"] = self.time.isoformat()
        if self.ingested is not None:
            body["ingested"] = self.ingested.isoformat()
        else:
            del body["ingested"]
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Occurrence:
        body = json.loads(text)
        body["time"] = datetime.fromisoformat(body["time"])
        if body.get("ingested") is not None:
            body["ingested"] = datetime.fromisoformat(body["ingested"])
        body["grouped_by"] = tuple(body.get("grouped_by") or ())
        body["keys"] = tuple(body.get("keys") or ())
        return cls(**body)
