"""The Durable task hub as the workflow's starter: singleton starts through the gRPC client.

A start replaces only a Completed, Failed or Terminated instance (`REPLACEABLE`); while one is
Pending, Running or Suspended the task hub answers ALREADY_EXISTS, which is how two workers that
start the same failure's workflow at once end with one orchestration.
"""

from __future__ import annotations

from typing import Any

import grpc
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.internal import orchestrator_service_pb2 as pb

REPLACEABLE = [
    pb.ORCHESTRATION_STATUS_COMPLETED,
    pb.ORCHESTRATION_STATUS_FAILED,
    pb.ORCHESTRATION_STATUS_TERMINATED,
]
RUNNING = {OrchestrationStatus.RUNNING, OrchestrationStatus.PENDING, OrchestrationStatus.SUSPENDED}


class DurableWorkflowStarter:
    def __init__(self, client: TaskHubGrpcClient) -> None:
        self._client = client

    def is_running(self, instance_id: str) -> bool:
        state = self._client.get_orchestration_state(instance_id, fetch_payloads=False)
        return state is not None and state.runtime_status in RUNNING

    def start(self, orchestrator: str, instance_id: str, request: Any) -> bool:
        try:
            self._client.schedule_new_orchestration(
                orchestrator,
                input=request,
                instance_id=instance_id,
                reuse_id_policy=pb.OrchestrationIdReusePolicy(replaceableStatus=REPLACEABLE),
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:  # type: ignore[attr-defined]
                raise
            return False
        return True
