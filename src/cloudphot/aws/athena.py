"""Catalog queries on AWS: the checked, rewritten SQL run by Athena over the Glue tables.

:class:`AthenaRunner` is the adapter: it starts one query in the stack's workgroup
(which enforces the result location, encryption and the per-query scan limit),
polls it with backoff until it finishes, stops it when it outlives the timeout,
and reads the result pages into a typed Arrow table. :class:`AthenaQueryEngine`
has the public surface of the local :class:`~cloudphot.catalog.query.QueryEngine`
(``run``, ``version``, ``close``), so :class:`~cloudphot.catalog.api.Catalog` and
the CLI work the same on both backends.

Athena hands results back as strings with the column types beside them
(``ResultSetMetadata.ColumnInfo``); :func:`result_to_arrow` turns them into the
Arrow types the local engine returns for the same columns (``smallint`` ->
int16, ``float``/``real`` -> float32, ...), NULL being a missing ``VarCharValue``.
A response that does not fit that shape is a :class:`QueryFailed`, never a crash.

Verified against moto and botocore stubs only, not against real Athena.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ..catalog.athena_sql import athena_sql
from ..catalog.build import read_manifest
from ..catalog.query import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    QueryFailed,
    QueryResult,
    QueryTimeout,
    Rewritten,
)
from ..errors import CloudphotError, ConfigError, Throttled, TransientError
from ..storage.objects import ObjectStore
from .codes import is_server_error, is_throttling

__all__ = ["AthenaQueryEngine", "AthenaResult", "AthenaRunner", "result_to_arrow"]

_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
}
#: how to get permission, said in every access error
_POLICY_HINT = (
    "attach the stack's catalog reader policy (stack output CatalogReaderPolicyArn) "
    "to your IAM user or role"
)
#: GetQueryResults returns at most 1000 rows per page
PAGE_ROWS = 1000


@dataclass
class AthenaResult:
    """Rows of one finished Athena query, with what Athena reports about it."""

    table: pa.Table
    execution_id: str
    #: bytes the query scanned (what Athena bills, and what the workgroup's limit counts)
    scanned_bytes: int | None


def _error(exc: BaseException, action: str, *, workgroup: str) -> CloudphotError:
    """An AWS error as the cloudphot error that says what to do about it."""
    if isinstance(exc, NoCredentialsError):
        return ConfigError(
            f"{action}: no AWS credentials; configure them as for the AWS CLI "
            f"(AWS_PROFILE, aws configure, or an instance role)"
        )
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{action}: {exc}")
    assert isinstance(exc, ClientError)
    err = exc.response.get("Error", {})
    code, message = err.get("Code", ""), err.get("Message", str(exc))
    if is_throttling("athena", code):
        return Throttled(f"{action}: Athena is throttling ({code}: {message}); retry shortly")
    if is_server_error("athena", code):
        return TransientError(f"{action}: Athena failed ({code}: {message}); retry shortly")
    if code in _DENIED:
        return ConfigError(f"{action}: not allowed ({code}: {message}); {_POLICY_HINT}")
    if code in ("InvalidRequestException", "ResourceNotFoundException"):
        if "workgroup" in message.lower():
            return ConfigError(
                f"{action}: {message}; the workgroup is the stack output "
                f"AthenaWorkGroupName (set CLOUDPHOT_STACK, or "
                f"CLOUDPHOT_ATHENA_WORKGROUP={workgroup!r} is wrong)"
            )
        return QueryFailed(f"query failed on Athena: {message}")
    return TransientError(f"{action}: {code}: {message}")


# ------------------------------------------------------------------ result conversion
def _parse_bool(v: str) -> bool:
    return {"true": True, "false": False}[v.strip().lower()]


def _parse_timestamp(v: str) -> datetime:
    return datetime.fromisoformat(v.strip())


#: Athena column type -> (Arrow type, parser of Athena's text for it)
_SCALARS: dict[str, tuple[pa.DataType, Callable[[str], Any]]] = {
    "boolean": (pa.bool_(), _parse_bool),
    "tinyint": (pa.int8(), int),
    "smallint": (pa.int16(), int),
    "integer": (pa.int32(), int),
    "int": (pa.int32(), int),
    "bigint": (pa.int64(), int),
    "double": (pa.float64(), float),
    "float": (pa.float32(), float),
    "real": (pa.float32(), float),
    "date": (pa.date32(), lambda v: date.fromisoformat(v.strip())),
    "timestamp": (pa.timestamp("us"), _parse_timestamp),
}
_STRINGS = {
    "varchar",
    "char",
    "string",
    "json",
    "varbinary",
    "time",
    "uuid",
    "ipaddress",
    "timestamp with time zone",
    "time with time zone",
    "interval day to second",
    "interval year to month",
    "array",
    "map",
    "row",
}


def _arrow_type(info: dict) -> tuple[pa.DataType, Callable[[str], Any]]:
    typ = str(info.get("Type", "")).strip().lower()
    base = typ.split("(", 1)[0].strip()
    if base in _SCALARS:
        return _SCALARS[base]
    if base == "decimal":
        precision = int(info.get("Precision") or 38)
        scale = int(info.get("Scale") or 0)
        return pa.decimal128(max(1, min(precision, 38)), scale), lambda v: Decimal(v.strip())
    if base == "unknown":  # the type of a bare NULL
        return pa.null(), str
    if base in _STRINGS or base.startswith(("array", "map", "row", "interval")):
        return pa.string(), str
    raise ValueError(f"unknown column type {info.get('Type')!r}")


def result_to_arrow(
    column_info: list[dict], rows: list[dict], *, execution_id: str = ""
) -> pa.Table:
    """Athena's ``ColumnInfo`` and data ``Rows`` (header row removed) as a typed Arrow table.

    Parameters
    ----------
    column_info
        ``ResultSet.ResultSetMetadata.ColumnInfo``: one ``{"Name", "Type", ...}`` per column.
    rows
        ``ResultSet.Rows`` without the header: ``{"Data": [{"VarCharValue": "..."}, ...]}``;
        a datum without ``VarCharValue`` is NULL.

    Raises
    ------
    QueryFailed
        The response does not have that shape, or a value does not parse as its type.
    """
    where = f"Athena's result{f' of query {execution_id}' if execution_id else ''}"
    if (
        not isinstance(column_info, list)
        or not column_info
        or not all(isinstance(c, dict) and c.get("Name") for c in column_info)
    ):
        raise QueryFailed(f"{where} is malformed: it has no column metadata (ColumnInfo)")
    names = [str(c["Name"]) for c in column_info]
    try:
        types = [_arrow_type(c) for c in column_info]
    except ValueError as exc:
        raise QueryFailed(f"{where} is malformed: {exc}") from None
    columns: list[list] = [[] for _ in names]
    for i, row in enumerate(rows):
        data = row.get("Data") if isinstance(row, dict) else None
        if not isinstance(data, list) or len(data) != len(names):
            raise QueryFailed(
                f"{where} is malformed: row {i + 1} has "
                f"{len(data) if isinstance(data, list) else 'no'} values for "
                f"{len(names)} columns"
            )
        for j, datum in enumerate(data):
            value = datum.get("VarCharValue") if isinstance(datum, dict) else None
            if value is None:
                columns[j].append(None)
                continue
            try:
                columns[j].append(types[j][1](value))
            except (ValueError, KeyError, InvalidOperation, AttributeError, TypeError):
                raise QueryFailed(
                    f"{where} is malformed: column {names[j]!r} is declared "
                    f"{column_info[j].get('Type')!r} but row {i + 1} holds "
                    f"{str(value)[:40]!r}"
                ) from None
    arrays = []
    for name, (typ, _), values in zip(names, types, columns):
        try:
            arrays.append(pa.array(values, type=typ))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise QueryFailed(
                f"{where} is malformed: column {name!r} does not fit {typ}: {exc}"
            ) from None
    return pa.Table.from_arrays(arrays, names=names)


# ------------------------------------------------------------------ the adapter
class AthenaRunner:
    """Runs SQL in one Athena workgroup and database; returns typed Arrow rows.

    Parameters
    ----------
    workgroup
        The workgroup (stack output ``AthenaWorkGroupName``): it fixes where results
        go and how much a query may scan.
    database
        Glue database the queries' unqualified names resolve in.
    client
        A boto3 Athena client (default: a new one in ``region``).
    poll_first_s, poll_max_s
        First and largest wait between status checks (doubling in between).
    sleep, clock
        Injected for tests (``time.sleep``, ``time.monotonic``).
    """

    def __init__(
        self,
        workgroup: str,
        database: str,
        *,
        client=None,
        region: str | None = None,
        poll_first_s: float = 0.1,
        poll_max_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not workgroup:
            raise ConfigError(
                "no Athena workgroup to run catalog queries in: set CLOUDPHOT_STACK "
                "to the deployed stack (its output AthenaWorkGroupName) or "
                "CLOUDPHOT_ATHENA_WORKGROUP"
            )
        self.workgroup, self.database = workgroup, database
        self.client: Any = client or boto3.client("athena", region_name=region)
        self.poll_first_s, self.poll_max_s = float(poll_first_s), float(poll_max_s)
        self._sleep, self._clock = sleep, clock

    def run(
        self, sql: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int | None = None
    ) -> AthenaResult:
        """Start, wait (at most ``timeout_s``), and read up to ``max_rows`` rows (+ one page)."""
        deadline = self._clock() + float(timeout_s)
        try:
            qid = self.client.start_query_execution(
                QueryString=sql,
                WorkGroup=self.workgroup,
                QueryExecutionContext={"Database": self.database},
            )["QueryExecutionId"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "StartQueryExecution", workgroup=self.workgroup) from exc
        execution = self._wait(qid, deadline, timeout_s)
        stats = execution.get("Statistics") or {}
        scanned = stats.get("DataScannedInBytes")
        table = self._results(qid, max_rows)
        return AthenaResult(
            table=table,
            execution_id=qid,
            scanned_bytes=int(scanned) if scanned is not None else None,
        )

    def _wait(self, qid: str, deadline: float, timeout_s: float) -> dict:
        delay = self.poll_first_s
        while True:
            try:
                execution = self.client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            except (ClientError, BotoCoreError) as exc:
                raise _error(exc, f"GetQueryExecution {qid}", workgroup=self.workgroup) from exc
            status = execution.get("Status") or {}
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                raise QueryFailed(self._failure(qid, state, status))
            remaining = deadline - self._clock()
            if remaining <= 0:
                stopped = self._stop(qid)
                raise QueryTimeout(
                    f"query refused: it ran longer than the {timeout_s:g} s per-query timeout "
                    f"and {'was stopped' if stopped else 'could not be stopped'} (Athena query "
                    f"{qid}); restrict it with a cone (q3c_radial_query) or objid, or pass a "
                    f"longer --timeout"
                )
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, self.poll_max_s)

    def _failure(self, qid: str, state: str, status: dict) -> str:
        reason = (
            status.get("StateChangeReason")
            or (status.get("AthenaError") or {}).get("ErrorMessage")
            or "no reason given"
        )
        if state == "CANCELLED":
            hint = ""
            if any(w in reason.lower() for w in ("scan", "limit", "cutoff")):
                hint = (
                    f"; the workgroup {self.workgroup} cancels queries that scan more than "
                    f"its limit (stack parameter AthenaScanLimitBytes): restrict the query "
                    f"with a cone (q3c_radial_query), objid or fewer columns"
                )
            return f"query was cancelled on Athena (query {qid}): {reason}{hint}"
        return f"query failed on Athena (query {qid}): {reason}"

    def _stop(self, qid: str) -> bool:
        try:
            self.client.stop_query_execution(QueryExecutionId=qid)
            return True
        except (ClientError, BotoCoreError):
            return False

    def _results(self, qid: str, max_rows: int | None) -> pa.Table:
        kwargs: dict[str, Any] = {"QueryExecutionId": qid, "MaxResults": PAGE_ROWS}
        column_info: list[dict] | None = None
        rows: list[dict] = []
        first = True
        while True:
            try:
                page = self.client.get_query_results(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _error(exc, f"GetQueryResults {qid}", workgroup=self.workgroup) from exc
            result_set = page.get("ResultSet") if isinstance(page, dict) else None
            if not isinstance(result_set, dict):
                raise QueryFailed(f"Athena's result of query {qid} is malformed: no ResultSet")
            if column_info is None:
                column_info = (result_set.get("ResultSetMetadata") or {}).get("ColumnInfo")
            data = result_set.get("Rows") or []
            if first:
                # a SELECT's first row (of the first page) is the header: the column names
                data = self._drop_header(qid, column_info, data)
                first = False
            rows.extend(data)
            token = page.get("NextToken")
            if not token or (max_rows is not None and len(rows) > max_rows):
                break
            kwargs["NextToken"] = token
        return result_to_arrow(column_info or [], rows, execution_id=qid)

    @staticmethod
    def _drop_header(qid: str, column_info, data: list) -> list:
        if not isinstance(column_info, list) or not column_info:
            return data  # result_to_arrow says what is missing
        names = [str(c.get("Name", "")) if isinstance(c, dict) else "" for c in column_info]
        labels = [
            str(c.get("Label", c.get("Name", ""))) if isinstance(c, dict) else ""
            for c in column_info
        ]
        header = data[0].get("Data") if data and isinstance(data[0], dict) else None
        values = (
            [d.get("VarCharValue") if isinstance(d, dict) else None for d in header]
            if isinstance(header, list)
            else None
        )
        if values is None or (values != names and values != labels):
            raise QueryFailed(
                f"Athena's result of query {qid} is malformed: its first row "
                f"should be the header {names}, got {values}"
            )
        return data[1:]


class AthenaQueryEngine:
    """Queries one catalog version (default: the latest) of a survey through Athena.

    The same public surface as the local DuckDB engine: :meth:`run` checks,
    rewrites and executes a query (raising QueryRefused / QueryTimeout /
    QueryFailed); ``version`` is the catalog version it reads; :meth:`close`.

    Parameters
    ----------
    store, bucket, survey
        Where the catalog's manifests are (the products bucket on S3).
    workgroup
        Athena workgroup (stack output ``AthenaWorkGroupName``).
    database
        Glue database of the tables (default: the survey, as template.yaml names it).
    version, max_rows, timeout_s
        As for the local engine.
    client, glue_client, region
        boto3 clients (default: new ones in ``region``).
    runner
        An :class:`AthenaRunner` to use instead of building one (tests).
    """

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        survey: str,
        *,
        workgroup: str | None,
        database: str | None = None,
        version: int | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        client=None,
        glue_client=None,
        region: str | None = None,
        runner: AthenaRunner | None = None,
    ):
        self.store, self.bucket, self.survey = store, bucket, survey
        self.database = database or survey
        self.runner = runner or AthenaRunner(
            workgroup or "", self.database, client=client, region=region
        )
        self.manifest = read_manifest(store, bucket, survey, version)
        self.version = int(self.manifest["version"])
        self.order = int(self.manifest["partition_order"])
        self.max_rows, self.timeout_s = int(max_rows), float(timeout_s)
        self._glue, self._region = glue_client, region
        self._checked = False

    def to_athena(self, sql: str) -> tuple[str, Rewritten]:
        """The Trino SQL :meth:`run` sends (useful to read, and for tests)."""
        return athena_sql(
            sql,
            self.manifest,
            survey=self.survey,
            database=self.database,
            max_rows=self.max_rows,
            bucket=self.bucket,
        )

    def run(self, sql: str) -> QueryResult:
        """Check, rewrite and execute on Athena; raise QueryRefused / QueryTimeout / QueryFailed."""
        athena, _ = self.to_athena(sql)  # refusals happen here, before any AWS call
        if not self._checked:
            self.check_partition_order()
        res = self.runner.run(athena, timeout_s=self.timeout_s, max_rows=self.max_rows)
        table = res.table
        truncated = table.num_rows > self.max_rows
        if truncated:
            table = table.slice(0, self.max_rows)
        return QueryResult(
            table=table,
            truncated=truncated,
            sql=athena,
            version=self.version,
            execution_id=res.execution_id,
            scanned_bytes=res.scanned_bytes,
        )

    def check_partition_order(self) -> None:
        """The Glue tables project the catalog's partition order (else every query is empty).

        template.yaml's ``CatalogPartitionOrder`` sets ``projection.norder.range``; a
        catalog built with another order has its files where the projection never looks.
        """
        glue = self._glue or boto3.client("glue", region_name=self._region)
        for table in ("phot_mod", "phot_meas"):
            try:
                params = glue.get_table(DatabaseName=self.database, Name=table)["Table"].get(
                    "Parameters", {}
                )
            except (ClientError, BotoCoreError) as exc:
                code = (
                    exc.response.get("Error", {}).get("Code")
                    if isinstance(exc, ClientError)
                    else ""
                )
                if code == "EntityNotFoundException":
                    raise ConfigError(
                        f"no Glue table {self.database}.{table}: is the stack "
                        f"deployed with SurveyName={self.survey}?"
                    ) from exc
                raise _error(
                    exc, f"Glue GetTable {self.database}.{table}", workgroup=self.runner.workgroup
                ) from exc
            span = params.get("projection.norder.range")
            if span:
                lo, _, hi = span.partition(",")
                if not int(lo) <= self.order <= int(hi or lo):
                    raise ConfigError(
                        f"catalog {self.survey} v{self.version} is partitioned at HEALPix order "
                        f"{self.order} but the Glue table {self.database}.{table} projects order "
                        f"{lo if hi in ('', lo) else span}: redeploy with --parameter-overrides CatalogPartitionOrder="
                        f"{self.order}"
                    )
        self._checked = True

    def close(self) -> None:
        pass
