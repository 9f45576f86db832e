"""Every Lambda function has the same anatomy: Powertools logging, tracing and metrics
around one library step, handed the platform's :class:`~cloudphot.pipeline.services.Services`.
``functions/<name>/app.py`` is two lines that call :func:`make_handler`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import CloudphotError, as_reported
from ..pipeline.services import Services, pinned_settings
from ..settings import Settings
from .base import Platform
from .factory import open_platform

__all__ = ["current_platform", "make_handler", "services"]

Step = Callable[[Any, Services], Any]

_cache: dict[tuple, Platform] = {}
_lock = threading.Lock()


def current_platform(settings: Settings | None = None) -> Platform:
    """This process's platform for ``settings`` (default: pinned, else the environment).

    Built once per settings and kept, so a warm Lambda container reuses its clients.
    """
    settings = settings or pinned_settings() or Settings.from_env()
    key = tuple(sorted(settings.as_env().items()))
    with _lock:
        if key not in _cache:
            _cache[key] = open_platform(settings)
        return _cache[key]


def services(settings: Settings | None = None) -> Services:
    """What a step is handed: this process's platform's settings, object store and tables."""
    return current_platform(settings).services


def make_handler(step: Step, *, metric: str) -> Callable[[dict, Any], Any]:
    """Wrap ``step(event, services)`` as a Lambda handler.

    ``<metric>Invocations`` counts calls and ``<metric>`` successful ones; errors
    propagate so Step Functions sees their class name as the error name
    (``InvalidExposure``...), a category's subclasses under the category's name
    (:func:`cloudphot.errors.as_reported`).
    """
    from aws_lambda_powertools import Logger, Tracer
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    logger = Logger(service="cloudphot")
    tracer = Tracer(service="cloudphot")

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler
    def handler(event: dict, context) -> Any:
        # One metric set per call: Powertools' ``Metrics`` shares one set per process,
        # and the local runtime runs Lambdas in threads, where one call's flush
        # emptied another's (its "No application metrics" warning became an error).
        metrics = AmazonCloudWatchEMFProvider(namespace="cloudphot", service="cloudphot")
        # counted first, so a failing step still publishes a metric (and the
        # invocations-versus-successes ratio shows failures on a dashboard)
        metrics.add_metric(f"{metric}Invocations", MetricUnit.Count, 1)
        try:
            result = step(event, services())
        except CloudphotError as exc:
            reported = as_reported(exc)  # a TransientError subclass as "TransientError"
            if reported is exc:
                raise
            raise reported from exc
        else:
            metrics.add_metric(metric, MetricUnit.Count, 1)
            return result
        finally:
            metrics.flush_metrics()

    handler.__doc__ = step.__doc__
    handler.step = step  # type: ignore[attr-defined]
    return handler
