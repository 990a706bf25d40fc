"""The local run: the whole product on this machine, no Azure account and no GitHub token needed.

Azurite holds the queues and tables; the log source is a Log Analytics export (by default the
bundled night, samples/telemetry/, about half a minute, with the CloudWatch export of
samples/cloudwatch/ beside it; `--days` replays the three-day sample,
rendered into samples/days/ on first use, in about 15 minutes on 2 cores), and the bundled alert
webhook deliveries (samples/webhooks/) are posted over HTTP to the app's own endpoint at their
simulated time (`local_host.webhooks`); the registered
functions run in the host's order (timer tick, the query queue, the failure notices, the Durable
orchestrations on durabletask's in-memory backend with the worker in a second process) over
simulated time. Issues go to the dry-run sink (Markdown files under `--out`), or to GitHub when
`FAULTLINE_GITHUB_TOKEN` (or `FAULTLINE_GITHUB_APP_ID`) and `FAULTLINE_REPOSITORY` are set."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from azure.storage.queue import QueueServiceClient

from adapters.exported_logs import Export, ExportError, check_exports
from bootstrap import bootstrap, install, load_configuration
from detection.rules import RulesError
from local_host.azurite import PROJECT_ROOT, start_azurite
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, SimulatedClock, timer_request
from local_host.http import serve_functions
from local_host.metrics import report_metrics
from local_host.progress import Progress
from local_host.report import write_report
from local_host.summary import summarise, summary_lines, where_to_look
from local_host.webhooks import WEBHOOK_SAMPLES, WebhookSender, load_deliveries, local_secrets
from pipeline.services import Services
from pipeline.settings import SettingsError
from samples.generate import rendered

NIGHT_DATA = PROJECT_ROOT / "samples" / "telemetry"
"""The default: a committed night, six hours of failures, replayed in about half a minute. The
first thing a newcomer runs shows the whole path (timer, queues, query jobs, the Durable
workflow, issues) before they lose interest; the three days are one option away."""
CLOUDWATCH_DATA = PROJECT_ROOT / "samples" / "cloudwatch"
"""The bundled CloudWatch export (a Lambda's log group, `aws logs filter-log-events -o json`),
replayed with the night by the shipped rules' `aws` source, which the run switches on for it: the
night then shows both kinds of polled source on one clock. Kept beside the night, not in it,
because samples/telemetry/ is the generator's output."""
DAYS_SAMPLE = "days"
DAYS_DATA = PROJECT_ROOT / "samples" / DAYS_SAMPLE  # rendered on first use, not committed
DEFAULT_OUT = PROJECT_ROOT / "out"
SETTLE_LIMIT = timedelta(days=7)
FAILURES_COUNTED_EVERY = timedelta(hours=1)
"""How often (simulated) the progress line recounts distinct failures: a read of the ledger's
whole table, too slow for every tick of a three-day replay."""


class LocalRunError(ValueError):
    """The run cannot start as asked; the message says what to change."""


CONFIGURATION_ERRORS = (LocalRunError, ExportError, RulesError, SettingsError, FileNotFoundError)
"""What `prepare` raises for a mistake in what was asked: printed as it is, without a traceback
(each message names the variable, file or key to fix; a traceback would bury it)."""


@dataclass(frozen=True)
class Plan:
    """A run whose configuration and exports were checked before anything started."""

    data: Path
    out: Path
    occurrences: Path | None
    environment: dict[str, str]
    """What the run sets in the environment, besides Azurite's connection string."""
    real_github: bool
    first: datetime
    last: datetime


def real_github(env: Mapping[str, str]) -> bool:
    """Whether issues go to GitHub: a credential (a token, or a GitHub App's id) and a repository
    both set. A credential alone is refused rather than quietly ignored: whoever set one meant
    to create real issues."""
    repository = env.get("FAULTLINE_REPOSITORY")
    named = [
        name for name in ("FAULTLINE_GITHUB_TOKEN", "FAULTLINE_GITHUB_APP_ID") if env.get(name)
    ]
    if named and not repository:
        raise LocalRunError(
            f"{named[0]} is set but FAULTLINE_REPOSITORY is not; the local run "
            "creates real GitHub issues only with both:\n"
            "  FAULTLINE_GITHUB_TOKEN  the token issues are created with (its owner needs "
            "Issues: read and write on the repositories), or FAULTLINE_GITHUB_APP_ID with "
            "FAULTLINE_GITHUB_APP_PRIVATE_KEY for a GitHub App\n"
            "  FAULTLINE_REPOSITORY    owner/name of the repository issues go to (the shipped "
            "faultline.yaml reads it as routing.default_repository)\n"
            f"Set FAULTLINE_REPOSITORY=owner/name to create real issues, or unset "
            f"{named[0]} for a dry run that writes each issue as a Markdown file."
        )
    return bool(named and repository)


def prepare(
    data: Path,
    rules: Path | None,
    out: Path,
    occurrences: Path | None,
    env: Mapping[str, str],
) -> Plan:
    """Check everything that can be wrong with what was asked before Azurite starts, so a mistake
    stops the run at once with one message: the GitHub variables, the app settings, the rules
    file, and an export for every table the rules watch (a missing one would fail every query
    job of its table, one error line per window, and the run would still end with exit 0)."""
    github = real_github(env)
    folders = [data, CLOUDWATCH_DATA] if data == NIGHT_DATA else [data]
    environment = {
        "FAULTLINE_LOGS_EXPORT_DIR": os.pathsep.join(map(str, folders)),
        **({"FAULTLINE_CLOUDWATCH_ENABLED": "true"} if data == NIGHT_DATA else {}),
        "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
        "FAULTLINE_POLL_INTERVAL": env.get("FAULTLINE_POLL_INTERVAL", "15m"),
        "FAULTLINE_METRICS_FILE": str(out / "metrics.jsonl"),
        **({"FAULTLINE_RULES_PATH": str(rules)} if rules else {}),
        **(
            {}
            if github
            else {"FAULTLINE_DRY_RUN_DIR": str(out), "FAULTLINE_NOTIFICATIONS_ENABLED": "true"}
        ),
    }
    # storage is Azurite, started once this passes; any connection string stands in for it here
    stand_in = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    _, loaded = load_configuration({**env, **environment, **stand_in})
    environment.update(local_secrets(loaded, env))
    exports: dict[str, Export] = {}
    for source in loaded.enabled_sources:
        folder = CLOUDWATCH_DATA if source.kind == "cloudwatch" and data == NIGHT_DATA else data
        exports |= check_exports(folder, {t.name for t in source.watched})
    first, last = _time_span(data, exports)
    return Plan(data, out, occurrences, environment, github, first, last)


def _time_span(data: Path, exports: Mapping[str, Export]) -> tuple[datetime, datetime]:
    """Earliest TimeGenerated and latest ingestion time across the export's tables."""
    earliest = [e for e in (export.earliest_generated() for export in exports.values()) if e]
    latest = [export.arrivals[-1] for export in exports.values() if export.arrivals]
    if not earliest or not latest:
        raise LocalRunError(f"{data}: the exports hold no rows with a readable TimeGenerated")
    return min(earliest), max(latest)


class LocalRun:
    """The functions, queues and Durable runtime of one local run, driven tick by tick."""

    def __init__(
        self,
        services: Services,
        functions: FunctionTable,
        queues: QueueServiceClient,
        durable: DurableRuntime,
        clock: SimulatedClock,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.services, self.durable, self.clock = services, durable, clock
        self.webhooks = webhooks
        settings = services.settings
        self.alerts = QueueDriver(
            queues, settings.alert_queue, functions.user_function("detect_alert")
        )
        self.jobs = QueueDriver(
            queues, settings.query_queue, functions.user_function("query_and_detect")
        )
        self.poisoned_jobs = QueueDriver(
            queues, settings.poison_queue, functions.user_function("record_poisoned_query")
        )
        starter = functions.user_function("start_issue_workflow")
        self.notices = QueueDriver(
            queues, settings.failure_queue, lambda message: starter(message, durable.binding)
        )
        self.poisoned_notices = QueueDriver(
            queues,
            f"{settings.failure_queue}-poison",
            functions.user_function("record_poisoned_notice"),
        )
        self.notifications = QueueDriver(
            queues, settings.notify_queue, functions.user_function("deliver_notifications")
        )
        self.poisoned_notifications = QueueDriver(
            queues,
            f"{settings.notify_queue}-poison",
            functions.user_function("record_poisoned_notification"),
        )
        self.tick_function = functions.user_function("fan_out_queries")
        self.settle_function = functions.user_function("settle_operations")
        self.clean_up = functions.user_function("prune_occurrence_ledger")
        self.next_clean_up = _next_daily(
            functions.binding("prune_occurrence_ledger", "timerTrigger")["schedule"], clock.now()
        )
        self.resolve_quiet = functions.user_function("resolve_quiet_issues")
        self.next_quiet = _next_daily(
            functions.binding("resolve_quiet_issues", "timerTrigger")["schedule"], clock.now()
        )
        self.calm = functions.user_function("calm_escalations")
        self.next_calm = _next_hourly(
            functions.binding("calm_escalations", "timerTrigger")["schedule"], clock.now()
        )
        self.query_jobs = 0
        self.notices_sent = 0

    def tick(self) -> None:
        """One timer tick and everything it sets off, as the host would run it at this moment:
        workflows whose timers fell due run (in the worker process) while the queues drain."""
        self.durable.fire_due_timers()
        if self.clock.now() >= self.next_clean_up:
            self.clean_up(timer_request())
            self.next_clean_up += timedelta(days=1)
        if self.clock.now() >= self.next_quiet:
            self.resolve_quiet(timer_request())
            self.next_quiet += timedelta(days=1)
        if self.clock.now() >= self.next_calm:
            self.calm(timer_request())
            self.next_calm += timedelta(hours=1)
        if self.webhooks is not None and self.webhooks.post_due(self.clock.now()):
            self.alerts.drain()
        self.tick_function(timer_request())
        self.query_jobs += self.jobs.drain().processed
        self.poisoned_jobs.drain()
        self.settle_function(timer_request())
        self.notices_sent += self.notices.deliver_waiting().processed
        self.poisoned_notices.drain()
        self.durable.run_due_work()
        self.drain_notifications()

    def drain_notifications(self) -> None:
        """Send what the workflows emitted (written as files in a dry run)."""
        self.notifications.drain()
        self.poisoned_notifications.drain()

    def replay(
        self, end: datetime, interval: timedelta, progress: Progress, holding: timedelta
    ) -> None:
        """Tick every `interval` of simulated time until `end`, and on, for at most `holding`
        more, while operations still hold rows: they settle once their tables are read far
        enough, which a table whose jobs run late reaches only after the data's end."""
        failures, recount = 0, self.clock.now()
        progress.start("replay", self.clock.now(), end)
        while self.clock.now() <= end or (
            self.clock.now() <= end + holding
            and self.services.operations.due(self.clock.now() + holding)
        ):
            self.tick()
            if self.clock.now() >= recount:
                failures = len(self.services.ledger.summaries())
                recount += FAILURES_COUNTED_EVERY
            progress.update(
                self.clock.now(),
                f"{self.query_jobs} query jobs, {self.notices_sent} failure notices, "
                f"{failures} distinct failures",
            )
            self.clock.advance(interval)
        progress.finish(f"{self.query_jobs} query jobs, {self.notices_sent} failure notices")

    def settle(self, limit: timedelta, progress: Progress) -> timedelta:
        """After the last tick, let waiting workflows finish (hourly budgets, business hours),
        jumping the clock from one due timer to the next; returns the simulated time it took.
        Its progress runs to the latest timer pending, which moves on as workflows set new
        ones."""
        started = self.clock.now()
        progress.start("settling", started, self.durable.last_timer_due() or started)
        finished = False
        while self.clock.now() - started < limit:
            progress.extend(self.durable.last_timer_due() or started)
            progress.update(self.clock.now(), "workflows wait for their budget or business hours")
            self.notices_sent += self.notices.deliver_waiting().processed
            self.durable.run_due_work()
            self.drain_notifications()
            due = self.durable.next_timer_due()
            if due is not None:
                self.clock.set(max(due, self.clock.now()))
            elif self.notices.pending() == 0:
                finished = True
                break
            else:
                time.sleep(0.2)  # a notice waits, re-queued, for a workflow that is just ending
        took = self.clock.now() - started
        if not finished:
            progress.finish(f"stopped after {took} of simulated time, workflows still waiting")
        else:
            progress.finish("every workflow finished" if took else "nothing was waiting")
        return took


def _next_daily(schedule: str, after: datetime) -> datetime:
    """The next firing of a once-a-day NCRONTAB schedule (`s m h * * *`) after `after`."""
    second, minute, hour, *rest = schedule.split()
    if rest != ["*", "*", "*"] or not (second + minute + hour).isdigit():
        raise ValueError(f"not a once-a-day schedule: {schedule!r}")
    moment = after.replace(hour=int(hour), minute=int(minute), second=int(second), microsecond=0)
    return moment if moment > after else moment + timedelta(days=1)


def _next_hourly(schedule: str, after: datetime) -> datetime:
    """The next firing of a once-an-hour NCRONTAB schedule (`s m * * * *`) after `after`."""
    second, minute, *rest = schedule.split()
    if rest != ["*", "*", "*", "*"] or not (second + minute).isdigit():
        raise ValueError(f"not a once-an-hour schedule: {schedule!r}")
    moment = after.replace(minute=int(minute), second=int(second), microsecond=0)
    return moment if moment > after else moment + timedelta(hours=1)


def run(plan: Plan) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="  %(levelname)s %(message)s", stream=sys.stdout
    )
    for noisy in ("azure", "durabletask", "durabletask-worker", "durabletask-client", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    data, out, occurrences = plan.data, plan.out, plan.occurrences
    if out == DEFAULT_OUT and out.exists():
        shutil.rmtree(out)  # the default run starts fresh; a chosen --out continues where it was
    target = "GitHub" if plan.real_github else f"Markdown files in {_shown(out)}/ (a dry run)"
    print(f"Faultline, locally: replaying {describe(data)}")
    print(f"  issues go to {target}")
    if data in (NIGHT_DATA, DAYS_DATA):
        print("  (the sample has a few malformed rows on purpose: each WARNING is one skipped)")
    if data == NIGHT_DATA:
        print("  (three days of telemetry instead: make run-days, about 15 minutes on 2 cores)")
    started = time.monotonic()
    with start_azurite() as azurite:
        os.environ.update({"AzureWebJobsStorage": azurite.connection_string, **plan.environment})
        import function_app

        first, last = plan.first, plan.last
        clock = SimulatedClock(
            first.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5)
        )
        services = bootstrap(clock=clock, timer_seconds=clock.seconds)
        install(services)
        functions = FunctionTable.of(function_app.app)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        loaded = services.rules
        polled = loaded.enabled_sources
        interval = min(s.poll_interval for s in polled)
        held = loaded.correlation.wait if loaded.correlation.enabled else timedelta(0)
        end = last + max(s.ingestion_delay for s in polled) + interval + held
        deliveries, notes = load_deliveries(WEBHOOK_SAMPLES, services.rules)
        for note in notes:
            print(f"  (sample webhook delivery left out: {note})")
        outside = [d for d in deliveries if not first <= d.at <= end]
        if outside:
            deliveries = [d for d in deliveries if first <= d.at <= end]
            print(
                f"  ({len(outside)} sample alert webhook deliveries left out: their times are "
                "outside the replayed span)"
            )
        with (
            DurableRuntime(functions, clock=clock, worker_process=True) as durable,
            serve_functions(functions) as api,
            httpx.Client(base_url=api, timeout=30) as client,
        ):
            sender = WebhookSender(client, deliveries, os.environ)
            local = LocalRun(services, functions, queues, durable, clock, sender)
            print(
                f"  simulating {first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, "
                f"a timer tick every {interval}"
            )
            with Progress() as progress:
                local.replay(end, interval, progress, loaded.correlation.max_hold)
                took = local.settle(SETTLE_LIMIT, progress)
            local.drain_notifications()
            digests = publish_digests(services, first, clock.now())
            _report(local, plan, end, took, time.monotonic() - started)
            for line in digests:
                print(f"  {line}")
            print(f"  {sender.describe()}, posted to {api}/alerts/<webhook>")
            report_metrics(services.settings.metrics_file, out)
            write_report(out, services)
            if occurrences is not None:
                written = export_occurrences(services, occurrences)
                print(f"\n{written} occurrences written to {occurrences}")
    return 0


def publish_digests(services: Services, first: datetime, last: datetime) -> list[str]:
    """Each enabled digest over the whole days the replay covered, as its hourly timer would
    make it at the end of the period: its issue in the dry-run folder beside the others, its
    messages under `notifications/`. The workflows wrote their issues from the Durable worker's
    process, so the digest's tracker reads the folder afresh, as a timer on another instance
    would (this process's sink has not seen them, and would number the digest's issue 1)."""
    from pipeline.digest import publish_digest, whole_days

    if services.settings.dry_run_dir:
        from adapters.markdown_issues import MarkdownIssueSink

        directory = Path(services.settings.dry_run_dir)
        absolute = directory if directory.is_absolute() else PROJECT_ROOT / directory
        sink = MarkdownIssueSink(absolute, services.clock.now, services.marker_key())
        services = replace(services, issue_tracker=lambda: sink)
    made = []
    for schedule in services.rules.notifications.digests:
        if schedule.enabled:
            digest = publish_digest(services, schedule, whole_days(first, last))
            made.append(
                f"digest {schedule.name}: {digest.occurrences} occurrence(s), "
                f"{len(digest.changes['new'])} new failure(s), written to {schedule.repository}"
            )
    return made


def export_occurrences(services: Services, path: Path) -> int:
    """One JSON line per occurrence the ledger counted, read back from Table Storage: where each
    failing row went (its group after every fold, and that group's issue)."""
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for entry in sorted(services.ledger.summaries(), key=lambda e: e.fingerprint):
            if entry.folded_into:
                continue
            group = services.grouping.resolve(entry.fingerprint)
            issues = services.issues.issues_of(group)
            issue = f"{issues[0][0]}#{issues[0][1]}" if issues else None
            for row in services.ledger.occurrences(entry.fingerprint):
                out.write(
                    json.dumps(
                        {
                            "table": row["Table"],
                            "record_id": row["RecordId"],
                            "time": row["TimeGenerated"].isoformat(),
                            "operation_id": row.get("Operation"),
                            "role": row.get("Role"),
                            "definition": row.get("Definition"),
                            "fingerprint": row.get("Fingerprint"),
                            "group": group,
                            "issue": issue,
                        }
                    )
                    + "\n"
                )
                written += 1
    return written


def _report(local: LocalRun, plan: Plan, end: datetime, settled: timedelta, seconds: float) -> None:
    summary = summarise(
        local.services,
        sample=describe(plan.data),
        replay_start=plan.first,
        replay_end=end,
        settled=settled,
        wall_seconds=seconds,
        dry_run=not plan.real_github,
        query_jobs=local.query_jobs,
        notices=local.notices_sent,
    )
    print("\n".join(summary_lines(summary)))


def describe(data: Path) -> str:
    """The replayed folder as the user knows it: a bundled sample by name, else its path."""
    if data == NIGHT_DATA:
        return (
            f"the bundled night of sample telemetry ({_shown(data)}), with a Lambda's CloudWatch "
            f"log group ({_shown(CLOUDWATCH_DATA)})"
        )
    if data == DAYS_DATA:
        return f"three days of sample telemetry ({_shown(data)})"
    return _shown(data)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is under it (as `make run` prints)."""
    cwd = Path.cwd().resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def data_folder(data: Path | None, days: bool, env: Mapping[str, str]) -> Path:
    """What to replay: `--data`, else the three days with `--days`, else the app setting
    FAULTLINE_LOGS_EXPORT_DIR, else the bundled night."""
    if data is not None:
        return data
    if days:
        return rendered(DAYS_SAMPLE, DAYS_DATA)
    exported = env.get("FAULTLINE_LOGS_EXPORT_DIR")
    return Path(exported) if exported else NIGHT_DATA


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    replayed = parser.add_mutually_exclusive_group()
    replayed.add_argument(
        "--days",
        action="store_true",
        help="replay three days of sample telemetry (about 63,000 rows, 438 root causes; about "
        "15 minutes on 2 cores) instead of the bundled night; rendered into samples/days/ on "
        "first use (`make run-days`)",
    )
    replayed.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of Log Analytics exports, one <Table>.json per table the rules watch, each "
        "the output of `az monitor log-analytics query -o json` or the query API's response "
        "(default: FAULTLINE_LOGS_EXPORT_DIR, else the bundled night, samples/telemetry/)",
    )
    parser.add_argument(
        "--rules", type=Path, default=None, help="rules file (default: faultline.yaml)"
    )
    parser.add_argument(
        "--occurrences",
        type=Path,
        default=None,
        help="write one JSON line per counted occurrence (table, record_id, time, operation_id, "
        "role, definition, fingerprint, group, issue), read back from Table Storage",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where the dry-run sink writes issues (default: out/)",
    )
    args = parser.parse_args(argv)
    exported = os.environ.get("FAULTLINE_LOGS_EXPORT_DIR")
    try:
        plan = prepare(
            data_folder(args.data, args.days, os.environ).resolve(),
            args.rules,
            args.out.resolve(),
            args.occurrences.resolve() if args.occurrences else None,
            os.environ,
        )
    except CONFIGURATION_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        if isinstance(error, ExportError) and exported and not (args.data or args.days):
            print(f"(the folder is FAULTLINE_LOGS_EXPORT_DIR={exported})", file=sys.stderr)
        return 2
    code = run(plan)
    if code == 0:
        github = os.environ.get("FAULTLINE_REPOSITORY") if plan.real_github else None
        print("\n".join(where_to_look(plan.out, github=github)))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
