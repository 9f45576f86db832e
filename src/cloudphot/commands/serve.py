"""``cloudphot serve``: the VO services (TAP, cone search, SIA, cutouts) and the web monitor."""

from __future__ import annotations

from ._common import open_runtime

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="TAP/SCS/SIA/cutouts at /tap, /scs, /sia, /cutout and the web monitor at /",
    )
    p.add_argument("--port", type=int, default=8765, help="port (0: any free one; default 8765)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; the retry button changes state, "
        "so do not expose it without authentication)",
    )
    p.add_argument("--log-requests", action="store_true", help="print one line per request")
    p.add_argument(
        "--sync-timeout", type=float, default=600.0, help="seconds a sync query may run (600)"
    )
    p.add_argument(
        "--async-timeout",
        type=float,
        default=12 * 3600.0,
        help="seconds an async job may run (43200: 12 h)",
    )
    p.add_argument(
        "--sync-max-rows", type=int, default=100_000, help="rows a sync query returns (100000)"
    )
    p.add_argument(
        "--async-max-rows", type=int, default=2_000_000, help="rows an async job returns"
    )
    p.add_argument(
        "--engines", type=int, default=2, help="catalog queries running at once (default 2)"
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from ..errors import ConfigError
    from ..monitor.web import MonitorApp
    from ..service.local import local_app, serve
    from ..service.queries import Limits

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: not a TCP port")
    for name in ("sync_timeout", "async_timeout", "sync_max_rows", "async_max_rows", "engines"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    limits = Limits(
        sync_timeout_s=args.sync_timeout,
        async_timeout_s=args.async_timeout,
        sync_max_rows=args.sync_max_rows,
        async_max_rows=max(args.async_max_rows, args.sync_max_rows),
        default_maxrec=args.sync_max_rows,
        engines=args.engines,
    )
    rt = open_runtime(args)
    monitor = MonitorApp(rt)
    monitor.log_requests = args.log_requests
    app = local_app(rt.settings, rt.objects, monitor=monitor, limits=limits)
    try:
        serve(
            app,
            args.host,
            args.port,
            log_requests=args.log_requests,
            ready=lambda url: print(
                f"cloudphot for {rt.settings.home} at {url}\n"
                f"  TAP: {url}tap  (TOPCAT: File > Table Access > TAP; pyvo.dal.TAPService)\n"
                f"  monitor: {url}  (Ctrl-C to stop)",
                flush=True,
            ),
        )
    except KeyboardInterrupt:
        pass
    finally:
        monitor.wait_idle(timeout=5)
        rt.close()
    return 0
