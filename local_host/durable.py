"""The Durable runtime in-process: durabletask's in-memory backend (a real gRPC task hub) and a
worker running the very orchestrator and activities the app registered, as the host would.

Durable timers run on the wall clock by default. Given a simulated clock, they run on that clock
instead, so a workflow that waits an hour for its issue budget waits an hour of *simulated* time:
the driver moves the clock, fires the timers that fell due, and waits until every workflow has
done what it can at that moment.
"""

from __future__ import annotations

import heapq
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import grpc
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.internal import helpers
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.testing import InMemoryOrchestrationBackend, create_test_backend
from durabletask.worker import TaskHubGrpcWorker

from local_host.azurite import free_port
from local_host.host import FunctionTable, SimulatedClock

ACTIVE = (OrchestrationStatus.RUNNING, OrchestrationStatus.PENDING)
_SPAWN = multiprocessing.get_context("spawn")  # forking a process that runs gRPC is unsafe


@dataclass(order=True)
class _SimulatedTimer:
    due: datetime
    instance_id: str = field(compare=False)
    timer_id: int = field(compare=False)
    fire_at: datetime = field(compare=False)


class SimulatedTimeBackend(InMemoryOrchestrationBackend):
    """The in-memory backend with durable timers due on a simulated clock.

    The stock backend sleeps a thread per timer until the wall clock reaches it. Here a timer is
    due once the simulated clock has moved as far as the orchestrator asked to wait (measured
    from the orchestrator's own time, the dispatch that created the timer), and fires when the
    driver calls `fire_due_timers`. The backend also counts activities in flight, so `is_idle`
    can say when nothing will happen until a timer fires.

    It also keeps what a real task hub keeps and the stock backend does not: which activities
    were handed out and not completed. When a worker dies, `release_leases` dispatches its
    activities and orchestration steps again, as a task hub does once the leases lapse, and a
    completion for a lease already given back is ignored.
    """

    def __init__(self, clock: SimulatedClock, port: int) -> None:
        super().__init__(port=port)
        self._clock = clock
        self._timers: list[_SimulatedTimer] = []
        self._activities_in_flight = 0
        self._leased: dict[tuple[str, int], Any] = {}
        self._streams = 0
        self._streams_changed = threading.Condition()

    def GetWorkItems(  # noqa: N802 (the gRPC method's name)
        self, request: pb.GetWorkItemsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WorkItem]:
        """The stock stream, counted: a dead worker's stream still polls the queues until gRPC
        sees its connection drop, and whatever it takes then is lost with it."""
        with self._streams_changed:
            self._streams += 1
        try:
            yield from super().GetWorkItems(request, context)
        finally:
            with self._streams_changed:
                self._streams -= 1
                self._streams_changed.notify_all()

    def wait_for_no_streams(self, timeout: float) -> None:
        """Block until no worker is connected (a killed one's stream has ended)."""
        with self._streams_changed:
            if not self._streams_changed.wait_for(lambda: self._streams == 0, timeout):
                raise TimeoutError(f"a worker's stream still open after {timeout:.0f}s")

    def _process_create_timer_action(self, instance: Any, action: pb.OrchestratorAction) -> None:
        fire_at = action.createTimer.fireAt.ToDatetime(tzinfo=UTC)
        instance.history.append(helpers.new_timer_created_event(action.id, fire_at))
        if instance.status == pb.ORCHESTRATION_STATUS_PENDING:
            instance.status = pb.ORCHESTRATION_STATUS_RUNNING
        dispatched = [e for e in instance.history if e.HasField("orchestratorStarted")]
        started = dispatched[-1].timestamp.ToDatetime(tzinfo=UTC)
        wait = max(fire_at - started, timedelta(0))
        heapq.heappush(
            self._timers,
            _SimulatedTimer(self._clock.now() + wait, instance.instance_id, action.id, fire_at),
        )

    def _process_schedule_task_action(self, instance: Any, action: pb.OrchestratorAction) -> None:
        super()._process_schedule_task_action(instance, action)
        item = self._activity_queue[-1]
        self._leased[(item.instance_id, item.task_id)] = item
        self._activities_in_flight += 1

    def CompleteActivityTask(  # noqa: N802 (the gRPC method's name)
        self, request: pb.ActivityResponse, context: grpc.ServicerContext
    ) -> pb.CompleteTaskResponse:
        with self._lock:
            if self._leased.pop((request.instanceId, request.taskId), None) is None:
                return pb.CompleteTaskResponse()  # its lease was given back: another run counts
            self._activities_in_flight -= 1
        return super().CompleteActivityTask(request, context)

    def release_leases(self) -> int:
        """Dispatch again what a dead worker held: the activities it had taken and not completed
        (they run again: at least once) and the orchestration steps it was replaying (a late
        completion from the dead worker is then stale). Returns how many activities."""
        with self._lock:
            queued = {(item.instance_id, item.task_id) for item in self._activity_queue}
            taken = [item for key, item in self._leased.items() if key not in queued]
            self._activity_queue.extend(taken)
            for instance_id in list(self._orchestration_in_flight):
                instance = self._instances.get(instance_id)
                if instance is not None:
                    instance.pending_events = [
                        *instance.dispatched_events,
                        *instance.pending_events,
                    ]
                    instance.dispatched_events.clear()
                    instance.completion_token = self._next_completion_token
                    self._next_completion_token += 1
                self._orchestration_in_flight.discard(instance_id)
                self._enqueue_orchestration(instance_id)
            self._work_available.set()
            return len(taken)

    def fire_due_timers(self) -> int:
        """Deliver every timer the simulated clock has reached; returns how many fired."""
        fired = 0
        with self._lock:
            while self._timers and self._timers[0].due <= self._clock.now():
                timer = heapq.heappop(self._timers)
                instance = self._instances.get(timer.instance_id)
                if instance is None or self._is_terminal_status(instance.status):
                    continue
                event = helpers.new_timer_fired_event(timer.timer_id, timer.fire_at)
                instance.pending_events.append(event)
                instance.last_updated_at = datetime.now(UTC)
                self._enqueue_orchestration(timer.instance_id)
                fired += 1
        return fired

    def next_timer_due(self) -> datetime | None:
        with self._lock:
            return self._timers[0].due if self._timers else None

    def last_timer_due(self) -> datetime | None:
        with self._lock:
            return max(timer.due for timer in self._timers) if self._timers else None

    def is_idle(self) -> bool:
        """Nothing runs and nothing is queued: every workflow is done or waits on a timer."""
        with self._lock:
            return (
                self._activities_in_flight == 0
                and not self._orchestration_in_flight
                and not any(i.pending_events for i in self._instances.values())
            )


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
    """Start with `with DurableRuntime(functions) as durable:`; `binding` is the client config.

    With `worker_process=True` the worker (orchestrators and activities) runs in a process of its
    own, as on a second Functions instance: it imports the app afresh, reads the same settings
    from the environment and the same simulated clock from shared memory, and talks to the
    backend over gRPC as before. That puts a second core to work beside the driver's queues.
    """

    def __init__(
        self,
        functions: FunctionTable,
        task_hub: str = "faultline",
        clock: SimulatedClock | None = None,
        worker_process: bool = False,
    ) -> None:
        self._functions = functions
        self._task_hub = task_hub
        self._clock = clock
        self._worker_process = worker_process
        self.worker_process: multiprocessing.process.BaseProcess | None = None
        self._stop_worker_process = _SPAWN.Event()
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
        if self._clock is None:
            self.backend = create_test_backend(port=self.port)
        else:
            self.backend = SimulatedTimeBackend(self._clock, self.port)
            self.backend.start()
        self.start_worker()
        return self

    def start_worker(self) -> None:
        if self._worker_process:
            if self._clock is None:
                raise ValueError("a worker process needs the simulated clock")
            self._stop_worker_process = _SPAWN.Event()
            self.worker_process = _SPAWN.Process(
                target=_serve_worker,
                args=(self.port, self._clock.shared, self._stop_worker_process),
                name="durable-worker",
                daemon=True,
            )
            self.worker_process.start()
            return
        self.worker = _worker(self.port, self._functions)
        self.worker.start()

    def stop_worker(self) -> None:
        """Stop executing work (a crashed or scaled-in worker); state stays in the backend."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.worker_process is not None:
            self._stop_worker_process.set()
            self.worker_process.join(timeout=30)
            if self.worker_process.is_alive():
                self.worker_process.kill()
            self.worker_process = None

    def kill_worker(self) -> int:
        """Kill the worker process where it stands, mid-activity too (SIGKILL: no clean-up), and
        give back what it held, as a task hub does once its leases lapse. Returns how many
        activities run again."""
        if self.worker_process is None:
            raise RuntimeError("only a worker process can be killed")
        self.worker_process.kill()
        self.worker_process.join(timeout=30)
        self.worker_process = None
        backend = self._simulated_backend()
        backend.wait_for_no_streams(timeout=30)
        return backend.release_leases()

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

    def run_due_work(self, timeout: float = 120.0) -> None:
        """Fire the timers the simulated clock has reached, and block until every workflow has
        done all it can at this simulated moment (finished, or waiting on a later timer)."""
        backend = self._simulated_backend()
        deadline = time.monotonic() + timeout
        backend.fire_due_timers()
        _wait_until_idle(backend, deadline, timeout)
        while backend.fire_due_timers():  # timers set, and already due, by the work just done
            _wait_until_idle(backend, deadline, timeout)

    def fire_due_timers(self) -> None:
        """Let the workflows whose timers the simulated clock has reached run, without waiting
        for them (they run beside whatever the driver does next)."""
        self._simulated_backend().fire_due_timers()

    def next_timer_due(self) -> datetime | None:
        """When the earliest waiting workflow's timer falls due, on the simulated clock."""
        return self._simulated_backend().next_timer_due()

    def last_timer_due(self) -> datetime | None:
        """When the latest waiting workflow's timer falls due: how far settling reaches at least
        (what runs then may set later timers)."""
        return self._simulated_backend().last_timer_due()

    def _simulated_backend(self) -> SimulatedTimeBackend:
        if not isinstance(self.backend, SimulatedTimeBackend):
            raise RuntimeError("simulated-time work needs DurableRuntime(..., clock=...)")
        return self.backend


def _worker(port: int, functions: FunctionTable) -> TaskHubGrpcWorker:
    """A worker for the app's orchestrator and activities, not yet started."""
    worker = TaskHubGrpcWorker(
        host_address=f"localhost:{port}", logger=_quiet("durabletask.worker")
    )
    for name, function in functions.functions.items():
        triggers = {b["type"] for b in function.get_bindings_dict()["bindings"]}
        user_function = function.get_user_function()
        if "orchestrationTrigger" in triggers:
            worker.add_orchestrator(user_function.orchestrator_function)
        elif "activityTrigger" in triggers:
            worker.add_activity(_activity(name, user_function))
    return worker


def _serve_worker(port: int, shared_clock: Synchronized[int], stop: Event) -> None:
    """The worker process: the app's functions, bootstrapped as the parent's were, until told to
    stop."""
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.ERROR)
    import function_app
    from bootstrap import bootstrap, install

    clock = SimulatedClock.sharing(shared_clock)
    install(bootstrap(clock=clock, timer_seconds=clock.seconds))
    worker = _worker(port, FunctionTable.of(function_app.app))
    worker.start()
    parent = multiprocessing.parent_process()
    while not stop.wait(timeout=1):
        if parent is not None and not parent.is_alive():
            break  # the driver died without saying so; do not outlive it
    logging.getLogger("durabletask.worker").setLevel(logging.ERROR)  # stopping cancels its stream
    worker.stop()


def _wait_until_idle(backend: SimulatedTimeBackend, deadline: float, timeout: float) -> None:
    while not backend.is_idle():
        if time.monotonic() > deadline:
            raise TimeoutError(f"workflows still busy after {timeout}s")
        time.sleep(0.01)
