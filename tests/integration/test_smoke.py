"""`scripts/smoke.py` against local stand-ins for everything it talks to in Azure and on GitHub.

The script's own clients do the talking (the real `LogsIngestionClient`, `LogsQueryClient` and
githubkit, and an HTTP POST to the app): the Logs Ingestion fake stands for the data collection
rule that `infra/app/monitoring.bicep` declares (same stream, same columns), and feeds the Log
Analytics fake, as ingestion feeds the workspace; the GitHub fake stands for the scratch
repository.

The app behind `/api/replay` is the real one. In the lifecycle test it is the whole deployed
pipeline in this process: the shipped `faultline.yaml` with the smoke settings `azd up` gives it,
the real functions over Azurite, the Durable workflow, its own GitHub identity; a small HTTP
front checks the function key as the Functions host does, and a thread runs the queue triggers
as the host would. So a pass here means the script, the rules file's smoke source, definition
and route, and the workflow agree. The failure tests need no pipeline: the real replay function
over in-memory services that nobody works off, and a virtual clock, so a 15-minute wait takes
no time.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.storage.queue import QueueServiceClient
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from bootstrap import bootstrap, install
from detection.markers import find_marker
from detection.rules import load_rules
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, http_request
from pipeline.messages import QueryJob
from scripts import smoke
from tests.fakes.github import GitHubFake
from tests.fakes.log_analytics import LogAnalyticsFake
from tests.fakes.logs_ingestion import IngestionCredential, LogsIngestionFake
from tests.unit.test_infra import _smoke_columns

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
WS = "0f4e7f6a-57c1-4c8e-9b1f-6f3c2a1d0e99"
RULE = "dcr-5e4f3a2b1c0d49e8a7b6c5d4e3f2a1b0"
STREAM, TABLE = "Custom-FaultlineSmoke_CL", "FaultlineSmoke_CL"
SCRATCH, PRODUCTION = "contoso/faultline-smoke", "contoso/shop"
KEY = "function-key-" + "7" * 20
APP_SMOKE_SETTINGS = {  # what infra/app/api.bicep sets once FAULTLINE_SMOKE_REPOSITORY is given
    "FAULTLINE_SMOKE_ENABLED": "true",
    "FAULTLINE_SMOKE_WORKSPACE_ID": WS,
    "FAULTLINE_SMOKE_REPOSITORY": SCRATCH,
    "FAULTLINE_REPOSITORY": PRODUCTION,
}
STAGES = ["prepare", "ingest", "queryable", "replay", "issue", "cleanup"]


class FunctionsHost:
    """The app's HTTP side as the Functions host serves it: a request without the function key
    (`x-functions-key` or `code`) is 401 before any code runs; `POST /api/replay` goes to the
    app's own `replay_window` over whatever services are installed. Records each call."""

    def __init__(self, functions: FunctionTable) -> None:
        self._replay = functions.user_function("replay_window")
        self.calls: list[tuple[dict[str, str], Any]] = []
        self._server: BaseWSGIServer | None = None

    def __enter__(self) -> FunctionsHost:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = request.get_data()
        self.calls.append((dict(request.headers), json.loads(body or b"null")))
        key = request.headers.get("x-functions-key") or request.args.get("code")
        if key != KEY:
            response = Response(status=401)
        elif request.path != "/api/replay" or request.method != "POST":
            response = Response(status=404)
        else:
            answer = self._replay(http_request("POST", "replay", body))
            response = Response(
                answer.get_body(), status=answer.status_code, mimetype="application/json"
            )
        return response(environ, start_response)


class VirtualTime:
    """The script's clock, and the ingestion fake's: sleeping moves it, and nothing waits."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def __call__(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass
class Azure:
    """The operator's view of a deployment: the workspace, the rule, the scratch repository,
    the app's HTTP front, and an identity that may send through the rule and read the
    workspace (what `azd up` grants the deployer)."""

    la: LogAnalyticsFake
    ingestion: LogsIngestionFake
    github: GitHubFake
    host: FunctionsHost
    operator: IngestionCredential
    operator_token: str
    env: dict[str, str] = field(default_factory=dict)

    def settings(self, **changes: str | None) -> smoke.SmokeSettings:
        env = {
            "FAULTLINE_SMOKE_INGESTION_ENDPOINT": self.ingestion.endpoint,
            "FAULTLINE_SMOKE_DCR_IMMUTABLE_ID": RULE,
            "FAULTLINE_SMOKE_STREAM": STREAM,
            "FAULTLINE_SMOKE_TABLE": TABLE,
            "FAULTLINE_SMOKE_WORKSPACE_ID": WS,
            "FAULTLINE_SMOKE_REPOSITORY": SCRATCH,
            "FAULTLINE_REPOSITORY": PRODUCTION,
            "AZURE_FUNCTION_URL": self.host.url,
            "AZURE_RESOURCE_GROUP": "rg-faultline",
            "AZURE_FUNCTION_NAME": "func-faultline",
            "FAULTLINE_FUNCTION_KEY": KEY,
            "GITHUB_TOKEN": self.operator_token,
            "FAULTLINE_GITHUB_API_URL": self.github.base_url,
            "FAULTLINE_LOGS_ENDPOINT": self.la.endpoint,
            **self.env,
        }
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return smoke.SmokeSettings.from_env(env)

    def run(
        self,
        options: smoke.Options,
        clock: smoke.Clock | None = None,
        environ: dict[str, str] | None = None,
        credential: object | None = None,
        **changes: str | None,
    ) -> tuple[smoke.Report, str]:
        out = StringIO()
        report = smoke.run(
            self.settings(**changes),
            options,
            credential=credential or self.operator,
            clock=clock,
            connection_verify=self.la.ca_path,  # both fakes' certificates come from one test CA
            environ=environ,
            out=out,
        )
        return report, out.getvalue()

    def scratch_issues(self) -> list[dict[str, Any]]:
        return self.github.issues(*SCRATCH.split("/"))


@contextmanager
def deployment(
    functions: FunctionTable,
    *,
    lag: float | None = 0.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_call_bytes: int | None = None,
) -> Iterator[Azure]:
    with (
        LogAnalyticsFake() as la,
        LogsIngestionFake(la, lag=lag, clock=clock) as ingestion,
        GitHubFake() as github,
        FunctionsHost(functions) as host,
    ):
        if max_call_bytes is not None:
            ingestion.max_call_bytes = max_call_bytes
        # the rule infra/app/monitoring.bicep declares: its stream's columns, into its table
        ingestion.add_rule(
            RULE, STREAM, _smoke_columns("smokeStreamColumns"), workspace_id=WS, table=TABLE
        )
        for repository in (SCRATCH, PRODUCTION):
            github.add_repository(*repository.split("/"))
        operator = IngestionCredential()
        la.grant_reader(WS, operator)  # type: ignore[arg-type]
        ingestion.grant_publisher(RULE, operator)
        token = github.add_token("operator", role="write", issues="write")
        yield Azure(la, ingestion, github, host, operator, token)


FAST = smoke.Options(poll=timedelta(seconds=0.05), timeout=timedelta(seconds=90))


class Pipeline:
    """The deployed app, working: a thread that does the Functions host's work (query jobs,
    failure notices) every 50 ms while the Durable worker runs the issue workflow."""

    def __init__(self, services: Any, functions: FunctionTable, queues: Any, durable: Any) -> None:
        self.jobs = QueueDriver(
            queues, services.settings.query_queue, functions.user_function("query_and_detect")
        )
        starter = functions.user_function("start_issue_workflow")
        self.notices = QueueDriver(
            queues, services.settings.failure_queue, lambda m: starter(m, durable.binding)
        )
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="functions-host", daemon=True)

    def __enter__(self) -> Pipeline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _work(self) -> None:
        while not self._stop.wait(0.05):
            try:
                failed = self.jobs.drain().failed + self.notices.deliver_waiting().failed
            except Exception as error:  # reported by the test, not lost in a thread
                self.failures.append(repr(error))
                continue
            if failed:
                self.failures.append(f"{failed} message(s) failed")


# -- the whole path, through the deployed pipeline --------------------------------------------


def test_a_failure_written_to_the_workspace_becomes_a_smoke_issue_and_each_run_reopens_it(
    azurite, storage_env, functions
) -> None:
    with deployment(functions, lag=0.2) as azure, DurableRuntime(functions) as durable:
        app_env = {
            **storage_env,
            **APP_SMOKE_SETTINGS,
            "FAULTLINE_LOGS_ENDPOINT": azure.la.endpoint,
            "FAULTLINE_LOGS_CA_BUNDLE": azure.la.ca_path,
            "FAULTLINE_GITHUB_API_URL": azure.github.base_url,
            "FAULTLINE_GITHUB_TOKEN": azure.github.user_token,  # the app's own identity
            "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",  # a local fake
            "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
            "FAULTLINE_NOTICE_REQUEUE_SECONDS": "1",
        }
        assert app_env["FAULTLINE_RULES_PATH"] == str(ROOT / "faultline.yaml"), "as shipped"
        services = bootstrap(app_env, credential=azure.la.credential)
        install(services)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        try:
            with Pipeline(services, functions, queues, durable) as pipeline:
                first, first_out = azure.run(FAST)
                second, _ = azure.run(FAST)
                kept, _ = azure.run(smoke.Options(**{**FAST.__dict__, "keep_issue": True}))
                after_kept, after_kept_out = azure.run(FAST)
        finally:
            durable.stop_worker()
            install(None)
        assert pipeline.failures == []

    # first run: every stage ran, timed, and the issue was made where the route sends it
    assert first.exit_code == 0, first_out
    assert [s.name for s in first.stages] == STAGES
    assert all(s.ok is True and s.seconds is not None and s.seconds >= 0 for s in first.stages)
    assert first.record_to_issue is not None and first.record_to_issue > 0
    assert "#1 created" in first.stages[4].detail
    assert "smoke test passed" in first_out and "retention" in first_out
    for stage in STAGES:
        assert f"\n{stage} " in first_out, "one line of the table per stage"
    (issue,) = azure.scratch_issues()
    assert find_marker(issue["body"]), "Faultline's issue, not one the script wrote"
    assert issue["author"] == "faultline-maintainer"
    assert {"faultline", "faultline-smoke", "severity:low"} <= set(issue["labels"])
    assert issue["assignees"] == [] and issue["agent_assignment"] is None, "never to an agent"
    assert azure.github.issues(*PRODUCTION.split("/")) == [], "nothing reaches production"

    # each later run is the same failure: the closed smoke issue is reopened, then closed again
    assert second.exit_code == 0
    assert "#1 reopened" in second.stages[4].detail
    assert kept.exit_code == 0 and kept.stages[5].ok is None, "--keep-issue"
    # a run after one that left its issue open closes it first, so the issue reopens again
    assert after_kept.exit_code == 0, after_kept_out
    assert "closed #1, left open by an earlier run" in after_kept.stages[0].detail
    assert "#1 reopened" in after_kept.stages[4].detail
    (issue,) = azure.scratch_issues()
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    regressions = [c for c in issue["comments"] if "faultline:regressed=" in c]
    assert len(regressions) == 3, "one reopening per later run"
    closings = [c for c in issue["comments"] if c.startswith("Closed by Faultline's smoke test")]
    assert len(closings) == 4, "three clean-ups and one close before a run"


# -- each way a run fails, with no pipeline behind the app ------------------------------------


@dataclass
class ListQueue:
    bodies: list[str] = field(default_factory=list)

    def send(self, body: str, delay: timedelta | None = None) -> None:
        self.bodies.append(body)

    def jobs(self) -> list[QueryJob]:
        return [QueryJob.model_validate_json(body) for body in self.bodies]


@contextmanager
def idle_app(now: Callable[[], datetime], env: dict[str, str] | None = None) -> Iterator[ListQueue]:
    """The app's real replay function over services whose queue nobody works off: a replay is
    accepted and queued, and no issue ever comes of it."""
    queue = ListQueue()
    rules = load_rules(
        (ROOT / "faultline.yaml").read_text(), APP_SMOKE_SETTINGS if env is None else env
    )
    install(SimpleNamespace(rules=rules, clock=SimpleNamespace(now=now), query_queue=queue))
    try:
        yield queue
    finally:
        install(None)


def _not_run_after(report: smoke.Report, stage: str) -> None:
    names = [s.name for s in report.stages]
    assert names == STAGES
    for later in report.stages[names.index(stage) + 1 :]:
        assert (later.ok, later.seconds) == (None, None), later
        assert later.detail == "not run: an earlier stage failed"


@pytest.mark.parametrize(
    ("options", "waited"),
    [
        (smoke.Options(), 900),  # the query timeout: 15 minutes
        (smoke.Options(timeout=timedelta(minutes=5)), 300),  # the whole run's bound
    ],
)
def test_a_record_that_never_becomes_queryable_fails_there_and_says_what_to_check(
    functions, options: smoke.Options, waited: int
) -> None:
    clock = VirtualTime()
    with deployment(functions, lag=None, clock=clock) as azure, idle_app(clock.now) as queue:
        report, out = azure.run(options, clock=clock)
        polls = [r for r in azure.la.requests if r.workspace_id == WS]
    assert report.exit_code == 1
    failed = report.failed
    assert failed is not None and failed.name == "queryable"
    assert failed.seconds == pytest.approx(waited, abs=1)
    assert f"not queryable in {TABLE} after {waited} s" in failed.detail
    assert "15 minutes the first time" in failed.hint
    assert len(polls) == pytest.approx(waited / 10, abs=2), "one query every 10 s"
    assert all(p.status == 200 for p in polls)
    _not_run_after(report, "queryable")
    assert queue.bodies == [] and azure.host.calls == [], "no replay of a record not there"
    assert "smoke test FAILED at stage queryable: record smoke-" in out
    assert "check: ingestion can take up to 15 minutes" in out


def test_no_issue_after_the_replay_fails_at_the_issue_stage_after_the_whole_runs_bound(
    functions,
) -> None:
    clock = VirtualTime()
    with deployment(functions, lag=45, clock=clock) as azure, idle_app(clock.now) as queue:
        report, out = azure.run(smoke.Options(), clock=clock)
        rows = azure.la.requests
    assert report.exit_code == 1
    failed = report.failed
    assert failed is not None and failed.name == "issue"
    assert "no Faultline issue in contoso/faultline-smoke" in failed.detail
    assert "/api/health" in failed.hint and "Key Vault" in failed.hint
    assert [s.ok for s in report.stages] == [True, True, True, True, False, None]
    elapsed = sum(s.seconds or 0 for s in report.stages)
    assert elapsed == pytest.approx(1200, abs=2), "the whole run's 20 minutes"
    assert "visible 50.0 s after the upload" in out, "the first poll after the 45 s lag"
    # the replay the app got: its function key, the smoke source, a window around the record
    ((headers, body),) = azure.host.calls
    assert headers["X-Functions-Key"] == KEY
    assert body["source"] == "faultline-smoke" and body["tables"] == [TABLE]
    (job,) = queue.jobs()
    assert (job.source, job.table) == ("faultline-smoke", TABLE)
    uploaded = clock.moment - timedelta(seconds=elapsed)  # when the run began, near enough
    ingested = uploaded + timedelta(seconds=45)
    assert job.start < ingested < job.end, "the replayed window holds the record's ingestion"
    assert rows, "the record was looked for"


def test_without_replay_the_app_is_left_to_its_timer(functions) -> None:
    clock = VirtualTime()
    with deployment(functions, lag=5, clock=clock) as azure, idle_app(clock.now) as queue:
        options = smoke.Options(replay=False, timeout=timedelta(minutes=12))
        report, _ = azure.run(options, clock=clock)
    replay = report.stages[3]
    assert (replay.name, replay.ok) == ("replay", None)
    assert "--no-replay" in replay.detail
    assert azure.host.calls == [] and queue.bodies == []
    assert report.failed is not None and report.failed.name == "issue"


@pytest.mark.parametrize("refusal", [401, 403, 413])
def test_a_refused_upload_is_reported_with_what_it_means(functions, refusal: int) -> None:
    with (
        deployment(functions, max_call_bytes=64 if refusal == 413 else None) as azure,
        idle_app(lambda: datetime.now(UTC)),
    ):
        credential: object = azure.operator
        if refusal == 401:  # a token the service did not issue (another tenant, expired)
            credential = IngestionCredential()
            azure.la.grant_reader(WS, credential)  # type: ignore[arg-type]
        elif refusal == 403:  # signed in, but without Monitoring Metrics Publisher on the rule
            credential = azure.ingestion.add_credential()
        report, out = azure.run(FAST, credential=credential)
        uploads = azure.ingestion.requests
    failed = report.failed
    assert failed is not None and failed.name == "ingest"
    assert str(refusal) in failed.detail
    expected = {
        401: "sign in with `az login`",
        403: "Monitoring Metrics Publisher on the data collection rule",
        413: "1 MB limit",
    }[refusal]
    assert expected in failed.hint
    assert [u.status for u in uploads] == [refusal], "no retry of a refusal"
    _not_run_after(report, "ingest")
    assert "smoke test FAILED at stage ingest" in out


@pytest.mark.parametrize(
    ("app_env", "settings", "status", "hint"),
    [
        ({}, {}, 400, "azd env set FAULTLINE_SMOKE_REPOSITORY"),  # deployed without the repo
        (None, {"FAULTLINE_FUNCTION_KEY": "stale"}, 401, "function key"),
    ],
)
def test_a_refused_replay_says_which_setting_to_fix(
    functions, app_env: dict[str, str] | None, settings: dict[str, str], status: int, hint: str
) -> None:
    clock = VirtualTime()
    with deployment(functions, clock=clock) as azure, idle_app(clock.now, app_env) as queue:
        report, _ = azure.run(FAST, clock=clock, **settings)
    failed = report.failed
    assert failed is not None and failed.name == "replay"
    assert f"answered {status}" in failed.detail and hint in failed.hint
    assert queue.bodies == []
    _not_run_after(report, "replay")


FAKE_AZ = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
print("%s")
"""


def test_the_function_key_comes_from_the_azure_cli_when_not_given(functions, tmp_path) -> None:
    az = tmp_path / "az"
    az.write_text(FAKE_AZ % KEY)
    az.chmod(0o755)
    environ = {
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AZ_LOG": str(tmp_path / "az.log"),
    }
    clock = VirtualTime()
    with deployment(functions, clock=clock) as azure, idle_app(clock.now) as queue:
        options = smoke.Options(timeout=timedelta(minutes=1))
        report, _ = azure.run(options, clock=clock, environ=environ, FAULTLINE_FUNCTION_KEY=None)
    assert report.stages[3].ok is True, report.stages[3]
    assert len(queue.jobs()) == 1
    (call,) = [json.loads(line) for line in (tmp_path / "az.log").read_text().splitlines()]
    assert call == [
        "functionapp", "keys", "list", "--resource-group", "rg-faultline",
        "--name", "func-faultline", "--query", "functionKeys.default", "--output", "tsv",
    ]  # fmt: skip


def test_without_a_key_or_the_azure_cli_the_replay_says_how_to_give_one(
    functions, tmp_path
) -> None:
    clock = VirtualTime()
    with deployment(functions, clock=clock) as azure, idle_app(clock.now):
        report, _ = azure.run(
            FAST, clock=clock, environ={"PATH": str(tmp_path)}, FAULTLINE_FUNCTION_KEY=None
        )
    failed = report.failed
    assert failed is not None and failed.name == "replay"
    assert "Azure CLI (az) is not installed" in failed.detail
    assert "set FAULTLINE_FUNCTION_KEY" in failed.hint


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"FAULTLINE_SMOKE_REPOSITORY": PRODUCTION}, "is the production repository"),
        ({"AZURE_FUNCTION_URL": None}, "AZURE_FUNCTION_URL is not set"),
    ],
)
def test_what_cannot_work_stops_before_anything_is_written(
    functions, changes: dict[str, str | None], problem: str
) -> None:
    with deployment(functions) as azure:
        report, _ = azure.run(FAST, **changes)
        uploads = azure.ingestion.requests
    failed = report.failed
    assert failed is not None and failed.name == "prepare"
    assert problem in failed.detail
    assert uploads == [], "nothing written"
    _not_run_after(report, "prepare")


def test_a_token_that_cannot_read_the_scratch_repository_stops_before_anything_is_written(
    functions,
) -> None:
    with deployment(functions) as azure:
        report, _ = azure.run(FAST, GITHUB_TOKEN="github_pat_not_issued")
        uploads = azure.ingestion.requests
    failed = report.failed
    assert failed is not None and failed.name == "prepare"
    assert "(401)" in failed.detail and "Issues read and write" in failed.hint
    assert uploads == []


# -- settings ----------------------------------------------------------------------------------


def test_missing_settings_exit_2_and_name_each(tmp_path, capsys) -> None:
    code = smoke.main([], environ={"PATH": str(tmp_path)})  # no azd here, nothing set
    assert code == 2
    err = capsys.readouterr().err
    for name in (
        "FAULTLINE_SMOKE_INGESTION_ENDPOINT",
        "FAULTLINE_SMOKE_DCR_IMMUTABLE_ID",
        "FAULTLINE_SMOKE_WORKSPACE_ID",
        "FAULTLINE_SMOKE_REPOSITORY",
        "GITHUB_TOKEN",
    ):
        assert name in err
    assert "azd up" in err


FAKE_AZD = """#!/bin/sh
[ "$1 $2" = "env get-values" ] || exit 1
printf '%s\\n' \\
  'AZURE_FUNCTION_URL="https://func-faultline-abc.azurewebsites.net"' \\
  'FAULTLINE_SMOKE_REPOSITORY="contoso/faultline-smoke"' \\
  'QUOTED="a \\"quoted\\" word\\\\n"'
"""


def test_the_azd_environment_is_read_and_the_process_environment_wins(tmp_path) -> None:
    azd = tmp_path / "azd"
    azd.write_text(FAKE_AZD)
    azd.chmod(0o755)
    values = smoke.azd_values({"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert values["AZURE_FUNCTION_URL"] == "https://func-faultline-abc.azurewebsites.net"
    assert values["FAULTLINE_SMOKE_REPOSITORY"] == SCRATCH
    assert values["QUOTED"] == 'a "quoted" word\\n'
    assert smoke.azd_values({"PATH": str(tmp_path / "nowhere")}) == {}, "no azd: no values"
