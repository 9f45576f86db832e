"""Lambda entry point: S3 notification -> stored ``object.created`` event (duplicates are no-ops)."""

from cloudphot.pipeline.steps import record_object_created
from cloudphot.platform import make_handler

handler = make_handler(record_object_created, metric="ObjectNotifications")
