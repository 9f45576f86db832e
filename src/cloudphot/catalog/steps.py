"""Pipeline steps of the build_catalog state machine (called by functions/build_catalog).

Each takes the request the state machine sends and the process's services, and
returns a small JSON-able dict; errors propagate with their cloudphot class names
(``DataError`` subclasses are not retried, ``TransientError`` ones are).
"""

from __future__ import annotations

from typing import Any

from .. import validate
from ..errors import InvalidEvent
from ..validate import mapping
from .build import build_catalog
from .fits_export import export_fits

__all__ = ["build_catalog_step", "export_fits_step", "handle"]


def _field_ids(request: dict) -> list[str] | None:
    """field ids from a field.reduced event payload, a direct request, or None (all fields)."""
    payload = request
    if "event" in request:
        payload = mapping(mapping(request["event"], "event").get("payload"), "event.payload")
    if "field_ids" in payload:
        ids = payload["field_ids"]
        if not isinstance(ids, list) or not all(
            isinstance(i, str) and validate.FIELD_ID_RE.match(i) for i in ids
        ):
            raise InvalidEvent(f"field_ids must be a list of field ids, got {ids!r:.200}")
        return ids
    fid = payload.get("field_id")
    if fid is None:
        return None
    return [validate.field_id(payload, where="event.payload")]


def build_catalog_step(request: dict, svc: Any) -> dict:
    """Merge the reduced field(s) into the survey catalog; publish a version if anything changed."""
    result = build_catalog(
        svc.objects,
        svc.settings.bucket("products"),
        svc.settings.survey,
        _field_ids(request),
        partition_order=svc.settings.catalog_partition_order,
    )
    out = result.as_dict()
    out["changed"] = result.changed
    out["seconds"] = round(out["seconds"], 3)
    return out


def export_fits_step(request: dict, svc: Any) -> dict:
    """Archive FITS tables (HLSP names) of a version (default latest)."""
    version = request.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidEvent(f"version must be a catalog version number, got {version!r}")
    keys = export_fits(
        svc.objects,
        svc.settings.bucket("products"),
        svc.settings.survey,
        version=int(version) if version is not None else None,
    )
    return {"keys": keys}


def handle(request: dict, svc: Any) -> dict:
    """One Lambda, two actions: ``{"action": "build" | "export_fits", ...}`` (default build)."""
    request = mapping(request, "request")
    action = request.get("action", "build")
    if action == "build":
        return build_catalog_step(request, svc)
    if action == "export_fits":
        return export_fits_step(request, svc)
    raise InvalidEvent(f"unknown build_catalog action {action!r}")
