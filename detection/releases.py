"""Releases: which app version an occurrence came from, compared with the version an issue was
resolved in (`/faultline resolve in <version>`), so that a failure from a release before the fix
(old instances still draining, a slow rollout) is a normal recurrence, and one from the fix's
release or later is a regression.

Versions are compared as PEP 440 versions (`packaging`: `2.14.0`, `v2.14`, `2.14.0rc1`, and
semantic versions such as `2.14.0-beta.2`, which PEP 440 normalises), else by a fallback that
splits a version into runs of digits (compared as numbers) and of letters (compared as text), so
`2024.11.3-hotfix` and `build-1042` still order sensibly. A version that cannot be placed at all
counts as the fix's release or later: a regression is never hidden by a version we cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from packaging.version import InvalidVersion, Version

_RUNS = re.compile(r"\d+|[a-z]+")

Fallback = tuple[tuple[int, int, str], ...]


def _fallback(text: str) -> Fallback:
    """Digit runs as numbers, ranked above letter runs (so `1.2.3` follows `1.2.rc`)."""
    return tuple(
        (1, int(run), "") if run.isdigit() else (0, 0, run)
        for run in _RUNS.findall(text.strip().lower().removeprefix("v"))
    )


def version_before(version: str, release: str) -> bool | None:
    """Whether `version` comes before `release`; None when either has nothing to compare by
    (no digits and no letters)."""
    try:
        return Version(version.strip()) < Version(release.strip())
    except InvalidVersion:
        pass
    left, right = _fallback(version), _fallback(release)
    if not left or not right:
        return None
    return left < right


def regressed_since(resolved_in: str | None, versions: Iterable[str | None]) -> bool:
    """Whether occurrences from `versions` (those counted since the issue was resolved) make it a
    regression: without a release to compare with, any occurrence does; with one, an occurrence
    from that release or later does, and so does one whose version is unknown. No occurrence at
    all is no regression."""
    seen = list(versions)
    if not seen:
        return False
    if resolved_in is None:
        return True
    return any(v is None or version_before(v, resolved_in) is not True for v in seen)


def versions_since(
    before: Mapping[str, int], now: Mapping[str, int], count_before: int, count_now: int
) -> list[str | None]:
    """The versions of the occurrences counted between two readings of a group's per-version
    counts (`before` at the resolve, `now`): each version whose count grew, and None for
    occurrences that no version accounts for (records without one, or past the facet's cap)."""
    grown = [v for v, n in now.items() if n > before.get(v, 0) and v != "(more)"]
    accounted = sum(max(now.get(v, 0) - before.get(v, 0), 0) for v in now if v != "(more)")
    unknown = count_now - count_before > accounted
    return [*grown, *([None] if unknown else [])]
