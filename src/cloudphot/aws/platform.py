"""The AWS platform: S3, DynamoDB, Step Functions and Athena of one deployed stack.

Inside the stack (Lambda functions, ECS tasks) the names come from the environment
``template.yaml`` sets; the operator's CLI finds them in the stack's CloudFormation
outputs (:meth:`AwsPlatform.from_stack`). Clients are built on first use, and any
can be injected (moto, stubs, local endpoints).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import boto3

from ..errors import ConfigError, TransientError
from ..platform.base import Platform, QueryEngine
from ..settings import Settings
from ..storage import ObjectStore
from .dispatch import StepFunctionsStarter, state_machine_arns
from .dynamodb_tables import DynamoDBTables
from .executions import StepFunctionsDefinitions, StepFunctionsExecutions
from .links import execution_console_url, log_group_url
from .s3_objects import S3ObjectStore
from .stack import AwsPipeline, deployed_settings

__all__ = ["AwsPlatform"]


class AwsPlatform(Platform):
    """One deployed stack. ``arns``: state machine logical id -> ARN."""

    #: the web monitor behind Lambda starts a retry's executions before it answers
    run_inline = True

    def __init__(
        self,
        settings: Settings,
        arns: Mapping[str, str],
        *,
        sfn_client: Any = None,
        s3_client: Any = None,
        dynamodb_client: Any = None,
        athena_client: Any = None,
        template: dict | None = None,
    ):
        super().__init__(settings)
        self.arns = dict(arns)
        self._clients = {
            "stepfunctions": sfn_client,
            "s3": s3_client,
            "dynamodb": dynamodb_client,
            "athena": athena_client,
        }
        self._template = template

    @classmethod
    def from_env(
        cls, settings: Settings, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> AwsPlatform:
        """Inside the stack: names from the environment (``STATE_MACHINE_ARNS``...)."""
        return cls(settings, state_machine_arns(dict(env) if env is not None else None), **kwargs)

    @classmethod
    def from_stack(
        cls, env: Mapping[str, str] | None = None, *, cfn_client: Any = None, **kwargs: Any
    ) -> AwsPlatform:
        """The operator's view: names from the outputs of the stack ``CLOUDPHOT_STACK``."""
        settings, arns = deployed_settings(
            dict(env) if env is not None else None, client=cfn_client
        )
        return cls(settings, arns, **kwargs)

    def _client(self, service: str) -> Any:
        if self._clients.get(service) is None:
            make: Any = boto3.client  # typed per service name; ours is a variable
            self._clients[service] = make(service, region_name=self.settings.region)
        return self._clients[service]

    def _open_objects(self) -> S3ObjectStore:
        return S3ObjectStore(client=self._clients["s3"], region=self.settings.region)

    def object_store_over(self, client: Any) -> S3ObjectStore:
        return S3ObjectStore(client=client, region=self.settings.region)

    def _open_tables(self) -> DynamoDBTables:
        return DynamoDBTables(
            self.settings.tables, client=self._clients["dynamodb"], region=self.settings.region
        )

    @cached_property
    def starter(self) -> StepFunctionsStarter:
        return StepFunctionsStarter(self.arns, client=self._client("stepfunctions"))

    @cached_property
    def runner(self) -> AwsPipeline:
        return AwsPipeline(self.settings, self.objects, self.tables, self.starter)

    @cached_property
    def executions(self) -> StepFunctionsExecutions:
        return StepFunctionsExecutions(self._client("stepfunctions"), arns=self.arns)

    @cached_property
    def targets(self) -> StepFunctionsDefinitions:
        return StepFunctionsDefinitions(self.executions, self._template)

    def query_engine(
        self,
        *,
        version: int | None = None,
        max_rows: int,
        timeout_s: float,
        objects: ObjectStore | None = None,
    ) -> QueryEngine:
        from .athena import AthenaQueryEngine

        return AthenaQueryEngine(
            objects or self.objects,
            self.settings.bucket("products"),
            self.settings.survey,
            workgroup=self.settings.athena_workgroup,
            region=self.settings.region,
            client=self._clients["athena"],
            version=version,
            max_rows=max_rows,
            timeout_s=timeout_s,
        )

    @property
    def where(self) -> str:
        return f"AWS: events table {self.settings.table('events')}"

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
