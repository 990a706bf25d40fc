"""Grouping accuracy and throughput of Faultline's grouping against Drain3, on Loghub-2k.

    python -m bench.grouping [DATA_DIR]      # default ../shared/data/loghub2k

For each system, every grouper sees the same `Content` lines; GA is Zhu et al.'s grouping
accuracy (a line is right when its predicted group is exactly its true group).

- **Production path**: the lines are a custom Log Analytics table (`Loghub_CL`, one export per
  system) that the registered functions ingest as the app does: the timer queues query jobs,
  `query_and_detect` normalizes, fingerprints, groups them with the grouping log in Table Storage
  (Azurite) and counts them in the ledger; each line's group is read back from the ledger.
- **CLI**: `detection.merge.group_messages` (`python -m detection group`), the same masks and
  merge step without storage, caches cleared per system so nothing is learned across systems.
- **Drain3 0.9.11** with its default settings, a fresh miner per system.

Throughput is lines per second over all systems, best of REPEATS runs each, interleaved so all
see the same machine load (the production path is measured once: it includes Table Storage).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.masks import MASKER
from detection.merge import group_messages
from local_host.azurite import Azurite, start_azurite
from local_host.host import FunctionTable, QueueDriver, SimulatedClock, timer_request

DEFAULT_DATA = Path("../shared/data/loghub2k")
REPEATS = 5


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    true_groups: dict[Hashable, set[int]] = defaultdict(set)
    predicted_groups: dict[Hashable, set[int]] = defaultdict(set)
    for index, (true, guess) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[true].add(index)
        predicted_groups[guess].add(index)
    correct = sum(
        len(members)
        for members in predicted_groups.values()
        if true_groups[truth[next(iter(members))]] == members
    )
    return correct / len(truth) if truth else 1.0


def faultline(lines: Sequence[str]) -> list[str]:
    MASKER.clear_caches()
    return group_messages(lines)


def drain3(lines: Sequence[str]) -> list[int]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    miner = TemplateMiner(config=TemplateMinerConfig())
    return [miner.add_log_message(line)["cluster_id"] for line in lines]


START = datetime(2026, 11, 20, tzinfo=UTC)
RULES = """
version: 1
sources:
  - name: loghub
    workspace_id: 00000000-0000-0000-0000-000000000001
    tables:
      - name: Loghub_CL
        columns: {message: Content, role: System}
        record_id_column: LineId
    max_window: 15m
    initial_backfill: 1h
failures:
  - name: loghub-line
    tables: [Loghub_CL]
    when: {field: Content, exists: true}
    threshold: {count: 1, within: 1h}
routing:
  default_repository: bench/loghub
"""


def _export(directory: Path, system: str, lines: Sequence[str]) -> None:
    """One system's lines as a Log Analytics export: a line a second, ingested a minute later."""
    rows = [
        [
            (START + timedelta(seconds=i)).isoformat(),
            (START + timedelta(seconds=i, minutes=1)).isoformat(),
            f"{system}-{i}",
            system,
            line,
        ]
        for i, line in enumerate(lines)
    ]
    columns = [
        {"name": "TimeGenerated", "type": "datetime"},
        {"name": "IngestionTime", "type": "datetime"},
        {"name": "LineId", "type": "string"},
        {"name": "System", "type": "string"},
        {"name": "Content", "type": "string"},
    ]
    table = {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]}
    (directory / "Loghub_CL.json").write_text(json.dumps(table))


def production_path(systems: dict[str, tuple[list[str], list[str]]]) -> dict[str, list[str]]:
    """Each line's group as the deployed app would decide it, read back from the ledger."""
    with start_azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        rules = directory / "rules.yaml"
        rules.write_text(RULES)
        os.environ.update(_settings(azurite, directory, rules, "bench"))
        import function_app  # reads its settings at import, as the host's indexing does

        functions = FunctionTable.of(function_app.app)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        groups: dict[str, list[str]] = {}
        for system, (lines, _) in systems.items():
            data = directory / system
            data.mkdir()
            _export(data, system, lines)
            env = _settings(azurite, data, rules, system)
            clock = SimulatedClock(START + timedelta(minutes=5))
            services = bootstrap(env, clock=clock)
            install(services)
            jobs = QueueDriver(
                queues, services.settings.query_queue, functions.user_function("query_and_detect")
            )
            tick = functions.user_function("fan_out_queries")
            end = START + timedelta(seconds=len(lines), minutes=10)
            while clock.now() <= end:
                tick(timer_request())
                jobs.drain()
                clock.advance(timedelta(minutes=5))
            where: dict[str, str] = {}
            for entry in services.ledger.summaries():
                group = services.grouping.resolve(entry.fingerprint)
                for row in services.ledger.occurrences(entry.fingerprint):
                    where[row["RecordId"]] = group
            install(None)
            groups[system] = [where.get(f"{system}-{i}", "(lost)") for i in range(len(lines))]
    return groups


def _settings(azurite: Azurite, data: Path, rules: Path, system: str) -> dict[str, str]:
    suffix = f"{system.lower()}{uuid.uuid4().hex[:6]}"
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "FAULTLINE_LOGS_EXPORT_DIR": str(data),
        "FAULTLINE_RULES_PATH": str(rules),
        "FAULTLINE_QUERY_QUEUE": f"jobs-{suffix}",
        "FAULTLINE_FAILURE_QUEUE": f"failures-{suffix}",
        "FAULTLINE_TABLE_PREFIX": f"B{suffix}",
    }


def load(data: Path) -> dict[str, tuple[list[str], list[str]]]:
    systems = {}
    for path in sorted(data.glob("*/*_structured_corrected.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        systems[path.parent.name] = (
            [row["Content"] for row in rows],
            [row["EventTemplate"] for row in rows],
        )
    return systems


def _timed(grouper: Callable[[Sequence[str]], Sequence[Hashable]], lines: list[str]) -> float:
    start = time.perf_counter()
    grouper(lines)
    return time.perf_counter() - start


def main(argv: Sequence[str]) -> int:
    logging.disable(logging.CRITICAL)
    data = Path(argv[0]) if argv else DEFAULT_DATA
    systems = load(data)
    if not systems:
        print(f"no *_structured_corrected.csv under {data}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    production = production_path(systems)
    production_seconds = time.perf_counter() - started
    groupers = {"Faultline CLI": faultline, "Drain3 0.9.11": drain3}
    names = ["production path", *groupers]
    scores: dict[str, list[float]] = {name: [] for name in names}
    lost = sum(groups.count("(lost)") for groups in production.values())
    print(f"{'system':<10} " + " ".join(f"{name:>16}" for name in names))
    for system, (lines, truth) in systems.items():
        row = [
            grouping_accuracy(truth, production[system]),
            *(grouping_accuracy(truth, grouper(lines)) for grouper in groupers.values()),
        ]
        for name, score in zip(names, row, strict=True):
            scores[name].append(score)
        print(f"{system:<10} " + " ".join(f"{score:>16.3f}" for score in row))
    print(f"{'average':<10} " + " ".join(f"{sum(s) / len(s):>16.3f}" for s in scores.values()))
    print(f"{'minimum':<10} " + " ".join(f"{min(s):>16.3f}" for s in scores.values()))
    total = sum(len(lines) for lines, _ in systems.values())
    print(f"production path: {lost} of {total} lines not counted; {production_seconds:.0f} s")
    best = {name: float("inf") for name in groupers}
    for _ in range(REPEATS):
        for name, grouper in groupers.items():
            elapsed = sum(_timed(grouper, lines) for lines, _ in systems.values())
            best[name] = min(best[name], elapsed)
    rates = {name: total / seconds for name, seconds in best.items()}
    print(
        f"{'lines/s':<10} "
        + f"{total / production_seconds:>16,.0f} "
        + " ".join(f"{rate:>16,.0f}" for rate in rates.values())
    )
    faultline_rate, drain_rate = rates.values()
    print(f"Faultline CLI throughput: {faultline_rate / drain_rate:.2f}x Drain3 ({total} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
