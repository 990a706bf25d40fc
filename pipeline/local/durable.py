"""The Durable runtime in-process: durabletask's in-memory backend (a real gRPC task hub) and a
worker running the very orchestrator and activities the app registered, as the host would."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.testing import InMemoryOrchestrationBackend, create_test_backend
from durabletask.worker import TaskHubGrpcWorker

from pipeline.local.azurite import free_port
from pipeline.local.host import FunctionTable

ACTIVE = (OrchestrationStatus.RUNNING, OrchestrationStatus.PENDING)


def _activity(name: str, user_function: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """The host passes activities only their input; durabletask's worker passes (ctx, input)."""

    def run(_ctx: Any, payload: Any) -> Any:
        return user_function(payload)

    run.__name__ = name
    return run


def _quiet(name: str) -> logging.Logger:
    """durabletask logs every replay at INFO on its own handler; keep only its warnings."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    return logger


class DurableRuntime:
    """Start with `with DurableRuntime(functions) as durable:`; `binding` is the client config."""

    def __init__(self, functions: FunctionTable, task_hub: str = "faultline") -> None:
        self._functions = functions
        self._task_hub = task_hub
        self.port = free_port()
        self.backend: InMemoryOrchestrationBackend | None = None
        self.worker: TaskHubGrpcWorker | None = None
        self.client = TaskHubGrpcClient(
            host_address=f"localhost:{self.port}", logger=_quiet("durabletask.client")
        )

    @property
    def binding(self) -> str:
        """What the host hands a `durable_client_input` parameter."""
        return json.dumps({"taskHubName": self._task_hub, "rpcBaseUrl": f"localhost:{self.port}"})

    def __enter__(self) -> DurableRuntime:
        self.backend = create_test_backend(port=self.port)
        self.start_worker()
        return self

    def start_worker(self) -> None:
        worker = TaskHubGrpcWorker(
            host_address=f"localhost:{self.port}", logger=_quiet("durabletask.worker")
        )
        for name, function in self._functions.functions.items():
            triggers = {b["type"] for b in function.get_bindings_dict()["bindings"]}
            user_function = function.get_user_function()
            if "orchestrationTrigger" in triggers:
                worker.add_orchestrator(user_function.orchestrator_function)
            elif "activityTrigger" in triggers:
                worker.add_activity(_activity(name, user_function))
        worker.start()
        self.worker = worker

    def stop_worker(self) -> None:
        """Stop executing work (a crashed or scaled-in worker); state stays in the backend."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def __exit__(self, *exc: object) -> None:
        self.stop_worker()
        self.client.close()
        if self.backend is not None:
            self.backend.stop()

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Block until no orchestration is running or pending (timers included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.client.get_all_orchestration_states()
            if not any(s.runtime_status in ACTIVE for s in states):
                return
            time.sleep(0.05)
        raise TimeoutError(f"orchestrations still running after {timeout}s")
