"""One way for a step to be idempotent: a product target.

A :class:`Target` is one object (bucket + key) and the fingerprint of the inputs
that determine its content (:func:`cloudphot.products.fingerprint`). It is
*complete* when the object exists and was written from those inputs (the
fingerprint is stored in the object's user metadata, ``x-amz-meta-cloudphot-inputs``
on S3), so a rerun with the same inputs skips the work, a rerun with changed
inputs redoes it, and a product written halfway is never mistaken for a finished
one: writes are atomic (S3 PUT; local temporary file then rename), and a product
of several objects writes its target (a result document) last, as Luigi's
success markers do on object stores.

What is *not* a product target, on purpose: the dispatcher's start claim on a job
(a conditional write to the jobs table) is a lock that elects one starter among
racing deliveries, and a catalog build's per-field ETag comparison picks which
inputs changed since the last version (every build publishes a new version, never
an old one again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ObjectNotFound
from .objects import ObjectInfo, ObjectStore

__all__ = ["INPUTS_METADATA", "Target"]

#: user-metadata key holding the fingerprint of a product's inputs
INPUTS_METADATA = "cloudphot-inputs"


@dataclass(frozen=True)
class Target:
    store: ObjectStore
    bucket: str
    key: str
    #: fingerprint of what determines the content; None: any existing object will do
    inputs: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def ref(self) -> dict[str, str]:
        """``{"bucket", "key"}``: how steps pass a product to each other."""
        return {"bucket": self.bucket, "key": self.key}

    def exists(self) -> bool:
        """Complete: the object is there and was written from these inputs."""
        try:
            _, metadata = self.store.metadata(self.bucket, self.key)
        except ObjectNotFound:
            return False
        return self.inputs is None or metadata.get(INPUTS_METADATA) == self.inputs

    def _metadata(self) -> dict[str, str] | None:
        return {INPUTS_METADATA: self.inputs} if self.inputs is not None else None

    def write_bytes(self, data: bytes, *, content_type: str | None = None) -> ObjectInfo:
        return self.store.put_bytes(
            self.bucket, self.key, data, content_type=content_type, metadata=self._metadata()
        )

    def write_json(self, doc: Any) -> ObjectInfo:
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
        return self.write_bytes(text.encode(), content_type="application/json")

    def write_file(self, path: str | Path, *, content_type: str | None = None) -> ObjectInfo:
        return self.store.put_file(
            self.bucket, self.key, path, content_type=content_type, metadata=self._metadata()
        )

    def read_bytes(self) -> bytes:
        return self.store.get_bytes(self.bucket, self.key)

    def read_json(self) -> Any:
        return json.loads(self.read_bytes())
