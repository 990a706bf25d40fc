"""The grouping log on Azurite: workers deciding at once converge on one grouping, and a fresh
process replays the same."""

from __future__ import annotations

import hashlib
import multiprocessing
import random

import pytest
from azure.data.tables import TableServiceClient

from adapters.grouping_log import TableGroupingLog
from adapters.tables import ensure_table
from detection.fingerprint import FINGERPRINT_VERSION, Fingerprint

pytestmark = pytest.mark.integration

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def _print(scope: str, template: str) -> Fingerprint:
    value = hashlib.blake2b(f"{scope}|{template}".encode(), digest_size=16).hexdigest()
    return Fingerprint(value, FINGERPRINT_VERSION, (), template, scope, "message")


def _prints() -> list[Fingerprint]:
    return [
        _print(scope, template.format(name))
        for scope in ("sshd", "vm")
        for template in ("Invalid user {} from <*>", "Failed password for {} port <*>")
        for name in NAMES
    ]


def _worker(connection: str, table: str, seed: int, results: multiprocessing.Queue) -> None:
    service = TableServiceClient.from_connection_string(connection)
    log = TableGroupingLog(service.get_table_client(table))
    prints = _prints()
    random.Random(seed).shuffle(prints)
    for start in range(0, len(prints), 3):
        log.assign(prints[start : start + 3])
    results.put({p.value: log.resolve(log.assign([p])[p.value]) for p in _prints()})


def test_two_processes_merging_concurrently_converge_on_one_grouping(azurite, storage_env):
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = storage_env["FAULTLINE_TABLE_PREFIX"] + "Grouping"
    ensure_table(service, table)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(azurite.connection_string, table, seed, results))
        for seed in (1, 2)
    ]
    for worker in workers:
        worker.start()
    seen = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert seen[0] == seen[1], "both workers put every fingerprint in the same group"
    fresh = TableGroupingLog(service.get_table_client(table))
    replayed = {p.value: fresh.resolve(fresh.assign([p])[p.value]) for p in _prints()}
    assert replayed == seen[0], "a new process replays the same grouping"
    groups = {
        scope: {seen[0][p.value] for p in _prints() if p.scope == scope} for scope in ("sshd", "vm")
    }
    assert all(len(g) == 2 for g in groups.values()), "each scope: two templates, names merged"


def test_a_steady_state_job_costs_one_read(azurite, storage_env):
    """Once a process has the log, a job whose templates are known reads only the head row."""
    name = storage_env["FAULTLINE_TABLE_PREFIX"] + "Grouping"
    requests: list[str] = []
    service = TableServiceClient.from_connection_string(
        azurite.connection_string,
        raw_request_hook=lambda r: requests.append(f"{r.http_request.method} {r.http_request.url}"),
    )
    log = TableGroupingLog(ensure_table(service, name))
    prints = _prints()
    log.assign(prints)
    requests.clear()
    log.assign(prints)
    assert len(requests) == 1 and requests[0].startswith("GET"), requests
