"""TAP 1.1 over HTTP: ``/sync``, VOSI ``/capabilities``, ``/availability``, ``/tables``.

Routes are Starlette endpoints (ASGI: uvicorn locally, Mangum behind API Gateway +
Lambda). The blocking query runs in a worker thread; the engine pool bounds how
many run at once (:mod:`.queries`). Every failure a client can cause comes back as
a DALI error VOTable with the reason and a 4xx status, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import CloudphotError, DataError, QueryRefused
from . import adql, formats, vosi
from .accounts import Unauthorized
from .params import Params, read_params
from .queries import Busy, QueryService, Result
from .uploads import read_uploads

__all__ = ["TapEndpoints", "error_response", "query_args", "result_response", "run_tap"]

log = logging.getLogger(__name__)
XML = "text/xml; charset=utf-8"


def error_response(exc: Exception | str, status: int | None = None) -> Response:
    """A DALI error document (VOTable, QUERY_STATUS=ERROR) with a fitting status."""
    if isinstance(exc, str):
        msg, code = exc, status or 400
    elif isinstance(exc, Unauthorized):
        msg, code = str(exc), 401
    elif isinstance(exc, Busy):
        msg, code = str(exc), 503
    elif isinstance(exc, (QueryRefused, DataError)):
        msg, code = str(exc), status or 400
    elif isinstance(exc, CloudphotError):
        msg, code = f"{type(exc).__name__}: {exc}", status or 500
    else:
        log.exception("internal error answering a TAP request")
        msg, code = f"internal error ({type(exc).__name__}); the service log has details", 500
    headers = {"Retry-After": "5"} if code == 503 else None
    if code == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="cloudphot", Basic realm="cloudphot"'}
    return Response(
        formats.error_votable(msg),
        status_code=code,
        media_type=formats.VOTABLE_MIME,
        headers=headers,
    )


def result_response(result: Result, fmt: formats.OutputFormat) -> Response:
    infos = {}
    if result.version is not None:
        infos["CATALOG_VERSION"] = str(result.version)
    if result.note:
        infos["WARNING"] = result.note
    body = formats.serialize(result.table, fmt, result.meta, overflow=result.overflow, infos=infos)
    headers = {"X-Query-Status": "OVERFLOW" if result.overflow else "OK"}
    if result.note:
        headers["X-Query-Note"] = result.note
    return Response(body, media_type=fmt.mime, headers=headers)


def query_args(p: Params) -> tuple[str, str, int | None, formats.OutputFormat]:
    """(QUERY, LANG, MAXREC, format) of a doQuery request, checked."""
    request = p.get("REQUEST")
    if request is not None and request.strip().lower() != "doquery":
        raise QueryRefused(f"REQUEST={request!r}: this endpoint answers REQUEST=doQuery")
    lang = p.get("LANG")
    if lang is None or not lang.strip():
        raise QueryRefused("LANG is missing: pass LANG=ADQL (or LANG=SQL for PostgreSQL)")
    query = p.get("QUERY")
    if query is None or not query.strip():
        raise QueryRefused("QUERY is missing: pass the ADQL query as QUERY=...")
    maxrec = p.int("MAXREC")
    fmt = formats.output_format(p.get("RESPONSEFORMAT") or p.get("FORMAT"))
    return query, lang, maxrec, fmt


def run_tap(
    service: QueryService,
    mydb,
    user: str | None,
    p: Params,
    mode: str,
    uploads: dict,
    **kw,
) -> Result:
    """One TAP query with the asking user's personal tables, storing ``INTO mydb.x``
    (or an async job's ``MYDB=x``) as their table ``x``."""
    query, lang, maxrec, _ = query_args(p)
    query, into = adql.split_into(query)
    into = into or (p.get("MYDB") or "").strip().lower() or None
    if into is not None:
        if user is None:
            raise QueryRefused(
                f"storing a result as mydb.{into} needs an authenticated user (send your "
                f"token: Authorization: Bearer TOKEN; tokens come from 'cloudphot user add')"
            )
        if mydb is None:
            raise QueryRefused("this service keeps no personal tables")
        if into in mydb.names(user):
            raise QueryRefused(f"you already have a table mydb.{into}; drop it first")
    tables = dict(uploads)
    names = adql.mydb_names(query)
    if names:
        if mydb is None:
            raise QueryRefused("this service keeps no personal tables (mydb)")
        tables.update(mydb.tables_for(user, names))
    result = service.execute(query, lang, maxrec=maxrec, mode=mode, tables=tables, **kw)
    if into is not None:
        mydb.save(user, into, result.table)
        stored = f"the result ({result.table.num_rows} rows) is stored as mydb.{into}"
        result.note = f"{result.note}; {stored}" if result.note else stored
    return result


class TapEndpoints:
    """The routes of one TAP service under ``/tap``."""

    def __init__(
        self,
        service: QueryService,
        *,
        identify: Callable[[Request], str | None] | None = None,
        mydb=None,
        has_async: bool = False,
    ):
        self.service = service
        self.has_async = has_async
        self.started = datetime.now(UTC)
        self.identify = identify or (lambda request: None)
        self.mydb = mydb

    def base_url(self, request: Request) -> str:
        root = str(request.base_url).rstrip("/")
        return f"{root}/tap"

    def _extra_tables(self, request: Request) -> list:
        """The asking user's personal tables, for /tables (anonymous: none)."""
        user = self.identify(request)
        if user is None or self.mydb is None:
            return []
        return self.mydb.table_meta(user)

    def routes(self) -> list[Route]:
        return [
            Route("/sync", self.sync, methods=["GET", "POST"]),
            Route("/capabilities", self.capabilities, methods=["GET"]),
            Route("/availability", self.availability, methods=["GET"]),
            Route("/tables", self.tables, methods=["GET"]),
            Route("/tables/{name:path}", self.table, methods=["GET"]),
            Route("/", self.home, methods=["GET"]),
        ]

    async def home(self, request: Request) -> Response:
        base = self.base_url(request)
        text = (
            f"cloudphot TAP service ({self.service.survey})\n\n"
            f"  synchronous queries   {base}/sync\n"
            f"  asynchronous jobs     {base}/async\n"
            f"  capabilities          {base}/capabilities\n"
            f"  tables                {base}/tables\n"
            f"  web query page        {str(request.base_url).rstrip('/')}/query\n\n"
            f"TOPCAT: File > Table Access > TAP, URL {base}\n"
            f"pyvo:   pyvo.dal.TAPService('{base}').search('SELECT TOP 10 * FROM "
            f"{self.service.survey}.phot_mod')\n"
        )
        return Response(text, media_type="text/plain; charset=utf-8")

    async def sync(self, request: Request) -> Response:
        try:
            p = await read_params(request, max_file_bytes=self.service.limits.max_upload_bytes)
            _, _, _, fmt = query_args(p)
            uploads = await read_uploads(
                p, self.service.limits.max_upload_bytes, allow_loopback=self.service.limits.local
            )
            user = self.identify(request)
            result = await anyio.to_thread.run_sync(
                lambda: run_tap(self.service, self.mydb, user, p, "sync", uploads)
            )
            return result_response(result, fmt)
        except Exception as exc:
            return error_response(exc)

    async def capabilities(self, request: Request) -> Response:
        body = vosi.capabilities_xml(
            self.base_url(request), self.service.limits, has_async=self.has_async
        )
        return Response(body, media_type=XML)

    async def availability(self, request: Request) -> Response:
        pool = self.service.pool
        note = (
            f"cloudphot TAP for {self.service.survey}: {pool.in_use} of {pool.size} "
            f"query slots busy"
        )
        body = vosi.availability_xml(True, self.started, note)
        return Response(body, media_type=XML)

    async def tables(self, request: Request) -> Response:
        detail = request.query_params.get("detail", "max").lower() != "min"
        body = vosi.tables_xml(self.service.survey, self._extra_tables(request), detail=detail)
        return Response(body, media_type=XML)

    async def table(self, request: Request) -> Response:
        from .tap_schema import all_tables

        name = request.path_params["name"].lower()
        for t in [*all_tables(self.service.survey), *self._extra_tables(request)]:
            if t.name.lower() == name:
                return Response(vosi.table_xml(t, self.service.survey), media_type=XML)
        return Response(
            f"no table {request.path_params['name']!r}; see /tap/tables",
            status_code=404,
            media_type="text/plain",
        )
