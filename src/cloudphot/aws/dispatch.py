"""The dispatch Lambda's logic: stream record -> jobs -> Step Functions executions."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from ..errors import ConfigError, InvalidEvent, Throttled, TransientError
from ..events import Dispatcher, Job, JobStarter, Registry, load_registry
from ..pipeline.services import Services
from .codes import is_throttling

__all__ = ["StepFunctionsStarter", "dispatch_stream_record", "state_machine_arns"]


def state_machine_arns(env: dict | None = None) -> dict[str, str]:
    """Logical id -> ARN, from STATE_MACHINE_ARNS (JSON, set by template.yaml)."""
    raw = (env or os.environ).get("STATE_MACHINE_ARNS", "")
    try:
        arns = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"STATE_MACHINE_ARNS is not JSON: {exc}") from None
    if not isinstance(arns, dict):
        raise ConfigError("STATE_MACHINE_ARNS must map state machine logical ids to ARNs")
    return arns


class StepFunctionsStarter:
    """Starts a job's state machine with the job id as the execution name.

    Step Functions refuses a second execution with the same name (and same input),
    which is one more guard against starting a job twice.
    """

    def __init__(self, arns: dict[str, str], client=None):
        self.arns = arns
        self.client: Any = client or boto3.client("stepfunctions")

    def start(self, job: Job) -> str:
        if job.executor.get("kind") != "state_machine":
            raise ConfigError(
                f"job {job.job_id}: executor {job.executor} cannot be started "
                "directly on AWS; wrap it in a state machine"
            )
        name = job.executor["name"]
        try:
            arn = self.arns[name]
        except KeyError:
            raise ConfigError(
                f"no ARN for state machine {name!r} in STATE_MACHINE_ARNS; "
                "add it to the dispatch function's environment in template.yaml"
            ) from None
        execution_name = job.job_id if job.attempts == 0 else f"{job.job_id}-r{job.attempts}"
        try:
            out = self.client.start_execution(
                stateMachineArn=arn, name=execution_name, input=json.dumps(job.input)
            )
            return out["executionArn"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                return f"{arn.replace(':stateMachine:', ':execution:')}:{execution_name}"
            if is_throttling("stepfunctions", code):
                raise Throttled(f"StartExecution {execution_name}: {code}") from exc
            raise TransientError(f"StartExecution {execution_name}: {code}: {exc}") from exc


_registries: dict[int, Registry] = {}
_registries_lock = threading.Lock()


def _registry(svc: Services) -> Registry:
    """The task registry, read once per tables client (a warm container keeps it)."""
    with _registries_lock:
        if id(svc.tables) not in _registries:
            registry = Registry.from_tables(svc.tables)
            if len(registry) == 0:  # first run after deploy: register the packaged tasks
                registry = load_registry()
                registry.save(svc.tables)
            _registries[id(svc.tables)] = registry
        return _registries[id(svc.tables)]


def dispatch_stream_record(
    record: dict,
    *,
    svc: Services,
    starter: JobStarter | None = None,
    registry: Registry | None = None,
) -> list[str]:
    """Dispatch the event in one DynamoDB stream record (INSERTs only)."""
    if record.get("eventName") != "INSERT":
        return []
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        raise InvalidEvent("stream record has no NewImage; set StreamViewType NEW_IMAGE")
    deser = TypeDeserializer()
    try:
        item = {k: deser.deserialize(v) for k, v in image.items()}
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidEvent(f"stream record's NewImage is not DynamoDB JSON: {exc}") from None
    registry = registry or _registry(svc)
    starter = starter or StepFunctionsStarter(state_machine_arns())
    # a poison event goes to the dead-letter table and the shard moves on; transient
    # errors raise, so the stream retries, bisects and finally uses its SQS queue
    return [j.job_id for j in Dispatcher(svc.store, registry, starter).dispatch_item(item)]
