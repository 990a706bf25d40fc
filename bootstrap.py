"""Wire the Azure and GitHub adapters to the use cases' ports, once per process (Cosmic Python's
bootstrap); `install` lets a local run or a test put its own services in their place.

Each adapter's SDK is imported when it is first needed, not when the app is indexed: the timer
never loads the query SDK, and nothing but the issue workflow loads githubkit or Key Vault's
client (a cold start on a plan that scales to zero pays for every import). The OpenTelemetry SDK
and the Azure Monitor distro are loaded and configured when the services are first built, in the
first invocation, never while indexing.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    import httpx
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from adapters.github import GitHubPacer
    from adapters.github_app import GitHubApp
    from adapters.secrets import CachedSecret, WebhookSecrets
    from detection.rules import Rules
    from pipeline.ports import (
        Clock,
        IssueTracker,
        LogSource,
        Metrics,
        Notifier,
        QueryOutcome,
        QueryPlan,
    )
    from pipeline.services import NotificationPorts, Services
    from pipeline.settings import AppSettings

APP_ROOT = Path(__file__).resolve().parent


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def load_configuration(env: Mapping[str, str]) -> tuple[AppSettings, Rules]:
    """Settings and rules, validated; raises with the bad field's name (fail at start-up)."""
    from detection.rules import load_rules
    from pipeline.settings import AppSettings

    settings = AppSettings.from_env(env)
    path = Path(settings.rules_path)
    path = path if path.is_absolute() else APP_ROOT / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        named = env.get("FAULTLINE_RULES_PATH")
        source = f" (FAULTLINE_RULES_PATH={named})" if named else ""
        raise FileNotFoundError(
            f"the rules file {path}{source} cannot be read: {error.strerror or error}"
        ) from error
    rules = load_rules(text, env, origin=str(path))
    cloudwatch = [s.name for s in rules.enabled_sources if s.kind == "cloudwatch"]
    if cloudwatch and settings.aws_region is None and not settings.logs_export_dir:
        from pipeline.settings import SettingsError

        raise SettingsError(
            f"FAULTLINE_AWS_REGION is not set: the cloudwatch source {cloudwatch[0]} needs the "
            "AWS region of its log groups"
        )
    return settings, rules


def check_configuration_at_start_up(env: Mapping[str, str]) -> threading.Thread:
    """Validate the configuration as the app starts, so a mistake is in the start-up log by
    name instead of surfacing in the first invocation, without making indexing wait for it.

    Once the app is indexed the host spends far longer starting its listeners (the queues, the
    Durable task hub) than the check takes (about 85 ms, most of it importing pydantic), so the
    check runs in a thread meanwhile; the first invocation's `services()` finds pydantic and the
    rules' models already built. `python -m bench.cold_start` prints both figures.
    """
    check = threading.Thread(
        target=_check_configuration, args=(dict(env),), name="faultline-configuration-check"
    )
    check.start()
    return check


def _check_configuration(env: Mapping[str, str]) -> None:
    """The collector is paused meanwhile and what was built is then frozen: the check makes
    objects that live as long as the worker (modules, classes, the rules' models), so scanning
    them is wasted work."""
    from detection.rules import RulesError
    from pipeline.settings import SettingsError

    gc.disable()
    try:
        load_configuration(env)
    except (RulesError, SettingsError, OSError) as error:
        # the message names every mistake; a traceback through pydantic would only bury it
        logging.getLogger("faultline").error(
            "the configuration is invalid: every function fails until it is fixed, and "
            "GET /api/health answers 503 with config.loaded false.\n%s",
            error,
        )
    finally:
        gc.freeze()
        gc.enable()


def _default_credential(settings: AppSettings) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)


def _storage_clients(
    settings: AppSettings, credential: TokenCredential | None
) -> tuple[QueueServiceClient, TableServiceClient]:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    if settings.storage_connection_string:
        return (
            QueueServiceClient.from_connection_string(settings.storage_connection_string),
            TableServiceClient.from_connection_string(settings.storage_connection_string),
        )
    if not (settings.storage_queue_uri and settings.storage_table_uri):
        raise ValueError("storage needs a connection string or both the queue and table URIs")
    identity = credential or _default_credential(settings)
    return (
        QueueServiceClient(settings.storage_queue_uri, credential=identity),
        TableServiceClient(settings.storage_table_uri, credential=identity),
    )


class _OnFirstQuery:
    """A log source built on the first query, so that the timer and the workflow never load the
    query SDK (two threads may both build one; either serves)."""

    def __init__(self, build: Callable[[], LogSource]) -> None:
        self._build = build
        self._source: LogSource | None = None

    def run(self, plan: QueryPlan) -> QueryOutcome:
        if self._source is None:
            self._source = self._build()
        return self._source.run(plan)


def _log_source(settings: AppSettings, credential: TokenCredential | None) -> LogSource:
    if settings.logs_export_dir:
        from adapters.exported_logs import ExportedLogsSource

        folders = [Path(p) for p in settings.logs_export_dir.split(os.pathsep) if p]
        return ExportedLogsSource(*(p if p.is_absolute() else APP_ROOT / p for p in folders))
    from adapters.log_analytics import LogAnalyticsSource

    return LogAnalyticsSource(
        credential or _default_credential(settings),
        settings.logs_endpoint,
        server_timeout=settings.query_timeout_seconds,
        max_rows=settings.max_rows_per_query,
        connection_verify=settings.logs_ca_bundle or True,
    )


class _LogSourceByKind:
    """Log Analytics, or CloudWatch Logs for a plan that names a log group."""

    def __init__(self, log_analytics: LogSource, cloudwatch: LogSource) -> None:
        self._log_analytics = log_analytics
        self._cloudwatch = cloudwatch

    def run(self, plan: QueryPlan) -> QueryOutcome:
        source = self._log_analytics if plan.log_group is None else self._cloudwatch
        return source.run(plan)


def _cloudwatch_source(settings: AppSettings, credential: TokenCredential | None) -> LogSource:
    """CloudWatch Logs in the configured region, as the IAM role the managed identity is
    federated to; else with the access keys in Key Vault; else botocore's default chain (the
    environment, locally). With a folder of exports, the log groups' exports instead."""
    from adapters.cloudwatch import (
        CloudWatchLogsSource,
        access_key_credentials,
        logs_client,
        web_identity_credentials,
    )
    from detection.insights import ROW_LIMIT
    from pipeline.settings import SettingsError

    if settings.logs_export_dir:
        return _log_source(settings, credential)  # a log group's export sits beside the tables'
    if settings.aws_region is None:
        raise SettingsError(
            "FAULTLINE_AWS_REGION is not set: a cloudwatch source needs its log groups' region"
        )
    verify = settings.cloudwatch_ca_bundle or True
    if settings.aws_role_arn:
        identity = credential or _default_credential(settings)
        scope = settings.aws_web_identity_audience.rstrip("/") + "/.default"
        aws = web_identity_credentials(
            settings.aws_role_arn,
            lambda: identity.get_token(scope).token,
            settings.aws_region,
            sts_endpoint=settings.aws_sts_endpoint,
            verify=verify,
        )
    elif settings.key_vault_url and settings.aws_keys_secret:
        from adapters.secrets import key_vault_secret

        keys = key_vault_secret(
            settings.key_vault_url,
            settings.aws_keys_secret,
            credential or _default_credential(settings),
        )
        aws = access_key_credentials(keys)
    else:
        aws = None
    client = logs_client(
        settings.aws_region, aws, endpoint=settings.cloudwatch_endpoint, verify=verify
    )
    return CloudWatchLogsSource(
        client,
        max_rows=min(settings.max_rows_per_query, ROW_LIMIT),
        wait=timedelta(seconds=settings.cloudwatch_query_wait_seconds),
    )


def _github_token(settings: AppSettings, credential: TokenCredential | None) -> CachedSecret:
    from adapters.secrets import environment_secret, key_vault_secret

    if settings.key_vault_url:
        return key_vault_secret(
            settings.key_vault_url,
            settings.github_token_secret,
            credential or _default_credential(settings),
        )
    return environment_secret(settings.github_token, "FAULTLINE_GITHUB_TOKEN")


def _gitlab_token(settings: AppSettings, credential: TokenCredential | None) -> CachedSecret:
    """GitLab's access token, as GitHub's: from Key Vault in Azure, else the environment."""
    from adapters.secrets import environment_secret, key_vault_secret

    if settings.key_vault_url:
        return key_vault_secret(
            settings.key_vault_url,
            settings.gitlab_token_secret,
            credential or _default_credential(settings),
        )
    return environment_secret(
        settings.gitlab_token, "FAULTLINE_GITLAB_TOKEN", "FAULTLINE_GITLAB_TOKEN_SECRET", "GitLab"
    )


def _github_app(
    settings: AppSettings, credential: TokenCredential | None, tls: bool | ssl.SSLContext
) -> GitHubApp | None:
    """The GitHub App when one is configured: its private key from Key Vault in Azure (read
    again when GitHub refuses the App's JWT: a rotated key), else from the environment."""
    if settings.github_app_id is None:
        return None
    from adapters.github_app import GitHubApp
    from adapters.secrets import environment_secret, key_vault_secret

    if settings.key_vault_url:
        key = key_vault_secret(
            settings.key_vault_url,
            settings.github_app_key_secret,
            credential or _default_credential(settings),
        )
    else:
        key = environment_secret(
            settings.github_app_private_key,
            "FAULTLINE_GITHUB_APP_PRIVATE_KEY",
            "FAULTLINE_GITHUB_APP_KEY_SECRET",
        )
    return GitHubApp(
        settings.github_app_id,
        key,
        settings.github_api_url,
        installations=settings.installations,
        timeout=settings.github_timeout_seconds,
        ssl_verify=tls,
    )


def _github_ssl(settings: AppSettings) -> bool | ssl.SSLContext:
    """Verify GitHub's certificate against the named CA bundle, else the system's roots."""
    if not settings.github_ca_bundle:
        return True
    import ssl

    return ssl.create_default_context(cafile=settings.github_ca_bundle)


def _assignment_token(
    settings: AppSettings, credential: TokenCredential | None
) -> CachedSecret | None:
    """The user token that assigns issues, when one is configured (Copilot needs a user)."""
    from adapters.secrets import environment_secret, key_vault_secret

    if settings.key_vault_url and settings.github_assignment_token_secret:
        return key_vault_secret(
            settings.key_vault_url,
            settings.github_assignment_token_secret,
            credential or _default_credential(settings),
        )
    if settings.github_assignment_token:
        return environment_secret(
            settings.github_assignment_token,
            "FAULTLINE_GITHUB_ASSIGNMENT_TOKEN",
            "FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET",
        )
    return None


def _marker_key(
    settings: AppSettings, credential: TokenCredential | None
) -> Callable[[], bytes | None]:
    """The key that signs issue markers: from Key Vault in Azure (a missing secret then refuses
    the workflow visibly rather than writing unsigned markers), else from the environment."""
    if settings.key_vault_url and settings.marker_key_secret:
        vault_url, name = settings.key_vault_url, settings.marker_key_secret

        @functools.cache
        def secret() -> CachedSecret:
            from adapters.secrets import key_vault_secret

            return key_vault_secret(vault_url, name, credential or _default_credential(settings))

        return lambda: secret()().encode()
    key = settings.marker_key.encode() if settings.marker_key else None
    return lambda: key


def _webhook_secret(
    settings: AppSettings, credential: TokenCredential | None, name: str, local: str | None
) -> Callable[[bool], bytes | None]:
    """The secret GitHub signs webhook deliveries with (or GitLab sends as its token), Key Vault
    secret `name`: from Key Vault in Azure (read when the first delivery arrives and cached; a
    delivery that does not verify re-reads it, at most once a minute, so a rotation needs no
    restart and loses at most a minute of deliveries), else `local`, from the environment;
    None refuses every delivery."""
    if settings.key_vault_url and name:
        vault_url = settings.key_vault_url

        @functools.cache
        def secret() -> Callable[[bool], str]:
            from adapters.secrets import key_vault_secret, refreshed_at_most_every

            identity = credential or _default_credential(settings)
            return refreshed_at_most_every(key_vault_secret(vault_url, name, identity))

        def from_vault(refresh: bool) -> bytes | None:
            return secret()(refresh).encode()

        return from_vault
    key = local.encode() if local else None

    def from_settings(refresh: bool) -> bytes | None:
        return key

    return from_settings


def _metrics(settings: AppSettings, credential: TokenCredential | None, clock: Clock) -> Metrics:
    """The metrics file when one is named (a local run names one, whatever the shell holds).
    Else Application Insights when a connection string is set, sent with the managed identity
    (or `credential`): local authentication is off there. Else OpenTelemetry's API alone,
    which records nothing until some SDK is configured."""
    if settings.metrics_file:
        from adapters.telemetry import JsonLinesMetrics

        path = Path(settings.metrics_file)
        return JsonLinesMetrics(path if path.is_absolute() else APP_ROOT / path, clock.now)
    if settings.telemetry_connection_string:
        from adapters.telemetry import azure_monitor_metrics

        if credential is None:
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=settings.storage_client_id)
        return azure_monitor_metrics(settings.telemetry_connection_string, credential)
    from adapters.telemetry import OpenTelemetryMetrics

    return OpenTelemetryMetrics()


def _issue_template(settings: AppSettings) -> str | None:
    if not settings.issue_template_path:
        return None
    path = Path(settings.issue_template_path)
    return (path if path.is_absolute() else APP_ROOT / path).read_text(encoding="utf-8")


def bootstrap(
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    credential: TokenCredential | None = None,
    timer_seconds: Callable[[], float] = time.monotonic,
) -> Services:
    """Build the services from app settings; `credential` overrides managed identity.
    `timer_seconds` is the clock the workflow's Durable timers run on, which GitHub's waits are
    measured in: the machine's, unless a local run simulates time."""
    from adapters.deliveries import TableDeliveryClaims
    from adapters.grouping_log import TableGroupingLog
    from adapters.ledger import TableOccurrenceLedger
    from adapters.operations import TableOperations
    from adapters.query_slots import TableQuerySlots
    from adapters.queues import StorageQueue
    from adapters.tables import TableCheckpointStore, TablePoisonLog, ensure_table
    from adapters.workflow_state import (
        TableAuditLog,
        TableIssueStates,
        TableRateLimiter,
        TableWebhookDeliveries,
    )
    from pipeline.services import Services

    environment = os.environ if env is None else env
    settings, rules = load_configuration(environment)
    clock = clock or SystemClock()
    metrics = _metrics(settings, credential, clock)
    queues, tables = _storage_clients(settings, credential)
    prefix = settings.table_prefix
    marker_key = _marker_key(settings, credential)
    return Services(
        settings=settings,
        rules=rules,
        clock=clock,
        log_source=_LogSourceByKind(
            _OnFirstQuery(lambda: _log_source(settings, credential)),
            _OnFirstQuery(lambda: _cloudwatch_source(settings, credential)),
        ),
        query_slots=TableQuerySlots(
            ensure_table(tables, f"{prefix}QuerySlots"), settings.max_concurrent_queries
        ),
        query_queue=StorageQueue.open(queues, settings.query_queue),
        poison_queue=StorageQueue.open(queues, settings.poison_queue),
        failure_queue=StorageQueue.open(queues, settings.failure_queue),
        checkpoints=TableCheckpointStore(ensure_table(tables, f"{prefix}Checkpoints")),
        ledger=TableOccurrenceLedger(ensure_table(tables, f"{prefix}Occurrences")),
        grouping=TableGroupingLog(ensure_table(tables, f"{prefix}Grouping")),
        operations=TableOperations(ensure_table(tables, f"{prefix}Operations")),
        poisoned_jobs=TablePoisonLog(ensure_table(tables, f"{prefix}PoisonedJobs"), clock.now),
        issues=TableIssueStates(ensure_table(tables, f"{prefix}Issues")),
        rate_limiter=TableRateLimiter(ensure_table(tables, f"{prefix}RateLimits")),
        audit=TableAuditLog(ensure_table(tables, f"{prefix}Audit")),
        issue_tracker=_issue_tracker(settings, credential, clock, timer_seconds, marker_key),
        marker_key=marker_key,
        issue_template=_issue_template(settings),
        metrics=metrics,
        alert_queue=StorageQueue.open(queues, settings.alert_queue),
        deliveries=TableDeliveryClaims(ensure_table(tables, f"{prefix}Deliveries")),
        webhook_secrets=_webhook_secrets(settings, credential, environment),
        notifications=_notifications(settings, credential, queues, tables),
        github_event_queue=StorageQueue.open(queues, settings.github_event_queue),
        github_deliveries=TableWebhookDeliveries(
            ensure_table(tables, f"{prefix}WebhookDeliveries")
        ),
        github_webhook_secret=_webhook_secret(
            settings,
            credential,
            settings.github_webhook_secret_name,
            settings.github_webhook_secret,
        ),
        gitlab_webhook_secret=_webhook_secret(
            settings,
            credential,
            settings.gitlab_webhook_secret_name,
            settings.gitlab_webhook_secret,
        ),
    )


def _notifications(
    settings: AppSettings,
    credential: TokenCredential | None,
    queues: QueueServiceClient,
    tables: TableServiceClient,
) -> NotificationPorts:
    """The notification queue, the dispatcher's table, and the channels: the dry-run files
    beside the dry-run issues, else HTTP with each channel's secrets read from Key Vault (cached
    per secret, re-read after the cache's lifetime, so a rotated webhook URL needs no restart)."""
    from adapters.notify_state import TableNotificationState
    from adapters.queues import StorageQueue
    from adapters.tables import ensure_table
    from pipeline.services import NotificationPorts

    return NotificationPorts(
        queue=StorageQueue.open(queues, settings.notify_queue),
        state=TableNotificationState(ensure_table(tables, f"{settings.table_prefix}Notifications")),
        notifier=_notifier(settings, credential),
    )


def _notifier(settings: AppSettings, credential: TokenCredential | None) -> Notifier:
    if settings.dry_run_dir:
        from adapters.notify_files import NotificationFileSink

        directory = Path(settings.dry_run_dir)
        absolute = directory if directory.is_absolute() else APP_ROOT / directory
        return NotificationFileSink(absolute / "notifications")
    from adapters.notify import HttpNotifier

    vault_url = settings.key_vault_url
    if vault_url is None:
        return HttpNotifier(_no_vault, slack_api=settings.slack_api_url)

    @functools.cache
    def cached(name: str) -> CachedSecret:
        from adapters.secrets import key_vault_secret

        return key_vault_secret(vault_url, name, credential or _default_credential(settings))

    return HttpNotifier(lambda name: cached(name)(), slack_api=settings.slack_api_url)


def _no_vault(name: str) -> str:
    """Channel secrets live only in Key Vault: without one, each send is refused by name (and
    audited), never sent somewhere a literal in the rules file would have said."""
    from pipeline.ports import SecretUnavailable

    raise SecretUnavailable(
        f"notification secret {name} is read from Key Vault: set FAULTLINE_KEY_VAULT_URL (or "
        "FAULTLINE_DRY_RUN_DIR to write notifications as files)",
        reason="not-configured",
        name=name,
    )


def _webhook_secrets(
    settings: AppSettings, credential: TokenCredential | None, env: Mapping[str, str]
) -> WebhookSecrets:
    """Alert webhooks' secrets from Key Vault in Azure, from the environment locally (the
    vault's client is built on the first delivery, not at start-up)."""
    from adapters.secrets import WebhookSecrets

    if settings.key_vault_url:
        vault_url = settings.key_vault_url
        return WebhookSecrets.from_vault(vault_url, credential or _default_credential(settings))
    return WebhookSecrets.from_environment(env)


def _issue_tracker(
    settings: AppSettings,
    credential: TokenCredential | None,
    clock: Clock,
    timer_seconds: Callable[[], float],
    marker_key: Callable[[], bytes | None],
) -> Callable[[], IssueTracker]:
    """Per activity, GitHub or GitLab by each call's repository (`adapters.trackers`), a client
    of each built when first needed (the tokens are cached, GitHub's pacer and GitLab's HTTP
    client shared by the process); or the dry-run sink, built now rather than on first use:
    concurrent activities must share one sink, or two would number their issues apart."""
    if settings.dry_run_dir:
        from adapters.markdown_issues import MarkdownIssueSink

        directory = Path(settings.dry_run_dir)
        absolute = directory if directory.is_absolute() else APP_ROOT / directory
        key = settings.marker_key.encode() if settings.marker_key else None
        sink = MarkdownIssueSink(absolute, clock.now, marker_key=key)
        return lambda: sink

    @functools.cache
    def shared() -> tuple[
        CachedSecret | GitHubApp, CachedSecret | None, GitHubPacer, bool | ssl.SSLContext
    ]:
        """The credential (a token's cache, or the App and its installation tokens), the
        optional assignment token, GitHub's pacing and TLS check, one of each per process."""
        from adapters.github import GitHubPacer

        pacer = GitHubPacer(
            clock=timer_seconds,
            write_spacing=timedelta(seconds=settings.github_write_spacing_seconds),
        )
        tls = _github_ssl(settings)
        return (
            _github_app(settings, credential, tls) or _github_token(settings, credential),
            _assignment_token(settings, credential),
            pacer,
            tls,
        )

    def github() -> IssueTracker:
        from adapters.github import GitHubIssues

        token, assignment_token, pacer, tls = shared()
        return GitHubIssues(
            token,
            settings.github_api_url,
            settings.github_timeout_seconds,
            pacer=pacer,
            marker_key=marker_key(),
            assignment_token=assignment_token,
            ssl_verify=tls,
        )

    @functools.cache
    def gitlab_shared() -> tuple[CachedSecret, httpx.Client]:
        """GitLab's token cache and HTTP client, one of each per process."""
        from adapters.gitlab import gitlab_client

        client = gitlab_client(
            settings.gitlab_api_url,
            settings.gitlab_timeout_seconds,
            settings.gitlab_ca_bundle or True,
        )
        return _gitlab_token(settings, credential), client

    def gitlab() -> IssueTracker:
        from adapters.gitlab import GitLabIssues

        token, client = gitlab_shared()
        return GitLabIssues(token, settings.gitlab_api_url, marker_key=marker_key(), client=client)

    def tracker() -> IssueTracker:
        from adapters.trackers import TrackerByRepository

        return TrackerByRepository({"github": github, "gitlab": gitlab})

    return tracker


_installed: Services | None = None


def install(services: Services | None) -> None:
    """Make these the services the triggers use (the local driver installs its simulated clock)."""
    global _installed
    _installed = services


def services() -> Services:
    """The process's services, built on first use from the environment."""
    global _installed
    if _installed is None:
        _installed = bootstrap()
    return _installed
