"""Lambda entry point: EventBridge "Step Functions Execution Status Change" -> the job's state."""

from cloudphot.pipeline.steps import record_execution_status
from cloudphot.platform import make_handler

handler = make_handler(record_execution_status, metric="JobStatusChanges")
