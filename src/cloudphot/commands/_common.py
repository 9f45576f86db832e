"""Helpers shared by the CLI command modules: every command sees only the platform."""

from __future__ import annotations

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
    "settings_from_args",
    "short",
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


def settings_from_args(args) -> Settings:
    return Settings.from_env(home=getattr(args, "workdir", None))


def open_platform_for(args, **options: Any) -> Platform:
    """The workspace's platform, or with CLOUDPHOT_BACKEND=aws the deployed stack
    (CLOUDPHOT_STACK names it; its outputs name the buckets and tables)."""
    return open_platform(settings_from_args(args), from_stack=True, **options)


def open_local(args, *, must_exist: bool = True, **options: Any) -> Platform:
    """The platform of a command that drives the local runtime; refused elsewhere.

    ``options`` go to the local runner (``max_workers``...), once the platform is local.
    """
    settings = settings_from_args(args)
    open_platform(settings).require_local(args.command, must_exist=must_exist)  # opens nothing
    return open_platform(settings, **options)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def short(text: str | None, n: int = 160) -> str:
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def workdir_flag(args) -> str:
    return f" --workdir {Path(args.workdir)}" if getattr(args, "workdir", None) else ""
