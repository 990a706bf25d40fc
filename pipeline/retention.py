"""The ledger's daily clean-up: occurrence rows older than `dedup.occurrence_retention` go.

Counts, first and last seen and the chart's hourly tally live in each fingerprint's summary row,
so nothing an issue shows is lost; what goes is the per-record memory that makes a record seen
twice count once, which is why a replay of a window older than the retention is refused.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pipeline.services import Services

log = logging.getLogger(__name__)


def retained_since(services: Services) -> datetime:
    """The oldest moment whose occurrences the ledger still remembers."""
    return services.clock.now() - services.rules.dedup.occurrence_retention


def prune_ledger(services: Services) -> int:
    """Delete the occurrence rows older than the retention, the failing operations first seen
    before it and the alert deliveries received before it; returns how many occurrence rows
    went."""
    before = retained_since(services)
    deleted = services.ledger.prune(before)
    operations = services.operations.prune(before)
    deliveries = services.deliveries.prune(before)
    log.info(
        "clean-up: %d occurrence rows, %d operations and %d alert deliveries before %s deleted",
        deleted,
        operations,
        deliveries,
        before.isoformat(),
    )
    return deleted
