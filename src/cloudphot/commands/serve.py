"""``cloudphot serve``: the web monitor (tree, job pages, execution graphs, retry) on localhost."""

from __future__ import annotations

from ._common import open_runtime

__all__ = ["add_commands"]


def add_commands(sub) -> None:
    p = sub.add_parser("serve", help="the web monitor: live tree, job pages, state graphs, retry")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free one; default 8765)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; the retry button changes state, "
        "so do not expose it without authentication)",
    )
    p.add_argument("--log-requests", action="store_true", help="print one line per request")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from ..monitor.web import MonitorApp, serve

    if not 0 <= args.port <= 65535:
        from ..errors import ConfigError

        raise ConfigError(f"--port {args.port}: not a TCP port")
    rt = open_runtime(args)
    app = MonitorApp(rt)
    app.log_requests = args.log_requests
    try:
        serve(
            app,
            args.host,
            args.port,
            ready=lambda url: print(
                f"cloudphot monitor for {rt.settings.home} at {url} (Ctrl-C to stop)", flush=True
            ),
        )
    except KeyboardInterrupt:
        pass
    finally:
        app.wait_idle(timeout=5)
        rt.close()
    return 0
