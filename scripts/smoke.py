"""The smoke test for a real subscription: run it after `azd up` and before production.

CI cannot run this (it needs a deployed app, an Azure sign-in and a GitHub token), and nothing
else proves that the pieces only Azure has work together: that the app may query a workspace,
that a record ingested there is found, fingerprinted, routed and turned into an issue by the
deployed workflow with the token in Key Vault. This writes one synthetic failure into the app's
own workspace and waits for Faultline's issue in a scratch repository, timing each stage:

    prepare    GitHub is reachable with the token; Faultline issues a previous run left open in
               the scratch repository are closed, so this run's record must reopen one (a
               recurrence on an open issue would only be gathered into its next hourly refresh)
    ingest     one record, carrying this run's id, through the Logs Ingestion API (the data
               collection rule azd provisions, with your Azure sign-in)
    queryable  the record is visible to a Log Analytics query: the ingestion latency
    replay     POST /api/replay over the record's window, so the app need not wait for its timer
               (skipped with --no-replay: the timer finds it within poll interval + ingestion
               delay, about seven minutes)
    issue      Faultline's issue appears in the scratch repository: created, or the previous
               smoke issue reopened, after this run began
    cleanup    the issue is closed as completed, with a comment (kept open with --keep-issue):
               resolved, so the next run's failure regresses and reopens it

Each stage is timed; a table ends the run and the exit status is 0 only if every stage that ran
succeeded (1 otherwise, 2 when settings are missing). The record stays in the workspace until
its retention removes it: Log Analytics deletes nothing on request cheaply, so every run leaves
one row in FaultlineSmoke_CL and the smoke issue closed.

Settings come from `azd env get-values` (the Bicep outputs) with the process environment on top;
`SmokeSettings` names each one. The token is `GITHUB_TOKEN`, and it needs Issues read and write on
the scratch repository; the function key is `FAULTLINE_FUNCTION_KEY` or comes from
`az functionapp keys list`.

    python -m scripts.smoke [--no-replay] [--keep-issue] [--timeout 1200]
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, TextIO

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from detection.markers import find_marker

SOURCE = "faultline-smoke"
"""The rules file's source for the smoke table (faultline.yaml)."""
SERVICE = "faultline-smoke"
MESSAGE = "Faultline smoke test: a synthetic failure written by scripts/smoke.py"
"""Constant on purpose: every run is the same failure (one fingerprint, one issue that each run
reopens); the run's id travels in the RunId column, which no fingerprint reads."""
REGRESSED_MARK = "faultline:regressed="
"""The hidden marker of the comment Faultline writes when it reopens an issue because its failure
recurred after the issue was closed (pipeline/workflow/activities.py)."""
REPLAY_SETTLE = timedelta(seconds=2)
"""The app replays up to the current second, floored; a record ingested in that same second
would fall just outside, so the replay waits until it is safely in the past."""

Repository = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")]


class SmokeSettings(BaseModel):
    """Where the smoke test writes, reads and looks: the azd environment's values."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    ingestion_endpoint: str = Field(
        alias="FAULTLINE_SMOKE_INGESTION_ENDPOINT",
        description="The data collection rule's own Logs Ingestion endpoint (azd output).",
    )
    rule_id: str = Field(
        alias="FAULTLINE_SMOKE_DCR_IMMUTABLE_ID",
        pattern=r"^dcr-[0-9a-f]{32}$",
        description="The data collection rule's immutable id (azd output).",
    )
    stream: str = Field(
        default="Custom-FaultlineSmoke_CL",
        alias="FAULTLINE_SMOKE_STREAM",
        description="The rule's stream (azd output).",
    )
    table: str = Field(
        default="FaultlineSmoke_CL",
        alias="FAULTLINE_SMOKE_TABLE",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*_CL$",
        description="The table the stream lands in (azd output).",
    )
    workspace_id: str = Field(
        alias="FAULTLINE_SMOKE_WORKSPACE_ID",
        pattern=r"^[0-9a-fA-F-]{36}$",
        description="The app's own workspace id (azd output).",
    )
    repository: Repository = Field(
        alias="FAULTLINE_SMOKE_REPOSITORY",
        description="The scratch repository smoke issues go to (azd env set before azd up).",
    )
    production_repository: str | None = Field(
        default=None,
        alias="FAULTLINE_REPOSITORY",
        description="The default repository; the scratch repository must be another one.",
    )
    function_url: str | None = Field(
        default=None,
        alias="AZURE_FUNCTION_URL",
        description="The app's base URL, for the replay (azd output).",
    )
    resource_group: str | None = Field(default=None, alias="AZURE_RESOURCE_GROUP")
    function_name: str | None = Field(default=None, alias="AZURE_FUNCTION_NAME")
    function_key: SecretStr | None = Field(
        default=None,
        alias="FAULTLINE_FUNCTION_KEY",
        description="A function key for /api/replay; else `az functionapp keys list` finds it.",
    )
    github_token: SecretStr = Field(
        alias="GITHUB_TOKEN",
        description="A token with Issues read and write on the scratch repository.",
    )
    github_api_url: str = Field(default="https://api.github.com/", alias="FAULTLINE_GITHUB_API_URL")
    logs_endpoint: str = Field(
        default="https://api.loganalytics.io/v1", alias="FAULTLINE_LOGS_ENDPOINT"
    )
    http_auth_client_id: str | None = Field(
        default=None,
        alias="FAULTLINE_HTTP_AUTH_CLIENT_ID",
        description="Set when Entra ID guards the HTTP endpoints: the replay sends a token too.",
    )
    http_auth_audiences: str | None = Field(default=None, alias="FAULTLINE_HTTP_AUTH_AUDIENCES")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmokeSettings:
        try:
            return cls.model_validate({k: v for k, v in env.items() if v != ""})
        except ValidationError as error:
            problems = "\n".join(
                f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            raise SettingsMissing(
                "the smoke test's settings are incomplete (run it from the azd project after "
                "`azd up`, with FAULTLINE_SMOKE_REPOSITORY set before it, and GITHUB_TOKEN "
                f"exported):\n{problems}"
            ) from None


class SettingsMissing(ValueError):
    """A setting is missing or malformed; the message names each."""


@dataclass(frozen=True)
class Options:
    replay: bool = True
    keep_issue: bool = False
    timeout: timedelta = timedelta(minutes=20)
    query_timeout: timedelta = timedelta(minutes=15)
    """Ingestion takes up to 15 minutes the first time a table receives data (the Logs
    Ingestion API tutorial's troubleshooting); later, seconds to minutes."""
    poll: timedelta = timedelta(seconds=10)


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Stage:
    """One stage's outcome: `ok` None means it did not run."""

    name: str
    seconds: float | None = None
    ok: bool | None = None
    detail: str = ""
    hint: str = ""


@dataclass
class Report:
    run_id: str
    stages: list[Stage] = field(default_factory=list)
    issue: int | None = None
    record_to_issue: float | None = None

    @property
    def failed(self) -> Stage | None:
        return next((s for s in self.stages if s.ok is False), None)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def render(self) -> str:
        rows = [("stage", "seconds", "result", "detail")]
        for stage in self.stages:
            seconds = "" if stage.seconds is None else f"{stage.seconds:.1f}"
            result = {True: "ok", False: "FAILED", None: "skipped"}[stage.ok]
            rows.append((stage.name, seconds, result, stage.detail))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            f"{name:<{widths[0]}}  {seconds:>{widths[1]}}  {result:<{widths[2]}}  {detail}"
            for name, seconds, result, detail in rows
        ]
        if self.record_to_issue is not None:
            lines.append(f"from the upload to the issue: {self.record_to_issue:.1f} s")
        failed = self.failed
        if failed is not None:
            lines.append(f"smoke test FAILED at stage {failed.name}: {failed.detail}")
            if failed.hint:
                lines.append(f"check: {failed.hint}")
        else:
            lines.append(f"smoke test passed (run {self.run_id})")
        closed = next((s.ok for s in self.stages if s.name == "cleanup"), None)
        issue = f"#{self.issue}, {'closed' if closed else 'open'}" if self.issue else "no issue"
        lines.append(
            "left behind: the record in the smoke table until the workspace's retention removes "
            f"it (Log Analytics does not delete single records), and the smoke issue ({issue})."
        )
        return "\n".join(lines)


class StageFailed(Exception):
    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail, self.hint = detail, hint


@dataclass(frozen=True)
class FoundIssue:
    number: int
    url: str
    how: str  # created | reopened
    labels: tuple[str, ...]
    assignees: tuple[str, ...]


class SmokeTest:
    """The stages, against whatever endpoints the settings name. `credential` is the operator's
    Azure identity (DefaultAzureCredential by default); `connection_verify` a CA bundle for
    endpoints with a private CA (the tests' local fakes)."""

    def __init__(
        self,
        settings: SmokeSettings,
        options: Options,
        *,
        credential: Any,
        clock: Clock | None = None,
        connection_verify: str | bool = True,
        environ: Mapping[str, str] | None = None,
        err: TextIO = sys.stderr,
    ) -> None:
        self.settings, self.options = settings, options
        self.err = err
        self.credential = credential
        self.clock = clock or SystemClock()
        self.verify = connection_verify
        self.environ = environ
        self.started = self.clock.now()
        self.deadline = self.started + options.timeout
        self.run_id = f"smoke-{self.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.owner, self.repo = settings.repository.split("/")
        self._github: Any = None
        self._baseline = self.started
        self._record_time = self.started
        self._uploaded_at = self.started
        self._ingested_at: datetime | None = None
        self._found: FoundIssue | None = None
        self._record_to_issue: float | None = None
        self._last_close_response: Any = None

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> Report:
        report = Report(self.run_id)
        stages: list[tuple[str, Callable[[], str], bool]] = [
            ("prepare", self.prepare, True),
            ("ingest", self.ingest, True),
            ("queryable", self.queryable, True),
            ("replay", self.replay, self.options.replay),
            ("issue", self.issue, True),
            ("cleanup", self.cleanup, not self.options.keep_issue),
        ]
        from githubkit import GitHub, TokenAuthStrategy

        with GitHub(
            TokenAuthStrategy(self.settings.github_token.get_secret_value()),
            base_url=self.settings.github_api_url,
            auto_retry=False,  # a poll retries; a refusal should show, not wait silently
            http_cache=False,  # hishel's cache loses httpx's timeout
            timeout=30,
        ) as github:
            self._github = github
            for name, action, wanted in stages:
                stage = Stage(name)
                report.stages.append(stage)
                if report.failed is not None:
                    stage.detail = "not run: an earlier stage failed"
                    continue
                if not wanted:
                    stage.detail = {
                        "replay": "--no-replay: the app's timer picks the record up",
                        "cleanup": f"--keep-issue: #{self._found.number if self._found else '?'} "
                        "stays open (the next run closes it first)",
                    }[name]
                    continue
                began = self.clock.now()
                try:
                    stage.detail, stage.ok = action(), True
                except StageFailed as failure:
                    stage.ok, stage.detail, stage.hint = False, failure.detail, failure.hint
                except Exception as error:  # still a row in the table, with its traceback
                    traceback.print_exc(file=self.err)
                    stage.ok, stage.detail = False, f"{type(error).__name__}: {_first_line(error)}"
                    stage.hint = "the traceback above"
                stage.seconds = (self.clock.now() - began).total_seconds()
        if self._found is not None:
            report.issue = self._found.number
            report.record_to_issue = self._record_to_issue
        return report

    # -- stages -----------------------------------------------------------------------------

    def prepare(self) -> str:
        """The token reaches the scratch repository, and no smoke issue is left open, so this
        run's record shows up at once as a new issue or a reopened one (a recurrence on an open
        issue would only be gathered into its next refresh, up to dedup.update_interval later).
        GitHub's clock, read here, is what the later stages compare GitHub's timestamps with."""
        production = self.settings.production_repository
        if production and production.casefold() == self.settings.repository.casefold():
            raise StageFailed(
                f"FAULTLINE_SMOKE_REPOSITORY is the production repository {production}",
                "point FAULTLINE_SMOKE_REPOSITORY at a scratch repository nothing else routes to, "
                "then `azd provision`",
            )
        if self.options.replay and not self.settings.function_url:
            raise StageFailed(
                "AZURE_FUNCTION_URL is not set, and the replay needs it",
                "run from the azd project after `azd up`, or pass --no-replay",
            )
        response = self._gh(
            "list the scratch repository's open issues",
            lambda gh: gh.rest.issues.list_for_repo(
                self.owner, self.repo, state="open", per_page=100
            ),
        )
        left_open = [i for i in response.parsed_data if not i.pull_request and find_marker(i.body)]
        for issue in left_open:
            self._close(issue.number, f"before smoke run {self.run_id}, so that it reopens this")
            response = self._last_close_response
        self._baseline = _server_time(response) or self.clock.now()
        if not left_open:
            return f"{self.settings.repository} reachable; no smoke issue left open"
        numbers = ", ".join(f"#{i.number}" for i in left_open)
        return f"closed {numbers}, left open by an earlier run, so this run must reopen one"

    def ingest(self) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )
        from azure.monitor.ingestion import LogsIngestionClient

        # After the baseline (GitHub's clock): a recurrence counts as a regression only when it
        # was seen after the issue was closed, and a laptop's clock may run behind GitHub's.
        self._record_time = max(self.clock.now(), self._baseline + timedelta(seconds=1))
        record = {
            "TimeGenerated": self._record_time.isoformat().replace("+00:00", "Z"),
            "Level": "Error",
            "Message": MESSAGE,
            "Service": SERVICE,
            "RunId": self.run_id,
        }
        client = LogsIngestionClient(
            self.settings.ingestion_endpoint,
            self.credential,
            connection_verify=self.verify,
        )
        try:
            with client:
                client.upload(self.settings.rule_id, self.settings.stream, [record])
        except ClientAuthenticationError as error:
            status = getattr(error, "status_code", None)
            raise StageFailed(
                f"the Logs Ingestion API refused the sign-in ({status or 'no token'}): "
                f"{_first_line(error)}",
                "sign in with `az login` (DefaultAzureCredential uses it) as the identity that "
                "ran `azd up`",
            ) from None
        except HttpResponseError as error:
            raise _ingestion_failure(error, self.settings) from None
        except ServiceRequestError as error:
            raise StageFailed(
                f"cannot reach {self.settings.ingestion_endpoint}: {_first_line(error)}",
                "FAULTLINE_SMOKE_INGESTION_ENDPOINT (`azd env get-values`) and the network",
            ) from None
        self._uploaded_at = self.clock.now()
        return f"1 record, RunId {self.run_id}, through {self.settings.rule_id}"

    def queryable(self) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )
        from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult

        client = LogsQueryClient(
            self.credential, endpoint=self.settings.logs_endpoint, connection_verify=self.verify
        )
        query = (
            f"{self.settings.table} | where RunId == {json.dumps(self.run_id)}"
            " | extend IngestedAt = ingestion_time()"
        )
        span = (self._record_time - timedelta(hours=1), self._record_time + timedelta(hours=1))
        last_error = ""

        def look() -> datetime | None:
            nonlocal last_error
            try:
                result = client.query_workspace(self.settings.workspace_id, query, timespan=span)
            except HttpResponseError as error:
                refused = isinstance(error, ClientAuthenticationError)
                if refused or error.status_code in (401, 403):
                    raise StageFailed(
                        f"Log Analytics refused the query ({error.status_code}): "
                        f"{_first_line(error)}",
                        f"your identity needs read access to workspace "
                        f"{self.settings.workspace_id} (Reader, or Log Analytics Reader, on "
                        "the app's resource group)",
                    ) from None
                last_error = f"{error.status_code}: {_first_line(error)}"
                return None
            except ServiceRequestError as error:
                last_error = _first_line(error)
                return None
            tables = (
                result.partial_data if isinstance(result, LogsQueryPartialResult) else result.tables
            )
            for table in tables:
                for row in table.rows:
                    ingested = row[list(table.columns).index("IngestedAt")]
                    return ingested if isinstance(ingested, datetime) else self.clock.now()
            return None

        with client:
            until = min(self.deadline, self._uploaded_at + self.options.query_timeout)
            ingested = self._poll(until, look)
        waited = (self.clock.now() - self._uploaded_at).total_seconds()
        if ingested is None:
            raise StageFailed(
                f"record {self.run_id} not queryable in {self.settings.table} after "
                f"{waited:.0f} s{f' (last error {last_error})' if last_error else ''}",
                "ingestion can take up to 15 minutes the first time a table receives data; "
                f"check the data collection rule's metrics in the portal and that its stream "
                f"{self.settings.stream} flows to {self.settings.table}",
            )
        self._ingested_at = ingested
        return f"visible {waited:.1f} s after the upload"

    def replay(self) -> str:
        function_url = self.settings.function_url or ""  # prepare made sure it is set
        ingested = self._ingested_at or self.clock.now()
        # at most REPLAY_SETTLE, however far this machine's clock is behind Azure's
        wait = min(ingested + REPLAY_SETTLE - self.clock.now(), REPLAY_SETTLE).total_seconds()
        if wait > 0:
            self.clock.sleep(wait)
        body = {
            "source": SOURCE,
            "tables": [self.settings.table],
            "start": _iso(min(self._record_time, ingested) - timedelta(minutes=10)),
            "end": _iso(self.clock.now() + timedelta(minutes=1)),
        }
        headers = {"x-functions-key": self._function_key()}
        if self.settings.http_auth_client_id:
            audiences = [a for a in (self.settings.http_auth_audiences or "").split(",") if a]
            audience = (
                audiences[0].strip() if audiences else f"api://{self.settings.http_auth_client_id}"
            )
            token = self.credential.get_token(f"{audience}/.default").token
            headers["Authorization"] = f"Bearer {token}"
        url = function_url.rstrip("/") + "/api/replay"
        status, answer = _post_json(url, body, headers)
        if status == 202 and isinstance(answer, dict):
            return f"queued {answer.get('queued', '?')} query job(s)"
        error = answer.get("error") if isinstance(answer, dict) else answer
        if status == 400 and "disabled" in str(error):
            hint = (
                "the app's faultline-smoke source is off: `azd env set "
                "FAULTLINE_SMOKE_REPOSITORY owner/scratch-repo` and `azd provision`"
            )
        elif status in (401, 403):
            hint = (
                "the function key (FAULTLINE_FUNCTION_KEY or `az functionapp keys list`) or, "
                "with FAULTLINE_HTTP_AUTH_CLIENT_ID, your Entra ID token was refused"
            )
        else:
            hint = f"GET {function_url}/api/health and the app's logs"
        raise StageFailed(f"POST /api/replay answered {status}: {error}", hint)

    def issue(self) -> str:
        from githubkit.exception import RequestError, RequestFailed, RequestTimeout

        last_error = ""

        def look() -> FoundIssue | None:
            nonlocal last_error
            try:
                return self._find_issue()
            except RequestFailed as error:
                if error.response.status_code in (401, 403, 404):
                    raise StageFailed(
                        f"GitHub refused to list {self.settings.repository}'s issues "
                        f"({error.response.status_code})",
                        "GITHUB_TOKEN needs Issues read and write on the scratch repository",
                    ) from None
                last_error = f"GitHub {error.response.status_code}"
            except (RequestTimeout, RequestError) as error:
                last_error = f"GitHub unreachable: {error}"
            return None

        found = self._poll(self.deadline, look)
        if found is None:
            waited = (self.clock.now() - self._uploaded_at).total_seconds()
            raise StageFailed(
                f"no Faultline issue in {self.settings.repository} {waited:.0f} s after the "
                f"upload{f' (last error {last_error})' if last_error else ''}",
                f"GET {self.settings.function_url or '<app>'}/api/health (faultline-smoke among "
                "config.sources, poisoned jobs), the app's traces in Application Insights "
                "(`job ` lines for faultline-smoke, failed workflow activities), and that the "
                "GitHub token in Key Vault may write issues in the scratch repository",
            )
        self._found = found
        self._record_to_issue = (self.clock.now() - self._uploaded_at).total_seconds()
        labels = ", ".join(found.labels) or "none"
        assignees = ", ".join(found.assignees) or "nobody"
        return (
            f"#{found.number} {found.how} ({found.url}; labels {labels}; assigned to {assignees})"
        )

    def cleanup(self) -> str:
        if self._found is None:
            raise StageFailed("no issue to close")
        self._close(
            self._found.number,
            f"after smoke run {self.run_id} passed; the next run reopens it, which is its check "
            "that a recurrence reaches GitHub",
        )
        return f"closed #{self._found.number} as completed"

    # -- helpers ----------------------------------------------------------------------------

    def _find_issue(self) -> FoundIssue | None:
        """Faultline's issue (its marker on the body's first line) created after the baseline,
        or one Faultline reopened since then (its regression comment). Identified by the markers,
        which Faultline writes and redaction never touches, rather than by the run id, which
        only the record carries: every run is the same failure, so the same issue."""
        since = self._baseline.replace(microsecond=0)
        issues = self._github.rest.issues.list_for_repo(
            self.owner, self.repo, state="all", since=since, sort="updated", per_page=100
        ).parsed_data
        for issue in issues:
            if issue.pull_request or not find_marker(issue.body):
                continue
            # strictly after the baseline's second: what happened within it came before this
            # run's record (which is at least seconds later), such as the last run's clean-up
            how = None
            if issue.created_at > since:
                how = "created"
            else:
                comments = self._github.rest.issues.list_comments(
                    self.owner, self.repo, issue.number, since=since
                ).parsed_data
                bodies = [c.body or "" for c in comments if c.created_at > since]
                if any(REGRESSED_MARK in body for body in bodies):
                    how = "reopened"
            if how is not None:
                return FoundIssue(
                    issue.number,
                    issue.html_url,
                    how,
                    tuple(x if isinstance(x, str) else (x.name or "") for x in issue.labels),
                    tuple(a.login for a in issue.assignees or ()),
                )
        return None

    def _close(self, number: int, why: str) -> None:
        self._gh(
            f"comment on #{number}",
            lambda gh: gh.rest.issues.create_comment(
                self.owner, self.repo, number, body=f"Closed by Faultline's smoke test {why}."
            ),
        )
        self._last_close_response = self._gh(
            f"close #{number}",
            lambda gh: gh.rest.issues.update(
                self.owner, self.repo, number, state="closed", state_reason="completed"
            ),
        )

    def _gh(self, what: str, call: Callable[[Any], Any]) -> Any:
        from githubkit.exception import RequestError, RequestFailed, RequestTimeout

        try:
            return call(self._github)
        except RequestFailed as error:
            status = error.response.status_code
            raise StageFailed(
                f"GitHub refused to {what} in {self.settings.repository} ({status})",
                "GITHUB_TOKEN needs Issues read and write on the scratch repository"
                if status in (401, 403, 404)
                else "try again; GitHub may be having trouble",
            ) from None
        except (RequestTimeout, RequestError) as error:
            raise StageFailed(f"GitHub unreachable ({what}): {error}") from None

    def _poll[T](self, until: datetime, look: Callable[[], T | None]) -> T | None:
        while True:
            found = look()
            if found is not None:
                return found
            left = (until - self.clock.now()).total_seconds()
            if left <= 0:
                return None
            self.clock.sleep(min(self.options.poll.total_seconds(), left))

    def _function_key(self) -> str:
        if self.settings.function_key is not None:
            return self.settings.function_key.get_secret_value()
        group, app = self.settings.resource_group, self.settings.function_name
        hint = "set FAULTLINE_FUNCTION_KEY, or install the Azure CLI and `az login`"
        if not (group and app):
            raise StageFailed(
                "no function key: AZURE_RESOURCE_GROUP and AZURE_FUNCTION_NAME unset", hint
            )
        path = (self.environ or {}).get("PATH")
        az = shutil.which("az", path=path)
        if az is None:
            raise StageFailed("no function key: the Azure CLI (az) is not installed", hint)
        command = [
            az, "functionapp", "keys", "list", "--resource-group", group, "--name", app,
            "--query", "functionKeys.default", "--output", "tsv",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=120, env=self.environ, check=False
            )
        except subprocess.TimeoutExpired:
            raise StageFailed("`az functionapp keys list` did not answer in 120 s", hint) from None
        key = done.stdout.strip()
        if done.returncode != 0 or not key:
            raise StageFailed(
                f"`az functionapp keys list` failed: {_first_line(done.stderr) or 'no key'}", hint
            )
        return key


def _ingestion_failure(error: Any, settings: SmokeSettings) -> StageFailed:
    """What each of the Logs Ingestion API's refusals means for someone who just ran azd up."""
    status = error.status_code
    detail = f"the Logs Ingestion API answered {status}: {_first_line(error)}"
    hints = {
        403: "your identity needs Monitoring Metrics Publisher on the data collection rule; "
        "`azd up` grants it to AZURE_PRINCIPAL_ID (the signed-in user, or a pipeline's "
        "principal with AZURE_PRINCIPAL_TYPE=ServicePrincipal), and a new role assignment can "
        "take up to 30 minutes to apply",
        404: f"no data collection rule {settings.rule_id} at {settings.ingestion_endpoint}: "
        "`azd provision`, then `azd env get-values` for FAULTLINE_SMOKE_DCR_IMMUTABLE_ID",
        400: f"the rule does not take stream {settings.stream} or this body: compare "
        "FAULTLINE_SMOKE_STREAM with the rule's streamDeclarations",
        413: "the call is over the service's 1 MB limit (compressed or not); the smoke test "
        "sends one small record, so an endpoint in between is rewriting it",
        429: "the rule is throttled (12,000 requests or 2 GB a minute); wait for Retry-After",
    }
    return StageFailed(detail, hints.get(status, "the Logs Ingestion API's status in Azure"))


def _server_time(response: Any) -> datetime | None:
    """GitHub's clock, from a response's Date header: its timestamps are what is compared."""
    value = getattr(response, "headers", {}).get("date") if response is not None else None
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _post_json(url: str, body: object, headers: dict[str, str]) -> tuple[int, Any]:
    """POST JSON with the standard library (one call: no client worth pinning for it); the key
    travels in a header, never in the URL, so it is not printed with an error."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, _json_or_text(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json_or_text(error.read())
    except (urllib.error.URLError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise StageFailed(
            f"cannot reach {url}: {reason}", "AZURE_FUNCTION_URL and that the app is running"
        ) from None


def _json_or_text(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()[:300]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _first_line(error: object) -> str:
    """An error's first line: the Azure SDK appends whole response bodies."""
    text = getattr(error, "message", None) or str(error)
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else ""


_AZD_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_DOTENV_ESCAPES = {"n": "\n", "r": "\r", '"': '"', "\\": "\\", "$": "$", "!": "!"}


def parse_azd_values(text: str) -> dict[str, str]:
    """`azd env get-values` output (dotenv: `NAME="value"`, backslash escapes) as a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _AZD_LINE.match(line.strip())
        if not match:
            continue
        name, raw = match.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", lambda m: _DOTENV_ESCAPES.get(m[1], "\\" + m[1]), raw[1:-1])
        values[name] = raw
    return values


def azd_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The azd environment's values, or none when azd is not installed or has no environment
    here (the process environment may then carry every setting)."""
    azd = shutil.which("azd", path=environ.get("PATH"))
    if azd is None:
        return {}
    try:
        done = subprocess.run(
            [azd, "env", "get-values"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(environ),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {}
    return parse_azd_values(done.stdout) if done.returncode == 0 else {}


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.smoke",
        description="Smoke-test a deployed Faultline: a synthetic failure in, an issue out.",
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="do not call /api/replay; wait for the app's timer instead",
    )
    parser.add_argument(
        "--keep-issue", action="store_true", help="leave the smoke issue open for a look"
    )
    parser.add_argument(
        "--timeout", type=float, default=1200, help="seconds for the whole run (default 1200)"
    )
    parser.add_argument(
        "--query-timeout",
        type=float,
        default=900,
        help="seconds to wait for the record to be queryable (default 900)",
    )
    parser.add_argument("--poll", type=float, default=10, help="seconds between polls (default 10)")
    args = parser.parse_args(argv)
    return Options(
        replay=not args.no_replay,
        keep_issue=args.keep_issue,
        timeout=timedelta(seconds=args.timeout),
        query_timeout=timedelta(seconds=args.query_timeout),
        poll=timedelta(seconds=args.poll),
    )


def run(
    settings: SmokeSettings,
    options: Options,
    *,
    credential: Any,
    clock: Clock | None = None,
    connection_verify: str | bool = True,
    environ: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> Report:
    smoke = SmokeTest(
        settings,
        options,
        credential=credential,
        clock=clock,
        connection_verify=connection_verify,
        environ=environ,
    )
    print(f"Faultline smoke test {smoke.run_id} -> {settings.repository}", file=out, flush=True)
    report = smoke.run()
    print(report.render(), file=out, flush=True)
    return report


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if environ is None else environ)
    try:
        settings = SmokeSettings.from_env({**azd_values(env), **env})
    except SettingsMissing as error:
        print(error, file=sys.stderr)
        return 2
    from azure.identity import DefaultAzureCredential

    with DefaultAzureCredential() as credential:
        return run(settings, options, credential=credential, environ=env).exit_code


if __name__ == "__main__":
    sys.exit(main())
