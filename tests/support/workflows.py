"""The issue workflow run as Durable runs it, in memory: notices start one orchestration per
instance id through the starter use case, the orchestrator is stepped, its activities run on the
same services with their payloads round-tripped through JSON, and its timers wait on the test's
clock. Fast tests of the workflow's decisions over time; `tests/integration/test_workflow.py`
runs the same path on durabletask's backend, Azurite and the GitHub HTTP fake."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from durabletask import task

from pipeline.services import Services
from pipeline.workflow import activities, assignment, orchestrator, starter
from pipeline.workflow.messages import AuditNote, FinishCheck, WorkflowRequest

ACTIVITIES: dict[str, Callable[[Services, Any], Any]] = {
    "sync_issue": lambda s, p: activities.sync_issue(
        s, WorkflowRequest.model_validate(p)
    ).payload(),
    "finish_or_resync": lambda s, p: activities.finish_or_resync(s, FinishCheck.model_validate(p)),
    "assignment_decision": lambda s, p: assignment.assignment_decision(
        s, WorkflowRequest.model_validate(p)
    ).payload(),
    "assign_issue": lambda s, p: assignment.assign_issue(
        s, WorkflowRequest.model_validate(p)
    ).payload(),
    "record_audit": lambda s, p: activities.record_audit(s, AuditNote.model_validate(p)),
}
"""The activities by the names the orchestrator calls them, as `workflow_functions.py` binds
them (parse the payload, call the use case, answer in JSON)."""


@dataclass(frozen=True)
class _Call:
    activity: str
    payload: Any


@dataclass(frozen=True)
class _Timer:
    fire_at: datetime


class _Context:
    def __init__(self, now: datetime) -> None:
        self.current_utc_datetime = now
        self.continued_with: Any = None

    def call_activity(self, activity: str, *, input: Any = None, retry_policy: Any = None) -> _Call:
        return _Call(activity, json.loads(json.dumps(input)))

    def create_timer(self, fire_at: datetime) -> _Timer:
        return _Timer(fire_at)

    def continue_as_new(self, new_input: Any, *, save_events: bool = False) -> None:
        self.continued_with = json.loads(json.dumps(new_input))


class _Instance:
    def __init__(self, payload: Any, now: datetime) -> None:
        self.context = _Context(now)
        self.steps: Generator[Any, Any, Any] = orchestrator.issue_workflow(
            self.context,  # type: ignore[arg-type]
            payload,
        )
        self.waiting_until: datetime | None = None
        self.reply: Any = None
        self.failure: BaseException | None = None


class MemoryWorkflows:
    """A task hub of one worker: `drain()` takes the queued notices, `advance()` moves the
    clock (any object with `now()` and a settable `moment`) and wakes the orchestrations whose
    timers are due."""

    def __init__(self, services: Services, clock: Any, notices: Any) -> None:
        self._services, self._clock, self._notices = services, clock, notices
        self.running: dict[str, _Instance] = {}
        self.completed: dict[str, Any] = {}
        self._delayed: list[tuple[str, datetime]] = []

    def is_running(self, instance_id: str) -> bool:
        return instance_id in self.running

    def start(self, orchestrator_name: str, instance_id: str, request: Any) -> bool:
        if instance_id in self.running:
            return False
        self.running[instance_id] = _Instance(json.loads(json.dumps(request)), self._clock.now())
        return True

    def drain(self) -> None:
        """Deliver every queued notice that is visible, then run what they started; a notice
        re-queued with a delay becomes visible once `advance` has let that delay pass."""
        while True:
            for body, delay in self._notices.sent:
                if delay is not None:
                    self._delayed.append((body, self._clock.now() + delay))
            due = [body for body, delay in self._notices.sent if delay is None]
            self._notices.sent.clear()
            if not due:
                return
            for body in due:
                starter.start_workflow(self._services, body, self)
            self._run_ready()

    def advance(self, by: timedelta) -> None:
        """Let `by` pass: timers fire and delayed notices become visible in time order, each
        at its moment."""
        end = self._clock.now() + by
        while True:
            self.drain()
            events = [i.waiting_until for i in self.running.values() if i.waiting_until]
            events += [due for _, due in self._delayed]
            if not events or min(events) > end:
                break
            self._clock.moment = max(self._clock.now(), min(events))
            self._release_visible()
            self._run_ready()
        self._clock.moment = end
        self._release_visible()
        self.drain()

    def wait_until_idle(self, limit: timedelta = timedelta(hours=1)) -> None:
        """Let time pass from timer to timer until no orchestration runs (at most `limit`)."""
        end = self._clock.now() + limit
        while self.running:
            timers = [i.waiting_until for i in self.running.values() if i.waiting_until]
            if not timers or min(timers) > end:
                raise TimeoutError(f"{sorted(self.running)} still running after {limit}")
            self.advance(max(min(timers) - self._clock.now(), timedelta(0)))

    def _release_visible(self) -> None:
        now = self._clock.now()
        self._notices.sent.extend((body, None) for body, due in self._delayed if due <= now)
        self._delayed = [(body, due) for body, due in self._delayed if due > now]

    def _run_ready(self) -> None:
        for instance_id in list(self.running):
            instance = self.running[instance_id]
            if instance.waiting_until is None or instance.waiting_until <= self._clock.now():
                self._run(instance_id, instance)

    def _run(self, instance_id: str, instance: _Instance) -> None:
        instance.waiting_until = None
        instance.context.current_utc_datetime = self._clock.now()
        while True:
            try:
                if instance.failure is not None:
                    failure, instance.failure = instance.failure, None
                    step = instance.steps.throw(failure)
                else:
                    step = instance.steps.send(instance.reply)
            except StopIteration as done:
                del self.running[instance_id]
                if instance.context.continued_with is not None:
                    self.start("issue_workflow", instance_id, instance.context.continued_with)
                    self._run(instance_id, self.running[instance_id])
                else:
                    self.completed[instance_id] = done.value
                return
            instance.reply = None
            if isinstance(step, _Timer):
                instance.waiting_until = step.fire_at
                return
            try:
                instance.reply = json.loads(
                    json.dumps(ACTIVITIES[step.activity](self._services, step.payload))
                )
            except Exception as error:  # retries exhausted: the orchestrator sees a failed task
                instance.failure = task.TaskFailedError(str(error), error)
