"""Run an ASL definition through moto's independent interpreter (the conformance oracle).

moto 5 executes state machines when ``execute_state_machine`` is enabled; it
runs the execution in a background thread, so we poll DescribeExecution.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Self

import boto3
from moto import mock_aws

__all__ = ["MotoResult", "MotoRunner"]

ROLE = "arn:aws:iam::123456789012:role/asl-conformance"


class MotoResult(dict):
    """status / output / error / cause, like ExecutionResult (output parsed)."""


def _parse_output(raw: str | None) -> Any:
    """moto returns a string result unquoted ('x', not '"x"') and null as no output
    (a DescribeExecution wire-format quirk, not an ASL difference): accept both."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class MotoRunner:
    """Context manager: one mocked account, many executions."""

    def __enter__(self) -> Self:
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self.client = boto3.client("stepfunctions", region_name="us-east-1")
        return self

    def __exit__(self, *exc) -> None:
        self._mock.stop()

    def run(
        self, definition: dict, input: Any, name: str | None = None, timeout: float = 60.0
    ) -> MotoResult:
        sm = self.client.create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
        )
        ex = self.client.start_execution(
            stateMachineArn=sm["stateMachineArn"],
            name=name or uuid.uuid4().hex,
            input=json.dumps(input),
        )
        end = time.monotonic() + timeout
        delay = 0.002
        while True:
            d = self.client.describe_execution(executionArn=ex["executionArn"])
            if d["status"] != "RUNNING":
                break
            if time.monotonic() > end:
                raise TimeoutError(f"moto execution still RUNNING after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        # moto deep-copies the state machine (and through it the backend) on every
        # StartExecution; a finished execution holds locks that cannot be copied,
        # so each case gets its own state machine, deleted once it has finished.
        self.client.delete_state_machine(stateMachineArn=sm["stateMachineArn"])
        out = d.get("output")
        return MotoResult(
            status=d["status"],
            output=_parse_output(out),
            error=d.get("error"),
            cause=d.get("cause"),
            execution_arn=ex["executionArn"],
            state_machine_arn=sm["stateMachineArn"],
        )
