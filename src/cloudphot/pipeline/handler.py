"""Every Lambda function has the same anatomy: Powertools logging, tracing and metrics
around one library step. ``functions/<name>/app.py`` is two lines that call this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .services import Services, services

__all__ = ["make_handler"]

Step = Callable[[Any, Services], Any]


def make_handler(step: Step, *, metric: str) -> Callable[[dict, Any], Any]:
    """Wrap ``step(event, services)`` as a Lambda handler.

    ``<metric>Invocations`` counts calls and ``<metric>`` successful ones; errors
    propagate unchanged so Step Functions sees their class name as the error name
    (``InvalidExposure``...).
    """
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.metrics import MetricUnit

    logger = Logger(service="cloudphot")
    tracer = Tracer(service="cloudphot")
    metrics = Metrics(namespace="cloudphot", service="cloudphot")

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(raise_on_empty_metrics=False)
    def handler(event: dict, context) -> Any:
        # counted first, so a failing step still publishes a metric (and the
        # invocations-versus-successes ratio shows failures on a dashboard)
        metrics.add_metric(f"{metric}Invocations", MetricUnit.Count, 1)
        result = step(event, services())
        metrics.add_metric(metric, MetricUnit.Count, 1)
        return result

    handler.__doc__ = step.__doc__
    handler.step = step  # type: ignore[attr-defined]
    return handler
