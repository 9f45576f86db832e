"""Helpers shared by the CLI command modules."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..settings import Settings

__all__ = ["STATE_STYLE", "console", "open_runtime", "settings_from_args"]

STATE_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "RUNNING": "yellow",
    "PENDING": "cyan",
    "ABORTED": "magenta",
    "TIMED_OUT": "bold red",
}


def settings_from_args(args) -> Settings:
    return Settings.from_env(home=getattr(args, "workdir", None))


def open_pipeline(args, **kwargs):
    """The local runtime, or with CLOUDPHOT_BACKEND=aws the deployed stack (CLOUDPHOT_STACK)."""
    settings = settings_from_args(args)
    if settings.backend != "aws":
        return open_runtime(args, **kwargs)
    from ..aws.dispatch import StepFunctionsStarter
    from ..aws.stack import AwsPipeline, deployed_settings
    from ..storage import open_object_store, open_tables

    stack_settings, arns = deployed_settings()
    return AwsPipeline(
        stack_settings,
        open_object_store(stack_settings),
        open_tables(stack_settings),
        StepFunctionsStarter(arns),
    )


def open_runtime(args, *, must_exist: bool = True, **kwargs):
    from ..runtime.local import LocalRuntime

    settings = settings_from_args(args)
    if settings.backend != "local":
        raise ConfigError(
            f"'cloudphot {args.command}' drives the local runtime; with "
            "CLOUDPHOT_BACKEND=aws the deployed pipeline runs by itself "
            "(watch it in the Step Functions console)"
        )
    if must_exist and not settings.tables_path.exists():
        raise ConfigError(
            f"no workspace at {settings.home}; run 'cloudphot init' first "
            "(or pass --workdir / set CLOUDPHOT_HOME)"
        )
    return LocalRuntime(settings, **kwargs)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def short(text: str | None, n: int = 160) -> str:
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def describe_error(error: str | None, cause: str | None) -> str:
    """A one-line reason: the Lambda errorMessage inside a cause JSON when there is one."""
    import json

    if cause:
        try:
            doc = json.loads(cause)
            if isinstance(doc, dict):
                if "errorMessage" in doc:
                    return f"{error}: {doc['errorMessage']}"
                if "Containers" in doc:  # ECS task description
                    c = (doc.get("Containers") or [{}])[0]
                    return (
                        f"{error}: {doc.get('StopCode')} ({doc.get('StoppedReason')}), "
                        f"exit code {c.get('ExitCode')} {c.get('Reason') or ''}"
                    ).strip()
        except (json.JSONDecodeError, TypeError):
            pass
    return f"{error}: {cause}" if cause else str(error or "")


def workdir_flag(args) -> str:
    return f" --workdir {Path(args.workdir)}" if getattr(args, "workdir", None) else ""
