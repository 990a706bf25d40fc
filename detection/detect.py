"""Judge normalized records against the failure definitions and fingerprint each failure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from detection.conditions import matches, resolve, to_string
from detection.fingerprint import Fingerprint, fingerprint
from detection.records import LogRecord
from detection.rules import FailureDefinition, Threshold


@dataclass(frozen=True)
class Detection:
    """One record that is an occurrence of a failure definition."""

    definition: str
    fingerprint: Fingerprint
    record: LogRecord
    context: Mapping[str, str] = field(default_factory=dict)


def _extract(definition: FailureDefinition, record: LogRecord) -> dict[str, str]:
    values = {}
    for extractor in definition.context.extractors:
        match = re.search(extractor.regex, to_string(resolve(record.fields, extractor.field)))
        if match and match.group("value"):
            values[extractor.name] = match.group("value")
    return values


def detect(
    records: Iterable[LogRecord], definitions: Sequence[FailureDefinition]
) -> list[Detection]:
    """Every (record, definition) pair where the definition's condition holds."""
    detections = []
    for record in records:
        for definition in definitions:
            if record.table in definition.tables and matches(definition.when, record.fields):
                override = definition.fingerprint.fields if definition.fingerprint else None
                detections.append(
                    Detection(
                        definition=definition.name,
                        fingerprint=fingerprint(definition.name, record, override),
                        record=record,
                        context=_extract(definition, record),
                    )
                )
    return detections


def first_crossing(times: Sequence[datetime], threshold: Threshold) -> datetime | None:
    """When `count` occurrences first fell within `within` of each other (sorted times)."""
    for index in range(threshold.count - 1, len(times)):
        if times[index] - times[index - threshold.count + 1] <= threshold.within:
            return times[index]
    return None
