"""Step Functions execution status changes (EventBridge) -> the job's state in the jobs table."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from cloudphot.pipeline.services import services
from cloudphot.pipeline.steps import record_execution_status

logger = Logger(service="cloudphot")
tracer = Tracer(service="cloudphot")
metrics = Metrics(namespace="cloudphot", service="cloudphot")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    result = record_execution_status(event, services())
    metrics.add_metric(f"Jobs{(result.get('state') or 'Unchanged').title()}", MetricUnit.Count, 1)
    return result
