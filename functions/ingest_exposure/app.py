"""Validate an uploaded exposure and return its metadata (ReadExposure state)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from cloudphot.pipeline.services import services
from cloudphot.pipeline.steps import read_uploaded_exposure

logger = Logger(service="cloudphot")
tracer = Tracer(service="cloudphot")
metrics = Metrics(namespace="cloudphot", service="cloudphot")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    record = read_uploaded_exposure(event, services())
    metrics.add_metric("ExposuresRead", MetricUnit.Count, 1)
    logger.info("exposure read", extra={"exposure_id": record["exposure_id"],
                                         "filter": record["filter"]})
    return record
