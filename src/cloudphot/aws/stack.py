"""A deployed stack, seen from the operator's CLI: names come from its outputs.

With ``CLOUDPHOT_BACKEND=aws`` the commands that read or steer the pipeline
(``status``, ``tree``, ``retry``, ``reconcile``) and the catalog's (``query``,
``cone``, ``lightcurve``, ``map``, ``catalog versions``) work on the deployed tables,
buckets and Athena workgroup, found through the CloudFormation outputs of the stack
named by ``CLOUDPHOT_STACK`` (default ``cloudphot``), so nobody has to copy physical
names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import boto3
from botocore.exceptions import ClientError

from ..errors import ConfigError, TransientError
from ..events import EventStore, Job, JobState
from ..settings import ATHENA_WORKGROUP_ENV, BUCKET_ENV, TABLE_ENV, Settings
from .dispatch import StepFunctionsStarter

__all__ = ["AwsPipeline", "deployed_settings", "settings_from_stack", "stack_outputs"]


def stack_outputs(stack_name: str, *, client=None) -> dict[str, str]:
    client = client or boto3.client("cloudformation")
    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "does not exist" in str(exc):
            raise ConfigError(
                f"no CloudFormation stack {stack_name!r} in this account/region; "
                "deploy with 'sam deploy --guided' or set CLOUDPHOT_STACK"
            ) from exc
        raise TransientError(f"DescribeStacks {stack_name}: {code}: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def settings_from_stack(
    stack_name: str, *, region: str | None = None, client=None
) -> tuple[Settings, dict[str, str]]:
    """Settings for the stack's buckets and tables, and its state machine ARNs by logical id."""
    outputs = stack_outputs(stack_name, client=client)
    missing = [f"{n.title()}BucketName" for n in BUCKET_ENV] + [
        f"{n.title()}TableName" for n in TABLE_ENV
    ]
    missing = [k for k in missing if k not in outputs]
    if missing:
        raise ConfigError(f"stack {stack_name!r} lacks outputs {missing}; is it a cloudphot stack?")
    settings = Settings(
        backend="aws",
        region=region or boto3.session.Session().region_name or "us-east-1",
        buckets={n: outputs[f"{n.title()}BucketName"] for n in BUCKET_ENV},
        tables={n: outputs[f"{n.title()}TableName"] for n in TABLE_ENV},
        survey=outputs.get("CatalogDatabaseName", "phat_v2"),
        athena_workgroup=outputs.get("AthenaWorkGroupName"),
    )
    arns = {k.removesuffix("Arn"): v for k, v in outputs.items() if k.endswith("StateMachineArn")}
    return settings, arns


def deployed_settings(
    env: dict[str, str] | None = None, *, client=None
) -> tuple[Settings, dict[str, str]]:
    """Settings of the stack ``CLOUDPHOT_STACK`` names (default ``cloudphot``), for the CLI.

    What the operator and catalog commands use with ``CLOUDPHOT_BACKEND=aws``. An
    explicit ``CLOUDPHOT_ATHENA_WORKGROUP`` overrides the stack's workgroup.
    """
    env = dict(os.environ if env is None else env)
    settings, arns = settings_from_stack(env.get("CLOUDPHOT_STACK") or "cloudphot", client=client)
    if env.get(ATHENA_WORKGROUP_ENV):
        settings = replace(settings, athena_workgroup=env[ATHENA_WORKGROUP_ENV])
    return settings, arns


@dataclass
class AwsPipeline:
    """What the operator commands need of a deployed pipeline (the local runtime's twin)."""

    settings: Settings
    objects: object
    tables: object
    starter: StepFunctionsStarter
    started: list[str] = field(default_factory=list)

    @property
    def store(self) -> EventStore:
        return EventStore(self.tables)

    def run(self, *, progress: Callable[[Job], None] | None = None):
        """Start every PENDING job (reruns queued by ``retry``) as a new execution.

        Events are dispatched by the stream-triggered Lambda on AWS, so only jobs
        put back to PENDING need starting here. Returns when they have started.
        """
        from ..runtime.local import RunSummary

        t0 = time.monotonic()
        summary = RunSummary()
        for job in self.store.jobs(JobState.PENDING):
            execution = self.starter.start(job)
            job = self.store.transition(
                job.job_id,
                JobState.RUNNING,
                expect=JobState.PENDING,
                execution_id=execution,
                attempts=job.attempts + 1,
                attempt=job.attempts + 1,
            )
            self.started.append(execution)
            summary.jobs["STARTED"] = summary.jobs.get("STARTED", 0) + 1
            if progress:
                progress(job)
        summary.seconds = time.monotonic() - t0
        return summary

    def close(self) -> None:
        pass
