"""S3 "Object Created" notifications (EventBridge shape) to cloudphot events."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidEvent
from ..validate import mapping, s3_key, text
from .model import Event, event_id_for_object

__all__ = ["object_created_event"]


def object_created_event(notification: dict[str, Any], bucket_roles: dict[str, str]) -> Event:
    """Turn an EventBridge S3 notification into an ``object.created`` event.

    ``bucket_roles`` maps physical bucket names to their role ("raw", "products"),
    so task conditions do not depend on deployment-specific bucket names; a
    notification for any other bucket is refused, as are keys S3 cannot have
    (over 1,024 UTF-8 bytes, NUL, lone surrogates) and non-string ETags.
    """
    if not isinstance(notification, dict):
        raise InvalidEvent(
            f"S3 notification must be a JSON object, got {type(notification).__name__}"
        )
    if (
        notification.get("detail-type") != "Object Created"
        or notification.get("source") != "aws.s3"
    ):
        raise InvalidEvent(
            "not an S3 Object Created notification: detail-type="
            f"{notification.get('detail-type')!r}, source={notification.get('source')!r}"
        )
    detail = mapping(notification.get("detail"), "S3 notification detail")
    bucket = text(mapping(detail.get("bucket"), "detail.bucket"), "name", "detail.bucket")
    obj = mapping(detail.get("object"), "detail.object")
    key = s3_key(obj, "key", "detail.object")
    etag = text(obj, "etag", "detail.object", optional=True, empty=True, max_len=200) or ""
    version = text(obj, "version-id", "detail.object", optional=True, max_len=1024)
    size = obj.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidEvent(f"S3 notification for {key!r}: size {size!r} is not a byte count")
    if bucket not in bucket_roles:
        known = ", ".join(f"{role}: {name}" for name, role in sorted(bucket_roles.items()))
        raise InvalidEvent(
            f"S3 notification for s3://{bucket}/{key}: bucket {bucket!r} is not one of this "
            f"stack's ({known or 'none configured'}); only its own buckets' uploads are events"
        )
    notified = notification.get("time")
    if notified is not None and not isinstance(notified, str):
        raise InvalidEvent(f"S3 notification time must be a string, got {notified!r}")
    payload = {
        "bucket": bucket,
        "key": key,
        "size": size,
        "etag": etag,
        "bucket_role": bucket_roles[bucket],
        "notified_at": notified,
    }
    if version:
        payload["version_id"] = version
    return Event(
        event_id=event_id_for_object(bucket, key, etag, version),
        type="object.created",
        subject=key,
        payload=payload,
        source="s3",
    )
