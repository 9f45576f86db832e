"""S3 "Object Created" notifications (EventBridge shape) to cloudphot events."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidEvent
from .model import Event, event_id_for_object

__all__ = ["object_created_event"]


def object_created_event(notification: dict[str, Any], bucket_roles: dict[str, str]) -> Event:
    """Turn an EventBridge S3 notification into an ``object.created`` event.

    ``bucket_roles`` maps physical bucket names to their role ("raw", "products"),
    so task conditions do not depend on deployment-specific bucket names.
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
    detail = notification.get("detail")
    try:
        bucket = detail["bucket"]["name"]
        obj = detail["object"]
        key, size = obj["key"], obj.get("size", 0)
        etag = obj.get("etag") or ""
    except (KeyError, TypeError) as exc:
        raise InvalidEvent(f"S3 notification lacks detail field {exc!s}") from None
    if not isinstance(key, str) or not key or not isinstance(bucket, str) or not bucket:
        raise InvalidEvent(f"S3 notification has an empty bucket or key: {bucket!r}/{key!r}")
    if not isinstance(size, int) or size < 0:
        raise InvalidEvent(f"S3 notification for {key!r}: size {size!r} is not a byte count")
    version = obj.get("version-id")
    payload = {
        "bucket": bucket,
        "key": key,
        "size": size,
        "etag": etag,
        "bucket_role": bucket_roles.get(bucket, "unknown"),
        "notified_at": notification.get("time"),
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
