"""What `GET /api/health` reports: configuration, storage reachability and each table's lag.

Each check reports a fixed category when it fails (`invalid`, `unreachable`, `denied`,
`failed`), never the exception's text, which can carry connection strings, account names and
hostnames; the detail goes to the log. Unhealthy (503) when the configuration did not load or
storage cannot be reached, whether that happens while the services are first built or later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from detection.known_issues import expired
from detection.rules import RulesError
from pipeline.services import Services
from pipeline.settings import SettingsError

log = logging.getLogger(__name__)

CONFIGURATION_ERRORS = (RulesError, SettingsError, OSError)
"""What building the services raises for a bad rules file, setting or template file (the
storage SDK wraps its connection failures in its own exceptions, none of them an OSError)."""


def health(
    services: Services | Callable[[], Services],
    storage_error_category: Callable[[BaseException], str],
) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Pass the services, or the function that builds them on first use
    (`bootstrap.services`), so a failure to build them is reported, not raised; and the storage
    adapter's way of naming its failures (`denied`, `unreachable`, `failed`)."""
    if callable(services):
        try:
            services = services()
        except CONFIGURATION_ERRORS:
            log.exception("health: the configuration did not load")
            return False, {"config": {"loaded": False, "error": "invalid"}}
        except Exception as error:  # building the services creates the storage tables
            log.exception("health: the services could not be built")
            return False, {
                "config": {"loaded": True},
                "storage": {"reachable": False, "error": storage_error_category(error)},
            }
    now = services.clock.now()
    rules = services.rules
    report: dict[str, Any] = {
        "config": {
            "loaded": True,
            "sources": [s.name for s in rules.enabled_sources],
            "disabled_sources": [s.name for s in rules.sources if not s.enabled],
            "failure_definitions": len(rules.failures),
            "known_issues": {  # an entry past its expiry no longer suppresses: say which
                "in_force": [k.name for k in rules.known_issues if not expired(k, now)],
                "expired": [k.name for k in rules.known_issues if expired(k, now)],
            },
        }
    }
    try:
        checkpoints = {(c.source, c.table): c for c in services.checkpoints.all()}
        poisoned = services.poisoned_jobs.count()
        poisoned_notices = services.poisoned_jobs.count("failure-notices")
        poisoned_events = services.poisoned_jobs.count("github-events")
    except Exception as error:  # any storage failure is what this endpoint exists to report
        log.exception("health: storage check failed")
        report["storage"] = {"reachable": False, "error": storage_error_category(error)}
        return False, report
    report["storage"] = {
        "reachable": True,
        "poisoned_jobs": poisoned,
        "poisoned_notices": poisoned_notices,
        "poisoned_github_events": poisoned_events,
    }
    tables = []
    for source in rules.enabled_sources:  # a disabled source has no lag to report
        for table in source.watched:
            checkpoint = checkpoints.get((source.name, table.name))
            through = checkpoint.ingested_through if checkpoint else None
            tables.append(
                {
                    "source": source.name,
                    "table": table.name,
                    "ingested_through": through.isoformat() if through else None,
                    "lag_seconds": round((now - through).total_seconds()) if through else None,
                }
            )
    report["checkpoints"] = tables
    return True, report
