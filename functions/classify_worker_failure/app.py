"""Lambda entry point: Decide what a failed photometry task costs and whether it runs again."""

from cloudphot.pipeline.reduce import classify_worker_failure
from cloudphot.platform import make_handler

handler = make_handler(classify_worker_failure, metric="WorkerFailuresClassified")
