"""A Functions instance dies in the middle of an activity, after GitHub did what it asked and
before the activity reported back. The worker runs in a process of its own and is killed with
SIGKILL while GitHub holds the answer; the task hub then dispatches the activity again (the
backend gives back the dead worker's leases, as a real task hub does when they lapse). The
effect must be the same as without the kill: one issue, assigned once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from azure.storage.queue import QueueServiceClient

from bootstrap import bootstrap, install
from local_host.durable import DurableRuntime
from local_host.host import FunctionTable, QueueDriver, SimulatedClock
from pipeline.workflow.orchestrator import LATE_WRITE_RECHECK
from tests.fakes.github import GitHubFake, TimeoutAfterSuccess
from tests.integration.test_workflow import FRIDAY_MORNING, _rules, notice, occur

pytestmark = pytest.mark.integration

CREATE = "/repos/contoso/shop/issues"
ASSIGN = "/repos/contoso/shop/issues/1/assignees"


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with GitHubFake() as fake:
        fake.add_repository("contoso", "shop")
        yield fake


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        # the killed run never reported its create; the run after it finds the issue it made
        (CREATE, ["skipped-as-duplicate", "updated", "assigned"]),
        (ASSIGN, ["created", "assigned"]),
    ],
)
def test_a_worker_killed_mid_activity_leaves_one_issue_assigned_once(
    azurite,
    storage_env,
    functions: FunctionTable,
    github: GitHubFake,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
    held: str,
    expected: list[str],
) -> None:
    env = {
        **storage_env,
        "FAULTLINE_RULES_PATH": _rules(tmp_path),
        "FAULTLINE_GITHUB_API_URL": github.base_url,
        "FAULTLINE_GITHUB_WRITE_SPACING_SECONDS": "0",  # a local fake
        "FAULTLINE_GITHUB_TOKEN": github.user_token,
        "FAULTLINE_GITHUB_TIMEOUT_SECONDS": "60",  # the activity is still waiting when killed
        "FAULTLINE_WORKFLOW_RECHECK_SECONDS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the worker process reads its settings from here
    clock = SimulatedClock(FRIDAY_MORNING)
    services = bootstrap(env, clock=clock, timer_seconds=clock.seconds)
    install(services)
    try:
        with DurableRuntime(functions, clock=clock, worker_process=True) as durable:
            starter = functions.user_function("start_issue_workflow")
            queues = QueueServiceClient.from_connection_string(azurite.connection_string)
            notices = QueueDriver(
                queues,
                services.settings.failure_queue,
                lambda message: starter(message, durable.binding),
            )
            github.fail_next(TimeoutAfterSuccess(delay_seconds=120), method="POST", path=held)
            failure = notice()
            occur(SimpleNamespace(services=services), failure.count, failure.fingerprint)
            services.failure_queue.send(failure.model_dump_json())
            notices.drain()
            _wait_for(lambda: github.calls("POST", held), f"GitHub to perform POST {held}")

            assert durable.kill_worker() == 1, "the activity was taken and not completed"
            durable.start_worker()
            durable.run_due_work()
            clock.advance(LATE_WRITE_RECHECK)  # the look for a late twin, then the end
            durable.run_due_work()
    finally:
        install(None)

    [issue] = github.issues("contoso", "shop")
    assert issue["assignees"] == ["Copilot"]
    assert [r.status for r in github.calls("POST", CREATE)] == [201]
    assert [e.action for e in services.audit.entries(failure.fingerprint)] == expected
