"""``cloudphot serve`` on one machine: the VO services over the workspace's catalog,
beside the web monitor of its runtime, under one uvicorn server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ..settings import Settings
from ..storage.objects import ObjectStore
from .app import ServiceParts, build_query_service, create_app
from .queries import Limits

__all__ = ["BackgroundServer", "catalog_engine_factory", "guarded_app", "local_app", "serve"]


def catalog_engine_factory(
    settings: Settings, store: ObjectStore, limits: Limits
) -> tuple[Callable, Callable]:
    """(engine factory, latest-version probe) for the survey's catalog.

    The engine is whatever :class:`~cloudphot.catalog.api.Catalog` picks for these
    settings (DuckDB over the local partitions; Athena on AWS), sized for the
    largest result an async job may return.
    """
    from ..catalog.api import Catalog
    from ..catalog.build import latest_version

    bucket, survey = settings.bucket("products"), settings.survey

    def factory():
        return Catalog(
            settings,
            store=store,
            max_rows=limits.async_max_rows + 1,
            timeout_s=limits.async_timeout_s,
        ).engine

    return factory, lambda: latest_version(store, bucket, survey)


def local_app(
    settings: Settings,
    store: ObjectStore,
    *,
    monitor=None,
    limits: Limits | None = None,
    exposures: Callable[[], Iterable[dict]] | None = None,
    platform=None,
):
    """The ASGI app of ``cloudphot serve`` (``monitor``: a MonitorApp, or None).

    ``exposures`` lists the exposures table's items for SIA (default: the exposures
    table of ``platform``, itself by default the one ``settings`` name).
    """
    from .accounts import UserStore, user_of
    from .dal import ImageIndex
    from .images import images_from_exposures
    from .jobs import SqliteJobStore
    from .mydb import MyDb
    from .uws import AsyncJobs, LocalRunner

    if exposures is None:
        from ..platform import open_platform

        tables = open_platform(settings).tables

        def exposures():
            return tables.scan("exposures")

    limits = limits or Limits()
    factory, probe = catalog_engine_factory(settings, store, limits)
    queries = build_query_service(settings.survey, factory, probe, limits)
    jobs = AsyncJobs(
        SqliteJobStore(settings.home / "service.sqlite"),
        store,
        settings.bucket("products"),
        queries,
    )
    # one engine is always left to synchronous queries
    jobs.runner = LocalRunner(jobs, workers=max(1, limits.engines - 1))
    images = ImageIndex(lambda: images_from_exposures(exposures()))
    users = UserStore(settings.home / "service.sqlite")
    return create_app(
        ServiceParts(
            queries=queries,
            jobs=jobs,
            images=images,
            objects=store,
            mydb=MyDb(store, settings.bucket("products")),
            identify=lambda request: user_of(request.headers, users),
            monitor=monitor,
        )
    )


def guarded_app(
    platform,
    *,
    host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
    limits: Limits | None = None,
    monitor=None,
):
    """``cloudphot serve``'s whole app behind one door: (ASGI app, its MonitorApp).

    The monitor (``monitor``, default a new one over ``platform``) is guarded for
    ``host`` and ``allow_hosts`` (session token, same-origin retries), and the
    :class:`~cloudphot.service.door.Door` in front of everything answers the same
    Host names, so TAP and the monitor refuse and admit alike.
    """
    from ..monitor.web import MonitorApp
    from .door import Door

    monitor = (monitor or MonitorApp(platform)).guard(host, tuple(allow_hosts))
    app = local_app(
        platform.settings, platform.objects, monitor=monitor, limits=limits, platform=platform
    )
    return Door(app, monitor.allowed_hosts), monitor


def serve(
    app, host: str, port: int, ready: Callable[[str], None] | None = None, log_requests=False
):
    """Run ``app`` under uvicorn until interrupted; ``ready(url)`` once it listens."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if log_requests else "warning",
        access_log=log_requests,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if ready is not None:
        original = server.startup

        async def startup(sockets=None):
            await original(sockets=sockets)
            for s in server.servers:
                for sock in s.sockets:
                    h, p = sock.getsockname()[:2]
                    ready(f"http://{h}:{p}/")
                    return

        server.startup = startup  # type: ignore[method-assign]  # announce the bound URL
    server.run()


class BackgroundServer:
    """uvicorn serving ``app`` in a thread (tests, the notebook, the benchmark).

    ``port=0`` takes a free port; ``url`` is the root URL once :meth:`start` returns.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        self.thread: threading.Thread | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, name="cloudphot-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start (see the log above)")
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        h, p = sock.getsockname()[:2]
        self.url = f"http://{h}:{p}/"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(15)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
