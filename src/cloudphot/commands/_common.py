"""Helpers shared by the CLI command modules: every command sees only the platform."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import describe_error
from ..platform import Platform, open_platform
from ..settings import Settings

__all__ = [
    "STATE_STYLE",
    "console",
    "describe_error",
    "open_local",
    "open_platform_for",
    "positive_float",
    "positive_int",
    "refuse_read_only",
    "settings_from_args",
    "short",
    "since_time",
    "workdir_flag",
]

STATE_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "RUNNING": "yellow",
    "STARTED": "yellow",  # an execution the AWS runner started
    "PENDING": "cyan",
    "ABORTED": "magenta",
    "TIMED_OUT": "bold red",
}


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (--workers, --max-rows, --limit...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (--timeout...)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def settings_from_args(args) -> Settings:
    settings = Settings.from_env(home=getattr(args, "workdir", None))
    _check_workspace_path(Path(settings.home))
    return settings


def _check_workspace_path(home: Path) -> None:
    """A workspace is a folder: say so when the path is a file or lies under one (the
    OS would report FileExistsError or NotADirectoryError from deep inside)."""
    from ..errors import ConfigError

    for p in (home, *home.parents):
        if p.exists() and not p.is_dir():
            where = "is a file" if p == home else f"lies under {p}, which is a file"
            raise ConfigError(
                f"workspace {home} {where}, not a folder: give --workdir (or $CLOUDPHOT_HOME) "
                "a folder, new or made by 'cloudphot init'"
            )
        if p.exists():
            return


def refuse_read_only(platform: Platform, args) -> None:
    """Commands that change the workspace say at once when they may not (reading ones
    work on a read-only workspace)."""
    from ..errors import ConfigError

    if getattr(platform.tables, "read_only", False):
        raise ConfigError(
            f"the workspace {platform.settings.home} is read-only for you: 'cloudphot "
            f"{args.command}' changes it. Reading commands (status, tree, executions, "
            "history, cost, query) work; to change it, use a workspace you can write"
        )


def open_platform_for(args, *, must_exist: bool = True, **options: Any) -> Platform:
    """The workspace's platform, or with CLOUDPHOT_BACKEND=aws the deployed stack
    (CLOUDPHOT_STACK names it; its outputs name the buckets and tables). A local
    workspace that is not there is refused (``must_exist``)."""
    platform = open_platform(settings_from_args(args), from_stack=True, **options)
    if must_exist:
        platform.require_workspace()
    return platform


def open_local(args, *, must_exist: bool = True, **options: Any) -> Platform:
    """The platform of a command that drives the local runtime; refused elsewhere.

    ``options`` go to the local runner (``max_workers``...), once the platform is local.
    """
    settings = settings_from_args(args)
    open_platform(settings).require_local(args.command, must_exist=must_exist)  # opens nothing
    return open_platform(settings, **options)


def console(stderr: bool = False):
    """Rich output for people: lines are never wrapped by us (a command in a message stays
    one line to copy; the terminal wraps it), and into a pipe or a file tables keep their
    natural width instead of being cut to 80 columns."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wide = None if stream.isatty() else 10_000
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=wide)


def short(text: str | None, n: int = 160) -> str:
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def workdir_flag(args) -> str:
    return f" --workdir {Path(args.workdir)}" if getattr(args, "workdir", None) else ""


_AGE_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "w": 604800}


def since_time(text: str) -> str:
    """``--since``: an ISO date/time, ``today``, ``yesterday`` or an age (``2h``, ``30min``,
    ``3d ago``) as the ISO UTC time the tables' ``created_at`` compare with; argparse
    reports anything else with the forms it takes."""
    import argparse
    import re
    from datetime import UTC, datetime, timedelta

    def iso(when: datetime) -> str:  # the tables' format (events.model.utcnow)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    raw = text.strip().lower()
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if raw in ("today", "yesterday"):
        when = midnight - timedelta(days=1 if raw == "yesterday" else 0)
        return iso(when)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+?)s?(?:\s+ago)?", raw)
    if m and m.group(2) in _AGE_UNITS:
        return iso(now - timedelta(seconds=float(m.group(1)) * _AGE_UNITS[m.group(2)]))
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give an ISO date or time (2026-12-03, 2026-12-03T14:00Z), "
            "today, yesterday, or an age such as 2h, 30min, 3d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return iso(when.astimezone(UTC))
