"""The one place that reads which platform cloudphot runs on (``settings.backend``)."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .base import Platform

__all__ = ["open_platform"]


def open_platform(
    settings: Settings | None = None, *, from_stack: bool = False, **options: Any
) -> Platform:
    """The platform ``settings`` name (default: from the environment).

    ``backend="local"`` (the default): the workspace at ``settings.home``; ``options``
    go to the local runner (``project_root``, ``max_workers``, ``interruptions``,
    ``sleep``). ``backend="aws"`` (``CLOUDPHOT_BACKEND=aws``): inside the stack (a
    Lambda function, an ECS task) names come from the environment the template sets;
    with ``from_stack=True`` (the operator's CLI) from the outputs of the
    CloudFormation stack ``CLOUDPHOT_STACK`` names. ``options`` then go to
    :class:`~cloudphot.aws.platform.AwsPlatform` (boto3 clients).
    """
    settings = settings or Settings.from_env()
    if settings.backend == "aws":
        from ..aws.platform import AwsPlatform

        if from_stack:
            return AwsPlatform.from_stack(**options)
        return AwsPlatform.from_env(settings, **options)
    from ..runtime.platform import LocalPlatform

    return LocalPlatform(settings, **options)
