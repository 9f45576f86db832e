"""What a field is, and when it is ready to reduce.

A *field* is the set of exposures of one target that are photometered together
(PHAT: one brick field, e.g. ``M31-B15-F09``). Exposures carry their field in
TARGNAME (``field_id`` is TARGNAME normalised; see ``cloudphot.fits.exposure``).
Which exposures make the field complete is said by a *manifest*, a small JSON
object uploaded to the raw bucket with the exposures, at
``manifests/<field_id>.json``::

    {"field_id": "m31-b15-f09", "exposures": ["jcp001aaq", "jcp001abq", ...],
     "options": {"photometry": {...}}}

Uploads may arrive in any order: every ``exposure.registered`` and the
manifest's own ``object.created`` run the same check, and whichever finds the
field complete emits ``field.ready``. Its event id is derived from the exact set
of exposures (and their content), so concurrent checks emit it once, and a
replaced exposure makes a new ``field.ready``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import validate
from ..errors import InvalidEvent, ObjectNotFound
from ..events import Event
from ..manifests import MANIFEST_PREFIX, manifest_key, parse_manifest
from ..products import fingerprint, keys
from ..validate import FIELD_ID_RE, mapping, s3_key, text
from .services import Services

__all__ = ["FIELD_ID_RE", "check_field", "field_ready_event", "manifest_key", "read_manifest"]


def read_manifest(
    svc: Services, field_id: str, *, bucket: str | None = None, key: str | None = None
) -> dict[str, Any] | None:
    """The field's manifest, validated; None when none was uploaded yet."""
    bucket = bucket or svc.settings.bucket("raw")
    key = key or manifest_key(field_id)
    try:
        raw = svc.objects.get_bytes(bucket, key)
    except ObjectNotFound:
        return None
    return {**parse_manifest(raw, f"s3://{bucket}/{key}"), "bucket": bucket, "key": key}


def field_ready_event(
    field_id: str, members: list[dict], manifest: dict, source: str, svc: Services
) -> Event:
    """``field.ready`` with the exposure list stored in S3 and passed by reference.

    The list grows with the field (PHAT bricks: thousands of exposures); inside a Step
    Functions execution it would approach the 256 KiB state limit, so the event names
    an object (``exposure_list``) that reduce_field's Distributed Map reads with its
    ItemReader. The object's key holds the fingerprint, so rewriting it is idempotent.
    """
    made_of = fingerprint(sorted((m["exposure_id"], m.get("etag", "")) for m in members), 16)
    exposures = sorted(
        (
            {
                "exposure_id": m["exposure_id"],
                "bucket": m.get("bucket"),
                "key": m.get("key"),
                "etag": m.get("etag", ""),
                "filter": m.get("filter"),
                "mjd": m.get("mjd_mid"),
            }
            for m in members
        ),
        key=lambda m: m["exposure_id"],
    )
    branch = (manifest.get("options") or {}).get("branch")
    bucket = svc.settings.bucket("products")
    prefix = keys.field_product(field_id, f"ready-{made_of}", branch)
    listing = {"bucket": bucket, "key": f"{prefix}/exposures.json", "prefix": f"{prefix}/runs"}
    svc.objects.put_bytes(
        bucket,
        listing["key"],
        json.dumps(exposures, separators=(",", ":")).encode(),
        content_type="application/json",
    )
    return Event(
        event_id=f"field.ready-{field_id}-{made_of}",
        type="field.ready",
        subject=field_id,
        source=source,
        payload={
            "field_id": field_id,
            "n_exposures": len(exposures),
            "exposure_list": listing,
            "manifest": {"bucket": manifest["bucket"], "key": manifest["key"]},
            "options": manifest.get("options", {}),
        },
    )


def check_field(request: dict, svc: Services) -> dict:
    """Emit ``field.ready`` when every exposure the manifest names is registered.

    ``request``: ``{"job_id", "event": {...}}`` where the event is an
    ``exposure.registered`` (payload has ``field_id``) or the manifest's
    ``object.created`` (payload has ``key``).
    """
    request = mapping(request, "request")
    event = mapping(request.get("event"), "event")
    payload = mapping(event.get("payload"), "event.payload")
    kind = text(event, "type", "event")
    text(request, "job_id", "request", optional=True)
    if kind == "exposure.registered":
        field_id = validate.field_id(payload, where="event.payload")
        manifest = read_manifest(svc, field_id)
    elif kind == "object.created":
        key = s3_key(payload, "key", "event.payload")
        text(payload, "bucket", "event.payload")
        stem = (
            key[len(MANIFEST_PREFIX) :].removesuffix(".json")
            if key.startswith(MANIFEST_PREFIX)
            else ""
        )
        manifest = read_manifest(svc, stem, bucket=payload.get("bucket"), key=key)
        if manifest is None:
            raise InvalidEvent(f"manifest {key} disappeared before it was read")
        field_id = manifest["field_id"]
        if stem != field_id:
            raise InvalidEvent(
                f"manifest {key} names field {field_id!r}; upload it as {manifest_key(field_id)}"
            )
    else:
        raise InvalidEvent(f"check_field cannot handle a {kind!r} event")
    if manifest is None:
        return {
            "field_id": field_id,
            "ready": False,
            "waiting_for": "manifest",
            "hint": (
                f"upload {manifest_key(field_id)} listing the field's exposures, or build it "
                f"from the registered ones: cloudphot manifest {field_id}"
            ),
        }
    registered = {
        x["exposure_id"]: json.loads(x["record"]) if isinstance(x.get("record"), str) else x
        for x in svc.tables.query("exposures", "by_field", field_id)
    }
    missing = [e for e in manifest["exposures"] if e not in registered]
    if missing:
        return {"field_id": field_id, "ready": False, "waiting_for": missing}
    members = [registered[e] for e in manifest["exposures"]]
    ready = field_ready_event(
        field_id, members, manifest, source=str(request.get("job_id", "")), svc=svc
    )
    new = svc.store.record(ready)
    return {
        "field_id": field_id,
        "ready": True,
        "event_id": ready.event_id,
        "new": new,
        "n_exposures": len(members),
    }
