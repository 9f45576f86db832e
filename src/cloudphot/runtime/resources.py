"""The ASL interpreter's Task resources, served locally.

Resource ARNs are those Step Functions knows; the targets they name were
resolved from template.yaml by :class:`~cloudphot.runtime.targets.LocalTargets`.
The same object gives Distributed Maps their S3 access (ItemReader, ResultWriter:
:class:`~cloudphot.asl.distributed.ObjectAccess`) and records their child
executions in the local execution store, as AWS lists a Map Run's children.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..asl import TaskContext, TaskFailed
from ..errors import ObjectNotFound
from ..events.model import utcnow
from ..storage import ObjectStore
from .dynamodb import DynamoDBIntegration, DynamoDBTaskError
from .ecs import EcsTaskFailed, LocalEcs
from .executions import ExecutionStore
from .lambdas import LambdaError, LocalLambdas

__all__ = ["LocalResources"]

_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_DDB = "arn:aws:states:::dynamodb:"
_ECS = "arn:aws:states:::ecs:runTask"
_S3_GET = "arn:aws:states:::aws-sdk:s3:getObject"


class LocalResources:
    """Implements the interpreter's ResourceInvoker protocol."""

    def __init__(
        self,
        lambdas: LocalLambdas,
        ecs: LocalEcs,
        dynamodb: DynamoDBIntegration,
        on_worker_started: Callable[[str, dict], None] | None = None,
        on_worker_stopped: Callable[[str, dict], None] | None = None,
        objects: ObjectStore | None = None,
        executions: ExecutionStore | None = None,
    ):
        self.lambdas, self.ecs, self.dynamodb = lambdas, ecs, dynamodb
        self.objects, self.executions = objects, executions
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
            if resource == _S3_GET:
                return self._s3_get(parameters)
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
            "runtime (lambda:invoke, function ARNs, dynamodb:*, ecs:runTask.sync, "
            "aws-sdk:s3:getObject)",
        )

    def _s3_get(self, parameters: Any) -> dict:
        """The AWS SDK integration's GetObject: the body as text (Step Functions returns
        it as a string, at most 256 KiB of state), a missing key as S3.NoSuchKeyException."""
        if not isinstance(parameters, dict) or not all(
            isinstance(parameters.get(k), str) for k in ("Bucket", "Key")
        ):
            raise TaskFailed("S3.S3Exception", "GetObject needs Parameters.Bucket and .Key")
        bucket, key = parameters["Bucket"], parameters["Key"]
        try:
            body = self._store().get_bytes(bucket, key)
        except ObjectNotFound:
            raise TaskFailed(
                "S3.NoSuchKeyException",
                f"The specified key does not exist. (Service: S3, Status Code: 404) {key}",
            ) from None
        return {
            "Body": body.decode("utf-8", "replace"),
            "ContentLength": len(body),
            "ContentType": "application/json",
        }

    # ------------------------------------------------ Distributed Map: S3 (ObjectAccess)
    def _store(self) -> ObjectStore:
        if self.objects is None:
            raise RuntimeError("this runtime has no object store for ItemReader/ResultWriter")
        return self.objects

    def s3_get_object(self, bucket: str, key: str) -> bytes:
        return self._store().get_bytes(bucket, key)

    def s3_list_objects(self, bucket: str, prefix: str) -> list[dict]:
        """ListObjectsV2 ``Contents`` entries, as an ItemReader passes them to children."""
        return [
            {
                "Etag": f'"{o.etag}"',
                "Key": o.key,
                "LastModified": o.last_modified.isoformat(),
                "Size": o.size,
                "StorageClass": "STANDARD",
            }
            for o in self._store().list(bucket, prefix)
        ]

    def s3_put_object(self, bucket: str, key: str, body: bytes) -> None:
        self._store().put_bytes(bucket, key, body, content_type="application/json")

    # ------------------------------------------------ Distributed Map: child executions
    def child_started(self, arn: str, name: str, parent_arn: str, input: Any) -> None:
        if self.executions is not None:
            machine = arn.split(":execution:", 1)[-1].rsplit(":", 1)[0]  # <machine>/<label>
            self.executions.started(arn, name, machine, utcnow(), input, None)

    def child_event(self, arn: str, event: dict) -> None:
        if self.executions is not None:
            self.executions.add_event(arn, event)

    def child_finished(
        self, arn: str, status: str, output: Any, error: str | None, cause: str | None
    ) -> None:
        if self.executions is not None:
            self.executions.finished(arn, status, utcnow(), output, error, cause)

    def _lambda(self, function: str, payload: Any, ctx: TaskContext) -> Any:
        logical_id = self.lambdas.targets.logical_id_from_arn(str(function), "function")
        return self.lambdas.invoke(logical_id, payload, timeout_s=ctx.timeout_seconds)
