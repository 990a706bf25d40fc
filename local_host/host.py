"""Drive the registered functions as the Azure Functions host would, in this process.

The queue driver receives messages from the real (Azurite) queue, hands the function a
`func.QueueMessage` with the real dequeue count, deletes the message on success, and on failure
lets it become visible again or, after `maxDequeueCount`, moves it to `<queue>-poison`: the
host's rule, which Azurite does not implement.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    QueueClient,
    QueueServiceClient,
    TextBase64EncodePolicy,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def host_queue_settings() -> dict[str, Any]:
    settings: dict[str, Any] = json.loads((PROJECT_ROOT / "host.json").read_text())["extensions"][
        "queues"
    ]
    return settings


@dataclass
class FunctionTable:
    """The app's functions by name, indexed once (a second `get_functions` raises)."""

    functions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, app: Any) -> FunctionTable:
        return cls({fn.get_function_name(): fn for fn in app.get_functions()})

    def user_function(self, name: str) -> Callable[..., Any]:
        return self.functions[name].get_user_function()  # type: ignore[no-any-return]

    def binding(self, name: str, binding_type: str) -> dict[str, Any]:
        for binding in self.functions[name].get_bindings_dict()["bindings"]:
            if binding["type"] == binding_type:
                return binding  # type: ignore[no-any-return]
        raise KeyError(f"{name} has no {binding_type} binding")


@dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0
    poisoned: int = 0


class QueueDriver:
    """Feeds one queue's messages to one queue-triggered function, host-style: as many at once
    as host.json lets one instance run (`batchSize` + `newBatchThreshold`)."""

    def __init__(
        self,
        service: QueueServiceClient,
        queue_name: str,
        function: Callable[[func.QueueMessage], None],
        *,
        retry_delay_seconds: int = 0,
    ) -> None:
        self.queue_name = queue_name
        self._queue = service.get_queue_client(
            queue_name, message_decode_policy=BinaryBase64DecodePolicy()
        )
        self._poison: QueueClient = service.get_queue_client(
            f"{queue_name}-poison", message_encode_policy=TextBase64EncodePolicy()
        )
        with contextlib.suppress(ResourceExistsError):
            self._poison.create_queue()
        self._function = function
        self._retry_delay = retry_delay_seconds
        settings = host_queue_settings()
        self._max_dequeue = int(settings["maxDequeueCount"])
        self._handlers = ThreadPoolExecutor(
            max_workers=int(settings["batchSize"]) + int(settings["newBatchThreshold"]),
            thread_name_prefix=queue_name,
        )

    def drain(self, max_rounds: int = 10_000) -> DrainResult:
        """Process visible messages until none are left (delayed ones stay for a later drain)."""
        result = DrainResult()
        for _ in range(max_rounds):
            batch = list(self._queue.receive_messages(max_messages=32, visibility_timeout=60))
            if not batch:
                return result
            self._deliver_all(batch, result)
        raise RuntimeError(f"queue {self.queue_name} did not drain in {max_rounds} rounds")

    def deliver_waiting(self) -> DrainResult:
        """Process as many messages as were waiting when called: one round of the host's work.

        Unlike `drain`, this ends even when handling a message queues another one that soon
        becomes visible (a notice re-queued while its workflow is busy).
        """
        result = DrainResult()
        budget = self.pending()
        while budget > 0:
            batch = list(
                self._queue.receive_messages(max_messages=min(32, budget), visibility_timeout=60)
            )
            if not batch:
                break
            self._deliver_all(batch, result)
            budget -= len(batch)
        return result

    def pending(self) -> int:
        """Messages on the queue, visible or not (approximate, as the service reports)."""
        return self._queue.get_queue_properties().approximate_message_count or 0

    def _deliver_all(self, batch: list[Any], result: DrainResult) -> None:
        for outcome in self._handlers.map(self._deliver, batch):
            result.processed += outcome == "processed"
            result.failed += outcome != "processed"
            result.poisoned += outcome == "poisoned"

    def _deliver(self, message: Any) -> str:
        request = QueueMessage(
            id=message.id,
            body=message.content,
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
        )
        try:
            self._function(request)
        except Exception:
            if message.dequeue_count >= self._max_dequeue:
                self._poison.send_message(message.content.decode("utf-8", "replace"))
                self._queue.delete_message(message)
                return "poisoned"
            self._queue.update_message(
                message.id, message.pop_receipt, visibility_timeout=self._retry_delay
            )
            return "failed"
        self._queue.delete_message(message)
        return "processed"


def timer_request(past_due: bool = False) -> TimerRequest:
    return TimerRequest(past_due=past_due)


def http_request(
    method: str, route: str, body: bytes = b"", params: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"http://localhost/api/{route}",
        headers={"content-type": "application/json"},
        params=params or {},
        body=body,
    )


class SimulatedClock:
    """A clock the local driver and tests move by hand, so ticks happen on simulated days.

    The moment lives in shared memory (microseconds since the epoch), so a worker process started
    with `SimulatedClock.sharing(clock.shared)` reads the same simulated time."""

    def __init__(self, start: datetime) -> None:
        self.shared: Synchronized[int] = multiprocessing.get_context("spawn").Value("q", 0)
        self.set(start)

    @classmethod
    def sharing(cls, shared: Synchronized[int]) -> SimulatedClock:
        clock = cls.__new__(cls)
        clock.shared = shared
        return clock

    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.shared.value)

    def seconds(self) -> float:
        """The simulated moment in epoch seconds (what Durable timers run on here)."""
        return self.now().timestamp()

    def advance(self, by: timedelta) -> None:
        self.set(self.now() + by)

    def set(self, moment: datetime) -> None:
        self.shared.value = (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
