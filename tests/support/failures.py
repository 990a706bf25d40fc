"""One failure as the issue workflow's tests meet it: a checkout TypeError on Friday morning,
its occurrences (what the ledger counts) and its notice (what ingestion hands off)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from detection.occurrence import Occurrence
from pipeline.messages import FailureNotice

FRIDAY_MORNING = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # 10:30 in Amsterdam


def group_id(name: str) -> str:
    return hashlib.blake2b(name.encode(), digest_size=16).hexdigest()


def occurrences(group: str, total: int) -> list[Occurrence]:
    """The group's first `total` occurrences, a second apart from Friday morning (the same ids
    each time, so counting them again adds only the new ones)."""
    return [
        Occurrence(
            definition="unhandled-exception",
            fingerprint=group,
            group=group,
            version=3,
            table="AppExceptions",
            record_id=f"{group}-{i}",
            time=FRIDAY_MORNING + timedelta(seconds=i),
            kind="exception",
            rank=4,
            message=f"Cannot read properties of undefined (reading 'total') [{group[:6]}]",
            exception_type="TypeError",
            stack_trace="TypeError: Cannot read properties of undefined\n"
            "    at submit (/app/src/checkout.js:42:7)",
            title="TypeError in checkout.submit: Cannot read properties of undefined",
            basis="stack",
            culprit="checkout.submit",
            role="checkout-web",
            source="production",
        )
        for i in range(total)
    ]


def notice(
    name: str = "checkout-null", count: int = 3, last_seen: datetime | None = None
) -> FailureNotice:
    last = last_seen or FRIDAY_MORNING - timedelta(minutes=5)
    return FailureNotice(
        fingerprint=group_id(name),
        fingerprint_version=3,
        definition="unhandled-exception",
        table="AppExceptions",
        source="production",
        count=count,
        first_seen=FRIDAY_MORNING - timedelta(hours=1),
        last_seen=last,
        threshold_crossed_at=FRIDAY_MORNING - timedelta(hours=1),
        role="checkout-web",
    )
