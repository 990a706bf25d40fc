"""What the use cases need from the outside world: small protocols, their values and errors.

The use cases in `pipeline/` see only these; `bootstrap.py` wires the Azure, GitHub and
Durable adapters in `adapters/` (or in-memory ones, in tests) behind them. Each port's value
types and errors live here, beside it, so an adapter imports them inward and a use case never
imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: a trigger that imports a port does not load the core
    from detection.fingerprint import Fingerprint
    from detection.grouping import Grouping, LogEntry
    from detection.notify import ThrottleState
    from detection.notify_payloads import Message
    from detection.occurrence import Occurrence
    from detection.records import Column
    from detection.rules import Channel, Condition, Threshold
    from detection.settling import Recheck, Settle
    from detection.windows import QueryWindow

# -- the log source ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPlan:
    """What to ask a log source: the table, the window, the conditions and their query: KQL for
    a Log Analytics workspace, or Logs Insights for a CloudWatch `log_group` (`workspace_id`
    is then empty)."""

    workspace_id: str
    table: str
    window: QueryWindow
    conditions: tuple[Condition, ...]
    kql: str
    log_group: str | None = None


@dataclass(frozen=True)
class QueryOutcome:
    """Rows from a log source; `incomplete` says why the service did not return all of them."""

    columns: tuple[Column, ...]
    rows: Sequence[Sequence[Any]]
    incomplete: str | None = None


class Throttled(Exception):
    """The log source asked us to come back later."""

    def __init__(self, retry_after: timedelta, detail: str) -> None:
        super().__init__(f"throttled for {retry_after.total_seconds():.0f}s: {detail}")
        self.retry_after = retry_after


class QueryRejected(Exception):
    """The log source refused the query itself; retrying the same query cannot help."""


class QuerySlots(Protocol):
    """Leases on the queries in flight against one identity's Log Analytics limit, shared by
    every instance; a lease that is never released (a crashed worker) lapses at its expiry."""

    def acquire(self, holder: str, now: datetime, hold: timedelta) -> str | None:
        """A slot held by `holder` until `now + hold`, or None when every slot is held."""
        ...

    def release(self, slot: str, holder: str) -> None:
        """Give the slot back, unless it lapsed and someone else holds it now."""
        ...


class LogSource(Protocol):
    """Where rows come from: Log Analytics, CloudWatch Logs, or a folder of exports."""

    def run(self, plan: QueryPlan) -> QueryOutcome: ...


@dataclass(frozen=True)
class Checkpoint:
    source: str
    table: str
    ingested_through: datetime
    etag: str | None = field(default=None, compare=False)


class CheckpointStore(Protocol):
    """How far each table has been queued (the checkpoint) and read (the read mark), by
    ingestion time.

    The checkpoint moves when the timer queues a table's jobs; the read mark only when those
    jobs have counted their rows, over windows read without a gap
    (`detection.settling.advance_read`). Held operations settle on the read mark: everything
    ingested before it has been placed."""

    def get(self, source: str, table: str) -> Checkpoint | None: ...

    def advance(self, previous: Checkpoint | None, source: str, table: str, to: datetime) -> bool:
        """Move the checkpoint if nobody else moved it since `previous` was read."""
        ...

    def all(self) -> list[Checkpoint]: ...

    def read_through(self, source: str, table: str) -> datetime | None:
        """The table's read mark, or None before its first poll was queued."""
        ...

    def begin_reading(self, source: str, table: str, at: datetime) -> None:
        """Start the table's read mark at `at` (where its first queued window starts), unless
        it has one."""
        ...

    def mark_read(self, source: str, table: str, start: datetime, end: datetime) -> None:
        """The window [start, end) of the table has been read and its rows counted."""
        ...


# -- alert webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as it was received: kept until its job has read it, and claimed
    once by its id, so a redelivery finds it (`queued` once its job is on the queue)."""

    webhook: str
    delivery_id: str
    body: bytes
    resource: str | None
    received_at: datetime
    queued: bool = False


class DeliveryClaims(Protocol):
    """Webhook deliveries by webhook and delivery id, inserted only if absent (Table Storage)."""

    def claim(self, delivery: Delivery) -> Delivery:
        """Keep the delivery unless one with its id is kept already; return the kept one."""
        ...

    def mark_queued(self, webhook: str, delivery_id: str) -> None: ...

    def get(self, webhook: str, delivery_id: str) -> Delivery | None: ...

    def prune(self, before: datetime) -> int:
        """Forget deliveries received before `before` (the ledger's retention, after which a
        redelivery could be counted again anyway); returns how many went."""
        ...


class WebhookSecrets(Protocol):
    """The credentials alert webhooks are checked against, by their Key Vault secret name.
    Raises `SecretUnavailable` when one cannot be read."""

    def get(self, name: str) -> str: ...


# -- queues, the clock, the poison log -----------------------------------------------------------


class MessageQueue(Protocol):
    def send(self, body: str, delay: timedelta | None = None) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class PoisonLog(Protocol):
    """Messages that could not be processed (query jobs, failure notices, refused failures),
    kept by kind and key for operators."""

    def add(
        self, job_id: str, description: str, reason: str, body: str, kind: str = "query-jobs"
    ) -> None: ...

    def remove(self, job_id: str, kind: str = "query-jobs") -> None: ...

    def count(self, kind: str = "query-jobs") -> int: ...


# -- counting: the grouping log, operations and the occurrence ledger ----------------------------


class GroupingLog(Protocol):
    """Which group each fingerprint belongs to, shared by every worker (the pure `Grouping`
    replayed from an append-only log)."""

    def assign(self, prints: Sequence[Fingerprint]) -> dict[str, str]: ...

    def alias(
        self, pairs: Iterable[tuple[str, str, str]], *, first_claim: bool = False
    ) -> list[LogEntry]: ...

    def split(self, absorbed: str, survivor: str, reason: str) -> LogEntry | None:
        """Undo an alias (`Grouping.split`), appended to the log; None when there is none."""
        ...

    def resolve(self, group: str) -> str: ...

    def absorbed_by(self, group: str) -> list[str]: ...

    def snapshot(self) -> Grouping: ...

    def transition(
        self, now: datetime, previous_in_use: Callable[[], bool]
    ) -> tuple[datetime, bool]: ...


@dataclass(frozen=True)
class Placement:
    """Where an occurrence is counted: in `group` (as decided when its root was detected; folds
    since are resolved by the caller), as its incident's root or as evidence of it."""

    occurrence: Occurrence
    group: str
    root: bool


@dataclass(frozen=True)
class Held:
    """What deciding whether a pending operation may settle needs to know of it: the sources
    its held rows came from, their latest ingestion time, and since when (worker's clock) it
    has held them."""

    sources: frozenset[str]
    ingested: datetime
    since: datetime


type SettleRule = Callable[[Held], Settle | Recheck]
"""Whether a pending operation that fell due settles now or is looked at again later
(`detection.settling.settle_decision` over the tables' read marks)."""


class Operations(Protocol):
    """Failing operations (rows sharing an operation id) waiting for their cause, so that one
    incident is counted once, in its root's group."""

    def place(
        self, occurrences: Sequence[Occurrence], now: datetime, wait: timedelta
    ) -> tuple[list[Placement], str | None]: ...

    def due(self, now: datetime) -> list[str]: ...

    def settle(
        self, key: str, now: datetime, wait: timedelta, rule: SettleRule
    ) -> tuple[list[Placement], str | None, Settle | Recheck | None]:
        """Settle a due operation if `rule` says so, else re-index it for `Recheck.at`: the
        placements, the key the caller marks `placed` after counting them, and the decision
        the store acted on (None when it had nothing to decide)."""
        ...

    def placed(self, key: str) -> None: ...

    def prune(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class Counted:
    """An occurrence to count in a group: its incident's root, or evidence of it."""

    occurrence: Occurrence
    root: bool


@dataclass(frozen=True)
class LedgerEntry:
    """A group's running totals (after recording a batch) and what its issue shows."""

    fingerprint: str
    definition: str
    count: int
    added: int
    first_seen: datetime
    last_seen: datetime
    threshold_crossed_at: datetime | None
    handoff_pending: bool
    hourly: Mapping[datetime, int]
    etag: str
    incidents: int = 0
    founder: Occurrence | None = None
    samples: tuple[str, ...] = ()
    evidence: tuple[Occurrence, ...] = ()
    definitions: Mapping[str, int] = field(default_factory=dict)
    tables: Mapping[str, int] = field(default_factory=dict)
    facets: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    first_version: str | None = None
    last_version: str | None = None
    folded_into: str | None = None


class OccurrenceLedger(Protocol):
    """Every counted occurrence, once, and each group's running summary."""

    def record(
        self,
        group: str,
        counted: Sequence[Counted],
        thresholds: Mapping[str, Threshold],
        absorbed: Sequence[str] = (),
    ) -> LedgerEntry: ...

    def mark_handed_off(self, entry: LedgerEntry) -> bool: ...

    def summary(self, group: str) -> LedgerEntry | None: ...

    def summaries(self) -> list[LedgerEntry]: ...

    def occurrences(self, group: str) -> list[Mapping[str, Any]]:
        """The group's rows: `RecordId`, `Table`, `TimeGenerated`, `Definition`, `Fingerprint`,
        `Operation`, `Role` and `Root` (exports and tests)."""
        ...

    def has_version(self, version: int) -> bool: ...

    def fold(self, survivor: str, absorbed: str) -> bool: ...

    def prune(self, before: datetime) -> int: ...


# -- the issue workflow's state ------------------------------------------------------------------


@dataclass(frozen=True)
class IssueState:
    """What Faultline knows about one fingerprint's issue in one repository."""

    fingerprint: str
    repository: str
    number: int | None = None
    url: str | None = None
    intent_at: datetime | None = None
    synced_count: int = 0
    synced_at: datetime | None = None
    last_comment_at: datetime | None = None
    commented_count: int = 0
    assigned: bool = False
    adopted: bool = False
    folded_into: int | None = None
    status: str = "active"
    """What people made of the issue (`detection.lifecycle`): `active`, `resolved`, `muted`."""
    muted_until: datetime | None = None
    mute_until_count: int | None = None
    """A mute that ends once the group's count reaches this total (`/faultline mute until N
    more`)."""
    keep_open: bool = False
    """Labelled `faultline:keep-open`: never closed automatically."""
    resolved_in: str | None = None
    """The version `/faultline resolve in <version>` named."""
    resolved_count: int = 0
    resolved_versions: Mapping[str, int] = field(default_factory=dict)
    """The group's count and per-version counts when it was resolved in a version: what grew
    since are the versions the later occurrences came from (`detection.releases`)."""
    merged_into: str | None = None
    """The group `/faultline merge` folded this one into (what `/faultline unmerge` undoes)."""
    run: str | None = None
    """The replay whose notice created the issue, so an undo can select what a run made."""
    first_pull_request_at: datetime | None = None
    """When the first pull request was linked to the issue (the digest's time to first PR)."""
    pull_requests: tuple[str, ...] = ()
    """The keys (`LinkedPullRequest.key`) of the pull requests already announced."""
    escalated_at: datetime | None = None
    """When the failure's rate escalated (`detection.escalation`), until it calms: what the
    escalation's comment and audit row are keyed by, so a retried step does not repeat them."""
    quiet_closing: datetime | None = None
    """Set while a quiet-period close is under way (the failure's last-seen time it is for), so
    a pass that stopped midway finishes it, and one that finds the close done and the issue
    reopened by people leaves it open."""
    etag: str | None = None

    def with_changes(self, **changes: Any) -> IssueState:
        return replace(self, **changes)


class IssueStates(Protocol):
    """Fingerprint and repository -> issue, written only if unchanged since it was read."""

    def begin_sync(self, fingerprint: str, repository: str) -> IssueState | None: ...

    def peek(self, fingerprint: str, repository: str) -> IssueState | None: ...

    def save(self, state: IssueState) -> IssueState | None:
        """The saved state, or None when someone else saved in between."""
        ...

    def issues_of(self, fingerprint: str) -> list[tuple[str, int]]: ...

    def tracked(self) -> list[IssueState]:
        """Every state that has an issue (the pull request watch, the digest, the undo and the
        daily quiet-period pass read them)."""
        ...

    def escalated(self) -> Iterator[IssueState]:
        """The states of escalated issues only (the hourly pass that calms them)."""
        ...

    def note_recurrence(self, fingerprint: str, repository: str) -> bool:
        """Leave word for the running workflow; False when it has already made its last check."""
        ...

    def finish_or_resync(self, fingerprint: str, repository: str, generation: int) -> bool: ...


class WebhookDeliveries(Protocol):
    """The webhook deliveries already taken, so a redelivered one (same `X-GitHub-Delivery`, or
    GitLab's `Idempotency-Key`) has no effect."""

    def claim(self, delivery: str, at: datetime) -> bool:
        """Record the delivery; False when it was already recorded (insert-if-absent)."""
        ...

    def release(self, delivery: str) -> None:
        """Forget a claim whose event could not be queued, so the sender's redelivery is
        taken."""
        ...


class RateLimiter(Protocol):
    """Faultline's own hourly budgets for new issues and comments, shared by every worker."""

    def reserve_issue(
        self, fingerprint: str, repository: str, now: datetime, overall: int, per_repository: int
    ) -> datetime:
        """When this failure may open its issue: `now`, or the later slot it now holds."""
        ...

    def reserve_comment(self, fingerprint: str, now: datetime, per_hour: int) -> bool: ...


@dataclass(frozen=True)
class AuditEntry:
    fingerprint: str
    action: str
    repository: str
    issue: int | None
    reason: str
    at: datetime


class AuditLog(Protocol):
    """Every action the workflow takes, with fingerprint, issue, time and reason."""

    def record(
        self,
        fingerprint: str,
        action: str,
        repository: str,
        issue: int | None,
        reason: str,
        at: datetime,
        key: str | None = None,
    ) -> None:
        """Append an entry; with `key`, at most one entry under that key (a retried step)."""
        ...

    def entries(self, fingerprint: str | None = None) -> list[AuditEntry]: ...


class WorkflowStarter(Protocol):
    """Starts an issue workflow under its singleton instance id (the Durable client)."""

    def is_running(self, instance_id: str) -> bool: ...

    def start(self, orchestrator: str, instance_id: str, request: Any) -> bool:
        """Start it; False when an instance with that id already runs (a concurrent start)."""
        ...


# -- Faultline's own telemetry -------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One figure Faultline reports about itself: its name as the dashboards and alerts query it,
    how it aggregates (`counter`: summed; `histogram`: count, sum, min and max per export, so
    percentiles and maxima can be read), its unit (UCUM, as OpenTelemetry writes it) and the
    attributes it carries, which become the `customDimensions` a query splits by."""

    name: str
    kind: Literal["counter", "histogram"]
    unit: str
    description: str
    attributes: tuple[str, ...] = ()


Attribute = str | int | bool
"""An attribute value; kept to scalars so every sink (OpenTelemetry, JSON lines) takes it."""


class Metrics(Protocol):
    """Where the use cases report what they did: Application Insights in Azure (through
    OpenTelemetry), a JSON-lines file in a local run, a list in tests."""

    def count(self, metric: Metric, value: int = 1, **attributes: Attribute) -> None:
        """Add `value` to a counter."""
        ...

    def record(self, metric: Metric, value: float, **attributes: Attribute) -> None:
        """Record one measurement of a histogram (a lag, a duration, a share used)."""
        ...


def check_emission(metric: Metric, kind: str, attributes: Mapping[str, Attribute]) -> None:
    """Refuse a measurement the catalogue does not describe: `count` on a histogram, `record` on
    a counter, or an attribute the metric does not declare (a query splitting by it would find
    nothing). Every sink calls it, so a mistake fails the tests rather than a dashboard."""
    if metric.kind != kind:
        verb = "count" if kind == "counter" else "record"
        raise ValueError(f"{metric.name} is a {metric.kind}; it cannot {verb}")
    unknown = sorted(set(attributes) - set(metric.attributes))
    if unknown:
        raise ValueError(
            f"{metric.name} declares the attributes {list(metric.attributes)}, not {unknown}"
        )


# -- the issue tracker ---------------------------------------------------------------------------

COPILOT_LOGIN = "copilot-swe-agent[bot]"
"""The login GitHub assigns Copilot's coding agent under."""
COPILOT_REPORTED_LOGINS = frozenset({"copilot-swe-agent[bot]", "copilot-swe-agent", "Copilot"})
"""The logins GitHub reports back once Copilot's coding agent is assigned."""


class TrackerRateLimited(Exception):
    """The tracker asked to wait: `retry_after` is how long, `secondary` whether it was a
    secondary limit and `repeat` how many secondary limits in a row this process has met (1 for
    the first); `tracker` names who asked (GitHub, GitLab)."""

    def __init__(
        self,
        retry_after: timedelta,
        detail: str,
        *,
        secondary: bool = False,
        repeat: int = 0,
        tracker: str = "GitHub",
    ) -> None:
        kind = f"secondary rate limit (#{repeat} in a row)" if secondary else "rate limit"
        super().__init__(f"{tracker} {kind}: retry after {retry_after}: {detail}")
        self.retry_after = retry_after
        self.secondary = secondary
        self.repeat = repeat
        self.detail = detail
        self.tracker = tracker


class TrackerRefused(Exception):
    """The tracker refused the request; `permanent` unless a retry could plausibly succeed (409).

    `reason` is the tracker's own message (with validation details and the permission a token
    lacks), truncated and scrubbed of anything shaped like a token; `kind` names the class of
    refusal (`credentials`, `forbidden`, `not-found`, `gone`, `invalid`, `conflict`, `refused`)
    and `what` the operation and its target, e.g. ``create issue in acme/shop``.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        permanent: bool = True,
        *,
        what: str = "",
        kind: str = "refused",
        tracker: str = "GitHub",
    ) -> None:
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}{tracker} refused with {status} ({kind}): {reason}")
        self.status = status
        self.reason = reason
        self.permanent = permanent
        self.what = what
        self.kind = kind


class SecretUnavailable(RuntimeError):
    """No usable tracker credential: not configured, or the vault will not or may not serve it.

    `reason` is one of `not-configured`, `missing`, `empty`, `expired`, `not-yet-valid`,
    `disabled` and `forbidden` (no RBAC role, or another 403 such as the vault's firewall). None
    of them goes away by retrying at once: someone has to set the secret, rotate it or grant a
    role. Transient failures (throttling, 5xx, a credential that cannot get a token yet) stay
    the vault client's own exceptions, for the caller's retries.
    """

    def __init__(
        self, message: str, *, reason: str = "missing", vault_url: str = "", name: str = ""
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.vault_url = vault_url
        self.name = name


@dataclass(frozen=True)
class IssueRef:
    """An issue as the workflow sees it, whichever tracker holds it."""

    repository: str
    number: int
    url: str
    state: str
    created_at: datetime
    closed_at: datetime | None
    assignees: tuple[str, ...]
    labels: tuple[str, ...]
    body: str
    id: int = 0
    author: str = ""
    """Who wrote the issue (GitHub's `user.login`): Faultline adopts only its own."""
    dropped_labels: tuple[str, ...] = ()
    """From `create`: labels asked for that GitHub left off (a token without push access)."""
    state_reason: str | None = None
    """Why a closed issue was closed (`completed`, `not_planned`, `duplicate`), as GitHub says."""


@dataclass(frozen=True)
class TrackerBudget:
    """A tracker's request budget as its latest answer stated it: GitHub's `x-ratelimit-*`
    headers, one budget per `resource` (`core`, `search`, `graphql`)."""

    resource: str
    limit: int
    used: int

    @property
    def share_used(self) -> float:
        """Percent of the window's requests spent."""
        return 100.0 * self.used / self.limit if self.limit > 0 else 0.0


class IssueTracker(Protocol):
    """Where issues live: GitHub, GitLab, or the dry-run Markdown sink."""

    def budget(self) -> list[TrackerBudget]:
        """The request budgets this client's latest answers reported, one per resource; empty
        for a tracker without one (the dry-run sink)."""
        ...

    def get(self, repository: str, number: int) -> IssueRef: ...

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None: ...

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime
    ) -> list[IssueRef]: ...

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef: ...

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef: ...

    def comment(self, repository: str, number: int, body: str) -> None: ...

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        """Bodies of the comments the tracker's own identity wrote (anyone else's may quote
        a marker)."""
        ...

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None: ...

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]: ...


# -- notifications -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A message a channel accepted: its answer's status (0 when it was only written, a dry
    run), how many attempts it took, and, for a Slack bot, the message's `ts` (the thread later
    messages on the issue reply in)."""

    status: int
    attempts: int
    thread: str | None = None


class DeliveryFailed(Exception):
    """A channel did not take the message: refused it (`permanent`: a 4xx other than 429, a
    missing secret) or kept failing past the retries (429s, 5xx, timeouts, nobody listening)."""

    def __init__(self, reason: str, *, attempts: int, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.permanent = permanent


class Notifier(Protocol):
    """Where messages go: Slack, Teams and webhooks over HTTP, or the dry-run files."""

    def deliver(
        self, channel: Channel, message: Message, *, thread: str | None, delivery_id: str
    ) -> Sent:
        """Send `message` (a reply in `thread`, for a Slack bot), retrying what can pass;
        raise DeliveryFailed when it did not go."""
        ...


class NotificationState(Protocol):
    """What the dispatcher remembers, shared by every worker: which deliveries were claimed
    (each at most once), each rule and channel's throttle, each issue's Slack thread, and the
    open episodes of Faultline's own trouble."""

    def claim(self, key: str, at: datetime) -> bool:
        """True for the first claim of `key`; False ever after (a redelivered message)."""
        ...

    def release(self, key: str) -> None:
        """Give a claim back: the dispatcher failed before sending, so a retry may send."""
        ...

    def throttle(self, key: str) -> tuple[ThrottleState, str | None]:
        """The throttle's state and its ETag (None when it was never saved)."""
        ...

    def save_throttle(self, key: str, state: ThrottleState, etag: str | None) -> bool:
        """Save if nobody saved since `etag` was read; False when someone did."""
        ...

    def thread(self, channel: str, issue: str) -> str | None: ...

    def save_thread(self, channel: str, issue: str, thread: str) -> None: ...

    def open_episode(self, key: str, since: datetime) -> datetime | None:
        """Open trouble `key`'s episode at `since` unless one is open (insert-if-absent, so two
        workers seeing the trouble at once open one); the start of the episode this opened, or
        None when one was already open."""
        ...

    def close_episode(self, key: str) -> None:
        """The trouble is gone: end its episode, if one is open."""
        ...


@dataclass(frozen=True)
class RepositoryRole:
    """A person's access to a repository: GitHub's `role_name` (`read`, `triage`, `write`,
    `maintain`, `admin`, or a custom role's name) and the legacy `permission` it maps to
    (`admin`, `write`, `read`, `none`), which tells what a custom role is built on."""

    role: str
    permission: str


@runtime_checkable
class Collaborators(Protocol):
    """Who may steer Faultline by comment: a tracker that can say its own login and a person's
    role (GitHub, GitLab; the dry-run sink takes no comments)."""

    def own_login(self) -> str | None: ...

    def role_of(self, repository: str, login: str) -> RepositoryRole | None:
        """The person's role on the repository; None when they are not a collaborator."""
        ...


@dataclass(frozen=True)
class LinkedPullRequest:
    """A pull request linked to an issue, as its timeline shows it: named by a pull request's
    text (`cross-referenced`, with its repository and number) or linked by hand (`connected`,
    which GitHub's REST event does not resolve to a pull request: `number` is then None)."""

    key: str
    """What identifies the link: `owner/repo#n` of the pull request, or `connected-<event id>`."""
    linked_at: datetime
    author: str
    url: str | None = None
    title: str = ""
    number: int | None = None


@runtime_checkable
class PullRequestLinks(Protocol):
    """A tracker that can say which pull requests are linked to an issue (GitHub)."""

    def linked_pull_requests(self, repository: str, number: int) -> list[LinkedPullRequest]: ...


@runtime_checkable
class TokenExpiry(Protocol):
    """A tracker whose answers state when its token expires (GitHub's
    `github-authentication-token-expiration`, sent for tokens created with an expiry)."""

    def token_expires(self) -> datetime | None:
        """The earliest expiry its latest answers stated; None when none did."""
        ...


@runtime_checkable
class IssuePinning(Protocol):
    """A tracker that can pin an issue to the top of its repository's list (GitHub)."""

    def pin(self, repository: str, number: int) -> str | None:
        """Pin the issue (a no-op when it is pinned already); None, or why it could not be."""
        ...


@runtime_checkable
class TrackersByRepository(Protocol):
    """A tracker port that routes each repository to its own tracker: who may steer is asked of
    the tracker that holds the repository."""

    def collaborators(self, repository: str) -> Collaborators | None:
        """The repository's tracker, when it can tell who may steer; None when it cannot."""
        ...

    def pull_request_links(self, repository: str) -> PullRequestLinks | None:
        """The repository's tracker, when it can tell linked pull requests; None otherwise."""
        ...

    def pinning(self, repository: str) -> IssuePinning | None:
        """The repository's tracker, when it can pin issues; None otherwise."""
        ...
