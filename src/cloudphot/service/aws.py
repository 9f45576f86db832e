"""The VO services on AWS: the same ASGI app behind API Gateway + Lambda (Mangum), async
jobs as Step Functions executions that run Athena, results served by presigned URLs.

- :func:`http_handler`: API Gateway HTTP API (payload 2.0) -> the app. Two routes lead
  here: ``/...`` anonymous, and ``/user/...`` behind the Cognito JWT authorizer; only
  on the second does the request carry verified claims, and only those make a user.
- :class:`DynamoJobStore`: UWS job records in DynamoDB (``TapJobsTable``).
- :class:`StepFunctionsRunner`: PHASE=RUN starts the ``TapJob`` state machine (the
  execution is named after the job), ABORT stops it (Step Functions then stops the
  Athena query its ``.sync`` task is waiting on).
- :func:`job_handler`: the state machine's Lambda steps: ``prepare`` (checks the
  query and writes the Athena SQL; queries on TAP_SCHEMA or personal tables only run
  right here), ``finish`` (Athena's rows -> the requested format in S3), ``fail``.
- :class:`TaggedStores`: a user's personal tables are read and written through a
  role session tagged with the user; the role's policy admits only
  ``service/mydb/${aws:PrincipalTag/cloudphot-user}/*``.

Verified only against moto (DynamoDB, Step Functions, STS, S3) and ``sam validate``;
never against real AWS.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ..errors import ConditionFailed
from .jobs import JobStore, NoSuchJob, TapJob

__all__ = [
    "DynamoJobStore",
    "PresigningStore",
    "StepFunctionsRunner",
    "TaggedStores",
    "app_from_env",
    "claims_user",
    "http_handler",
    "job_handler",
]

ANONYMOUS = "~anonymous"  # owner key of anonymous jobs (an index key cannot be null)
USER_TAG = "cloudphot-user"


class DynamoJobStore(JobStore):
    """Jobs as DynamoDB items: key ``job_id``; index ``by_owner`` (owner, created)."""

    def __init__(self, table: str, *, client=None, region: str | None = None):
        self.table = table
        self.client = client or boto3.client("dynamodb", region_name=region)

    @staticmethod
    def _item(job: TapJob) -> dict:
        return {
            "job_id": {"S": job.job_id},
            "owner": {"S": job.owner or ANONYMOUS},
            "created": {"S": job.created},
            "phase": {"S": job.phase},
            "doc": {"S": json.dumps(job.to_item())},
        }

    @staticmethod
    def _job(item: dict) -> TapJob:
        return TapJob.from_item(json.loads(item["doc"]["S"]))

    def create(self, job: TapJob) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(job),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(f"job {job.job_id} exists") from None
            raise

    def get(self, job_id: str) -> TapJob:
        item = self.client.get_item(
            TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NoSuchJob(f"no job {job_id!r}")
        return self._job(item)

    def update(self, job_id: str, changes: dict[str, Any], *, expect: str | None = None) -> TapJob:
        job = self.get(job_id)
        if expect is not None and job.phase != expect:
            raise ConditionFailed(f"job {job_id} is {job.phase}, not {expect}")
        new = TapJob.from_item({**job.to_item(), **changes})
        try:
            # the phase seen is the condition: two writers cannot both move the job on
            self.client.put_item(
                TableName=self.table,
                Item=self._item(new),
                ConditionExpression="attribute_exists(job_id) AND phase = :seen",
                ExpressionAttributeValues={":seen": {"S": job.phase}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(f"job {job_id} changed meanwhile") from None
            raise
        return new

    def jobs(self, owner: str | None) -> list[TapJob]:
        out, start = [], None
        while True:
            kw: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "by_owner",
                "KeyConditionExpression": "#o = :o",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":o": {"S": owner or ANONYMOUS}},
            }
            if start:
                kw["ExclusiveStartKey"] = start
            page = self.client.query(**kw)
            out += [self._job(i) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(out, key=lambda j: j.created)

    def all_jobs(self) -> list[TapJob]:
        out, start = [], None
        while True:
            kw: dict[str, Any] = {"TableName": self.table}
            if start:
                kw["ExclusiveStartKey"] = start
            page = self.client.scan(**kw)
            out += [self._job(i) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(out, key=lambda j: j.created)

    def delete(self, job_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"job_id": {"S": job_id}})


class StepFunctionsRunner:
    """Runs UWS jobs as executions of the TapJob state machine."""

    def __init__(self, state_machine_arn: str, store: JobStore, *, client=None, region=None):
        self.arn, self.store = state_machine_arn, store
        self.client = client or boto3.client("stepfunctions", region_name=region)

    def submit(self, job_id: str) -> None:
        try:
            out = self.client.start_execution(
                stateMachineArn=self.arn, name=job_id, input=json.dumps({"job_id": job_id})
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return  # started before (a retried request): nothing to do
            raise
        try:
            self.store.update(job_id, {"execution": out["executionArn"]})
        except (ConditionFailed, NoSuchJob):
            pass

    def stop_job(self, job: TapJob) -> None:
        job = self.store.get(job.job_id)
        if job.execution:
            try:
                self.client.stop_execution(executionArn=job.execution, cause="UWS PHASE=ABORT")
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                    raise


class PresigningStore:
    """An S3 object store whose objects can be handed out as presigned GET URLs."""

    def __init__(self, store, *, client=None, region: str | None = None, expires_s: int = 3600):
        self._store = store
        self._s3 = client or boto3.client("s3", region_name=region)
        self.expires_s = expires_s

    def presigned_url(self, bucket: str, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=self.expires_s
        )

    def __getattr__(self, name):
        return getattr(self._store, name)


class TaggedStores:
    """``store_for(user)``: S3 through ``role_arn`` assumed with the session tag
    ``cloudphot-user=<user>`` (cached until shortly before the credentials expire)."""

    def __init__(
        self,
        role_arn: str,
        store_over: Callable[[Any], Any],
        *,
        sts=None,
        region: str | None = None,
        s3_factory=None,
    ):
        """``store_over(client)``: an object store over an S3 client (the platform's
        :meth:`~cloudphot.platform.Platform.object_store_over`)."""
        self.role_arn = role_arn
        self._store_over = store_over
        self._sts = sts or boto3.client("sts", region_name=region)
        self._region = region
        self._s3_factory = s3_factory or (lambda **kw: boto3.client("s3", region_name=region, **kw))
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, user: str):
        with self._lock:
            hit = self._cache.get(user)
            if hit is not None and hit[0] > time.time() + 300:
                return hit[1]
        creds = self._sts.assume_role(
            RoleArn=self.role_arn,
            RoleSessionName=f"mydb-{user}"[:64],
            Tags=[{"Key": USER_TAG, "Value": user}],
            DurationSeconds=3600,
        )["Credentials"]
        client = self._s3_factory(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        store = self._store_over(client)
        with self._lock:
            self._cache[user] = (time.time() + 3600, store)
        return store


def claims_user(scope: dict) -> str | None:
    """The user a request on the ``/user`` route is (from the JWT authorizer's claims).

    The Cognito subject becomes a name the myDB prefixes and session tags accept:
    ``u`` + 24 hex digits of its SHA-256 (stable, and the same in every request).
    """
    event = scope.get("aws.event") or {}
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get(
        "claims"
    ) or {}
    sub = claims.get("sub")
    if not sub or not scope.get("cloudphot.authenticated"):
        return None
    return "u" + hashlib.sha256(sub.encode()).hexdigest()[:24]


class _UserPrefix:
    """``/user/...`` is the authenticated route: strip it, and mark the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/user/"):
            scope = dict(scope)
            # Starlette routes on the path after root_path, and builds URLs with it,
            # so job URLs point back at the authenticated route
            scope["root_path"] = scope.get("root_path", "") + "/user"
            scope["cloudphot.authenticated"] = True
        await self.app(scope, receive, send)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        from ..errors import ConfigError

        raise ConfigError(f"{name} is not set (template.yaml sets it on the TAP functions)")
    return value


def _parts_from_env():
    """The service's parts over the deployed stack (built once per container)."""
    from ..platform import open_platform
    from ..settings import Settings
    from .app import ServiceParts, build_query_service
    from .dal import ImageIndex
    from .images import images_from_exposures
    from .local import catalog_engine_factory
    from .mydb import MyDb
    from .queries import Limits
    from .uws import AsyncJobs

    settings = Settings.from_env(backend="aws")
    region = settings.region
    platform = open_platform(settings)
    # an ObjectStore by delegation (plus presigned_url)
    store: Any = PresigningStore(platform.objects, region=region)
    limits = Limits(
        sync_timeout_s=float(os.environ.get("TAP_SYNC_TIMEOUT_S", "25")),
        async_timeout_s=float(os.environ.get("TAP_ASYNC_TIMEOUT_S", str(12 * 3600))),
        engines=int(os.environ.get("TAP_ENGINES", "4")),
        local=False,
    )
    factory, probe = catalog_engine_factory(settings, store, limits)
    queries = build_query_service(settings.survey, factory, probe, limits)
    jobs_store = DynamoJobStore(_env("TAP_JOBS_TABLE"), region=region)
    jobs = AsyncJobs(jobs_store, store, settings.bucket("products"), queries)
    # the HTTP function starts and stops jobs; the job function only runs their steps
    arn = os.environ.get("TAP_JOB_STATE_MACHINE_ARN", "")
    jobs.runner = StepFunctionsRunner(arn, jobs_store, region=region) if arn else None
    tables = platform.tables
    mydb = MyDb(
        store,
        settings.bucket("products"),
        store_for=TaggedStores(_env("MYDB_ROLE_ARN"), platform.object_store_over, region=region),
    )
    return ServiceParts(
        queries=queries,
        jobs=jobs,
        images=ImageIndex(lambda: images_from_exposures(tables.scan("exposures"))),
        objects=store,
        mydb=mydb,
        identify=lambda request: claims_user(request.scope),
        auth_prefix="user/",
    )


def app_from_env():
    from .app import create_app

    return _UserPrefix(create_app(_parts_from_env()))


_http = None
_parts = None


def http_handler(event: dict, context) -> dict:
    """API Gateway HTTP API event -> the ASGI app (Mangum), one app per container."""
    global _http
    if _http is None:
        from mangum import Mangum

        _http = Mangum(app_from_env(), lifespan="off")
    return _http(event, context)


def job_handler(event: dict, context) -> dict:
    """Steps of the TapJob state machine: ``prepare``, ``finish``, ``fail``."""
    global _parts
    if _parts is None:
        _parts = _parts_from_env()
    from .tap import run_tap

    jobs = _parts.jobs
    action, job_id = event["action"], event["job_id"]
    if action == "prepare":
        job = jobs.start(job_id)
        if job is None:
            return {"run_athena": False}
        try:
            p, tables = jobs.job_params(job)
            plan = _athena_plan(_parts.queries, p, job.owner, _parts.mydb)
            if plan is None:  # TAP_SCHEMA or personal tables only: answer here
                result = run_tap(_parts.queries, _parts.mydb, job.owner, p, "async", tables)
                jobs.complete(job, result)
                return {"run_athena": False}
        except Exception as exc:
            jobs.fail(job, exc)
            return {"run_athena": False}
        return {"run_athena": True, **plan, "timeout_s": int(job.execution_duration)}
    job = jobs.store.get(job_id)
    if action == "finish":
        try:
            result = _athena_result(_parts.queries, job, event["query_execution_id"])
            jobs.complete(job, result)
        except Exception as exc:
            jobs.fail(job, exc)
        return {"phase": jobs.store.get(job_id).phase}
    if action == "fail":
        cause = event.get("error") or {}
        text = cause.get("Cause") or cause.get("Error") or "the query failed on Athena"
        jobs.fail(job, f"query failed: {str(text)[:2000]}")
        return {"phase": jobs.store.get(job_id).phase}
    raise ValueError(f"unknown action {action!r}")


def _athena_plan(queries, p, owner, mydb) -> dict | None:
    """The Athena SQL of a job's query, or None when it reads no catalog table."""
    from . import adql
    from .queries import _SUPPLIED
    from .tap import query_args
    from .tap_schema import tap_schema_arrow

    query, lang, maxrec, _ = query_args(p)
    query, _ = adql.split_into(query)
    rows = min(
        maxrec if maxrec is not None else queries.limits.async_max_rows,
        queries.limits.async_max_rows,
    )
    sql = adql.to_checked_sql(query, lang, rows + 1)
    if _SUPPLIED.search(sql):
        names = (
            frozenset(tap_schema_arrow(queries.survey))
            | {f"mydb.{n}" for n in adql.mydb_names(sql)}
            | _upload_names(sql)
        )
        _, needs_catalog = queries.side.plan(sql, names, rows + 1)
        if not needs_catalog:
            return None
        from ..errors import QueryRefused

        raise QueryRefused(
            "joins of uploaded or personal tables with the catalog run on the local service only"
        )
    with queries.pool.engine(60.0) as eng:
        athena, _ = eng.to_athena(sql)
        return {"query": athena, "workgroup": eng.runner.workgroup, "database": eng.runner.database}


def _upload_names(sql: str) -> frozenset[str]:
    import re

    return frozenset(
        f"tap_upload.{m.lower()}" for m in re.findall(r"tap_upload\s*\.\s*\"?(\w+)", sql, re.I)
    )


def _athena_result(queries, job: TapJob, qid: str):
    """Athena's rows of a finished query as a TAP result (MAXREC + 1 read for OVERFLOW)."""
    from .queries import Result
    from .tap_schema import column_meta

    p_max = job.parameters.get("maxrec")
    rows = (
        min(int(p_max), queries.limits.async_max_rows) if p_max else queries.limits.async_max_rows
    )
    with queries.pool.engine(60.0) as eng:
        table = eng.runner._results(qid, rows + 1)  # the adapter's paging and typing
    cut = table.num_rows > rows
    return Result(
        table=table.slice(0, rows),
        overflow=cut,
        sql="",
        version=None,
        meta=column_meta(queries.survey),
    )
