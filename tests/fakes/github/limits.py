"""GitHub's rate limits: a primary budget per token and window, secondary limits on
content-creating requests, and the wait (with or without ``retry-after``) a token is told to
keep. Kept together because this is what tells a client that paces itself from one that
does not: a request sent before its wait is over is recorded in ``violations``."""

import math
import time
import uuid
from collections import deque
from dataclasses import dataclass

from tests.fakes.github.clock import FakeClock
from tests.fakes.github.payloads import DOCS, ApiError

_RATE_LIMITS_DOCS = f"{DOCS}/overview/rate-limits-for-the-rest-api"
_PRIMARY_DOCS = f"{_RATE_LIMITS_DOCS}#about-primary-rate-limits"
SECONDARY_DOCS = f"{_RATE_LIMITS_DOCS}#about-secondary-rate-limits"


@dataclass
class _Budget:
    """A primary rate-limit window for one token (or anonymous caller) and resource."""

    limit: int
    reset_at: float
    used: int = 0


@dataclass(frozen=True)
class _Penalty:
    """A token told to wait by a secondary limit: refused until ``until`` on the fake's clock.
    ``told_at`` is when (on the machine's monotonic clock) the answer that told it left."""

    since: float
    until: float
    status: int
    with_retry_after: bool
    told_at: float


@dataclass(frozen=True)
class Violation:
    """A request a token sent while GitHub had told it to wait."""

    method: str
    path: str
    at: float
    waited_seconds: float
    told_to_wait_seconds: float


def secondary_limit_error(
    headers: dict[str, str], retry_after: int | None, status: int = 403
) -> ApiError:
    """403/429 with the secondary-limit message; ``retry_after=None`` omits the header."""
    return ApiError(
        status,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you"
        " try again. If you reach out to GitHub Support for help, please include the"
        f" request ID {headers.get('x-github-request-id', '')}.",
        SECONDARY_DOCS,
        headers={} if retry_after is None else {"retry-after": str(retry_after)},
    )


class RateLimits:
    """Primary and secondary limits for every token, on the fake's clock.

    ``core_limit``/``search_limit`` requests per window (refused with ``primary_status``, 403 or
    429); ``secondary_per_minute``/``secondary_per_hour`` content-creating requests, answered
    with ``retry-after`` while ``secondary_retry_after`` is true and without it otherwise. Tests
    may change any of these mid-way.
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        core_limit: int,
        search_limit: int,
        secondary_per_minute: int,
        secondary_per_hour: int,
        secondary_retry_after: bool,
        primary_status: int,
    ) -> None:
        self.clock = clock
        self.core_limit = core_limit
        self.search_limit = search_limit
        self.secondary_per_minute = secondary_per_minute
        self.secondary_per_hour = secondary_per_hour
        self.secondary_retry_after = secondary_retry_after
        self.primary_status = primary_status
        self.violations: list[Violation] = []
        self._budgets: dict[tuple[str, str], _Budget] = {}
        self._writes: dict[str, deque[float]] = {}
        self._penalties: dict[str, _Penalty] = {}

    def headers(self, token: str, resource: str) -> dict[str, str]:
        """The headers every answer carries: the token's window, and a request id."""
        budget = self._budget(token, resource)
        return {
            "x-ratelimit-limit": str(budget.limit),
            "x-ratelimit-remaining": str(max(budget.limit - budget.used, 0)),
            "x-ratelimit-used": str(budget.used),
            "x-ratelimit-reset": str(math.ceil(budget.reset_at)),
            "x-ratelimit-resource": resource,
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
        }

    def spend(self, token: str, resource: str, caller: str, request_id: str) -> ApiError | None:
        """Count a request against the token's window, or refuse it once the window is spent:
        403 or 429 with x-ratelimit-remaining 0; wait for x-ratelimit-reset (_PRIMARY_DOCS).
        ``caller`` is who GitHub names in the message ("user ID 1000001")."""
        budget = self._budget(token, resource)
        if budget.used >= budget.limit:
            return ApiError(
                self.primary_status,
                f"API rate limit exceeded for {caller}. If you reach out to GitHub"
                f" Support for help, please include the request ID {request_id}.",
                _PRIMARY_DOCS,
            )
        budget.used += 1
        return None

    def penalise(self, token: str, retry_after: int | None, status: int, wait: int = 0) -> None:
        """After a secondary limit the token must wait ``retry_after`` seconds or, without the
        header, at least a minute (SECONDARY_DOCS, "Exceeding the rate limit"); ``wait`` is
        how long its own window still refuses it, if longer."""
        now = self.clock.now()
        seconds = retry_after if retry_after is not None else max(wait, 60)
        current = self._penalties.get(token)
        if current is None or now + seconds > current.until:
            self._penalties[token] = _Penalty(
                now, now + seconds, status, retry_after is not None, time.monotonic()
            )

    def told_to_wait(
        self, token: str, method: str, path: str, headers: dict[str, str], arrived: float
    ) -> ApiError | None:
        """A token still told to wait is refused again. The request is recorded as a violation
        unless it arrived before the answer that told the token to wait had left (concurrent
        requests already on their way could not have known)."""
        penalty = self._penalties.get(token)
        now = self.clock.now()
        if penalty is None or now >= penalty.until:
            self._penalties.pop(token, None)
            return None
        if arrived > penalty.told_at:
            self.violations.append(
                Violation(
                    method,
                    path,
                    now,
                    now - penalty.since,
                    penalty.until - penalty.since,
                )
            )
        remaining = max(math.ceil(penalty.until - now), 1)
        return secondary_limit_error(
            headers, remaining if penalty.with_retry_after else None, penalty.status
        )

    def count_write(self, token: str, headers: dict[str, str]) -> None:
        """Content-creating requests per minute and per hour, as GitHub's secondary limits
        (80 a minute, 500 an hour: SECONDARY_DOCS); ``retry-after`` only while
        ``secondary_retry_after``, else the token must wait at least a minute."""
        now = self.clock.now()
        writes = self._writes.setdefault(token, deque())
        while writes and writes[0] <= now - 3600:
            writes.popleft()
        last_minute = [t for t in writes if t > now - 60]
        if len(last_minute) >= self.secondary_per_minute:
            wait = last_minute[-self.secondary_per_minute] + 60 - now
        elif len(writes) >= self.secondary_per_hour:
            wait = writes[-self.secondary_per_hour] + 3600 - now
        else:
            writes.append(now)
            return
        seconds = max(math.ceil(wait), 1)
        retry_after = seconds if self.secondary_retry_after else None
        error = secondary_limit_error(headers, retry_after)
        self.penalise(token, retry_after, error.status, seconds)
        raise error

    def _budget(self, token: str, resource: str) -> _Budget:
        """The token's current window; ``""`` is the anonymous caller (60 an hour)."""
        now = self.clock.now()
        if resource == "search":
            limit, window = (self.search_limit if token else 10), 60.0
        else:
            limit, window = (self.core_limit if token else 60), 3600.0
        budget = self._budgets.get((token, resource))
        if budget is None or now >= budget.reset_at:
            budget = _Budget(limit, now + window)
            self._budgets[(token, resource)] = budget
        budget.limit = limit  # tests may change the limits mid-way
        return budget
