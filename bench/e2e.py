"""End-to-end benchmark and fault matrix: a generated workload through the whole local stack.

    python -m bench.e2e [--quick] [--seed N]

A seeded workload (failing and healthy rows for four App Insights tables, a known number of
distinct failures and occurrences, late arrivals, one burst failure) is loaded into the Log
Analytics wire-format fake and driven through the real registered functions: timer ticks in
simulated time, query jobs over Azurite, failure notices into Durable orchestrations on
durabletask's in-memory backend, issues on the GitHub fake. It runs twice on fresh state: clean,
then with faults injected at random (Log Analytics 429/5xx/partial results, GitHub 5xx, secondary
rate limits and timeouts after success, the Durable worker killed mid-batch, redelivered jobs and
notices, overlapping replays). Each run prints its figures and the invariants it checked (issues
equal distinct failures, no duplicates, nothing lost, every count exact, at most one comment per
`dedup.comment_interval`); the exit status is non-zero when any invariant fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import yaml
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from detection.detect import detect
from detection.fingerprint import Fingerprint
from detection.markers import find_marker
from detection.records import Column, normalize_rows
from detection.rules import Rules, load_rules
from local_host.azurite import Azurite, start_azurite
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, SimulatedClock, http_request
from local_host.host import timer_request as timer
from pipeline.services import Services
from tests.fakes import github as gh
from tests.fakes import log_analytics as la

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"
REPOSITORY = ("contoso", "shop")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # a Friday morning in Amsterdam
STEP = timedelta(minutes=30)  # one timer tick per max_window of simulated time
PHASE_A = timedelta(hours=1)  # every failure first appears here
GAP = timedelta(minutes=75)  # longer than the comment interval, so recurrences may comment
PHASE_B = timedelta(minutes=45)  # a share of the failures recur here
COMMENT_INTERVAL = timedelta(hours=1)
UNLIMITED = 1_000_000_000
OCCURRENCES_CELL = re.compile(r"\*\*Occurrences\*\* \| (\d+) \|")

NOUNS = (
    "cart", "order", "payment", "invoice", "shipment", "coupon", "profile", "session", "catalog",
    "review", "refund", "stock", "price", "wallet", "basket", "report", "address", "discount",
    "ticket", "booking",
)  # fmt: skip
VERBS = (
    "load", "save", "apply", "validate", "compute", "render", "fetch", "sync", "merge", "reserve",
    "cancel", "export",
)  # fmt: skip
ROLES = (
    "checkout-web", "catalog-api", "orders-worker", "payments-api", "inventory-func", "search-api",
    "identity-api", "notify-worker",
)  # fmt: skip
DOTNET_ERRORS = (
    "NullReferenceException", "InvalidOperationException", "TimeoutException",
    "KeyNotFoundException", "ArgumentException", "FormatException",
)  # fmt: skip
PYTHON_ERRORS = ("ValueError", "KeyError", "TimeoutError", "RuntimeError", "ConnectionError")
REASONS = ("lock timeout", "quota exceeded", "upstream refused", "schema mismatch", "stale etag")

COLUMNS: dict[str, list[tuple[str, str]]] = {
    "AppExceptions": [
        ("TimeGenerated", "datetime"), ("ProblemId", "string"), ("ExceptionType", "string"),
        ("OuterType", "string"), ("OuterMessage", "string"), ("SeverityLevel", "int"),
        ("Details", "dynamic"), ("OperationName", "string"), ("OperationId", "string"),
        ("AppRoleName", "string"),
    ],
    "AppRequests": [
        ("TimeGenerated", "datetime"), ("Id", "string"), ("Name", "string"), ("Url", "string"),
        ("ResultCode", "string"), ("Success", "bool"), ("DurationMs", "real"),
        ("OperationName", "string"), ("OperationId", "string"), ("AppRoleName", "string"),
    ],
    "AppTraces": [
        ("TimeGenerated", "datetime"), ("Message", "string"), ("SeverityLevel", "int"),
        ("OperationName", "string"), ("OperationId", "string"), ("AppRoleName", "string"),
        ("Properties", "dynamic"),
    ],
    "FunctionAppLogs": [
        ("TimeGenerated", "datetime"), ("Category", "string"), ("Level", "string"),
        ("Message", "string"), ("FunctionName", "string"), ("FunctionInvocationId", "string"),
        ("ExceptionType", "string"), ("ExceptionMessage", "string"),
        ("ExceptionDetails", "string"), ("_ResourceId", "string"),
    ],
}  # fmt: skip
DEFINITIONS = {
    "AppExceptions": "unhandled-exception",
    "AppRequests": "failed-request",
    "AppTraces": "error-trace",
    "FunctionAppLogs": "function-error",
}
THRESHOLD_COUNTS = {"AppExceptions": 1, "AppRequests": 3, "AppTraces": 2, "FunctionAppLogs": 1}
RESOURCE = "/subscriptions/6f1c2b7e/resourcegroups/rg-shop/providers/microsoft.web/sites/"

Row = list[Any]


# -- the workload --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """How big a workload is; the burst is one failure with this many occurrences."""

    failures: int
    occurrences: int
    healthy: int
    burst: int
    late_share: float = 0.1


QUICK = Size(failures=16, occurrences=800, healthy=2_400, burst=2_000)
FULL = Size(failures=120, occurrences=12_000, healthy=50_000, burst=10_000)


@dataclass
class Failure:
    """One distinct failure the workload plants: its table, identity and occurrence times."""

    key: str
    table: str
    identity: tuple[str, ...]
    times: list[datetime] = field(default_factory=list)

    @property
    def definition(self) -> str:
        return DEFINITIONS[self.table]


@dataclass
class Workload:
    """Rows per table in wire form with their ingestion times, and the failures among them."""

    seed: int
    size: Size
    rows: dict[str, list[Row]]
    arrivals: dict[str, list[datetime]]
    failing: dict[str, list[Row]]  # the candidate rows (what the pushed-down KQL lets out)
    failing_arrivals: dict[str, list[datetime]]
    failing_keys: dict[str, list[str]]  # which planted failure each candidate row belongs to
    failures: list[Failure]
    burst_key: str
    late_rows: int

    @property
    def end(self) -> datetime:
        return max(max(times) for times in self.arrivals.values() if times)

    def total_rows(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def candidate_rows(self) -> int:
        return sum(len(rows) for rows in self.failing.values())


def _operation(table: str, row: Row) -> str:
    """The row's operation id (unique per generated row)."""
    column = "FunctionInvocationId" if table == "FunctionAppLogs" else "OperationId"
    return str(row[[name for name, _ in COLUMNS[table]].index(column)])


def _wire(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _hex(rng: random.Random, digits: int = 32) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _camel(word: str) -> str:
    return word[:1].upper() + word[1:]


def _failing_row(failure: Failure, at: datetime, rng: random.Random) -> Row:
    """A realistic row of the failure: ids, numbers and paths vary, the identity does not."""
    op = _hex(rng)
    match failure.table:
        case "AppExceptions":
            role, error, verb, noun = failure.identity
            message = f"Object {noun} {_hex(rng, 8)} failed after {rng.randint(1, 900)} ms"
            stack = (
                f"System.{error}: {message}\n"
                f"   at Contoso.Shop.{_camel(noun)}.{_camel(noun)}Service.{_camel(verb)}Async"
                f"(Guid id) in /src/{_camel(noun)}/{_camel(noun)}Service.cs:line "
                f"{rng.randint(20, 400)}\n"
                f"   at Contoso.Shop.Api.{_camel(noun)}Controller.{_camel(verb)}(Guid id) in "
                f"/src/Api/{_camel(noun)}Controller.cs:line {rng.randint(20, 400)}\n"
                "   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.Execute()"
            )
            details = [{"type": f"System.{error}", "message": message, "rawStack": stack}]
            return [
                _wire(at), f"{error} at {verb}", f"System.{error}", f"System.{error}", message,
                3, json.dumps(details), f"POST /api/{noun}/{verb}", op, role,
            ]  # fmt: skip
        case "AppRequests":
            role, method, noun, code = failure.identity
            return [
                _wire(at), _hex(rng, 16), f"{method} /api/{noun}/{rng.randint(1, 99_999)}",
                f"https://{role}.contoso.com/api/{noun}", code, False,
                round(rng.uniform(5, 3000), 3), f"{method} /api/{noun}", op, role,
            ]  # fmt: skip
        case "AppTraces":
            role, verb, noun, reason = failure.identity
            message = (
                f"Failed to {verb} {noun} {_hex(rng, 12)} for tenant {rng.randint(1, 5000)}: "
                f"{reason} after {rng.randint(2, 9)} attempts"
            )
            properties = json.dumps({"logger": f"{role}.{noun}"})
            return [_wire(at), message, 3, f"{verb}_{noun}", op, role, properties]
        case _:
            role, error, verb, noun = failure.identity
            message = f"{noun} {_hex(rng, 10)} could not be processed ({rng.randint(1, 99)})"
            trace = (
                "Traceback (most recent call last):\n"
                f'  File "/home/site/wwwroot/{noun}/{verb}.py", line {rng.randint(5, 300)}, '
                f"in {verb}_{noun}\n"
                f"    result = handle_{noun}(payload)\n"
                f'  File "/home/site/wwwroot/{noun}/handlers.py", line {rng.randint(5, 300)}, '
                f"in handle_{noun}\n"
                f"    raise {error}(message)\n"
                f"{error}: {message}"
            )
            return [
                _wire(at), f"Function.{verb}_{noun}.User", "Error",
                f"Executed 'Functions.{verb}_{noun}' (Failed, Id={op})", f"{verb}_{noun}", op,
                error, message, trace, RESOURCE + role,
            ]  # fmt: skip


def _healthy_row(table: str, at: datetime, rng: random.Random) -> Row:
    """Rows the failure conditions must not match, near misses included (404s, warnings)."""
    op, role, noun = _hex(rng), rng.choice(ROLES), rng.choice(NOUNS)
    match table:
        case "AppExceptions":  # handled exceptions are logged at a lower severity
            details = json.dumps([{"type": "System.OperationCanceledException", "message": "x"}])
            return [
                _wire(at), "OperationCanceledException", "System.OperationCanceledException",
                "System.OperationCanceledException", "The operation was canceled.", 1, details,
                f"GET /api/{noun}", op, role,
            ]  # fmt: skip
        case "AppRequests":
            code, ok = rng.choice((("200", True),) * 8 + (("404", False), ("302", True)))
            return [
                _wire(at), _hex(rng, 16), f"GET /api/{noun}/{rng.randint(1, 99_999)}",
                f"https://{role}.contoso.com/api/{noun}", code, ok,
                round(rng.uniform(1, 400), 3), f"GET /api/{noun}", op, role,
            ]  # fmt: skip
        case "AppTraces":
            level = rng.choice((0, 1, 1, 2))
            message = f"Loaded {noun} {_hex(rng, 12)} in {rng.randint(1, 300)} ms"
            return [_wire(at), message, level, f"load_{noun}", op, role, "{}"]
        case _:
            return [
                _wire(at), f"Function.load_{noun}", "Information",
                f"Executed 'Functions.load_{noun}' (Succeeded, Id={op})", f"load_{noun}", op,
                "", "", "", RESOURCE + role,
            ]  # fmt: skip


def _identities(table: str, rng: random.Random, count: int) -> list[tuple[str, ...]]:
    """`count` distinct identities for the table (what the fingerprint keys on)."""
    pools: dict[str, Callable[[], tuple[str, ...]]] = {
        "AppExceptions": lambda: (
            rng.choice(ROLES), rng.choice(DOTNET_ERRORS), rng.choice(VERBS), rng.choice(NOUNS)
        ),
        "AppRequests": lambda: (
            rng.choice(ROLES),
            rng.choice(("GET", "POST", "PUT", "DELETE")),
            rng.choice(NOUNS),
            rng.choice(("500", "502", "503")),
        ),
        "AppTraces": lambda: (
            rng.choice(ROLES), rng.choice(VERBS), rng.choice(NOUNS), rng.choice(REASONS)
        ),
        "FunctionAppLogs": lambda: (
            rng.choice(ROLES), rng.choice(PYTHON_ERRORS), rng.choice(VERBS), rng.choice(NOUNS)
        ),
    }  # fmt: skip
    found: dict[tuple[str, ...], None] = {}
    while len(found) < count:
        found.setdefault(pools[table]())
    return list(found)


def _arrival(at: datetime, rng: random.Random, late_share: float) -> tuple[datetime, bool]:
    """Ingestion seconds to minutes after the event; a share of rows lands 10 to 45 min late."""
    if rng.random() < late_share:
        return at + timedelta(minutes=rng.uniform(10, 45)), True
    return at + timedelta(seconds=rng.uniform(20, 180)), False


def generate(size: Size, seed: int) -> Workload:
    """A deterministic workload; every failure crosses its threshold in phase A."""
    rng = random.Random(seed)
    shares = {"AppExceptions": 0.35, "AppTraces": 0.3, "FunctionAppLogs": 0.25}
    per_table = {t: max(1, round((size.failures - 1) * s)) for t, s in shares.items()}
    per_table["AppRequests"] = max(1, size.failures - 1 - sum(per_table.values()))
    per_table["AppExceptions"] = (
        size.failures - 1 - sum(n for t, n in per_table.items() if t != "AppExceptions")
    )
    failures = [
        Failure(f"{table}-{i:03d}", table, identity)
        for table, count in per_table.items()
        for i, identity in enumerate(_identities(table, rng, count + (table == "AppExceptions")))
    ]
    burst = failures.pop(next(i for i, f in enumerate(failures) if f.table == "AppExceptions"))
    burst.key = "burst"
    phase_b = T0 + PHASE_A + GAP
    weights = [rng.paretovariate(1.2) for _ in failures]
    spare = max(0, size.occurrences - sum(THRESHOLD_COUNTS[f.table] for f in failures))
    recurring = set(rng.sample(range(len(failures)), k=len(failures) // 3))
    for index, (failure, weight) in enumerate(zip(failures, weights, strict=True)):
        first = T0 + PHASE_A * rng.uniform(0, 0.75)
        failure.times = [  # the threshold's worth within two minutes: it crosses for sure
            first + timedelta(seconds=rng.uniform(0, 120))
            for _ in range(THRESHOLD_COUNTS[failure.table])
        ]
        extra = int(spare * weight / sum(weights))
        later = extra // 2 if index in recurring else 0
        failure.times += [
            first + (T0 + PHASE_A - first) * rng.random() for _ in range(extra - later)
        ]
        failure.times += [phase_b + PHASE_B * rng.random() for _ in range(later)]
    span = PHASE_A + GAP + PHASE_B
    burst.times = [T0 + span * rng.random() for _ in range(size.burst)]
    failures.append(burst)

    rows: dict[str, list[Row]] = {t: [] for t in COLUMNS}
    arrivals: dict[str, list[datetime]] = {t: [] for t in COLUMNS}
    failing: dict[str, list[Row]] = {t: [] for t in COLUMNS}
    failing_arrivals: dict[str, list[datetime]] = {t: [] for t in COLUMNS}
    failing_keys: dict[str, list[str]] = {t: [] for t in COLUMNS}
    late = 0
    for failure in failures:
        for at in failure.times:
            row = _failing_row(failure, at, rng)
            arrival, was_late = _arrival(at, rng, size.late_share)
            late += was_late
            for target, moments in ((rows, arrivals), (failing, failing_arrivals)):
                target[failure.table].append(row)
                moments[failure.table].append(arrival)
            failing_keys[failure.table].append(failure.key)
    tables = list(COLUMNS)
    for _ in range(size.healthy):
        table = rng.choice(tables)
        at = T0 + span * rng.random()
        arrival, was_late = _arrival(at, rng, size.late_share)
        late += was_late
        rows[table].append(_healthy_row(table, at, rng))
        arrivals[table].append(arrival)
    return Workload(
        seed,
        size,
        rows,
        arrivals,
        failing,
        failing_arrivals,
        failing_keys,
        failures,
        burst.key,
        late,
    )


# -- the stack -----------------------------------------------------------------------------------


class TimedLogAnalytics(la.LogAnalyticsFake):
    """The Log Analytics fake, timing its own work so the figures can say what it cost."""

    busy_seconds = 0.0

    def _answer(self, workspace_id: str, query: str, timespan: str | None) -> Any:
        started = time.perf_counter()
        try:
            return super()._answer(workspace_id, query, timespan)
        finally:
            self.busy_seconds += time.perf_counter() - started


def write_rules(directory: Path, **changes: Any) -> Path:
    """faultline.yaml watching the workload's four tables, with generous limits by default."""
    document = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    source = document["sources"][0]
    source["workspace_id"] = WORKSPACE
    source["tables"] = list(COLUMNS)
    source["max_window"] = f"{int(STEP.total_seconds() // 60)}m"
    document["failures"] = [
        f for f in document["failures"] if f.get("tables") and set(f["tables"]) <= set(COLUMNS)
    ]
    names = {f["name"] for f in document["failures"]}
    document["routing"]["default_repository"] = "/".join(REPOSITORY)
    document["routing"]["routes"] = [
        r for r in document["routing"]["routes"] if set(r.get("when_definitions", [])) <= names
    ]
    document["rate_limits"] = {
        "issues_per_hour": 100_000,
        "issues_per_hour_per_repository": 100_000,
        "comments_per_hour": 100_000,
    }
    document["dedup"]["comment_interval"] = f"{int(COMMENT_INTERVAL.total_seconds() // 60)}m"
    document["assignment"]["outside_business_hours"] = "assign"
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = directory / f"rules-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def load_workload_rules(path: Path) -> Rules:
    return load_rules(path.read_text(), os.environ, origin=str(path))


@dataclass
class Stack:
    """One scenario's running pipeline: fresh queues, tables, fakes and Durable task hub."""

    services: Services
    clock: SimulatedClock
    logs: TimedLogAnalytics
    github: gh.GitHubFake
    durable: DurableRuntime
    jobs: QueueDriver
    notices: QueueDriver
    functions: FunctionTable
    job_bodies: list[str] = field(default_factory=list)
    notice_bodies: list[str] = field(default_factory=list)

    def tick(self) -> None:
        self.functions.user_function("fan_out_queries")(timer())

    def settle_operations(self) -> None:
        """The sweep that counts operations whose cause can no longer arrive."""
        self.functions.user_function("settle_operations")(timer())

    def replay(self, start: datetime, end: datetime) -> None:
        body = {"source": "production", "start": start.isoformat(), "end": end.isoformat()}
        response = self.functions.user_function("replay_window")(
            http_request("POST", "replay", json.dumps(body).encode())
        )
        if response.status_code != 202:
            raise RuntimeError(f"replay refused: {response.get_body().decode()}")

    def poisoned(self) -> int:
        queues = QueueServiceClient.from_connection_string(
            self.services.settings.storage_connection_string or ""
        )
        return sum(
            int(
                queues.get_queue_client(f"{name}-poison")
                .get_queue_properties()
                .approximate_message_count
                or 0
            )
            for name in (self.services.settings.query_queue, self.services.settings.failure_queue)
        )


@contextmanager
def running_stack(
    azurite: Azurite, functions: FunctionTable, workload: Workload, rules: Path
) -> Iterator[Stack]:
    """Start the fakes and the Durable runtime, load the workload, install the services."""
    suffix = uuid.uuid4().hex[:10]
    clock = SimulatedClock(T0 + STEP)
    with (
        TimedLogAnalytics() as logs,
        gh.GitHubFake(
            clock=gh.SimulatedSeconds(clock),
            core_limit=UNLIMITED,
            search_limit=UNLIMITED,
            secondary_per_minute=UNLIMITED,
            secondary_per_hour=UNLIMITED,
        ) as github,
        DurableRuntime(functions, task_hub=f"bench{suffix}", clock=clock) as durable,
    ):
        github.add_repository(*REPOSITORY)
        for table, columns in COLUMNS.items():
            logs.add_table(
                WORKSPACE, table, columns, workload.rows[table], workload.arrivals[table]
            )
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "FAULTLINE_QUERY_QUEUE": f"bench-jobs-{suffix}",
            "FAULTLINE_FAILURE_QUEUE": f"bench-failures-{suffix}",
            "FAULTLINE_TABLE_PREFIX": f"B{suffix}",
            "FAULTLINE_RULES_PATH": str(rules),
            "FAULTLINE_LOGS_ENDPOINT": logs.endpoint,
            "FAULTLINE_LOGS_CA_BUNDLE": logs.ca_path,
            "FAULTLINE_GITHUB_API_URL": github.base_url,
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",  # a local fake
            "FAULTLINE_GITHUB_TOKEN": github.user_token,
            "FAULTLINE_GITHUB_TIMEOUT_SECONDS": "1",
            "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
            "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
        }
        services = bootstrap(
            env, clock=clock, credential=logs.credential, timer_seconds=clock.seconds
        )
        install(services)
        job_bodies: list[str] = []
        notice_bodies: list[str] = []
        query = functions.user_function("query_and_detect")
        starter = functions.user_function("start_issue_workflow")

        def run_job(message: func.QueueMessage) -> None:
            job_bodies.append(message.get_body().decode())
            query(message)

        def start(message: func.QueueMessage) -> None:
            notice_bodies.append(message.get_body().decode())
            starter(message, durable.binding)

        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        try:
            yield Stack(
                services,
                clock,
                logs,
                github,
                durable,
                QueueDriver(queues, services.settings.query_queue, run_job),
                QueueDriver(queues, services.settings.failure_queue, start),
                functions,
                job_bodies,
                notice_bodies,
            )
        finally:
            install(None)


# -- faults --------------------------------------------------------------------------------------

ISSUES_PATH = "/repos/{}/{}/issues".format(*REPOSITORY)
GITHUB_FAULTS: tuple[tuple[str, str, gh.Fault], ...] = (
    ("POST", ISSUES_PATH, gh.ServerError(502)),
    ("POST", ISSUES_PATH, gh.SecondaryRateLimit(retry_after=1)),
    ("POST", ISSUES_PATH, gh.TimeoutAfterSuccess(delay_seconds=2)),
    ("GET", ISSUES_PATH, gh.ServerError(500)),
    ("PATCH", ISSUES_PATH + "/*", gh.ServerError(503)),
    ("PATCH", ISSUES_PATH + "/*", gh.SecondaryRateLimit(retry_after=1)),
    ("PATCH", ISSUES_PATH + "/*", gh.TimeoutAfterSuccess(delay_seconds=2)),
    ("POST", ISSUES_PATH + "/*/comments", gh.ServerError(502)),
    ("POST", ISSUES_PATH + "/*/comments", gh.SecondaryRateLimit(retry_after=1)),
    ("POST", ISSUES_PATH + "/*/comments", gh.TimeoutAfterSuccess(delay_seconds=2)),
    ("POST", ISSUES_PATH + "/*/assignees", gh.ServerError(502)),
    ("POST", ISSUES_PATH + "/*/assignees", gh.SecondaryRateLimit(retry_after=1)),
    ("POST", ISSUES_PATH, gh.SecondaryRateLimit(retry_after=None)),
    ("POST", ISSUES_PATH, gh.ServerErrorAfterSuccess(502)),
    ("POST", ISSUES_PATH, gh.LandsLater(after_seconds=20, status=502)),
    ("POST", ISSUES_PATH + "/*/comments", gh.ServerErrorAfterSuccess(503)),
)
LOG_ANALYTICS_FAULTS: tuple[la.Fault, ...] = (
    la.Throttle(retry_after=1),
    la.ServerError(500),
    la.ServerError(503),
    la.Partial(),
)


@dataclass(frozen=True)
class Faults:
    """How much chaos: per-tick chances, and counts spread over the run (all seeded)."""

    log_analytics: float = 0.35
    github: int = 12
    github_faults: tuple[tuple[str, str, gh.Fault], ...] = GITHUB_FAULTS
    worker_kills: int = 2
    redelivery: float = 0.3
    replay: float = 0.15


class Chaos:
    """Injects the faults around each tick and keeps count of what it injected."""

    def __init__(self, stack: Stack, faults: Faults, ticks: int, seed: int) -> None:
        self._stack, self._faults = stack, faults
        self._rng = random.Random(seed)
        early = max(2, ticks // 2)
        self._kills = set(self._rng.sample(range(1, early), k=min(faults.worker_kills, early - 1)))
        self._github_at = Counter(self._rng.randrange(early) for _ in range(faults.github))
        self._tick = 0
        self.injected: Counter[str] = Counter()

    def before_tick(self) -> None:
        for _ in range(self._github_at[self._tick]):
            method, path, fault = self._rng.choice(self._faults.github_faults)
            self._stack.github.fail_next(fault, method=method, path=path)
            self.injected[f"GitHub {type(fault).__name__}"] += 1
        if self._rng.random() < self._faults.log_analytics:
            query_fault = self._rng.choice(LOG_ANALYTICS_FAULTS)
            self._stack.logs.fail_next(query_fault)
            self.injected[f"Log Analytics {type(query_fault).__name__}"] += 1

    def after_tick(self) -> None:
        stack, rng = self._stack, self._rng
        if stack.durable.worker is None:
            stack.durable.start_worker()
        stack.durable.run_due_work()
        if self._tick in self._kills:
            # Between work items: durabletask's in-memory backend never re-dispatches an item a
            # stopped worker held (a real task hub does, after its lease), so a stop inside one
            # would strand it here. The next tick's jobs and notices arrive with no worker.
            stack.durable.stop_worker()
            self.injected["worker killed"] += 1
        if stack.job_bodies and rng.random() < self._faults.redelivery:
            for body in rng.sample(stack.job_bodies, k=min(3, len(stack.job_bodies))):
                stack.services.query_queue.send(body)
                self.injected["job redelivered"] += 1
            if stack.notice_bodies:
                stack.services.failure_queue.send(rng.choice(stack.notice_bodies))
                self.injected["notice redelivered"] += 1
        if rng.random() < self._faults.replay:
            now = stack.clock.now()
            stack.replay(
                now - timedelta(minutes=rng.uniform(30, 150)),
                now - timedelta(minutes=rng.uniform(0, 20)),
            )
            self.injected["overlapping replay"] += 1
        self._tick += 1

    def finish(self) -> None:
        """The worker back, and one replay over everything (it must count nothing twice)."""
        if self._stack.durable.worker is None:
            self._stack.durable.start_worker()
        self._stack.replay(T0 - timedelta(hours=1), self._stack.clock.now())
        self.injected["overlapping replay"] += 1


# -- running a scenario --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one scenario left behind, and what it took."""

    name: str
    workload: Workload
    fingerprints: dict[str, set[Fingerprint]]
    wall_seconds: float
    ingest_seconds: float
    logs_seconds: float
    detect_seconds: float
    issues: list[dict[str, Any]]
    calls: list[gh.RecordedRequest]
    ledger: dict[str, int]
    groups: dict[str, set[str]]
    audit: dict[str, list[Any]]
    injected: Counter[str]
    poisoned: int
    violations: int = 0
    """Requests GitHub would have refused for not waiting as long as it asked."""


def detect_alone(workload: Workload, rules: Rules) -> tuple[float, dict[str, set[Fingerprint]]]:
    """Normalize + detect in-process on the candidate rows, as the query returns them.

    Returns the seconds it took and each planted failure's fingerprints (one, when grouping
    agrees with the workload).
    """
    source = rules.source("production")
    batches = []
    for table, columns in COLUMNS.items():
        names = [Column(n, t) for n, t in columns] + [Column("IngestionTime", "datetime")]
        rows = [
            [*row, _wire(arrival)]
            for row, arrival in zip(
                workload.failing[table], workload.failing_arrivals[table], strict=True
            )
        ]
        batches.append((source.table(table), names, rows, rules.definitions_for(table)))
    started = time.perf_counter()
    detections = [
        d
        for spec, names, rows, definitions in batches
        for d in detect(normalize_rows(spec, names, rows).records, definitions)
    ]
    seconds = time.perf_counter() - started
    failure_of = {
        _operation(table, row): key
        for table in COLUMNS
        for row, key in zip(workload.failing[table], workload.failing_keys[table], strict=True)
    }
    found: dict[str, set[Fingerprint]] = {f.key: set() for f in workload.failures}
    for detection in detections:
        record = detection.record
        found[failure_of[record.operation_id or record.invocation_id or ""]].add(
            detection.fingerprint
        )
    return seconds, found


def settle(stack: Stack, limit: timedelta = timedelta(days=2), timeout: float = 300.0) -> None:
    """Run every waiting job and notice, and every workflow's timers, until queues are empty
    and no workflow waits: the clock jumps from one due timer to the next (hourly budgets,
    GitHub's waits, body refreshes) for at most `limit` of simulated time.

    Throttled jobs and busy notices come back after a second of real time, so this polls
    (with a deadline) when nothing but a queue is waiting.
    """
    deadline = time.monotonic() + timeout
    until = stack.clock.now() + limit
    while time.monotonic() < deadline and stack.clock.now() <= until:
        stack.jobs.drain()
        stack.notices.deliver_waiting()
        stack.durable.run_due_work(timeout=max(1.0, deadline - time.monotonic()))
        due = stack.durable.next_timer_due()
        if due is not None:
            stack.clock.set(max(due, stack.clock.now()))
        elif stack.jobs.pending() == 0 and stack.notices.pending() == 0:
            return
        else:
            time.sleep(0.2)
    raise TimeoutError(f"the pipeline did not settle within {timeout:.0f}s or {limit} simulated")


def run_scenario(
    azurite: Azurite,
    functions: FunctionTable,
    workload: Workload,
    workdir: Path,
    faults: Faults | None = None,
    name: str | None = None,
) -> Outcome:
    """Drive the workload through the stack tick by tick, then settle and collect the state."""
    rules_path = write_rules(workdir)
    rules = load_workload_rules(rules_path)
    detect_seconds, fingerprints = detect_alone(workload, rules)
    source = rules.source("production")
    last_tick = workload.end + source.ingestion_delay + STEP
    started = time.perf_counter()
    ingest = 0.0
    with running_stack(azurite, functions, workload, rules_path) as stack:
        ticks = int((last_tick - stack.clock.now()) / STEP) + 1
        chaos = Chaos(stack, faults, ticks, workload.seed) if faults else None
        while stack.clock.now() <= last_tick:
            if chaos:
                chaos.before_tick()
            begun = time.perf_counter()
            stack.tick()
            stack.jobs.drain()
            stack.settle_operations()
            ingest += time.perf_counter() - begun
            stack.notices.deliver_waiting()
            if chaos:
                chaos.after_tick()
            else:
                stack.durable.run_due_work()
            stack.clock.advance(STEP)
        if chaos:
            chaos.finish()
        stack.jobs.drain()
        # held rows settle once their tables are read past them plus the wait (or at the cap)
        hold_until = stack.clock.now() + rules.correlation.max_hold
        while stack.clock.now() < hold_until and stack.services.operations.due(hold_until):
            stack.clock.advance(STEP)
            stack.tick()
            stack.jobs.drain()
            stack.settle_operations()
        settle(stack)
        services = stack.services
        grouping = services.grouping.snapshot()
        audit: dict[str, list[Any]] = {}
        for entry in services.audit.entries():
            audit.setdefault(entry.fingerprint, []).append(entry)
        return Outcome(
            name=name or ("faults" if faults else "clean"),
            workload=workload,
            fingerprints=fingerprints,
            wall_seconds=time.perf_counter() - started,
            ingest_seconds=ingest,
            logs_seconds=stack.logs.busy_seconds,
            detect_seconds=detect_seconds,
            issues=stack.github.issues(*REPOSITORY),
            calls=stack.github.calls(),
            ledger={
                e.fingerprint: e.count for e in services.ledger.summaries() if not e.folded_into
            },
            groups={
                key: {grouping.group_of(p) or p.value for p in prints}
                for key, prints in fingerprints.items()
            },
            audit=audit,
            injected=chaos.injected if chaos else Counter(),
            poisoned=stack.poisoned(),
            violations=len(stack.github.limits.violations),
        )


# -- invariants and figures ----------------------------------------------------------------------


@dataclass
class Verdict:
    """The invariants of one outcome: counts that must be zero, and what broke."""

    issues: int = 0
    duplicates: int = 0
    lost: int = 0
    miscounted: int = 0
    stale_bodies: int = 0
    burst_issues: int = 0
    burst_count: int | None = None
    burst_comments: int = 0
    problems: list[str] = field(default_factory=list)


def _body_count(issue: dict[str, Any]) -> int | None:
    match = OCCURRENCES_CELL.search(issue["body"] or "")
    return int(match.group(1)) if match else None


def judge(outcome: Outcome) -> Verdict:
    """Check every invariant; each broken one is named in `problems`."""
    verdict = Verdict(issues=len(outcome.issues))
    problems = verdict.problems
    workload = outcome.workload
    expected = {f.key: len(f.times) for f in workload.failures}
    fingerprint_of: dict[str, str] = {}
    for key, found in outcome.groups.items():
        if len(found) != 1:
            problems.append(f"planted failure {key} has {len(found)} groups")
        if found:
            fingerprint_of[key] = min(found)
    if len(set(fingerprint_of.values())) != len(fingerprint_of):
        problems.append("distinct planted failures share a group")
    issues_of: dict[str, list[dict[str, Any]]] = {}
    for issue in outcome.issues:
        issues_of.setdefault(find_marker(issue["body"]) or "(no marker)", []).append(issue)
    verdict.duplicates = sum(len(found) - 1 for found in issues_of.values())
    wanted = set(fingerprint_of.values())
    verdict.lost = sum(1 for fp in wanted if fp not in issues_of)
    strays = set(issues_of) - wanted
    if strays:
        problems.append(f"{len(strays)} issue(s) for no planted failure")
    for key, fp in fingerprint_of.items():
        if outcome.ledger.get(fp) != expected[key]:
            verdict.miscounted += 1
            problems.append(f"{key}: counted {outcome.ledger.get(fp)}, planted {expected[key]}")
        for issue in issues_of.get(fp, []):
            if _body_count(issue) != expected[key]:
                verdict.stale_bodies += 1
                problems.append(f"{key}: issue says {_body_count(issue)}, planted {expected[key]}")
            if not issue["assignees"]:
                problems.append(f"{key}: issue #{issue['number']} is not assigned")
        problems.extend(_cadence(key, outcome.audit.get(fp, []), issues_of.get(fp, [])))
    for name in ("duplicates", "lost", "miscounted", "stale_bodies"):
        if getattr(verdict, name):
            problems.append(f"{getattr(verdict, name)} {name.replace('_', ' ')}")
    if verdict.issues != len(workload.failures):
        problems.append(f"{verdict.issues} issues for {len(workload.failures)} distinct failures")
    burst = issues_of.get(fingerprint_of.get(workload.burst_key, ""), [])
    verdict.burst_issues = len(burst)
    if burst:
        verdict.burst_count = _body_count(burst[0])
        verdict.burst_comments = len(burst[0]["comments"])
    if verdict.burst_issues != 1:
        problems.append(f"the burst has {verdict.burst_issues} issues")
    elif verdict.burst_comments == 0:
        problems.append("the burst spanned several comment intervals but got no comment")
    if outcome.poisoned:
        problems.append(f"{outcome.poisoned} poisoned message(s)")
    if outcome.violations:
        problems.append(f"{outcome.violations} request(s) before GitHub's retry-after")
    return verdict


def _cadence(key: str, entries: Sequence[Any], issues: Sequence[dict[str, Any]]) -> list[str]:
    """At most one comment per interval, counted from the issue's creation, and GitHub agrees."""
    opened = [e.at for e in entries if e.action in ("created", "skipped-as-duplicate")]
    comments = sorted(e.at for e in entries if e.action == "commented")
    problems = []
    moments = [min(opened), *comments] if opened else comments
    for earlier, later in zip(moments, moments[1:], strict=False):
        if later - earlier < COMMENT_INTERVAL:
            problems.append(f"{key}: comments {later - earlier} apart")
    on_github = sum(len(issue["comments"]) for issue in issues)
    if on_github != len(comments):
        problems.append(f"{key}: {on_github} comments on GitHub, {len(comments)} made")
    return problems


def _writes(outcome: Outcome) -> dict[str, int]:
    """GitHub write calls by kind (every attempt, failed ones included)."""
    kinds: Counter[str] = Counter()
    for call in outcome.calls:
        if not call.is_write:
            continue
        if call.path == ISSUES_PATH:
            kinds["create"] += 1
        elif call.method == "PATCH":
            kinds["update"] += 1
        else:
            kinds[call.path.rsplit("/", 1)[-1]] += 1  # comments, assignees, labels
        kinds["failed"] += call.status >= 400
    return dict(kinds)


def figures(outcome: Outcome, verdict: Verdict) -> dict[str, str]:
    """The row of the summary table for one outcome."""
    workload = outcome.workload
    writes = _writes(outcome)
    creating = writes.get("create", 0) + writes.get("assignees", 0) + writes.get("labels", 0)
    updates = sum(1 for entries in outcome.audit.values() for e in entries if e.action == "updated")
    recurring = writes.get("update", 0) + writes.get("comments", 0)
    candidates = workload.candidate_rows()
    return {
        "scenario": outcome.name,
        "rows": f"{workload.total_rows():,}",
        "records": f"{candidates:,}",
        "ingest rec/s": f"{candidates / outcome.ingest_seconds:,.0f}",
        "(LA fake s)": f"{outcome.logs_seconds:.1f}",
        "detect rec/s": f"{candidates / outcome.detect_seconds:,.0f}",
        "failures": str(len(workload.failures)),
        "issues": str(verdict.issues),
        "dup": str(verdict.duplicates),
        "lost": str(verdict.lost),
        "miscount": str(verdict.miscounted),
        "writes/new": f"{creating / max(verdict.issues, 1):.2f}",
        "writes/recur": f"{recurring / max(updates, 1):.2f}",
        "burst": f"{verdict.burst_count}/{workload.size.burst}",
        "burst cmts": str(verdict.burst_comments),
        "faults": str(sum(outcome.injected.values())),
        "wall s": f"{outcome.wall_seconds:.0f}",
        "ok": "yes" if not verdict.problems else "NO",
    }


def table(rows: Sequence[dict[str, str]]) -> str:
    """A compact fixed-width table."""
    headers = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(r[h].rjust(w) for h, w in zip(headers, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report(outcome: Outcome, verdict: Verdict) -> str:
    """The scenario's figures in words, for the log of a run."""
    workload, writes = outcome.workload, _writes(outcome)
    candidates = workload.candidate_rows()
    lines = [
        f"== {outcome.name}: {workload.total_rows():,} rows ({candidates:,} failing, "
        f"{workload.late_rows:,} late), {len(workload.failures)} distinct failures, "
        f"burst of {workload.size.burst:,}; {outcome.wall_seconds:.0f}s in all",
        f"   ingest + detect (timer ticks, Azurite + LA fake): {outcome.ingest_seconds:.1f}s, "
        f"{candidates / outcome.ingest_seconds:,.0f} records/s "
        f"({workload.total_rows() / outcome.ingest_seconds:,.0f} rows scanned/s; "
        f"{outcome.logs_seconds:.1f}s inside the LA fake)",
        "   detection alone (normalize_rows + detect, same records): "
        f"{outcome.detect_seconds:.2f}s, {candidates / outcome.detect_seconds:,.0f} records/s",
        f"   issues {verdict.issues} for {len(workload.failures)} failures; duplicates "
        f"{verdict.duplicates}, lost {verdict.lost}, miscounted {verdict.miscounted}, "
        f"stale bodies {verdict.stale_bodies}; GitHub write calls by kind: {writes}",
        f"   burst: {verdict.burst_issues} issue, count {verdict.burst_count}, "
        f"{verdict.burst_comments} comment(s) (interval {COMMENT_INTERVAL})",
    ]
    if outcome.injected:
        lines.append(
            "   injected: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.injected.items()))
        )
    lines += [f"   BROKEN: {problem}" for problem in verdict.problems[:20]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small workload (about a minute)")
    parser.add_argument("--seed", type=int, default=20261120)
    parser.add_argument("--verbose", action="store_true", help="show the pipeline's own logs")
    args = parser.parse_args(argv)
    if not args.verbose:  # injected faults make the pipeline log loudly, as it should
        logging.disable(logging.ERROR)
    os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    import function_app  # validates the configuration at import, as the host's indexing does

    size = QUICK if args.quick else FULL
    workload = generate(size, args.seed)
    rows: list[dict[str, str]] = []
    broken = False
    with start_azurite() as azurite, tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        functions = FunctionTable.of(function_app.app)
        for faults in (None, Faults()):
            outcome = run_scenario(azurite, functions, workload, Path(tmp), faults)
            verdict = judge(outcome)
            broken |= bool(verdict.problems)
            print(report(outcome, verdict), flush=True)
            rows.append(figures(outcome, verdict))
    print()
    print(table(rows))
    print("every invariant held" if not broken else "SOME INVARIANTS BROKE (see above)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
