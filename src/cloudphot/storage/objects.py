"""The object-store port: what cloudphot needs from S3, and nothing more.

Writes are atomic: a reader sees the whole new object or the old one, never a
part (local: temporary file then ``os.replace``; S3: a PUT or a completed
multipart upload). Keys are ``/``-separated and never start with ``/``.
"""

from __future__ import annotations

import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..uploads import join_key

__all__ = [
    "ObjectCreatedListener",
    "ObjectInfo",
    "ObjectStore",
    "check_range",
    "put_paths",
    "s3_object_created_event",
]

#: Called with an EventBridge "Object Created" event after every successful write.
ObjectCreatedListener = Callable[[dict], None]


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # hex MD5 for single-part objects, as S3 reports it (without quotes)
    last_modified: datetime
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ObjectStore(ABC):
    """Buckets of immutable-by-convention objects."""

    #: whether :meth:`copy` costs no storage (a hard link locally; S3 bills a copy)
    copies_are_free: bool = False

    @abstractmethod
    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store ``data`` atomically under ``key``; replaces an existing object."""

    @abstractmethod
    def put_file(
        self,
        bucket: str,
        key: str,
        path: str | Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Upload a local file atomically (streamed; large files do not sit in memory).

        ``sha256``: the file's hex SHA-256 when the caller knows it. S3 then checks the
        upload against it (``ChecksumSHA256``: a body that does not match is refused) and
        keeps it with the object, where :meth:`recorded_sha256` reads it back.
        """

    def recorded_sha256(self, bucket: str, key: str) -> str | None:
        """The SHA-256 the store keeps for an object (hex), or None when it keeps none
        (S3: uploads without ``sha256``, multipart composites; the local store never)."""
        return None

    def put_bytes_if(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        etag: str | None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Store ``data`` only if the object is unchanged: a compare-and-swap.

        ``etag=None``: only if no object has ``key`` (S3 ``If-None-Match: *``); else
        only if the current object's etag is ``etag`` (``If-Match``). Raises
        :class:`~cloudphot.errors.ConditionFailed` when the condition does not hold,
        so of two writers racing from the same state exactly one succeeds.
        """
        raise ConfigError(f"{type(self).__name__} has no conditional writes")

    @abstractmethod
    def metadata(self, bucket: str, key: str) -> tuple[str | None, dict[str, str]]:
        """(content type, user metadata) of an object, as written; raises
        :class:`~cloudphot.errors.ObjectNotFound`."""

    @abstractmethod
    def get_bytes(self, bucket: str, key: str) -> bytes:
        """Whole object; raises :class:`~cloudphot.errors.ObjectNotFound`."""

    @abstractmethod
    def get_range(self, bucket: str, key: str, start: int, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of the object, as slicing the whole object would give them.

        ``end=None`` reads to the end. A negative ``start`` is a suffix: the last
        ``-start`` bytes (HTTP ``Range: bytes=-N``), and ``end`` must then be None.
        A range reaching past the end is cut short, to ``b""`` if it starts there, as
        slicing does. Raises :class:`~cloudphot.errors.ObjectNotFound`, and
        ``ValueError`` for a negative ``end`` or an ``end`` after a suffix.
        """

    @abstractmethod
    def copy(
        self, bucket: str, src_key: str, dst_key: str, *, dst_bucket: str | None = None
    ) -> ObjectInfo:
        """Copy an object inside the store, without passing its bytes through the caller.

        The copy lands in ``dst_bucket`` (default: ``bucket``) under ``dst_key``,
        atomically like every write, replacing an existing object there. Its content,
        content type and user metadata are the source's. Raises
        :class:`~cloudphot.errors.ObjectNotFound` naming the *source* when it is
        absent, and :class:`~cloudphot.errors.StorageError` for a copy onto itself.
        S3: ``CopyObject`` (a multipart copy above 5 GiB; the copy's etag is then
        multipart-style). Local: a hard link to the stored file, or a byte copy
        across filesystems; a linked copy shares the source's ``last_modified``.
        """

    @abstractmethod
    def download(self, bucket: str, key: str, path: str | Path) -> Path:
        """Copy the object to a local file (atomically) and return its path."""

    @abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Metadata only; raises :class:`~cloudphot.errors.ObjectNotFound`."""

    @abstractmethod
    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` in key order."""

    @abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; no error when it is absent."""

    def exists(self, bucket: str, key: str) -> bool:
        from ..errors import ObjectNotFound

        try:
            self.head(bucket, key)
        except ObjectNotFound:
            return False
        return True

    @contextlib.contextmanager
    def local_path(self, bucket: str, key: str) -> Iterator[Path]:
        """A local file holding the object for the duration of the ``with`` block.

        The local adapter yields the stored file itself (read it, do not write it);
        S3 downloads into a temporary directory that is removed afterwards.
        """
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cloudphot-") as tmp:
            yield self.download(bucket, key, Path(tmp) / Path(key).name)


def check_range(start: int, end: int | None) -> None:
    """Reject what :meth:`ObjectStore.get_range` does not accept (``ValueError``)."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"range {name} must be an int, not {type(value).__name__}")
    if end is not None and end < 0:
        raise ValueError(f"range end must be >= 0, not {end}")
    if start < 0 and end is not None:
        raise ValueError(f"a suffix range (start={start}) reads to the end: end must be None")


def s3_object_created_event(
    info: ObjectInfo,
    *,
    region: str = "local",
    account: str = "000000000000",
    reason: str = "PutObject",
) -> dict:
    """The EventBridge "Object Created" notification S3 sends for ``info``.

    Same shape as AWS's (``detail.bucket.name``, ``detail.object.key/size/etag``),
    so one parser serves both the local store and EventBridge.
    """
    now = datetime.now(UTC)
    obj = {
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "sequencer": f"{int(now.timestamp() * 1e6):016X}",
    }
    if info.version_id:
        obj["version-id"] = info.version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{info.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": info.bucket},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": reason,
        },
    }


def put_paths(
    store: ObjectStore, bucket: str, paths: Iterable[str | Path], *, prefix: str = ""
) -> list[ObjectInfo]:
    """Put files, or every file under directories (keys relative to them), into ``bucket``;
    ``prefix`` is a folder (``a`` and ``a/`` both give ``a/<name>``)."""
    infos = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            pairs = [(f, f.relative_to(p).as_posix()) for f in files]
        elif p.is_file():
            pairs = [(p, p.name)]
        else:
            raise ConfigError(f"{p}: no such file or directory")
        infos += [store.put_file(bucket, join_key(prefix, rel), f) for f, rel in pairs]
    return infos
