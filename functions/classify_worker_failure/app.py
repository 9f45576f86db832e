"""Lambda entry point: Decide what a failed photometry task costs and whether it runs again."""

from cloudphot.pipeline.handler import make_handler
from cloudphot.pipeline.reduce import classify_worker_failure

handler = make_handler(classify_worker_failure, metric="WorkerFailuresClassified")
