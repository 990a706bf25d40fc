"""Faults a test injects: 5xx answers, secondary limits out of the blue, and writes that succeed
although the client saw them fail, or that land only after its retry has looked. Queued here,
apart from the server, so that each kind of failure is described and answered in one place."""

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.github.clock import FakeClock
from tests.fakes.github.limits import SECONDARY_DOCS, secondary_limit_error
from tests.fakes.github.payloads import ApiError


@dataclass(frozen=True)
class ServerError:
    """Answer with this 5xx status without touching state."""

    status: int = 502


@dataclass(frozen=True)
class SecondaryRateLimit:
    """Answer 403/429 with the secondary-limit message; ``retry_after=None`` omits the header.

    Either way the token must then wait (``retry_after`` seconds, else at least a minute) before
    any request succeeds: https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
    "Exceeding the rate limit".
    """

    retry_after: int | None = 60
    status: int = 403


@dataclass(frozen=True)
class Abuse:
    """The older "abuse detection mechanism" 403, which GitHub still sends on some paths."""

    retry_after: int | None = 60


@dataclass(frozen=True)
class TimeoutAfterSuccess:
    """Perform the request, then hold the response this long (past the client's timeout).

    GitHub ends a request that takes more than 10 s with a "Server Error" timeout although the
    work may complete (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api
    "Timeouts"; duplicates after 5xx: https://github.com/getsentry/junior/pull/687).
    """

    delay_seconds: float = 2.0


@dataclass(frozen=True)
class ServerErrorAfterSuccess:
    """Perform the request, then answer this 5xx as if it had failed (same sources as above)."""

    status: int = 502


@dataclass(frozen=True)
class LandsLater:
    """Accept a write but apply it only ``after_seconds`` later on the fake's clock.

    The client sees ``status`` at once, or with ``status=None`` a response held ``hold_seconds``
    (past its timeout) and then a 504. A retry that looks before then (list, get, search) does
    not see the write; it appears afterwards anyway. Replica lag on the list endpoint itself:
    https://github.com/max-sixty/tend/pull/345.
    """

    after_seconds: float = 30.0
    status: int | None = 504
    hold_seconds: float = 2.0


Fault = (
    ServerError
    | SecondaryRateLimit
    | Abuse
    | TimeoutAfterSuccess
    | ServerErrorAfterSuccess
    | LandsLater
)


def fault_error(fault: Fault, headers: dict[str, str]) -> ApiError:
    """The answer to a fault that refuses the request without performing it."""
    match fault:
        case SecondaryRateLimit(retry_after=seconds, status=status):
            return secondary_limit_error(headers, seconds, status)
        case Abuse(retry_after=seconds):
            return ApiError(
                403,
                "You have triggered an abuse detection mechanism. Please wait a few minutes"
                " before you try again.",
                SECONDARY_DOCS,
                headers={} if seconds is None else {"retry-after": str(seconds)},
            )
        case ServerError(status=status):
            return ApiError(status, "Server Error")
    raise TypeError(f"not an error fault: {fault!r}")


@dataclass(frozen=True)
class _PendingFault:
    fault: Fault
    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method.upper()) and fnmatch.fnmatchcase(
            path, self.path
        )


class Faults:
    """Faults queued for the requests to come, and the writes ``LandsLater`` holds back."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._pending: list[_PendingFault] = []
        self._late: list[tuple[float, Callable[[], object]]] = []

    def queue(self, fault: Fault, method: str, path: str) -> None:
        self._pending.append(_PendingFault(fault, method, path))

    def take(self, method: str, path: str) -> Fault | None:
        """The oldest fault queued for this request, if any; non-matching ones stay queued."""
        for i, pending in enumerate(self._pending):
            if pending.matches(method, path):
                del self._pending[i]
                return pending.fault
        return None

    def land_later(self, fault: LandsLater, write: Callable[[], object]) -> None:
        self._late.append((self._clock.now() + fault.after_seconds, write))

    def due_writes(self) -> list[Callable[[], object]]:
        """The held-back writes whose time has come on the clock, oldest first."""
        now = self._clock.now()
        due = sorted((w for w in self._late if w[0] <= now), key=lambda w: w[0])
        self._late = [w for w in self._late if w[0] > now]
        return [write for _, write in due]
