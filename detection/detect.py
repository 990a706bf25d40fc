"""Judge normalized records against the failure definitions and fingerprint each failure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from detection.conditions import matches, regex_search, resolve, to_string
from detection.correlation import rank
from detection.fingerprint import Fingerprint, fingerprint
from detection.fingerprint_v2.fingerprint import fingerprint as fingerprint_v2
from detection.records import LogRecord
from detection.rules import FailureDefinition, Threshold


@dataclass(frozen=True)
class Detection:
    """One record that is an occurrence of a failure definition."""

    definition: str
    fingerprint: Fingerprint
    record: LogRecord
    context: Mapping[str, str] = field(default_factory=dict)
    previous: str | None = None
    """The previous fingerprint version's value, during an upgrade's transition."""

    @property
    def rank(self) -> int:
        """How specific the row is about its operation's failure (`detection.correlation`)."""
        return rank(self.record, self.fingerprint.has_in_app_frames)


def _extract(definition: FailureDefinition, record: LogRecord) -> dict[str, str]:
    values = {}
    for extractor in definition.context.extractors:
        match = regex_search(extractor.regex, to_string(resolve(record.fields, extractor.field)))
        if match and match.group("value"):
            values[extractor.name] = match.group("value")
    return values


def detect(
    records: Iterable[LogRecord],
    definitions: Sequence[FailureDefinition],
    *,
    with_previous: bool = False,
) -> list[Detection]:
    """Every (record, definition) pair where the definition's condition holds; `with_previous`
    also computes the previous fingerprint version (during an upgrade's transition)."""
    detections = []
    for record in records:
        for definition in definitions:
            if definition.reads(record.table) and matches(definition.when, record.fields):
                override = definition.fingerprint.fields if definition.fingerprint else None
                previous = (
                    fingerprint_v2(definition.name, record, override).value
                    if with_previous
                    else None
                )
                detections.append(
                    Detection(
                        definition=definition.name,
                        fingerprint=fingerprint(definition.name, record, override),
                        record=record,
                        context=_extract(definition, record),
                        previous=previous,
                    )
                )
    return detections


def first_crossing(times: Sequence[datetime], threshold: Threshold) -> datetime | None:
    """When `count` occurrences first fell within `within` of each other (sorted times)."""
    for index in range(threshold.count - 1, len(times)):
        if times[index] - times[index - threshold.count + 1] <= threshold.within:
            return times[index]
    return None
