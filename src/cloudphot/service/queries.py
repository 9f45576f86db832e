"""The service's way to the catalog: warm engines, bounded concurrency, TAP limits.

A one-shot CLI opens the catalog for each query; a long-lived service keeps a small
pool of engines open (each with its DuckDB connection, its cached checked plans and
the partitions' Parquet footers), so a small query pays neither. The pool is also
the service's concurrency bound: at most ``size`` queries run at once; a request that
cannot get an engine within ``wait_s`` is refused as *busy* (HTTP 503 with
Retry-After) instead of piling up threads until the machine falls over.

When a new catalog version is published, engines of the old one are closed as they
come back to the pool and new ones open on the new version (checked at most every
``version_ttl_s``), so queries never mix versions and the service needs no restart.

Queries that read only TAP_SCHEMA, uploads or personal tables run on a small
in-memory DuckDB of their own (:class:`SideEngine`), with the same checker, on
every platform; joins of those tables with the catalog run on a catalog engine that
takes them as supplied tables (:meth:`cloudphot.catalog.query.QueryEngine.run`).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from ..catalog.query import QueryFailed, QueryTimeout, check_and_rewrite
from ..errors import QueryRefused
from . import adql
from .tap_schema import ColumnMeta, column_meta, tap_schema_arrow

__all__ = ["Busy", "EnginePool", "Limits", "QueryService", "Result", "SideEngine"]


class Busy(QueryRefused):
    """Every engine is in use: the request is refused instead of queued without bound."""


@dataclass(frozen=True)
class Limits:
    """The paper's limits, configurable (``cloudphot serve --sync-timeout`` ...)."""

    sync_timeout_s: float = 600.0
    async_timeout_s: float = 12 * 3600.0
    #: rows a synchronous query may return (larger results: run it as an async job)
    sync_max_rows: int = 100_000
    #: rows an asynchronous job may return
    async_max_rows: int = 2_000_000
    #: MAXREC when the client gives none
    default_maxrec: int = 100_000
    #: queries running at once on the catalog (sync and async together)
    engines: int = 2
    #: how long a sync request waits for a free engine before it is refused as busy
    wait_s: float = 10.0
    #: async jobs queued (not yet running) at once, and per user
    async_queue: int = 100
    async_queue_per_user: int = 10
    #: bytes of an uploaded table (TAP_UPLOAD, myDB upload)
    max_upload_bytes: int = 64 * 1024 * 1024
    #: the service runs on the user's own machine (uploads may come from localhost URLs)
    local: bool = True


@dataclass
class Result:
    table: pa.Table
    overflow: bool
    sql: str
    version: int | None
    meta: Mapping[str, ColumnMeta] = field(default_factory=dict)
    #: why the result stopped short (sync limit reached: the message says to go async)
    note: str | None = None
    elapsed_s: float = 0.0


class EnginePool:
    """At most ``size`` catalog engines, reused warm, renewed when the catalog changes."""

    def __init__(
        self,
        factory: Callable[[], Any],
        size: int,
        *,
        latest_version: Callable[[], int | None] | None = None,
        version_ttl_s: float = 2.0,
    ):
        if size < 1:
            raise ValueError("an engine pool needs at least one engine")
        self._factory, self.size = factory, size
        self._latest = latest_version
        self._ttl = version_ttl_s
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._probe_lock = threading.Lock()
        self._known: tuple[float, int | None] = (0.0, None)
        self.in_use = 0

    def current_version(self) -> int | None:
        if self._latest is None:
            return None
        with self._probe_lock:
            stamp, v = self._known
            now = time.monotonic()
            if now - stamp > self._ttl:
                v = self._latest()
                self._known = (now, v)
            return v

    @contextmanager
    def engine(self, wait_s: float) -> Iterator[Any]:
        """An engine for one query; raises :class:`Busy` after ``wait_s`` seconds."""
        if not self._slots.acquire(timeout=max(0.0, wait_s)):
            raise Busy(
                f"query refused: the service is busy ({self.size} queries running); "
                f"retry in a few seconds, or submit it as an async job (/tap/async)"
            )
        self.in_use += 1
        eng = None
        try:
            want = self.current_version()
            while eng is None:
                try:
                    eng = self._free.get_nowait()
                except queue.Empty:
                    eng = self._factory()
                    break
                if want is not None and getattr(eng, "version", want) != want:
                    eng.close()
                    eng = None
            yield eng
        finally:
            self.in_use -= 1
            if eng is not None:
                self._free.put(eng)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


class SideEngine:
    """Queries over supplied tables only (TAP_SCHEMA, uploads, myDB): in-memory DuckDB.

    The same checker as catalog queries (:func:`check_and_rewrite` with the supplied
    names allowed); a query that also names a catalog table is not for this engine
    (:meth:`wants_catalog`). The connection cannot read files at all.
    """

    def __init__(self, survey: str):
        self.survey = survey
        self._lock = threading.Lock()
        self._con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": 1,
                "memory_limit": "1GB",
            }
        )
        self._con.execute("SET enable_external_access=false")
        self._con.execute("SET lock_configuration=true")

    def plan(self, sql: str, names: frozenset[str], max_rows: int) -> tuple[str, bool]:
        """(DuckDB SQL, whether the query also reads catalog tables)."""
        rw = check_and_rewrite(sql, self.survey, max_rows=max_rows, extra_tables=names)
        if rw.tables:
            return "", True

        def swap(node):
            if isinstance(node, exp.Table) and node.meta.get("extra"):
                return exp.Table(
                    this=exp.to_identifier(_view(node.meta["extra"]), quoted=True),
                    alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)),
                )
            return node

        return rw.expression.transform(swap, copy=False).sql(dialect="duckdb"), False

    def run(self, duck_sql: str, tables: Mapping[str, pa.Table], timeout_s: float, max_rows: int):
        with self._lock:
            for name, t in tables.items():
                self._con.register(_view(name), t)
            timer = threading.Timer(timeout_s, self._con.interrupt)
            timer.start()
            try:
                reader = self._con.sql(duck_sql).to_arrow_reader(8192)
                batches, n = [], 0
                for b in reader:
                    batches.append(b)
                    n += b.num_rows
                    if n > max_rows:
                        break
                reader.close()  # an open result blocks the next register/unregister
                out = pa.Table.from_batches(batches, schema=reader.schema)
            except duckdb.InterruptException:
                raise QueryTimeout(
                    f"query refused: it ran longer than {timeout_s:g} s and was stopped"
                ) from None
            except duckdb.Error as exc:
                raise QueryFailed(f"query failed: {str(exc).splitlines()[0]}") from None
            finally:
                timer.cancel()
                for name in tables:
                    self._con.unregister(_view(name))
        return out.slice(0, max_rows), out.num_rows > max_rows

    def close(self) -> None:
        self._con.close()


def _run_parameters(engine) -> frozenset[str]:
    """Keyword arguments the engine's ``run`` takes (Athena's takes none of ours)."""
    import inspect

    cls = type(engine)
    cached = _RUN_PARAMS.get(cls)
    if cached is None:
        cached = frozenset(inspect.signature(engine.run).parameters)
        _RUN_PARAMS[cls] = cached
    return cached


_RUN_PARAMS: dict[type, frozenset[str]] = {}


def _view(name: str) -> str:
    return "__side__" + name.replace(".", "__")


_SUPPLIED = re.compile(r"\b(tap_schema|tap_upload|mydb)\s*\"?\s*\.", re.IGNORECASE)


class QueryService:
    """TAP queries (ADQL or SQL) over the catalog, TAP_SCHEMA and supplied tables."""

    def __init__(self, survey: str, pool: EnginePool, limits: Limits | None = None):
        self.survey = survey
        self.pool = pool
        self.limits = limits or Limits()
        self.side = SideEngine(survey)
        self._meta = column_meta(survey)

    def execute(
        self,
        query: str,
        lang: str = "ADQL",
        *,
        maxrec: int | None = None,
        mode: str = "sync",
        tables: Mapping[str, pa.Table] | None = None,
        wait_s: float | None = None,
        timeout_s: float | None = None,
        on_engine: Callable[[Any], None] | None = None,
    ) -> Result:
        """Run one query under the limits of ``mode`` (``sync`` or ``async``).

        ``tables`` are supplied tables by lower-case qualified name (uploads as
        ``tap_upload.x``, personal tables as ``mydb.x``); TAP_SCHEMA is always there.
        ``timeout_s`` shortens the mode's timeout (a job's EXECUTIONDURATION).
        ``on_engine`` is told which engine runs the query (UWS ABORT interrupts it).
        """
        t0 = time.perf_counter()
        limits = self.limits
        hard = limits.sync_max_rows if mode == "sync" else limits.async_max_rows
        timeout = limits.sync_timeout_s if mode == "sync" else limits.async_timeout_s
        if timeout_s is not None:
            timeout = min(timeout, float(timeout_s))
        if maxrec is None:
            maxrec = min(limits.default_maxrec, hard) if mode == "sync" else hard
        if maxrec < 0:
            raise QueryRefused("MAXREC must be 0 or more")
        rows = min(int(maxrec), hard)
        sql = adql.to_checked_sql(query, lang, rows + 1)
        supplied: dict[str, pa.Table] = {}
        if _SUPPLIED.search(sql):
            supplied.update(tap_schema_arrow(self.survey))
            supplied.update({k.lower(): v for k, v in (tables or {}).items()})
        if supplied:
            duck_sql, needs_catalog = self.side.plan(sql, frozenset(supplied), rows + 1)
            if not needs_catalog:
                table, cut = self.side.run(duck_sql, supplied, timeout, rows)
                return self._result(table, cut, sql, None, rows, hard, mode, t0)
        with self.pool.engine(limits.wait_s if wait_s is None else wait_s) as eng:
            if on_engine is not None:
                on_engine(eng)
            kwargs: dict[str, Any] = {"timeout_s": timeout, "max_rows": rows}
            if supplied:
                kwargs["tables"] = supplied
            accepted = _run_parameters(eng)
            if supplied and "tables" not in accepted:
                raise QueryRefused(
                    "joins of uploaded or personal tables with the catalog run on the local "
                    "service only; on AWS query them on their own, or download and join locally"
                )
            try:
                res = eng.run(sql, **{k: v for k, v in kwargs.items() if k in accepted})
            except QueryTimeout as exc:
                if mode == "sync":
                    raise QueryTimeout(
                        f"{exc}; the synchronous limit is {timeout:g} s: submit long "
                        f"queries as async jobs (/tap/async, {limits.async_timeout_s:g} s)"
                    ) from None
                raise
        return self._result(res.table, res.truncated, sql, res.version, rows, hard, mode, t0)

    def _result(self, table, cut, sql, version, rows, hard, mode, t0) -> Result:
        note = None
        if cut and rows >= hard and mode == "sync":
            note = (
                f"the result was cut at {hard} rows, the limit of a synchronous query; "
                f"submit the query as an async job (/tap/async) for up to "
                f"{self.limits.async_max_rows} rows"
            )
        return Result(
            table=table,
            overflow=bool(cut),
            sql=sql,
            version=version,
            meta=self._meta,
            note=note,
            elapsed_s=time.perf_counter() - t0,
        )

    def close(self) -> None:
        self.pool.close()
        self.side.close()
