"""The small pipeline steps behind the Lambda functions."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InvalidEvent
from ..events import Dispatcher, Event, JobStarter, Registry, object_created_event
from .services import Services

__all__ = ["dispatch_events", "read_uploaded_exposure", "record_object_created", "require"]

log = logging.getLogger(__name__)


def require(request: Any, *fields: str) -> dict:
    """Check a step's request has the given non-empty string fields (the narrow door)."""
    if not isinstance(request, dict):
        raise InvalidEvent(f"request must be a JSON object, got {type(request).__name__}")
    for f in fields:
        v = request.get(f)
        if not isinstance(v, str) or not v:
            raise InvalidEvent(f"request field {f!r} must be a non-empty string, got {v!r}")
    return request


def record_object_created(notification: dict, svc: Services) -> dict:
    """S3 notification -> stored ``object.created`` event (duplicates are no-ops)."""
    event = object_created_event(notification, svc.bucket_roles())
    new = svc.store.record(event)
    if not new:
        log.info("duplicate notification for %s (event %s)", event.subject, event.event_id)
    return {"event_id": event.event_id, "new": new}


def dispatch_events(
    events: list[Event], svc: Services, registry: Registry, starter: JobStarter
) -> list[str]:
    """Dispatch events; returns the ids of the jobs started."""
    dispatcher = Dispatcher(svc.store, registry, starter)
    started = []
    for event in events:
        started += [j.job_id for j in dispatcher.dispatch(event)]
    return started


def read_uploaded_exposure(request: dict, svc: Services) -> dict:
    """Validate an uploaded exposure and return its metadata record.

    Raises :class:`~cloudphot.errors.InvalidExposure` naming the object and what is
    wrong; the state machine records that as an ``exposure.rejected`` event.
    """
    from ..errors import InvalidExposure, ObjectNotFound
    from ..fits.exposure import read_exposure

    require(request, "bucket", "key")
    bucket, key = request["bucket"], request["key"]
    uri = f"s3://{bucket}/{key}"
    try:
        with svc.objects.local_path(bucket, key) as path:
            record = read_exposure(path, source=uri).to_record()
    except ObjectNotFound:
        raise InvalidExposure(uri, "the object no longer exists (deleted after upload?)") from None
    record.update({"bucket": bucket, "key": key, "etag": request.get("etag", "")})
    return record


_SFN_TO_JOB = {
    "RUNNING": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "TIMED_OUT": "FAILED",
    "ABORTED": "ABORTED",
}


def job_id_from_execution_name(name: str) -> str:
    """Execution names are job ids, with ``-rN`` appended for the Nth rerun."""
    import re

    m = re.fullmatch(r"(.+-[0-9a-f]{16})(?:-r\d+)?", name)
    if not m:
        raise InvalidEvent(f"execution name {name!r} is not a cloudphot job id")
    return m.group(1)


def record_execution_status(notification: dict, svc: Services) -> dict:
    """EventBridge "Step Functions Execution Status Change" -> the job's state.

    Only moves a job forward: a late RUNNING notification never overwrites a
    finished state (EventBridge does not guarantee order).
    """
    from ..errors import ConditionFailed, ItemNotFound
    from ..events import JobState

    detail = notification.get("detail") if isinstance(notification, dict) else None
    if not isinstance(detail, dict) or "name" not in detail or "status" not in detail:
        raise InvalidEvent("not a Step Functions Execution Status Change notification")
    job_id = job_id_from_execution_name(str(detail["name"]))
    status = str(detail["status"])
    if status not in _SFN_TO_JOB:
        raise InvalidEvent(f"execution {detail['name']}: unknown status {status!r}")
    state = JobState(_SFN_TO_JOB[status])
    try:
        job = svc.store.job(job_id)
    except ItemNotFound:
        log.warning("status change for unknown job %s (execution %s)", job_id, detail["name"])
        return {"job_id": job_id, "updated": False}
    if job.state.finished and state is JobState.RUNNING:
        return {"job_id": job_id, "updated": False}
    fields = {"execution_id": detail.get("executionArn")}
    if state.finished:
        fields.update(
            error=detail.get("error"), cause=detail.get("cause"), output=detail.get("output")
        )
    try:
        svc.store.transition(job_id, state, expect=job.state, **fields)
    except ConditionFailed:
        return {"job_id": job_id, "updated": False}
    return {"job_id": job_id, "updated": True, "state": state.value}
