"""What `GET /api/health` reports: configuration, storage reachability and each table's lag."""

from __future__ import annotations

from typing import Any

from pipeline.bootstrap import Services


def health(services: Services) -> tuple[bool, dict[str, Any]]:
    now = services.clock.now()
    rules = services.rules
    report: dict[str, Any] = {
        "config": {
            "loaded": True,
            "sources": [s.name for s in rules.sources],
            "failure_definitions": len(rules.failures),
        }
    }
    try:
        checkpoints = {(c.source, c.table): c for c in services.checkpoints.all()}
        poisoned = services.poisoned_jobs.count()
        poisoned_notices = services.poisoned_jobs.count("failure-notices")
    except Exception as error:  # any storage failure is what this endpoint exists to report
        report["storage"] = {"reachable": False, "error": f"{type(error).__name__}: {error}"}
        return False, report
    report["storage"] = {
        "reachable": True,
        "poisoned_jobs": poisoned,
        "poisoned_notices": poisoned_notices,
    }
    tables = []
    for source in rules.sources:
        for table in source.tables:
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
