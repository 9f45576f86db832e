"""Lambda entry point: hourly, store the event of every raw upload whose notification was lost."""

from cloudphot.pipeline.scheduled import reconcile_step
from cloudphot.platform import make_handler

handler = make_handler(reconcile_step, metric="ReconcileRuns")
