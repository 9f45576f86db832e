"""The ASL interpreter's Task resources, served locally.

Resource ARNs are those Step Functions knows; the targets they name were
resolved from template.yaml by :class:`~cloudphot.runtime.targets.LocalTargets`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..asl import TaskContext, TaskFailed
from .dynamodb import DynamoDBIntegration, DynamoDBTaskError
from .ecs import EcsTaskFailed, LocalEcs
from .lambdas import LambdaError, LocalLambdas

__all__ = ["LocalResources"]

_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_DDB = "arn:aws:states:::dynamodb:"
_ECS = "arn:aws:states:::ecs:runTask"


class LocalResources:
    """Implements the interpreter's ResourceInvoker protocol."""

    def __init__(
        self,
        lambdas: LocalLambdas,
        ecs: LocalEcs,
        dynamodb: DynamoDBIntegration,
        on_worker_started: Callable[[str, dict], None] | None = None,
        on_worker_stopped: Callable[[str, dict], None] | None = None,
    ):
        self.lambdas, self.ecs, self.dynamodb = lambdas, ecs, dynamodb
        self.on_worker_started = on_worker_started
        self.on_worker_stopped = on_worker_stopped
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def invoke(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        with self._lock:
            self.calls[resource] = self.calls.get(resource, 0) + 1
        try:
            if resource == _LAMBDA_INVOKE:
                if not isinstance(parameters, dict) or "FunctionName" not in parameters:
                    raise TaskFailed(
                        "States.Runtime", "lambda:invoke needs Parameters.FunctionName"
                    )
                result = self._lambda(parameters["FunctionName"], parameters.get("Payload"), ctx)
                return {
                    "ExecutedVersion": "$LATEST",
                    "Payload": result,
                    "StatusCode": 200,
                    "SdkHttpMetadata": {"HttpStatusCode": 200},
                }
            if ":function:" in resource and resource.startswith("arn:aws:lambda:"):
                return self._lambda(resource, parameters, ctx)
            if resource.startswith(_DDB):
                return self.dynamodb.call(resource[len(_DDB) :], parameters)
            if resource.startswith(_ECS):
                if not resource.endswith(".sync"):
                    raise TaskFailed(
                        "States.Runtime",
                        "only ecs:runTask.sync is supported locally (the pipeline "
                        "waits for its workers)",
                    )
                execution = ctx.execution_name

                def started(task: dict) -> None:
                    if self.on_worker_started:
                        self.on_worker_started(execution, task)

                def stopped(task: dict) -> None:
                    if self.on_worker_stopped:
                        self.on_worker_stopped(execution, task)

                return self.ecs.run_task(
                    parameters, cancelled=ctx.cancelled, on_started=started, on_stopped=stopped
                )
        except LambdaError as exc:
            raise TaskFailed(exc.error, exc.cause) from exc
        except DynamoDBTaskError as exc:
            raise TaskFailed(exc.error, exc.cause) from exc
        except EcsTaskFailed as exc:
            raise TaskFailed(exc.error, exc.cause) from exc
        raise TaskFailed(
            "States.Runtime",
            f"resource {resource!r} is not supported by the local "
            "runtime (lambda:invoke, function ARNs, dynamodb:*, ecs:runTask.sync)",
        )

    def _lambda(self, function: str, payload: Any, ctx: TaskContext) -> Any:
        logical_id = self.lambdas.targets.logical_id_from_arn(str(function), "function")
        return self.lambdas.invoke(logical_id, payload, timeout_s=ctx.timeout_seconds)
