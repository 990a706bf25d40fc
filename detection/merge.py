"""Near-duplicate merge: templates that differ only where a value varies become one group.

Masks know the usual value shapes; they cannot know that the word after `Invalid user` is a user
name. Drain finds such positions by comparing messages, but its cluster ids drift as its templates
change, so it cannot name a failure for good. Faultline splits the two concerns:

- the **template id** is stateless: a hash of the masked template, the same in every process and
  every month (see `detection.fingerprint`);
- the **merge step** maps a template id onto a **group id**, given a snapshot of the groups known
  so far. It returns a `MergeDecision` (known / join / new / merge) instead of mutating anything;
  `MergeState.apply` records it. Replaying the same decisions rebuilds the same state, so the
  workflow can persist decisions (one Table Storage row each) and any worker can rebuild the
  snapshot and get the same answers. A group id is the template id of the group's first member,
  so it never changes once given; a merge only ever folds younger groups into the oldest one
  (the absorbed ids are recorded as aliases and keep resolving).

Rules, in order, for a template of `n` tokens (kinds erased, see `Masker.template_key` in
`detection.masks`):

1. **known**: its template id was decided before.
2. **join**: a group's pattern (same length, same first token, `<*>` where the group has seen a
   variable) matches it; the oldest such group wins.
3. **merge**: at some position after the first, the groups that agree with it everywhere else
   already hold `min_distinct - 1` other words there. The position becomes a variable, the new
   template and all those groups become the oldest of them, and any other group the widened
   pattern now covers is folded in too. The first token is never made variable (it is the
   logger's verb or component far more often than a value), and neither is a position holding
   punctuation only.
4. **new**: otherwise, a group of its own.

Where every word seen at the position is a machine code (`fraud_suspected`, `NOT_FOUND`, `DE`),
`CODE_MIN_DISTINCT` (two) words are enough: codes are values (a reason, a country), never the
wording of a different event. Once two codes vary at a position, capitalised single words beside
them are values too (carriers `DHL`, `UPS` and `PostNL`); prose words still need five.

Templates longer than `MAX_MERGE_TOKENS` are only ever known, joined or new (merging costs
time quadratic in length). Requiring several distinct words (not just two or three) keeps an
enumeration apart (`VM Started`, `VM Paused`, `VM Stopped`: different events) while
`Invalid user alice/bob/carol/dave/erin` become one group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from detection.masks import MASKER, WILDCARD

Template = tuple[str, ...]
Action = Literal["known", "join", "new", "merge"]

MIN_DISTINCT = 5
CODE_MIN_DISTINCT = 2
MAX_MERGE_TOKENS = 64
_CODE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+|[A-Z0-9]+(?:_[A-Z0-9]+)+|[A-Z]{2,3}")
_NAME = re.compile(r"[A-Z][A-Za-z0-9]{1,31}")
_PUNCTUATION = "()[]{}<>;:,.'\"!?"


def template_id(template: Sequence[str]) -> str:
    """The stateless id of a kind-erased template: hex, stable across processes and versions."""
    return hashlib.blake2b("\x1f".join(template).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class MergeDecision:
    """What the merge step decided for one template, enough to replay it."""

    template_id: str
    template: Template
    action: Action
    group: str
    absorbed: tuple[str, ...] = ()
    pattern: Template | None = None
    reason: str = ""


def _code_like(token: str) -> bool:
    """A machine code, not a word: `snake_case` or `UPPER_SNAKE` identifiers and two- or
    three-letter capitals (country, currency, language codes). Prose holds neither, so two
    such values at one position already show the position is a value."""
    return _CODE.fullmatch(token.strip(_PUNCTUATION)) is not None


def _name_like(token: str) -> bool:
    """A capitalised single word (`PostNL`, `Redis`): a proper name where codes already vary."""
    return _NAME.fullmatch(token.strip(_PUNCTUATION)) is not None


def _code_position(words: Sequence[str]) -> bool:
    """Whether the words seen at a position show it holds codes: at least `CODE_MIN_DISTINCT`
    machine codes, and names beside them (a carrier list of `DHL`, `UPS` and `PostNL`)."""
    codes = sum(1 for w in words if _code_like(w))
    return codes >= CODE_MIN_DISTINCT and all(_code_like(w) or _name_like(w) for w in words)


def _variable_candidate(token: str) -> bool:
    return token != WILDCARD and any(ch.isalnum() for ch in token)


def _family_key(pattern: Template, position: int) -> Template:
    return (*pattern[:position], WILDCARD, *pattern[position + 1 :])


def _shape(pattern: Template) -> tuple[int, str]:
    return (len(pattern), pattern[0] if pattern else "")


def _covers(pattern: Template, template: Template) -> bool:
    return all(p in (WILDCARD, t) for p, t in zip(pattern, template, strict=True))


@dataclass
class MergeState:
    """The snapshot the merge step decides against; changed only by `apply`."""

    min_distinct: int = MIN_DISTINCT
    decisions: int = 0
    template_groups: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    patterns: dict[str, Template] = field(default_factory=dict)
    seniority: dict[str, int] = field(default_factory=dict)
    shapes: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    families: dict[Template, dict[str, set[str]]] = field(default_factory=dict)

    def resolve(self, group: str) -> str:
        """The surviving group an id (group or absorbed group) belongs to."""
        while group in self.aliases:
            group = self.aliases[group]
        return group

    def group_of(self, template_id: str) -> str | None:
        """The group a decided template belongs to now, or None if never decided."""
        group = self.template_groups.get(template_id)
        return self.resolve(group) if group is not None else None

    def apply(self, decision: MergeDecision) -> None:
        """Record a decision (from `decide` or replayed from storage)."""
        self.decisions += 1
        self.template_groups[decision.template_id] = decision.group
        if decision.action == "new":
            self._add_group(decision.group, decision.template)
        elif decision.action == "merge" and decision.pattern is not None:
            for absorbed in decision.absorbed:
                self._remove_group(absorbed)
                self.aliases[absorbed] = decision.group
            self._remove_group(decision.group)
            self._add_group(decision.group, decision.pattern, keep_seniority=True)

    def _add_group(self, group: str, pattern: Template, keep_seniority: bool = False) -> None:
        self.patterns[group] = pattern
        if not keep_seniority:
            self.seniority[group] = self.decisions
        self.shapes.setdefault(_shape(pattern), []).append(group)
        for position in range(1, min(len(pattern), MAX_MERGE_TOKENS)):
            if _variable_candidate(pattern[position]):
                family = self.families.setdefault(_family_key(pattern, position), {})
                family.setdefault(pattern[position], set()).add(group)

    def _remove_group(self, group: str) -> None:
        pattern = self.patterns.pop(group)
        self.shapes[_shape(pattern)].remove(group)
        for position in range(1, min(len(pattern), MAX_MERGE_TOKENS)):
            if _variable_candidate(pattern[position]):
                key = _family_key(pattern, position)
                family = self.families[key]
                family[pattern[position]].discard(group)
                if not family[pattern[position]]:
                    del family[pattern[position]]
                if not family:
                    del self.families[key]


def decide(template: Template, state: MergeState, identity: str | None = None) -> MergeDecision:
    """The group for a template given the state; pure (the state is only read).

    `identity` names the template in decisions and group ids (the production path passes the
    fingerprint, unique per scope and template); by default it is the template's own id."""
    tid = identity or template_id(template)
    known = state.group_of(tid)
    if known is not None:
        return MergeDecision(tid, template, "known", known, reason="template seen before")
    shape = _shape(template)
    covering = [g for g in state.shapes.get(shape, ()) if _covers(state.patterns[g], template)]
    if covering:
        group = min(covering, key=state.seniority.__getitem__)
        return MergeDecision(tid, template, "join", group, reason="matches the group's pattern")
    same_shape = state.shapes.get(shape, ())
    generalized = [g for g in same_shape if _covers(template, state.patterns[g])]
    if generalized:
        return _merge(tid, template, template, set(generalized), state, "generalizes the groups")
    others = _differing_in_one_place(template, same_shape, state)
    for position in range(1, min(len(template), MAX_MERGE_TOKENS)):
        word = template[position]
        if not _variable_candidate(word):
            continue
        family = state.families.get(_family_key(template, position), {})
        words = {word, *family, *(state.patterns[g][position] for g in others.get(position, ()))}
        if len(words) < (CODE_MIN_DISTINCT if _code_position(tuple(words)) else state.min_distinct):
            continue
        members = {g for groups in family.values() for g in groups} | set(others.get(position, ()))
        widened = _union(_family_key(template, position), (state.patterns[g] for g in members))
        members.update(g for g in same_shape if _covers(widened, state.patterns[g]))
        reason = f"{len(words)} distinct words at position {position}"
        return _merge(tid, template, widened, members, state, reason)
    return MergeDecision(tid, template, "new", tid, reason="no group matches")


def _differing_in_one_place(
    template: Template, same_shape: Sequence[str], state: MergeState
) -> dict[int, list[str]]:
    """Groups whose pattern matches the template everywhere but at one position, by position.

    A group's `<*>` matches any word, so when values vary at two positions (a carrier and a
    country) the groups one position already generalised still count at the other."""
    found: dict[int, list[str]] = {}
    for group in same_shape:
        pattern = state.patterns[group]
        differing = [
            i
            for i, (p, t) in enumerate(zip(pattern, template, strict=True))
            if p not in (WILDCARD, t)
        ]
        if len(differing) == 1 and _variable_candidate(pattern[differing[0]]):
            found.setdefault(differing[0], []).append(group)
    return found


def _union(pattern: Template, others: Iterable[Template]) -> Template:
    """The narrowest pattern covering them all: `<*>` wherever one of them has it or they differ."""
    merged = list(pattern)
    for other in others:
        for i, word in enumerate(other):
            if word != merged[i]:
                merged[i] = WILDCARD
    return tuple(merged)


def _merge(
    tid: str,
    template: Template,
    pattern: Template,
    members: set[str],
    state: MergeState,
    reason: str,
) -> MergeDecision:
    """Fold `members` into the oldest of them, whose pattern becomes `pattern`."""
    ordered = sorted(members, key=state.seniority.__getitem__)
    return MergeDecision(
        tid,
        template,
        "merge",
        ordered[0],
        absorbed=tuple(ordered[1:]),
        pattern=pattern,
        reason=reason,
    )


def split_template(key: str) -> Template:
    """A template key (tokens joined by single spaces) as the merge step's token tuple."""
    return tuple(key.split(" ")) if key else ()


def group_messages(messages: Sequence[str], state: MergeState | None = None) -> list[str]:
    """The group id of each message as of the end of the batch (the CLI's and bench's path).

    Distinct templates go through the merge step in order of first appearance; a message whose
    template was later folded into an older group reports that group, as the workflow would.
    """
    state = state if state is not None else MergeState()
    keys = [MASKER.template_key(message) for message in messages]
    distinct = {key: split_template(key) for key in dict.fromkeys(keys)}
    group_all(distinct.values(), state)
    groups = {key: state.group_of(template_id(t)) or "" for key, t in distinct.items()}
    return [groups[key] for key in keys]


def group_all(templates: Iterable[Template], state: MergeState) -> list[MergeDecision]:
    """Decide and apply each template in order (the online path, run over a batch)."""
    decisions = []
    for template in templates:
        decision = decide(template, state)
        if decision.action != "known":
            state.apply(decision)
        decisions.append(decision)
    return decisions
