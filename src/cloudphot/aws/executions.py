"""The execution history of a deployed stack, read from Step Functions itself.

:class:`StepFunctionsExecutions` answers what the local
:class:`~cloudphot.runtime.executions.ExecutionStore` answers (``list``, ``find``,
``history``: the :class:`~cloudphot.platform.base.ExecutionHistory` port) with
ListExecutions, DescribeExecution and GetExecutionHistory, and reads the state
machine definitions and log groups the monitor shows.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..errors import ConfigError, TransientError
from ..platform.base import ExecutionRecord

__all__ = ["StepFunctionsDefinitions", "StepFunctionsExecutions"]

_RETRY_SUFFIX = re.compile(r"-r\d+$")


def _iso(value: Any) -> str | None:
    """Step Functions' timestamps (datetimes from boto3) as the local store writes them."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class StepFunctionsExecutions:
    """The cloudphot state machines' executions, read from Step Functions.

    ``arns`` maps state machine logical ids to ARNs (STATE_MACHINE_ARNS); records
    name their state machine by logical id, as the local store does.
    """

    def __init__(self, client=None, *, arns: dict[str, str]):
        self.client: Any = client or boto3.client("stepfunctions")
        self.arns = dict(arns)
        self._logical = {arn: lid for lid, arn in self.arns.items()}

    def _call(self, op: str, **kwargs) -> dict:
        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise TransientError(f"{op}: {code}: {exc}") from exc

    def _record(self, d: dict) -> ExecutionRecord:
        name = d["name"]
        machine = d.get("stateMachineArn", "")
        return ExecutionRecord(
            arn=d["executionArn"],
            name=name,
            state_machine=self._logical.get(machine, machine),
            status=d["status"],
            start_date=_iso(d.get("startDate")) or "",
            stop_date=_iso(d.get("stopDate")),
            input=_json_or_none(d.get("input")),
            output=_json_or_none(d.get("output")),
            error=d.get("error"),
            cause=d.get("cause"),
            job_id=_RETRY_SUFFIX.sub("", name),
        )

    def list(
        self, *, status: str | None = None, state_machine: str | None = None, limit: int = 100
    ) -> list[ExecutionRecord]:
        if state_machine:
            if state_machine not in self.arns:
                raise ConfigError(
                    f"no state machine {state_machine!r}; known: {', '.join(sorted(self.arns))}"
                )
            machines = [self.arns[state_machine]]
        else:
            machines = list(self.arns.values())
        found: list[ExecutionRecord] = []
        for arn in machines:
            kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": min(limit, 1000)}
            if status:
                kwargs["statusFilter"] = status.upper()
            taken = 0
            while taken < limit:
                page = self._call("list_executions", **kwargs)
                for d in page.get("executions", []):
                    found.append(self._record({**d, "stateMachineArn": arn}))
                    taken += 1
                token = page.get("nextToken")
                if not token:
                    break
                kwargs["nextToken"] = token
        found.sort(key=lambda r: r.start_date, reverse=True)
        return found[:limit]

    def describe(self, arn: str) -> ExecutionRecord | None:
        try:
            return self._record(self.client.describe_execution(executionArn=arn))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise TransientError(f"DescribeExecution {arn}: {code}: {exc}") from exc

    def find(self, name_or_arn: str) -> ExecutionRecord | None:
        """The execution with this ARN, or the latest one of this name on any state machine."""
        if name_or_arn.startswith("arn:"):
            return self.describe(name_or_arn)
        if not name_or_arn or len(name_or_arn) > 80 or "/" in name_or_arn or ":" in name_or_arn:
            return None
        found = [
            rec
            for machine in self.arns.values()
            if (
                rec := self.describe(
                    f"{machine.replace(':stateMachine:', ':execution:')}:{name_or_arn}"
                )
            )
            is not None
        ]
        return max(found, key=lambda r: r.start_date) if found else None

    def children(self, job_id: str) -> builtins.list[ExecutionRecord]:
        """The Distributed Map child executions of a job's executions (every attempt,
        ``<job>`` then ``<job>-r1``, ...): Step Functions lists them per Map Run."""
        found: list[ExecutionRecord] = []
        for attempt in range(100):
            parent = self.find(job_id if attempt == 0 else f"{job_id}-r{attempt}")
            if parent is None:
                break
            for run in self._pages("list_map_runs", "mapRuns", executionArn=parent.arn):
                for d in self._pages("list_executions", "executions", mapRunArn=run["mapRunArn"]):
                    found.append(self._record(d))
        return sorted(found, key=lambda r: r.start_date)

    def _pages(self, op: str, field: str, **kwargs) -> Iterator[dict]:
        while True:
            page = self._call(op, **kwargs)
            yield from page.get(field, [])
            token = page.get("nextToken")
            if not token:
                return
            kwargs["nextToken"] = token

    def history(self, arn: str) -> builtins.list[dict]:
        """Every history event, oldest first, timestamps as ISO-8601 strings."""
        events: list[dict] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self._call("get_execution_history", **kwargs)
            for e in page.get("events", []):
                events.append({**e, "timestamp": _iso(e.get("timestamp"))})
            token = page.get("nextToken")
            if not token:
                return events
            kwargs["nextToken"] = token

    def state_machine_definition(self, logical_id: str) -> dict:
        arn = self.arns.get(logical_id, logical_id)
        if arn not in self._logical:
            raise ConfigError(
                f"no state machine {logical_id!r}; known: {', '.join(sorted(self.arns))}"
            )
        return json.loads(self._call("describe_state_machine", stateMachineArn=arn)["definition"])

    def log_group(self, logical_id: str) -> str | None:
        """The ARN of the log group the state machine logs to, if any."""
        arn = self.arns.get(logical_id)
        if arn is None:
            return None
        out = self._call("describe_state_machine", stateMachineArn=arn)
        for dest in (out.get("loggingConfiguration") or {}).get("destinations") or []:
            group = (dest.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn")
            if group:
                return group
        return None


class StepFunctionsDefinitions:
    """The :class:`~cloudphot.platform.base.Definitions` port of a deployed stack:
    definitions as Step Functions holds them (read once each), and a template when
    one is at hand (the cost model reads its function and task sizes)."""

    def __init__(self, executions: StepFunctionsExecutions, template: dict | None = None):
        self._executions = executions
        self.template: dict = template or {}
        self._definitions: dict[str, dict] = {}

    def state_machine_definition(self, logical_id: str) -> dict:
        if logical_id not in self._definitions:
            self._definitions[logical_id] = self._executions.state_machine_definition(logical_id)
        return self._definitions[logical_id]
