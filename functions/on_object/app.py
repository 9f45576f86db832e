"""S3 Object Created (EventBridge) -> an object.created event in the events table."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from cloudphot.pipeline.services import services
from cloudphot.pipeline.steps import record_object_created

logger = Logger(service="cloudphot")
tracer = Tracer(service="cloudphot")
metrics = Metrics(namespace="cloudphot", service="cloudphot")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    result = record_object_created(event, services())
    metrics.add_metric("ObjectNotifications", MetricUnit.Count, 1)
    if not result["new"]:
        metrics.add_metric("DuplicateNotifications", MetricUnit.Count, 1)
    return result
