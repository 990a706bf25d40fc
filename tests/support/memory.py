"""In-memory fakes of the use cases' ports, for fast tests of the use cases without Azurite, the
Durable backend or the HTTP fakes. Each keeps its port's promises that the use cases rely on:
ETag-guarded saves, keyed audit rows written once, marker look-ups that trust only issues and
comments the tracker's own identity wrote. The adapters' own tests keep the wire-level fakes."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from detection.detect import first_crossing
from detection.fingerprint import Fingerprint
from detection.grouping import Grouping, LogEntry
from detection.markers import carries_marker
from detection.rules import Rules, Threshold
from detection.settling import advance_read
from detection.tally import tally_hours
from pipeline.ports import (
    COPILOT_LOGIN,
    Attribute,
    AuditEntry,
    Checkpoint,
    Counted,
    Delivery,
    IssueRef,
    IssueState,
    LedgerEntry,
    Metric,
    RepositoryRole,
    SecretUnavailable,
    TrackerBudget,
    TrackerRefused,
    check_emission,
)
from pipeline.services import Services
from pipeline.settings import AppSettings


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, timedelta | None]] = []

    def send(self, body: str, delay: timedelta | None = None) -> None:
        self.sent.append((body, delay))


@dataclass(frozen=True)
class Emission:
    metric: Metric
    value: float
    attributes: Mapping[str, Attribute]


class MemoryMetrics:
    """Every measurement, in order, refused as the real sinks refuse it (a counter recorded, an
    attribute the metric does not declare)."""

    def __init__(self) -> None:
        self.emitted: list[Emission] = []

    def count(self, metric: Metric, value: int = 1, **attributes: Attribute) -> None:
        check_emission(metric, "counter", attributes)
        self.emitted.append(Emission(metric, value, attributes))

    def record(self, metric: Metric, value: float, **attributes: Attribute) -> None:
        check_emission(metric, "histogram", attributes)
        self.emitted.append(Emission(metric, value, attributes))

    def names(self) -> set[str]:
        return {e.metric.name for e in self.emitted}

    def values(self, metric: Metric, **attributes: Attribute) -> list[float]:
        """The measurements of `metric` whose attributes include `attributes`."""
        return [
            e.value
            for e in self.emitted
            if e.metric == metric and all(e.attributes.get(k) == v for k, v in attributes.items())
        ]

    def total(self, metric: Metric, **attributes: Attribute) -> float:
        return sum(self.values(metric, **attributes))


class MemoryQuerySlots:
    """Query slots as leases: a held slot lapses at its expiry."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.held: dict[str, tuple[str, datetime]] = {}

    def acquire(self, holder: str, now: datetime, hold: timedelta) -> str | None:
        for slot in (f"slot-{i}" for i in range(self.limit)):
            if slot not in self.held or self.held[slot][1] <= now:
                self.held[slot] = (holder, now + hold)
                return slot
        return None

    def release(self, slot: str, holder: str) -> None:
        if self.held.get(slot, ("", None))[0] == holder:
            del self.held[slot]


class MemoryPoisonLog:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[str, str, str]] = {}

    def add(
        self, job_id: str, description: str, reason: str, body: str, kind: str = "query-jobs"
    ) -> None:
        self.entries[(kind, job_id)] = (description, reason, body)

    def remove(self, job_id: str, kind: str = "query-jobs") -> None:
        self.entries.pop((kind, job_id), None)

    def count(self, kind: str = "query-jobs") -> int:
        return sum(1 for k, _ in self.entries if k == kind)


class MemoryCheckpoints:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Checkpoint] = {}
        self._etags = itertools.count(1)
        self._read: dict[
            tuple[str, str], tuple[datetime, tuple[tuple[datetime, datetime], ...]]
        ] = {}

    def get(self, source: str, table: str) -> Checkpoint | None:
        return self._rows.get((source, table))

    def advance(self, previous: Checkpoint | None, source: str, table: str, to: datetime) -> bool:
        current = self._rows.get((source, table))
        if (current.etag if current else None) != (previous.etag if previous else None):
            return False
        self._rows[(source, table)] = Checkpoint(source, table, to, str(next(self._etags)))
        return True

    def all(self) -> list[Checkpoint]:
        return list(self._rows.values())

    def read_through(self, source: str, table: str) -> datetime | None:
        read = self._read.get((source, table))
        return read[0] if read else None

    def begin_reading(self, source: str, table: str, at: datetime) -> None:
        self._read.setdefault((source, table), (at, ()))

    def mark_read(self, source: str, table: str, start: datetime, end: datetime) -> None:
        read = self._read.get((source, table))
        if read is not None:
            self._read[(source, table)] = advance_read(*read, start, end)


class MemoryGroupingLog:
    """The pure `Grouping`, as one worker's shared log would replay it."""

    def __init__(self) -> None:
        self.grouping = Grouping()

    def assign(self, prints: Sequence[Fingerprint]) -> dict[str, str]:
        return self.grouping.assign(prints)[0]

    def alias(
        self, pairs: Iterable[tuple[str, str, str]], *, first_claim: bool = False
    ) -> list[LogEntry]:
        made = (self.grouping.alias(*pair, first_claim=first_claim) for pair in pairs)
        return [entry for entry in made if entry is not None]

    def split(self, absorbed: str, survivor: str, reason: str) -> LogEntry | None:
        return self.grouping.split(absorbed, survivor, reason)

    def resolve(self, group: str) -> str:
        return self.grouping.resolve(group)

    def absorbed_by(self, group: str) -> list[str]:
        return self.grouping.absorbed_by(group)

    def snapshot(self) -> Grouping:
        return self.grouping

    def transition(
        self, now: datetime, previous_in_use: Callable[[], bool]
    ) -> tuple[datetime, bool]:
        return now, False


class MemoryLedger:
    """Each occurrence counted once per group (keyed by its record and time); the summary is
    derived from the occurrences, the way the table ledger keeps it incrementally."""

    def __init__(self) -> None:
        self._counted: dict[str, dict[tuple[str, datetime], Counted]] = defaultdict(dict)
        self._crossed: dict[str, datetime] = {}
        self._handed_off: dict[str, int] = {}
        self._folded: dict[str, str] = {}

    def record(
        self,
        group: str,
        counted: Sequence[Counted],
        thresholds: Mapping[str, Threshold],
        absorbed: Sequence[str] = (),
    ) -> LedgerEntry:
        for other in absorbed:
            self.fold(group, other)
        rows = self._counted[group]
        new = {(c.occurrence.record_id, c.occurrence.time): c for c in counted}
        added = {key: c for key, c in new.items() if key not in rows}
        rows.update(added)
        if group not in self._crossed:
            by_definition: dict[str, list[datetime]] = defaultdict(list)
            for c in rows.values():
                if not c.occurrence.recovered:
                    by_definition[c.occurrence.definition].append(c.occurrence.time)
            crossings = [
                moment
                for definition, times in by_definition.items()
                if definition in thresholds
                and (moment := first_crossing(sorted(times), thresholds[definition]))
            ]
            if crossings:
                self._crossed[group] = min(crossings)
        entry = self._entry(group, added=len(added))
        if entry is None:
            raise ValueError(f"group {group} recorded nothing")
        return entry

    def mark_handed_off(self, entry: LedgerEntry) -> bool:
        current = self.summary(entry.fingerprint)
        if current is None or current.count != entry.count:
            return False
        self._handed_off[entry.fingerprint] = entry.count
        return True

    def summary(self, group: str) -> LedgerEntry | None:
        return self._entry(group, added=0)

    def summaries(self) -> list[LedgerEntry]:
        return [e for g in self._counted if (e := self._entry(g, added=0)) is not None]

    def occurrences(self, group: str) -> list[Mapping[str, Any]]:
        return [
            {
                "RecordId": c.occurrence.record_id,
                "Table": c.occurrence.table,
                "TimeGenerated": c.occurrence.time,
                "Definition": c.occurrence.definition,
                "Fingerprint": c.occurrence.fingerprint,
                "Operation": c.occurrence.operation_id,
                "Role": c.occurrence.role,
                "Root": c.root,
            }
            for c in self._counted.get(group, {}).values()
        ]

    def has_version(self, version: int) -> bool:
        return any(
            c.occurrence.version == version
            for rows in self._counted.values()
            for c in rows.values()
        )

    def fold(self, survivor: str, absorbed: str) -> bool:
        if self._folded.get(absorbed) == survivor or absorbed not in self._counted:
            return False
        self._folded[absorbed] = survivor
        before = len(self._counted[survivor])
        self._counted[survivor].update(self._counted[absorbed])
        if absorbed in self._crossed:
            crossed = [self._crossed[absorbed], *filter(None, [self._crossed.get(survivor)])]
            self._crossed[survivor] = min(crossed)
        return len(self._counted[survivor]) > before

    def prune(self, before: datetime) -> int:
        return 0

    def _entry(self, group: str, added: int) -> LedgerEntry | None:
        rows = sorted(self._counted.get(group, {}).values(), key=lambda c: c.occurrence.time)
        if not rows:
            return None
        roots = [c.occurrence for c in rows if c.root]
        founder = min(roots or [c.occurrence for c in rows], key=lambda o: (o.time, o.record_id))
        times = [c.occurrence.time for c in rows]
        versions = [c.occurrence.app_version for c in rows]
        count = len(rows)
        return LedgerEntry(
            fingerprint=group,
            definition=founder.definition,
            count=count,
            added=added,
            first_seen=times[0],
            last_seen=times[-1],
            threshold_crossed_at=self._crossed.get(group),
            handoff_pending=group in self._crossed and self._handed_off.get(group) != count,
            hourly=tally_hours({}, times, times[-1]),
            etag=str(count),
            incidents=len(roots),
            founder=founder,
            samples=tuple(o.message for o in roots[-10:]),
            definitions=Counter(c.occurrence.definition for c in rows),
            tables=Counter(c.occurrence.table for c in rows),
            facets={"versions": Counter(v for v in versions if v)} if any(versions) else {},
            first_version=next((v for v in versions if v), None),
            last_version=next((v for v in reversed(versions) if v), None),
            folded_into=self._folded.get(group),
        )


class MemoryIssueStates:
    """Issue states with ETags, and the follow-up handshake between a running workflow and the
    notices that arrive meanwhile (`recurred` -> `resyncing` per generation, or `finishing`)."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], IssueState] = {}
        self.follow_ups: dict[tuple[str, str], tuple[str, int | None]] = {}
        self._etags = itertools.count(1)

    def begin_sync(self, fingerprint: str, repository: str) -> IssueState | None:
        self.follow_ups.pop((fingerprint, repository), None)
        return self.peek(fingerprint, repository)

    def peek(self, fingerprint: str, repository: str) -> IssueState | None:
        return self.states.get((fingerprint, repository))

    def save(self, state: IssueState) -> IssueState | None:
        current = self.states.get((state.fingerprint, state.repository))
        if (current.etag if current else None) != state.etag:
            return None
        saved = state.with_changes(etag=str(next(self._etags)))
        self.states[(state.fingerprint, state.repository)] = saved
        return saved

    def issues_of(self, fingerprint: str) -> list[tuple[str, int]]:
        return sorted(
            (repository, s.number)
            for (group, repository), s in self.states.items()
            if group == fingerprint and s.number is not None
        )

    def tracked(self) -> list[IssueState]:
        return sorted(
            (s for s in self.states.values() if s.number is not None),
            key=lambda s: (s.repository, s.number or 0),
        )

    def escalated(self) -> Iterator[IssueState]:
        yield from [s for s in self.states.values() if s.escalated_at is not None]

    def note_recurrence(self, fingerprint: str, repository: str) -> bool:
        state, _ = self.follow_ups.get((fingerprint, repository), ("recurred", None))
        if state == "finishing":
            return False
        self.follow_ups[(fingerprint, repository)] = ("recurred", None)
        return True

    def finish_or_resync(self, fingerprint: str, repository: str, generation: int) -> bool:
        key = (fingerprint, repository)
        state, noted = self.follow_ups.get(key, (None, None))
        if state == "resyncing" and noted == generation:
            return True
        resync = state == "recurred"
        self.follow_ups[key] = ("resyncing", generation) if resync else ("finishing", None)
        return resync


class MemoryGitHubDeliveries:
    """GitHub webhook deliveries taken, insert-if-absent as the table's 409 makes it."""

    def __init__(self) -> None:
        self.taken: dict[str, datetime] = {}

    def claim(self, delivery: str, at: datetime) -> bool:
        if delivery in self.taken:
            return False
        self.taken[delivery] = at
        return True

    def release(self, delivery: str) -> None:
        self.taken.pop(delivery, None)


class MemoryRateLimiter:
    """Hourly budgets by reservation time; a failure that asks again keeps the slot it holds."""

    def __init__(self) -> None:
        self.issues: dict[str, tuple[datetime, str]] = {}
        self.comments: list[tuple[str, datetime]] = []

    def reserve_issue(
        self, fingerprint: str, repository: str, now: datetime, overall: int, per_repository: int
    ) -> datetime:
        if fingerprint in self.issues:
            return max(self.issues[fingerprint][0], now)
        slot = now
        while True:
            hour = [
                (at, repo) for at, repo in self.issues.values() if slot - at < timedelta(hours=1)
            ]
            if len(hour) < overall and sum(r == repository for _, r in hour) < per_repository:
                break
            slot = min(at for at, _ in hour) + timedelta(hours=1)
        self.issues[fingerprint] = (slot, repository)
        return slot

    def reserve_comment(self, fingerprint: str, now: datetime, per_hour: int) -> bool:
        if sum(now - at < timedelta(hours=1) for _, at in self.comments) >= per_hour:
            return False
        self.comments.append((fingerprint, now))
        return True


class MemoryAuditLog:
    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []
        self._keys: set[tuple[str, str]] = set()

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
        if key is not None:
            if (fingerprint, key) in self._keys:
                return
            self._keys.add((fingerprint, key))
        self.rows.append(AuditEntry(fingerprint, action, repository, issue, reason, at))

    def entries(self, fingerprint: str | None = None) -> list[AuditEntry]:
        return [r for r in self.rows if fingerprint in (None, r.fingerprint)]

    def actions(self) -> list[str]:
        return [r.action for r in self.rows]


@dataclass
class _Issue:
    ref: IssueRef
    title: str
    comments: list[tuple[str, str]] = field(default_factory=list)
    """(author, body)."""


class MemoryTracker:
    """Issues the way GitHub keeps them, for one token's identity (`login`): anyone may open an
    issue or comment, so marker look-ups and comment reads trust only `login`'s own. Copilot is
    assignable only when `copilot_assignable` (a user token, the agent enabled)."""

    def __init__(
        self,
        now: Callable[[], datetime],
        login: str = "faultline-bot",
        marker_key: bytes | None = None,
        copilot_assignable: bool = True,
    ) -> None:
        self._now, self.login, self.marker_key = now, login, marker_key
        self.copilot_assignable = copilot_assignable
        self.issues: dict[tuple[str, int], _Issue] = {}
        self.edits: list[tuple[str, int, dict[str, Any]]] = []
        self.requests = 0
        """Calls made, each one request against GitHub's hourly `core` window."""
        self.request_limit = 5_000
        self.moved: dict[tuple[str, int], tuple[str, int]] = {}
        """Transferred issues' old addresses, which GitHub redirects to the new ones."""
        self.deleted: set[tuple[str, int]] = set()
        self.roles: dict[str, str] = {}
        """Collaborators' roles (`role_name`) by login; anyone else is not a collaborator."""
        self.agent_requests: list[dict[str, Any]] = []
        """What each assignment asked of a coding agent (Copilot's `agent_assignment`)."""

    def own_login(self) -> str | None:
        return self.login

    def role_of(self, repository: str, login: str) -> RepositoryRole | None:
        self.requests += 1
        role = self.roles.get(login)
        if role is None:
            return None
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return RepositoryRole(role, legacy)

    def budget(self) -> list[TrackerBudget]:
        return [TrackerBudget("core", self.request_limit, self.requests)]

    def open_as(self, author: str, repository: str, title: str, body: str) -> IssueRef:
        """An issue someone else opened (it may quote any marker)."""
        taken = [*self.issues, *self.moved, *self.deleted]  # GitHub never reuses a number
        number = 1 + max((n for r, n in taken if r == repository), default=0)
        ref = IssueRef(
            repository=repository,
            number=number,
            url=f"https://github.com/{repository}/issues/{number}",
            state="open",
            created_at=self._now(),
            closed_at=None,
            assignees=(),
            labels=(),
            body=body,
            id=10_000 + number,
            author=author,
        )
        self.issues[(repository, number)] = _Issue(ref, title)
        return ref

    def transfer(self, repository: str, number: int, to: str) -> IssueRef:
        """Move an issue to another repository, as a person can; its old address redirects."""
        issue = self.issues.pop((repository, number))
        moved = 1 + max((n for r, n in [*self.issues, *self.moved] if r == to), default=0)
        issue.ref = replace(
            issue.ref, repository=to, number=moved, url=f"https://github.com/{to}/issues/{moved}"
        )
        self.issues[(to, moved)] = issue
        self.moved[(repository, number)] = (to, moved)
        return issue.ref

    def delete(self, repository: str, number: int) -> None:
        """Delete an issue, as an admin can: GitHub answers 410 for it from then on."""
        del self.issues[(repository, number)]
        self.deleted.add((repository, number))

    def get(self, repository: str, number: int) -> IssueRef:
        self.requests += 1
        repository, number = self.moved.get((repository, number), (repository, number))
        if (repository, number) in self.deleted:
            what = f"get issue {repository}#{number}"
            raise TrackerRefused(410, "This issue was deleted", what=what, kind="gone")
        if (repository, number) not in self.issues:  # as the GitHub adapter maps GitHub's 404
            what = f"get issue {repository}#{number}"
            raise TrackerRefused(404, "Not Found", what=what, kind="not-found")
        return self.issues[(repository, number)].ref

    def find_by_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> IssueRef | None:
        found = self.issues_with_marker(repository, fingerprint, label, since)
        return found[0] if found else None

    def issues_with_marker(
        self, repository: str, fingerprint: str, label: str, since: datetime | None
    ) -> list[IssueRef]:
        self.requests += 1
        return [
            issue.ref
            for (repo, _), issue in sorted(self.issues.items())
            if repo == repository
            and issue.ref.author == self.login
            and label in issue.ref.labels
            and (since is None or issue.ref.created_at >= since)
            and carries_marker(issue.ref.body, repository, fingerprint, self.marker_key)
        ]

    def create(self, repository: str, title: str, body: str, labels: list[str]) -> IssueRef:
        self.requests += 1
        ref = self.open_as(self.login, repository, title, body)
        return self._change(repository, ref.number, labels=tuple(labels))

    def edit(self, repository: str, number: int, **changes: Any) -> IssueRef:
        self.requests += 1
        self.edits.append((repository, number, changes))
        issue = self.issues[(repository, number)]
        state = changes.get("state", issue.ref.state)
        closed_at, reason = issue.ref.closed_at, issue.ref.state_reason
        if state != issue.ref.state:
            closed_at = self._now() if state == "closed" else None
            # GitHub's default reasons: closing completes, reopening reopens
            reason = "completed" if state == "closed" else "reopened"
        reason = changes.get("state_reason", reason)
        if "title" in changes:
            issue.title = changes["title"]
        return self._change(
            repository,
            number,
            body=changes.get("body", issue.ref.body),
            state=state,
            closed_at=closed_at,
            state_reason=reason,
            labels=tuple(changes.get("labels", issue.ref.labels)),
        )

    def comment(self, repository: str, number: int, body: str) -> None:
        self.requests += 1
        self.issues[(repository, number)].comments.append((self.login, body))

    def comment_as(self, author: str, repository: str, number: int, body: str) -> None:
        self.issues[(repository, number)].comments.append((author, body))

    def comment_bodies(self, repository: str, number: int) -> list[str]:
        self.requests += 1
        comments = self.issues[(repository, number)].comments
        return [body for author, body in comments if author == self.login]

    def add_labels(self, repository: str, number: int, labels: list[str]) -> None:
        self.requests += 1
        current = self.issues[(repository, number)].ref.labels
        self._change(
            repository, number, labels=(*current, *(x for x in labels if x not in current))
        )

    def assign(
        self, repository: str, number: int, logins: list[str], agent: dict[str, Any] | None = None
    ) -> tuple[str, ...]:
        self.requests += 1
        self.agent_requests.append(agent or {})
        names = [
            "Copilot" if login == COPILOT_LOGIN else login
            for login in logins
            if login != COPILOT_LOGIN or self.copilot_assignable
        ]
        current = self.issues[(repository, number)].ref.assignees
        updated = (*current, *(n for n in names if n not in current))
        return self._change(repository, number, assignees=updated).assignees

    def _change(self, repository: str, number: int, **changes: Any) -> IssueRef:
        issue = self.issues[(repository, number)]
        issue.ref = replace(issue.ref, **changes)
        return issue.ref


class MemoryDeliveries:
    """Webhook deliveries by (webhook, id), inserted only if absent."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], Delivery] = {}

    def claim(self, delivery: Delivery) -> Delivery:
        return self.kept.setdefault((delivery.webhook, delivery.delivery_id), delivery)

    def mark_queued(self, webhook: str, delivery_id: str) -> None:
        self.kept[(webhook, delivery_id)] = replace(self.kept[(webhook, delivery_id)], queued=True)

    def get(self, webhook: str, delivery_id: str) -> Delivery | None:
        return self.kept.get((webhook, delivery_id))

    def prune(self, before: datetime) -> int:
        old = [key for key, kept in self.kept.items() if kept.received_at < before]
        for key in old:
            del self.kept[key]
        return len(old)


class MemoryWebhookSecrets:
    """Secrets by name; a missing one is unavailable, as the vault would say."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.secrets = dict(secrets or {})

    def get(self, name: str) -> str:
        if name not in self.secrets:
            raise SecretUnavailable(f"secret {name} does not exist", reason="missing", name=name)
        return self.secrets[name]


IN_MEMORY_STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
"""The settings insist on a storage connection; these ports never open it."""


class _Clock:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now


@dataclass
class Memory:
    """The in-memory ports behind a `Services`, at hand for a test's assertions."""

    tracker: MemoryTracker
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    grouping: MemoryGroupingLog = field(default_factory=MemoryGroupingLog)
    issues: MemoryIssueStates = field(default_factory=MemoryIssueStates)
    rate_limiter: MemoryRateLimiter = field(default_factory=MemoryRateLimiter)
    audit: MemoryAuditLog = field(default_factory=MemoryAuditLog)
    failure_queue: MemoryQueue = field(default_factory=MemoryQueue)
    query_queue: MemoryQueue = field(default_factory=MemoryQueue)
    checkpoints: MemoryCheckpoints = field(default_factory=MemoryCheckpoints)
    query_slots: MemoryQuerySlots = field(default_factory=MemoryQuerySlots)
    poisoned: MemoryPoisonLog = field(default_factory=MemoryPoisonLog)
    metrics: MemoryMetrics = field(default_factory=MemoryMetrics)
    alert_queue: MemoryQueue = field(default_factory=MemoryQueue)
    deliveries: MemoryDeliveries = field(default_factory=MemoryDeliveries)
    webhook_secrets: MemoryWebhookSecrets = field(default_factory=MemoryWebhookSecrets)
    github_event_queue: MemoryQueue = field(default_factory=MemoryQueue)
    github_deliveries: MemoryGitHubDeliveries = field(
        default_factory=lambda: MemoryGitHubDeliveries()
    )
    github_webhook_secret: bytes | None = b"webhook-secret-for-tests"
    gitlab_webhook_secret: bytes | None = b"gitlab-token-for-tests"

    def services(
        self, rules: Rules, now: Callable[[], datetime], settings: Mapping[str, str] | None = None
    ) -> Services:
        """The use cases' services on these ports. Querying and correlation have no in-memory
        fakes: their tests run on Azurite and the Log Analytics fake."""
        return Services(
            settings=AppSettings.from_env({**IN_MEMORY_STORAGE, **(settings or {})}),
            rules=rules,
            clock=_Clock(now),
            log_source=_Absent("log source"),  # type: ignore[arg-type]
            query_slots=self.query_slots,
            query_queue=self.query_queue,
            poison_queue=MemoryQueue(),
            failure_queue=self.failure_queue,
            checkpoints=self.checkpoints,
            ledger=self.ledger,
            grouping=self.grouping,
            operations=_Absent("operations store"),  # type: ignore[arg-type]
            poisoned_jobs=self.poisoned,
            issues=self.issues,
            rate_limiter=self.rate_limiter,
            audit=self.audit,
            issue_tracker=lambda: self.tracker,
            marker_key=lambda: self.tracker.marker_key,
            issue_template=None,
            metrics=self.metrics,
            alert_queue=self.alert_queue,
            deliveries=self.deliveries,
            webhook_secrets=self.webhook_secrets,
            github_event_queue=self.github_event_queue,
            github_deliveries=self.github_deliveries,
            github_webhook_secret=lambda refresh=False: self.github_webhook_secret,
            gitlab_webhook_secret=lambda refresh=False: self.gitlab_webhook_secret,
        )


class _Absent:
    """A port a use-case test does not reach: any use of it fails the test by name."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the {self._name} has no in-memory fake ({attribute} was called)")
