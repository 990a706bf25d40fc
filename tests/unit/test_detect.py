"""Detection, thresholds and the first fingerprint's stability."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.detect import detect, first_crossing
from detection.fingerprint import FINGERPRINT_VERSION, fingerprint, message_template
from detection.records import LogRecord
from detection.rules import FailureDefinition, Threshold

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _record(message: str, **fields: object) -> LogRecord:
    return LogRecord(
        table="AppTraces",
        record_id=message,
        time_generated=T0,
        ingested_at=None,
        message=message,
        fields={"Message": message, **fields},
    )


def _brute_force(times: list[datetime], count: int, within: timedelta) -> datetime | None:
    for end in range(len(times)):
        if sum(1 for t in times[: end + 1] if times[end] - t <= within) >= count:
            return times[end]
    return None


@given(
    offsets=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    count=st.integers(min_value=1, max_value=6),
    within=st.integers(min_value=0, max_value=3_000),
)
def test_first_crossing_matches_brute_force(offsets: list[int], count: int, within: int) -> None:
    times = sorted(T0 + timedelta(seconds=s) for s in offsets)
    threshold = Threshold(count=count, within=timedelta(seconds=within))
    assert first_crossing(times, threshold) == _brute_force(times, count, timedelta(seconds=within))


def test_detect_applies_each_definition_of_the_table_and_extracts_context() -> None:
    definitions = [
        FailureDefinition.model_validate(
            {
                "name": "payment-timeout",
                "tables": ["AppTraces"],
                "when": {"field": "Message", "contains": "timeout"},
                "context": {
                    "extractors": [
                        {"name": "order_id", "field": "Message", "regex": r"order (?P<value>\d+)"}
                    ]
                },
            }
        ),
        FailureDefinition.model_validate(
            {
                "name": "other-table",
                "tables": ["AppRequests"],
                "when": {"field": "Message", "exists": True},
            }
        ),
    ]
    detections = detect([_record("timeout for order 42"), _record("all good")], definitions)
    assert [(d.definition, dict(d.context)) for d in detections] == [
        ("payment-timeout", {"order_id": "42"})
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "Order 1042 not found for user ann@example.com",
            "Order 77 not found for user bob@contoso.org",
        ),
        (
            "GET https://api.contoso.com/v1/items?id=9 timed out after 30s",
            "GET https://api.contoso.com/v2/x timed out after 5s",
        ),
        (
            "lock 3f2a9c1e-0000-4d8e-9f1e-2a7c1d9e8b10 held by 10.0.0.4:5432",
            "lock 9e2a9c1e-1111-4d8e-9f1e-2a7c1d9e8b10 held by 10.0.0.17:5432",
        ),
        (
            "cannot open /var/data/a1/file.db at 2026-11-20T00:01:02Z",
            "cannot open /var/data/b7/other.db at 2026-11-21 10:00:00",
        ),
    ],
)
def test_variable_values_do_not_change_the_fingerprint(first: str, second: str) -> None:
    assert fingerprint("d", _record(first)).value == fingerprint("d", _record(second)).value


def test_different_failures_get_different_fingerprints_whatever_definition_saw_them() -> None:
    base = fingerprint("d", _record("Order 1 not found"))
    assert base.value != fingerprint("d", _record("Order 1 was cancelled")).value
    assert base.value == fingerprint("e", _record("Order 1 not found")).value, "one failure"
    assert base.version == FINGERPRINT_VERSION


def test_pinned_fields_override_the_default_grouping() -> None:
    definition = FailureDefinition.model_validate(
        {
            "name": "d",
            "tables": ["AppTraces"],
            "when": {"field": "Message", "exists": True},
            "fingerprint": {"fields": ["Service"]},
        }
    )
    assert definition.fingerprint is not None
    a = fingerprint("d", _record("anything", Service="payments"), definition.fingerprint.fields)
    b = fingerprint(
        "d", _record("else entirely", Service="payments"), definition.fingerprint.fields
    )
    assert a.value == b.value
    assert a.components[0].hint == "pinned by the definition's fingerprint fields"


def test_message_template_names_the_masks() -> None:
    assert (
        message_template("user ann@example.com paid 12.50 at 10.1.2.3")
        == "user <email> paid <float> at <ip>"
    )


def test_an_extractor_cannot_backtrack_catastrophically_on_log_text() -> None:
    definition = FailureDefinition.model_validate(
        {
            "name": "d",
            "tables": ["AppTraces"],
            "when": {"field": "Message", "exists": True},
            "context": {
                "extractors": [
                    {"name": "words", "field": "Message", "regex": r"(?P<value>(\w+\s?)+)$"}
                ]
            },
        }
    )
    started = time.process_time()
    detect([_record("a" * 24 + "!")], [definition])
    assert time.process_time() - started < 0.5, "RE2 runs in linear time"
