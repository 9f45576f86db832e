"""The small pipeline steps behind the Lambda functions."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..errors import InvalidEvent
from ..events import object_created_event
from ..validate import mapping, s3_key, text
from .services import Services

__all__ = [
    "exposure_version",
    "read_uploaded_exposure",
    "record_object_created",
    "require",
]

log = logging.getLogger(__name__)


def require(request: Any, *fields: str, where: str = "request") -> dict:
    """Check a step's request is an object with the given non-empty string fields."""
    request = mapping(request, where)
    for f in fields:
        text(request, f, where)
    return request


def record_object_created(notification: dict, svc: Services) -> dict:
    """S3 notification -> stored ``object.created`` event (duplicates are no-ops)."""
    event = object_created_event(notification, svc.bucket_roles())
    new = svc.store.record(event)
    if not new:
        log.info("duplicate notification for %s (event %s)", event.subject, event.event_id)
    return {"event_id": event.event_id, "new": new}


def read_uploaded_exposure(request: dict, svc: Services) -> dict:
    """Validate an uploaded exposure; return its metadata record and the etag it replaces.

    Returns ``{"exposure": record, "seen_etag": etag}``: the state machine stores the
    record only if the exposure's item still has ``seen_etag`` (``"-"``: no item), so
    two uploads claiming one exposure id never silently overwrite each other.

    Raises :class:`~cloudphot.errors.InvalidExposure` naming the object and what is
    wrong, or :class:`~cloudphot.errors.DuplicateExposure` when another object already
    registered this exposure id; the state machine records either as an
    ``exposure.rejected`` event.
    """
    from ..errors import InvalidExposure, ObjectNotFound
    from ..fits.exposure import read_exposure

    require(request, "bucket")
    bucket, key = request["bucket"], s3_key(request, "key", "request")
    etag = text(request, "etag", "request", optional=True, empty=True, max_len=200) or ""
    text(request, "job_id", "request", optional=True)
    uri = f"s3://{bucket}/{key}"
    try:
        # the record describes the bytes read: a rerun after the file was replaced in
        # place registers the replacement, under its own etag
        current = svc.objects.head(bucket, key).etag or etag
        with svc.objects.local_path(bucket, key) as path:
            meta = read_exposure(path, source=uri)
    except ObjectNotFound:
        raise InvalidExposure(uri, "the object no longer exists (deleted after upload?)") from None
    if etag and current != etag:
        meta.notes.append(f"the object changed since its event (etag {etag}); read etag {current}")
    record = meta.to_record()
    record.update({"bucket": bucket, "key": key, "etag": current})
    return exposure_version(record, svc.tables.get("exposures", record["exposure_id"]), request)


def exposure_version(record: dict, existing: dict | None, request: dict) -> dict:
    """The record as a version of the exposure already stored (if any): its lineage.

    The same object (bucket and key) uploaded again with new content is a new version:
    ``versions`` lists every one, oldest first. Any other object claiming the id is
    refused, naming the object that holds it.
    """
    from ..errors import DuplicateExposure

    this = {k: record[k] for k in ("bucket", "key", "etag")} | {"job_id": request.get("job_id")}
    if existing is None:
        return {"exposure": {**record, "versions": [this]}, "seen_etag": "-"}
    prior = existing.get("record")
    prior = json.loads(prior) if isinstance(prior, str) else (prior or {})
    held = f"s3://{existing.get('bucket')}/{existing.get('key')}"
    if (existing.get("bucket"), existing.get("key")) != (record["bucket"], record["key"]):
        raise DuplicateExposure(
            f"s3://{record['bucket']}/{record['key']}",
            f"exposure {record['exposure_id']} (its ROOTNAME) is already registered from "
            f"{held} (etag {existing.get('etag') or '?'}); a second object cannot replace it. "
            f"To replace the exposure, upload the new file to {held} itself (a new version, "
            "kept in its lineage); if this is a different exposure, fix its ROOTNAME",
        )
    versions = list(prior.get("versions") or [])
    if not versions or versions[-1].get("etag") != record["etag"]:
        versions.append(this)
    return {"exposure": {**record, "versions": versions}, "seen_etag": existing.get("etag") or ""}


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
    job_id = job_id_from_execution_name(text(detail, "name", "detail", max_len=80))
    status = text(detail, "status", "detail", max_len=40)
    for key in ("executionArn", "error", "cause", "output"):
        text(detail, key, "detail", optional=True, empty=True, max_len=262_144)
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
