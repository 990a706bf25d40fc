"""The local run: the whole ingestion pipeline on this machine, no Azure account needed.

Azurite holds the queues and tables; the log source is the bundled Log Analytics export; the
registered functions run in-process in the host's order (timer tick, then the query queue until
it is empty) over simulated time, so hours of telemetry take seconds. Prints what it detected.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from azure.storage.queue import QueueServiceClient

from adapters.tables import LedgerEntry
from detection.records import parse_datetime
from pipeline.bootstrap import Services, bootstrap, install
from pipeline.local.azurite import PROJECT_ROOT, start_azurite
from pipeline.local.host import FunctionTable, QueueDriver, SimulatedClock, timer_request
from pipeline.messages import FailureNotice

DEFAULT_DATA = PROJECT_ROOT / "samples" / "telemetry"


def _time_span(data: Path) -> tuple[datetime, datetime]:
    """Earliest TimeGenerated and latest ingestion time across the export's tables."""
    earliest: list[datetime] = []
    latest: list[datetime] = []
    for path in sorted(data.glob("*.json")):
        if path.name == "labels.json":
            continue
        table = json.loads(path.read_text())["tables"][0]
        names = [c["name"] for c in table["columns"]]
        for column, bucket in (("TimeGenerated", earliest), ("IngestionTime", latest)):
            index = names.index(column) if column in names else None
            for row in table["rows"]:
                try:
                    bucket.append(parse_datetime(row[index], column))
                except (ValueError, TypeError, IndexError):
                    continue
    if not earliest or not latest:
        raise SystemExit(f"no telemetry found in {data}")
    return min(earliest), max(latest)


def _drain_notices(service: QueueServiceClient, queue: str) -> list[FailureNotice]:
    from azure.storage.queue import BinaryBase64DecodePolicy

    client = service.get_queue_client(queue, message_decode_policy=BinaryBase64DecodePolicy())
    notices = []
    while batch := list(client.receive_messages(max_messages=32)):
        for message in batch:
            notices.append(FailureNotice.model_validate_json(message.content))
            client.delete_message(message)
    return notices


def run(data: Path, rules: Path | None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="  %(levelname)s %(message)s", stream=sys.stdout
    )
    logging.getLogger("azure").setLevel(logging.ERROR)
    print(f"Faultline local run over {data}")
    with start_azurite() as azurite:
        os.environ.update(
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "FAULTLINE_LOGS_EXPORT_DIR": str(data),
                **({"FAULTLINE_RULES_PATH": str(rules)} if rules else {}),
            }
        )
        import function_app

        first, last = _time_span(data)
        clock = SimulatedClock(
            first.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5)
        )
        services = bootstrap(clock=clock)
        install(services)
        functions = FunctionTable.of(function_app.app)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        jobs = QueueDriver(
            queues, services.settings.query_queue, functions.user_function("query_and_detect")
        )
        poison = QueueDriver(
            queues, services.settings.poison_queue, functions.user_function("record_poisoned_query")
        )
        tick = functions.user_function("fan_out_queries")
        interval = min(s.poll_interval for s in services.rules.sources)
        delay = max(s.ingestion_delay for s in services.rules.sources)
        notices: list[FailureNotice] = []
        processed = 0
        print(
            f"  Azurite on ports {azurite.queue_port}/{azurite.table_port}; simulating "
            f"{first:%Y-%m-%d %H:%M} to {last + delay:%H:%M} UTC in {interval} ticks"
        )
        while clock.now() <= last + delay + interval:
            tick(timer_request())
            processed += jobs.drain().processed
            poison.drain()
            notices.extend(_drain_notices(queues, services.settings.failure_queue))
            if clock.now().minute == 0:
                print(
                    f"  [{clock.now():%H:%M}] {processed} query jobs run, "
                    f"{len(notices)} failure notices"
                )
            clock.advance(interval)
        _report(services, notices, processed)
    return 0


def _report(services: Services, notices: list[FailureNotice], processed: int) -> None:
    summaries = services.ledger.summaries()
    by_definition: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in summaries:
        by_definition[entry.definition].append(entry)
    crossed = {n.fingerprint for n in notices}
    print(f"\nDetected ({processed} query jobs, {services.poisoned_jobs.count()} poisoned):")
    print(f"  {'definition':28} {'failures':>8} {'over threshold':>14} {'occurrences':>11}")
    for definition in sorted(by_definition):
        entries = by_definition[definition]
        over = sum(1 for e in entries if e.fingerprint in crossed)
        print(f"  {definition:28} {len(entries):>8} {over:>14} {sum(e.count for e in entries):>11}")
    latest = {n.fingerprint: n for n in sorted(notices, key=lambda n: n.count)}
    print("\nFailures handed to the issue workflow (top 10 by occurrences):")
    for notice in sorted(latest.values(), key=lambda n: -n.count)[:10]:
        where = notice.role or notice.table
        print(f"  {notice.count:>4}x  {notice.definition:24} {where:18} {notice.message[:70]}")
    handoffs = Counter(n.fingerprint for n in notices)
    print(
        f"\n{len(latest)} failures crossed their thresholds; {sum(handoffs.values())} notices sent "
        f"(first crossing plus recurrences)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder of <Table>.json exports"
    )
    parser.add_argument(
        "--rules", type=Path, default=None, help="rules file (default: faultline.yaml)"
    )
    args = parser.parse_args()
    return run(args.data.resolve(), args.rules)


if __name__ == "__main__":
    raise SystemExit(main())
