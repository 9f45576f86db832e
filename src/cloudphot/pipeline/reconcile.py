"""Find uploads whose notification was late or lost, and announce them.

S3 event delivery is at-least-once but not guaranteed to be timely; a periodic
reconciliation lists the raw bucket and stores the ``object.created`` event of
every object that has none. The event id is the one the notification would have
produced, so a notification that arrives afterwards is a harmless duplicate.
"""

from __future__ import annotations

from ..events import Event, event_id_for_object
from .services import Services

__all__ = ["reconcile_raw_bucket"]


def reconcile_raw_bucket(svc: Services, *, prefix: str = "") -> list[Event]:
    bucket = svc.settings.bucket("raw")
    roles = svc.bucket_roles()
    emitted = []
    for info in svc.objects.list(bucket, prefix):
        event_id = event_id_for_object(bucket, info.key, info.etag, info.version_id)
        if svc.tables.get("events", event_id) is not None:
            continue
        payload = {
            "bucket": bucket,
            "key": info.key,
            "size": info.size,
            "etag": info.etag,
            "bucket_role": roles.get(bucket, "unknown"),
            "reconciled": True,
            "notified_at": None,
        }
        if info.version_id:
            payload["version_id"] = info.version_id
        event = Event(
            event_id=event_id,
            type="object.created",
            subject=info.key,
            payload=payload,
            source="reconcile",
        )
        if svc.store.record(event):
            emitted.append(event)
    return emitted
