"""``/tap/mydb``: list, upload, download and drop your personal tables over HTTP.

``GET /tap/mydb`` lists them (VOTable: name, rows, columns, bytes, modified);
``POST /tap/mydb`` with ``name`` and a file part ``table`` (VOTable, CSV or Parquet)
uploads one; ``GET /tap/mydb/<name>`` downloads it (``RESPONSEFORMAT`` as for TAP);
``DELETE /tap/mydb/<name>`` (or ``POST`` with ``ACTION=DELETE``) drops it. Anonymous
requests are refused (401): personal tables belong to authenticated users.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import QueryRefused
from . import formats
from .accounts import Unauthorized
from .mydb import MyDb
from .params import read_params
from .tap import error_response
from .uploads import read_table_bytes

__all__ = ["MyDbEndpoints"]


class MyDbEndpoints:
    def __init__(self, mydb: MyDb, identify: Callable[[Request], str | None], max_bytes: int):
        self.mydb, self.identify, self.max_bytes = mydb, identify, max_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/mydb", self.collection, methods=["GET", "POST"]),
            Route("/mydb/{name}", self.table, methods=["GET", "POST", "DELETE"]),
        ]

    def _user(self, request: Request) -> str:
        user = self.identify(request)
        if user is None:
            raise Unauthorized(
                "personal tables belong to authenticated users: send Authorization: Bearer "
                "TOKEN (a token comes from 'cloudphot user add NAME')"
            )
        return user

    async def collection(self, request: Request) -> Response:
        try:
            user = self._user(request)
            if request.method == "POST":
                p = await read_params(request, max_file_bytes=self.max_bytes)
                name = (p.get("NAME") or "").strip()
                data = p.files.get("table")
                if not name or data is None:
                    raise QueryRefused(
                        "POST name=NAME and a file part named 'table' (VOTable, CSV or Parquet)"
                    )
                table = read_table_bytes(data, name, self.max_bytes)
                saved = await anyio.to_thread.run_sync(lambda: self.mydb.save(user, name, table))
                return Response(
                    f"stored mydb.{saved.name}: {saved.rows} rows, {saved.columns} columns\n",
                    status_code=201,
                    media_type="text/plain",
                )
            listing = await anyio.to_thread.run_sync(lambda: self.mydb.list(user))
            t = pa.table(
                {
                    "name": pa.array([x.name for x in listing], pa.string()),
                    "rows": pa.array([x.rows for x in listing], pa.int64()),
                    "columns": pa.array([x.columns for x in listing], pa.int32()),
                    "bytes": pa.array([x.size for x in listing], pa.int64()),
                    "modified": pa.array([x.modified for x in listing], pa.string()),
                }
            )
            q = request.query_params
            fmt = formats.output_format(q.get("RESPONSEFORMAT") or q.get("FORMAT"))
            return Response(formats.serialize(t, fmt), media_type=fmt.mime)
        except Exception as exc:
            return error_response(exc)

    async def table(self, request: Request) -> Response:
        try:
            user = self._user(request)
            name = request.path_params["name"]
            p = await read_params(request)
            if request.method == "DELETE" or (
                request.method == "POST" and (p.get("ACTION") or "").upper() == "DELETE"
            ):
                await anyio.to_thread.run_sync(lambda: self.mydb.drop(user, name))
                return Response(f"dropped mydb.{name}\n", media_type="text/plain")
            fmt = formats.output_format(p.get("RESPONSEFORMAT") or p.get("FORMAT"))
            table = await anyio.to_thread.run_sync(lambda: self.mydb.load(user, name))
            return Response(formats.serialize(table, fmt), media_type=fmt.mime)
        except Exception as exc:
            return error_response(exc)
