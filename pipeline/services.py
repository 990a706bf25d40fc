"""What every use case is handed: the settings, the rules and the ports, built once per process
by `bootstrap.py` (with the Azure and GitHub adapters) or by a test (with in-memory ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detection.rules import Rules
from pipeline.ports import (
    AuditLog,
    CheckpointStore,
    Clock,
    DeliveryClaims,
    GroupingLog,
    IssueStates,
    IssueTracker,
    LogSource,
    MessageQueue,
    Metrics,
    NotificationState,
    Notifier,
    OccurrenceLedger,
    Operations,
    PoisonLog,
    QuerySlots,
    RateLimiter,
    WebhookDeliveries,
    WebhookSecrets,
)
from pipeline.settings import AppSettings


@dataclass
class NotificationPorts:
    """What notifications need: the queue the workflow drops events on (and flushes wait on),
    the dispatcher's shared state, and the channels (HTTP, or the dry-run files)."""

    queue: MessageQueue
    state: NotificationState
    notifier: Notifier


@dataclass
class Services:
    """Everything a use case needs, built once."""

    settings: AppSettings
    rules: Rules
    clock: Clock
    log_source: LogSource
    query_slots: QuerySlots
    query_queue: MessageQueue
    poison_queue: MessageQueue
    failure_queue: MessageQueue
    checkpoints: CheckpointStore
    ledger: OccurrenceLedger
    grouping: GroupingLog
    operations: Operations
    poisoned_jobs: PoisonLog
    issues: IssueStates
    rate_limiter: RateLimiter
    audit: AuditLog
    issue_tracker: Callable[[], IssueTracker]
    """The tracker for one activity: GitHub (a client per activity, its token cached), or the
    dry-run sink that every activity shares."""
    marker_key: Callable[[], bytes | None]
    issue_template: str | None
    """The rules' own issue template, or None for the default one."""
    metrics: Metrics
    """Faultline's own metrics (`pipeline.metrics`): Application Insights in Azure."""
    alert_queue: MessageQueue
    """Alert webhook deliveries waiting for their job (`pipeline.alerts`)."""
    deliveries: DeliveryClaims
    webhook_secrets: WebhookSecrets
    github_event_queue: MessageQueue
    """GitHub's and GitLab's webhook events, between the HTTP endpoints and their handler."""
    github_deliveries: WebhookDeliveries
    github_webhook_secret: Callable[[bool], bytes | None]
    """The webhook's secret (Key Vault in Azure), or None when none is configured; `True` asks
    for it to be read again (a rotation), which the vault adapter allows once a minute."""
    gitlab_webhook_secret: Callable[[bool], bytes | None]
    """GitLab's webhook token, as `github_webhook_secret`; its events share GitHub's queue and
    delivery table (`github_event_queue`, `github_deliveries`)."""
    notifications: NotificationPorts | None = None
    """None where nothing is notified (tests of other use cases); events are then dropped."""
