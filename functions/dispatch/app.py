"""Events-table stream -> one job per matching task, started as a Step Functions execution."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from cloudphot.aws.dispatch import dispatch_stream_record
from cloudphot.platform import current_platform

logger = Logger(service="cloudphot")
tracer = Tracer(service="cloudphot")
metrics = Metrics(namespace="cloudphot", service="cloudphot")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    platform = current_platform()
    started = dispatch_stream_record(
        record.raw_event, svc=platform.services, starter=platform.starter
    )
    metrics.add_metric("JobsStarted", MetricUnit.Count, len(started))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict, context) -> dict:
    # failed records are reported back so only they are retried (and then go to the DLQ)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
