"""An in-memory fake of the notification dispatcher's state, keeping the promises the
dispatcher relies on as Table Storage does: a claim is taken once (insert-if-absent), a throttle
is saved only under the ETag it was read with, an issue's first thread stays its thread."""

from __future__ import annotations

import itertools
from datetime import datetime

from detection.notify import ThrottleState


class MemoryNotificationState:
    def __init__(self) -> None:
        self.claims: dict[str, datetime] = {}
        self.throttles: dict[str, tuple[ThrottleState, str]] = {}
        self.threads: dict[tuple[str, str], str] = {}
        self.episodes: dict[str, datetime] = {}
        self._etags = itertools.count(1)

    def claim(self, key: str, at: datetime) -> bool:
        if key in self.claims:
            return False
        self.claims[key] = at
        return True

    def release(self, key: str) -> None:
        self.claims.pop(key, None)

    def throttle(self, key: str) -> tuple[ThrottleState, str | None]:
        if key not in self.throttles:
            return ThrottleState(), None
        state, etag = self.throttles[key]
        return state, etag

    def save_throttle(self, key: str, state: ThrottleState, etag: str | None) -> bool:
        current = self.throttles.get(key)
        if (current[1] if current else None) != etag:
            return False
        self.throttles[key] = (state, f"W/{next(self._etags)}")
        return True

    def thread(self, channel: str, issue: str) -> str | None:
        return self.threads.get((channel, issue))

    def save_thread(self, channel: str, issue: str, thread: str) -> None:
        self.threads.setdefault((channel, issue), thread)

    def open_episode(self, key: str, since: datetime) -> datetime | None:
        if key in self.episodes:
            return None
        self.episodes[key] = since
        return since

    def close_episode(self, key: str) -> None:
        self.episodes.pop(key, None)
