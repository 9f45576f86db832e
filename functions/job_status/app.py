"""Lambda entry point: EventBridge "Step Functions Execution Status Change" -> the job's state."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.steps import record_execution_status

handler = make_handler(record_execution_status, metric="JobStatusChanges")
