"""Pipeline steps of the build_catalog state machine.

The state machine runs :func:`catalog_task` as a Fargate task on the photometry image
(``ecs_tasks/catalog/entrypoint.py``, the worker protocol of :mod:`cloudphot.worker`):
DuckDB and pyarrow do not fit a zip Lambda, and one image built by the stack serves
both tasks. Each step takes a request and the process's services, and returns a small
JSON-able dict; errors propagate with their cloudphot class names (``DataError``
subclasses are not retried, ``TransientError`` ones are).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import validate
from ..errors import InvalidEvent
from ..validate import mapping, text
from .build import build_catalog
from .fits_export import export_fits

__all__ = ["build_catalog_step", "catalog_task", "export_fits_step", "handle", "result_key"]

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def result_key(job_id: str) -> str:
    """Where a build task leaves its result for the state machine (ReadResult)."""
    if not _JOB_ID_RE.match(job_id):
        raise InvalidEvent(
            f"job_id {job_id!r:.100} is not a job id (Step Functions execution name)"
        )
    return f"builds/catalog/{job_id}/result.json"


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


def catalog_task(request: dict, svc: Any) -> dict:
    """The build task: its request is the ``field.reduced`` event (``job_id`` added by the
    worker protocol). Build; when a version was published, archive its FITS tables; leave
    the result at :func:`result_key` for the state machine and return it."""
    request = dict(mapping(request, "request"))
    job_id = text(request, "job_id", where="request")
    key = result_key(job_id)
    request.pop("job_id")
    out = build_catalog_step({"event": request}, svc)
    out["fits"] = (
        export_fits_step({"version": out["version"]}, svc)["keys"] if out["changed"] else []
    )
    svc.objects.put_bytes(
        svc.settings.bucket("products"),
        key,
        json.dumps(out, allow_nan=False).encode(),
        content_type="application/json",
    )
    return out
