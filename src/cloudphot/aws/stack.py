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
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from ..errors import ConfigError, TransientError
from ..events import EventStore, Job, JobState, Registry, load_registry
from ..events.dispatcher import JobStarter
from ..platform.base import PipelineRunner, RunSummary
from ..settings import ATHENA_WORKGROUP_ENV, BUCKET_ENV, TABLE_ENV, Settings
from ..storage import ObjectInfo, ObjectStore, Tables
from ..storage.objects import put_paths
from ..template import table_logical_id

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
        f"{table_logical_id(n)}Name" for n in TABLE_ENV
    ]
    missing = [k for k in missing if k not in outputs]
    if missing:
        raise ConfigError(f"stack {stack_name!r} lacks outputs {missing}; is it a cloudphot stack?")
    settings = Settings(
        backend="aws",
        region=region or boto3.session.Session().region_name or "us-east-1",
        buckets={n: outputs[f"{n.title()}BucketName"] for n in BUCKET_ENV},
        tables={n: outputs[f"{table_logical_id(n)}Name"] for n in TABLE_ENV},
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


class AwsPipeline(PipelineRunner):
    """The deployed pipeline's runner, seen from outside: events are dispatched by the
    stream-triggered Lambda, so all there is to run is the jobs a retry put back to
    PENDING, each started as a new execution."""

    def __init__(
        self, settings: Settings, objects: ObjectStore, tables: Tables, starter: JobStarter
    ):
        self.settings, self.objects, self.tables, self.starter = settings, objects, tables, starter
        self.started: list[str] = []

    @property
    def store(self) -> EventStore:
        return EventStore(self.tables)

    def dispatch_events(self, event_ids: list[str]) -> list[Job]:
        """Dispatch these events now (dead letters taken back: the stream, which only
        sees inserts, will not deliver them again). Duplicates are harmless: job ids
        are deterministic and each start is claimed."""
        from ..events import Dispatcher

        return Dispatcher(self.store, self.ensure_registry(), self.starter).dispatch_stored(
            event_ids
        )

    def run(
        self,
        *,
        progress: Callable[[Job], None] | None = None,
        budget_usd: float | None = None,
    ) -> RunSummary:
        """Start every PENDING job (reruns queued by ``retry``) as a new execution.

        Returns when they have started.
        """
        if budget_usd is not None:
            raise ConfigError(
                "a run budget is kept by the local runtime only; on AWS set an AWS Budgets "
                "alarm on the stack's cost allocation tag"
            )
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
            if execution:
                self.started.append(execution)
            summary.jobs["STARTED"] = summary.jobs.get("STARTED", 0) + 1
            if progress:
                progress(job)
        summary.seconds = time.monotonic() - t0
        return summary

    def register(self, path: str | Path | None = None) -> Registry:
        """Load a registry file (default: the packaged tasks.toml) into the stack's tasks table."""
        registry = load_registry(path)
        registry.save(self.tables)
        return registry

    def ensure_registry(self) -> Registry:
        registry = Registry.from_tables(self.tables)
        return registry if len(registry) else self.register()

    def upload(self, paths: Iterable[str | Path], *, prefix: str = "") -> list[ObjectInfo]:
        """Put files into the raw bucket; S3's notification then starts the pipeline."""
        return put_paths(self.objects, self.settings.bucket("raw"), paths, prefix=prefix)
