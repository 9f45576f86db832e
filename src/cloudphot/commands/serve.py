"""``cloudphot serve``: the VO services (TAP, cone search, SIA, cutouts) and the web monitor."""

from __future__ import annotations

from ._common import open_local

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
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (default: the bound address, "
        "localhost, 127.0.0.1 and ::1 only; a guard against DNS rebinding)",
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

    u = sub.add_parser("user", help="accounts of the TAP service: tokens for personal tables")
    u.add_argument(
        "action",
        choices=["add", "list", "remove", "token"],
        help="add NAME (prints a token), list, remove NAME, token NAME (a new token)",
    )
    u.add_argument("name", nargs="?", help="user name (add, remove, token)")
    u.set_defaults(func=cmd_user)


def cmd_serve(args) -> int:
    from ..errors import ConfigError
    from ..service.local import guarded_app, serve
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
    platform = open_local(args)
    app, monitor = guarded_app(platform, host=args.host, allow_hosts=args.allow_host, limits=limits)
    monitor.log_requests = args.log_requests
    try:
        serve(
            app,
            args.host,
            args.port,
            log_requests=args.log_requests,
            ready=lambda url: print(
                f"cloudphot for {platform.where} at {url}\n"
                f"  TAP: {url}tap  (TOPCAT: File > Table Access > TAP; pyvo.dal.TAPService)\n"
                f"  query page: {url}query  (ADQL/SQL form, schema browser, downloads)\n"
                f"  monitor: {url}  (Ctrl-C to stop)",
                flush=True,
            ),
        )
    except KeyboardInterrupt:
        pass
    finally:
        monitor.wait_idle(timeout=5)
        platform.close()
    return 0


def cmd_user(args) -> int:
    """``cloudphot user add NAME`` prints the new token once (it is stored hashed)."""
    from ..errors import ConfigError
    from ..service.accounts import UserStore
    from ._common import settings_from_args

    settings = settings_from_args(args)
    if not settings.tables_path.exists():
        raise ConfigError(f"no workspace at {settings.home}; run 'cloudphot init' first")
    users = UserStore(settings.home / "service.sqlite")
    if args.action == "list":
        for name in users.names():
            print(name)
        return 0
    if not args.name:
        raise ConfigError(f"'cloudphot user {args.action}' needs a NAME")
    if args.action == "remove":
        if not users.remove(args.name):
            raise ConfigError(f"no user {args.name!r}")
        print(f"removed {args.name} (their personal tables stay in the store)")
        return 0
    token = users.add(args.name) if args.action == "add" else users.new_token(args.name)
    print(f"user {args.name}: token {token}")
    print("  pyvo:   s = requests.Session(); s.headers['Authorization'] = 'Bearer ' + TOKEN")
    print("          pyvo.dal.TAPService('http://127.0.0.1:8765/tap', session=s)")
    print(f"  TOPCAT: user {args.name}, password = the token (HTTP Basic)")
    return 0
