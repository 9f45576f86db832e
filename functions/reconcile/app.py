"""Lambda entry point: hourly, store the event of every raw upload whose notification was lost."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.scheduled import reconcile_step

handler = make_handler(reconcile_step, metric="ReconcileRuns")
