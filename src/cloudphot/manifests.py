"""A field's manifest: the JSON document that says which exposures make the field.

One format for everyone who writes or reads one: the simulator writes it next to
its exposures, ``cloudphot manifest FIELD`` builds it from the registered
exposures, ``cloudphot upload`` checks it before it leaves the machine, and the
pipeline's ``check_field`` reads it from the raw bucket at ``manifests/<field>.json``::

    {"field_id": "m31-b15-f09", "exposures": ["jcp001aaq", "jcp001abq"], "options": {}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidEvent
from .validate import FIELD_ID_RE

__all__ = [
    "FIELD_ID_RE",
    "MANIFEST_PREFIX",
    "manifest_document",
    "manifest_key",
    "parse_manifest",
    "write_manifest",
]

MANIFEST_PREFIX = "manifests/"
MAX_MANIFEST_BYTES = 1_000_000


def manifest_key(field_id: str) -> str:
    """Where the pipeline looks for the field's manifest in the raw bucket."""
    return f"{MANIFEST_PREFIX}{field_id}.json"


def manifest_document(
    field_id: str, exposure_ids: Iterable[str], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The manifest of ``field_id`` listing ``exposure_ids`` (sorted, lower case)."""
    doc: dict[str, Any] = {
        "field_id": field_id,
        "exposures": sorted({e.lower() for e in exposure_ids}),
    }
    if options:
        doc["options"] = dict(options)
    parse_manifest(json.dumps(doc).encode(), f"manifest of {field_id}")  # same checks as a read
    return doc


def write_manifest(path: str | Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as JSON to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def parse_manifest(raw: bytes, where: str) -> dict[str, Any]:
    """The manifest in ``raw``, validated; :class:`InvalidEvent` naming ``where`` and the
    fault otherwise. Exposure ids come back lower case, ``options`` as an object."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidEvent(f"{where}: a manifest over 1 MB is not a manifest")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{where}: must be a JSON object")
    fid = doc.get("field_id")
    if not isinstance(fid, str) or not FIELD_ID_RE.match(fid):
        raise InvalidEvent(
            f"{where}: field_id {fid!r} is not a field id (lower-case letters, digits, '._+-')"
        )
    exps = doc.get("exposures")
    if not isinstance(exps, list) or not exps or not all(isinstance(e, str) and e for e in exps):
        raise InvalidEvent(f"{where}: exposures must be a non-empty list of exposure ids")
    if len(set(exps)) != len(exps):
        raise InvalidEvent(f"{where}: exposures lists an exposure twice")
    options = doc.get("options", {})
    if not isinstance(options, dict):
        raise InvalidEvent(f"{where}: options must be an object")
    return {"field_id": fid, "exposures": [e.lower() for e in exps], "options": options}
