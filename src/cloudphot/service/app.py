"""One ASGI application for ``cloudphot serve``: the VO services and the web monitor.

``/tap`` (TAP 1.1 + VOSI), ``/scs``, ``/sia``, ``/cutout`` and the web query page
``/query`` (a client of ``/tap``, :mod:`.webpage`) are Starlette routes;
everything else goes to the monitor, whose routes stay a plain function of the
request (:meth:`cloudphot.monitor.web.MonitorApp.handle`) and are called here
through a small ASGI adapter in a worker thread, exactly as its stdlib server and
its Lambda handler call them. So the monitor keeps its URLs, tests and AWS handler,
and one port serves both. Locally uvicorn runs the app; on AWS Mangum adapts API
Gateway events to it (``functions/tap/app.py``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from .queries import EnginePool, Limits, QueryService
from .tap import TapEndpoints

__all__ = ["MonitorASGI", "ServiceParts", "build_query_service", "create_app"]


class MonitorASGI:
    """ASGI wrapper around the monitor's ``handle(method, path, query, body)``."""

    def __init__(self, monitor, max_body: int = 64 * 1024):
        self.monitor = monitor
        self.max_body = max_body
        params = inspect.signature(monitor.handle).parameters
        self._takes_headers = "headers" in params

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_body:
                await _send(
                    send,
                    413,
                    {"Content-Type": "application/json"},
                    b'{"error": "request body too large", "status": 413}',
                )
                return
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        kwargs: dict[str, Any] = {}
        if self._takes_headers:
            kwargs["headers"] = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
        status, headers, data = await anyio.to_thread.run_sync(
            lambda: self.monitor.handle(scope["method"], path, query, body, **kwargs)
        )
        headers = {**headers, "Content-Length": str(len(data))}
        await _send(send, status, headers, b"" if scope["method"] == "HEAD" else data)


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class ServiceParts:
    """What the app serves: the query service, async jobs, and optionally the monitor."""

    queries: QueryService
    jobs: Any | None = None  # uws.AsyncJobs
    #: SIA and cutouts: the images (dal.ImageIndex) and the store that holds them
    images: Any | None = None
    objects: Any | None = None
    #: personal tables (mydb.MyDb) and who is asking (request -> user name or None)
    mydb: Any | None = None
    identify: Callable | None = None
    monitor: Any | None = None
    #: where the web query page sends requests that carry a token ("user/" on AWS,
    #: whose JWT authorizer guards /user/...; "" where the token goes with any request)
    auth_prefix: str = ""


def build_query_service(
    survey: str,
    engine_factory: Callable[[], Any],
    latest_version: Callable[[], int | None] | None,
    limits: Limits | None = None,
) -> QueryService:
    limits = limits or Limits()
    pool = EnginePool(engine_factory, limits.engines, latest_version=latest_version)
    return QueryService(survey, pool, limits)


def create_app(parts: ServiceParts) -> Starlette:
    identify = parts.identify or (lambda request: None)
    tap = TapEndpoints(
        parts.queries, identify=identify, mydb=parts.mydb, has_async=parts.jobs is not None
    )
    tap_routes = tap.routes()
    if parts.jobs is not None:
        from .uws import UwsEndpoints

        parts.jobs.mydb = parts.mydb
        tap_routes = UwsEndpoints(parts.jobs, owner_of=identify).routes() + tap_routes
    if parts.mydb is not None:
        from .mydb_routes import MyDbEndpoints

        mine = MyDbEndpoints(parts.mydb, identify, parts.queries.limits.max_upload_bytes)
        tap_routes = mine.routes() + tap_routes
    from .webpage import QueryPage

    page = QueryPage(parts.queries.survey, parts.queries.limits.sync_max_rows, parts.auth_prefix)
    routes: list[Route | Mount] = [Mount("/tap", routes=tap_routes), *page.routes()]
    if parts.images is not None and parts.objects is not None:  # cutouts read the store
        from .dal import DalEndpoints

        routes += DalEndpoints(parts.queries, parts.images, parts.objects).routes()
    if parts.monitor is not None:
        routes.append(Mount("/", app=MonitorASGI(parts.monitor)))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            if parts.jobs is not None:
                await anyio.to_thread.run_sync(parts.jobs.requeue)
            yield
        finally:
            if parts.jobs is not None and hasattr(parts.jobs.runner, "close"):
                parts.jobs.runner.close()
            parts.queries.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.parts = parts
    return app
