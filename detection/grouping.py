"""The grouping log: which group each fingerprint belongs to, decided online and kept as a log.

A fingerprint is stateless (`detection.fingerprint`); a group is what an issue is about. The map
from one to the other has state, because it learns: the merge step folds message templates that
differ only where a value varies (`detection.merge`), an upgrade folds the previous algorithm's
ids into the new groups (Sentry's secondary hashes), and a person may merge two groups. Each such
decision is one `LogEntry`; replaying the entries in order rebuilds the same `Grouping` in every
process, so any worker, after any restart, puts a fingerprint in the same group.

- `merge` entries are the merge step's decisions, one scope (definition-independent: service,
  kind, exception type) at a time.
- `alias` entries fold one id into a group for any other reason (an upgrade, a person's
  `/faultline merge`).
- `split` entries undo an alias (`/faultline unmerge`): the absorbed id, and whatever was folded
  into it, is its own group again from then on.

Invariants (property-tested): a group id never changes once given (it is the fingerprint of the
group's founding member); an absorbed id keeps resolving, to its survivor; replaying the log
rebuilds the state; no alias cycle can form (aliases join the ids' current survivors).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from detection.fingerprint import Fingerprint
from detection.merge import MergeDecision, MergeState, decide, split_template

EntryKind = Literal["merge", "alias", "split"]


@dataclass(frozen=True)
class LogEntry:
    """One grouping decision, enough to replay it."""

    kind: EntryKind
    scope: str = ""
    decision: MergeDecision | None = None
    absorbed: str = ""
    survivor: str = ""
    reason: str = ""

    def to_json(self) -> str:
        body: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        if self.decision is not None:
            d = self.decision
            body |= {
                "scope": self.scope,
                "template_id": d.template_id,
                "template": list(d.template),
                "action": d.action,
                "group": d.group,
                "absorbed": list(d.absorbed),
                "pattern": list(d.pattern) if d.pattern is not None else None,
            }
        else:
            body |= {"absorbed_id": self.absorbed, "survivor": self.survivor}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LogEntry:
        body = json.loads(text)
        if body["kind"] == "merge":
            pattern = body.get("pattern")
            decision = MergeDecision(
                template_id=body["template_id"],
                template=tuple(body["template"]),
                action=body["action"],
                group=body["group"],
                absorbed=tuple(body["absorbed"]),
                pattern=tuple(pattern) if pattern is not None else None,
                reason=body["reason"],
            )
            return cls("merge", scope=body["scope"], decision=decision, reason=body["reason"])
        kind: EntryKind = "split" if body["kind"] == "split" else "alias"
        return cls(
            kind, absorbed=body["absorbed_id"], survivor=body["survivor"], reason=body["reason"]
        )

    @property
    def folds(self) -> tuple[tuple[str, str], ...]:
        """(absorbed, survivor) pairs this entry creates: what an issue workflow must fold."""
        if self.decision is not None:
            if self.decision.action != "merge":
                return ()
            return tuple((a, self.decision.group) for a in self.decision.absorbed)
        if self.kind == "split":
            return ()
        return ((self.absorbed, self.survivor),)


@dataclass
class Grouping:
    """Every decision so far, applied: the merge state of each scope and the aliases."""

    scopes: dict[str, MergeState] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    folded_into: dict[str, list[str]] = field(default_factory=dict)
    applied: int = 0

    def apply(self, entry: LogEntry) -> None:
        """Record one decision (just made, or replayed from storage)."""
        self.applied += 1
        if entry.decision is not None:
            self.scopes.setdefault(entry.scope, MergeState()).apply(entry.decision)
            for absorbed, survivor in entry.folds:
                self.aliases[absorbed] = self.resolve(survivor)
                self.folded_into.setdefault(survivor, []).append(absorbed)
            return
        if entry.kind == "split":
            into = self.aliases.pop(entry.absorbed, None)
            if into is not None and entry.absorbed in self.folded_into.get(into, []):
                self.folded_into[into].remove(entry.absorbed)
            return
        absorbed, survivor = self.resolve(entry.absorbed), self.resolve(entry.survivor)
        if absorbed != survivor:
            self.aliases[absorbed] = survivor
            self.folded_into.setdefault(survivor, []).append(absorbed)

    def resolve(self, group: str) -> str:
        """The surviving group of an id (itself unless it was folded into another)."""
        seen = 0
        while group in self.aliases:
            group = self.aliases[group]
            seen += 1
            if seen > len(self.aliases):
                raise ValueError(f"alias cycle through {group}")
        return group

    def group_of(self, print_: Fingerprint) -> str | None:
        """The group of a fingerprint already decided, else None (nothing is decided here)."""
        if not print_.mergeable:
            return self.resolve(print_.value)
        state = self.scopes.get(print_.scope)
        group = state.group_of(print_.value) if state else None
        return self.resolve(group) if group is not None else None

    def assign(self, prints: Iterable[Fingerprint]) -> tuple[dict[str, str], list[LogEntry]]:
        """The group of each fingerprint, deciding (and applying) what is new, in order.

        Returns fingerprint value -> group, and the entries that must be persisted for the
        decisions to hold; a caller that cannot persist them must discard this state."""
        groups: dict[str, str] = {}
        entries: list[LogEntry] = []
        for print_ in prints:
            if print_.value in groups:
                continue
            known = self.group_of(print_)
            if known is None:
                state = self.scopes.setdefault(print_.scope, MergeState())
                decision = decide(split_template(print_.template), state, print_.value)
                entry = LogEntry("merge", scope=print_.scope, decision=decision)
                self.apply(entry)
                entries.append(entry)
                known = self.group_of(print_)
                if known is None:
                    raise RuntimeError(f"template {print_.value} was decided without a group")
            groups[print_.value] = known
        for print_ in prints:
            groups[print_.value] = self.resolve(groups[print_.value])
        return groups, entries

    def alias(
        self, absorbed: str, survivor: str, reason: str, *, first_claim: bool = False
    ) -> LogEntry | None:
        """Fold `absorbed` into `survivor`'s group (applied); None when they already are one.

        With `first_claim`, an id already folded somewhere stays there: a previous version's
        fingerprint that covered two of today's groups belongs to the first one that claimed it,
        and must never merge them."""
        if first_claim and absorbed in self.aliases:
            return None
        if self.resolve(absorbed) == self.resolve(survivor):
            return None
        entry = LogEntry("alias", absorbed=absorbed, survivor=survivor, reason=reason)
        self.apply(entry)
        return entry

    def split(self, absorbed: str, survivor: str, reason: str) -> LogEntry | None:
        """Undo the alias that folded `absorbed` into `survivor`'s group (applied); None when it
        is not folded there directly. Meant for what `alias` folded (a person's merge): the merge
        step's template groups are also kept in its scope's state, which a split leaves alone."""
        into = self.aliases.get(absorbed)
        if into is None or self.resolve(into) != self.resolve(survivor):
            return None
        entry = LogEntry("split", absorbed=absorbed, survivor=into, reason=reason)
        self.apply(entry)
        return entry

    def absorbed_by(self, group: str) -> list[str]:
        """Every id folded, directly or through others, into `group` (oldest first)."""
        found: list[str] = []
        pending = list(self.folded_into.get(group, ()))
        while pending:
            absorbed = pending.pop(0)
            if absorbed not in found:
                found.append(absorbed)
                pending.extend(self.folded_into.get(absorbed, ()))
        return found


def replay(entries: Iterable[LogEntry]) -> Grouping:
    """The grouping the entries describe, applied in order."""
    grouping = Grouping()
    for entry in entries:
        grouping.apply(entry)
    return grouping
