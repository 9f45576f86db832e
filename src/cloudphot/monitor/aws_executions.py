"""The web monitor over a deployed stack: executions from Step Functions itself.

:class:`StepFunctionsExecutions` answers what :class:`~cloudphot.monitor.web.MonitorApp`
asks of the local :class:`~cloudphot.runtime.executions.ExecutionStore`
(``list``, ``find``, ``history``) with ListExecutions, DescribeExecution and
GetExecutionHistory. :class:`AwsMonitorRuntime` gives MonitorApp the rest of a
runtime (store, settings, state machine definitions, a ``run`` that starts the
jobs a retry put back to PENDING) from an :class:`~cloudphot.aws.stack.AwsPipeline`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..errors import ConfigError, TransientError
from ..runtime.executions import ExecutionRecord
from .aws_links import _console_escape, console_host, execution_console_url

__all__ = ["AwsMonitorRuntime", "StepFunctionsExecutions", "log_group_url", "monitor_app_from_env"]

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


def log_group_url(log_group_arn_or_name: str, region: str) -> str:
    """CloudWatch Logs console page of one log group (name or ARN, ``:*`` suffix allowed)."""
    name = log_group_arn_or_name
    if name.startswith("arn:"):
        name = name.split(":log-group:", 1)[-1]
    name = name.removesuffix(":*")
    if not name:
        raise ValueError("log group must not be empty")
    return (
        f"https://{console_host(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_escape(name)}"
    )


class StepFunctionsExecutions:
    """The cloudphot state machines' executions, read from Step Functions.

    ``arns`` maps state machine logical ids to ARNs (STATE_MACHINE_ARNS); records
    name their state machine by logical id, as the local store does.
    """

    def __init__(self, client=None, *, arns: dict[str, str]):
        self.client = client or boto3.client("stepfunctions")
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

    def history(self, arn: str) -> list[dict]:
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


class _Targets:
    """What MonitorApp reads of the local runtime's targets: definitions and a template."""

    def __init__(self, executions: StepFunctionsExecutions, template: dict | None = None):
        self._executions = executions
        self.template = template or {}
        self._definitions: dict[str, dict] = {}

    def state_machine_definition(self, logical_id: str) -> dict:
        if logical_id not in self._definitions:
            self._definitions[logical_id] = self._executions.state_machine_definition(logical_id)
        return self._definitions[logical_id]


class AwsMonitorRuntime:
    """A deployed pipeline shaped like the local runtime, as far as MonitorApp needs it.

    ``run_inline``: a retry starts its executions before the response (a Lambda is
    frozen after it answers, so a background thread would not run).
    """

    run_inline = True

    def __init__(self, pipeline, executions: StepFunctionsExecutions, template: dict | None = None):
        self.pipeline = pipeline
        self.executions = executions
        self.targets = _Targets(executions, template)

    @property
    def settings(self):
        return self.pipeline.settings

    @property
    def store(self):
        return self.pipeline.store

    @property
    def tables(self):
        return self.pipeline.tables

    @property
    def objects(self):
        return self.pipeline.objects

    def run(self, **kwargs):
        return self.pipeline.run(**kwargs)

    def links(self, execution_arn: str | None, state_machine: str | None) -> dict[str, str]:
        """Console links for a job's current execution and its state machine's log group."""
        out: dict[str, str] = {}
        if execution_arn:
            try:
                out["execution"] = execution_console_url(execution_arn)
            except ValueError:
                pass
        if state_machine:
            try:
                group = self.executions.log_group(state_machine)
            except (TransientError, ConfigError):
                group = None
            if group:
                out["log_group"] = log_group_url(group, self.settings.region)
        return out


def monitor_app_from_env(env: dict | None = None, *, sfn_client=None):
    """The MonitorApp of the deployed stack this Lambda belongs to (names from env)."""
    from ..aws.dispatch import StepFunctionsStarter, state_machine_arns
    from ..aws.stack import AwsPipeline
    from ..settings import Settings
    from ..storage import open_object_store, open_tables
    from .web import MonitorApp

    settings = Settings.from_env(env=env) if env is not None else Settings.from_env()
    if settings.backend != "aws":
        raise ConfigError("the monitor Lambda needs CLOUDPHOT_BACKEND=aws")
    arns = state_machine_arns(env)
    client = sfn_client or boto3.client("stepfunctions", region_name=settings.region)
    pipeline = AwsPipeline(
        settings,
        open_object_store(settings),
        open_tables(settings),
        StepFunctionsStarter(arns, client=client),
    )
    runtime = AwsMonitorRuntime(pipeline, StepFunctionsExecutions(client, arns=arns))
    return MonitorApp(runtime)
