"""The object store on one machine: a folder per bucket, a file per object.

Layout under ``root``::

    <bucket>/<key>                       the object's bytes, at the path its key names
    .cloudphot-meta/<bucket>/<key>       sidecar JSON: etag, content type, metadata

A bucket name can never start with ``.`` (S3 rules, enforced here), so the sidecar
tree cannot collide with a bucket, and :meth:`LocalObjectStore.list` never sees it.

Writes are atomic and safe across processes: bytes are streamed into a uniquely
named temporary file in the target's directory (MD5 computed on the way), fsynced,
then ``os.replace``-d over the key. Readers see the old object or the new one,
never a torn file; of two writers racing on one key the last rename wins. The
sidecar records the data file's identity (inode, size, mtime); when a racing
writer's sidecar does not match the data file that won (or a file was dropped in
by hand), :meth:`head` recomputes the etag from the bytes instead of trusting it.

Local restrictions S3 does not have (a filesystem is not a flat key space):
empty, ``.`` and ``..`` segments (``a//b``, ``a/./b``) and keys ending in ``/``
are rejected because they would alias other keys; a key cannot be both an object
and a "folder" of other keys (``a`` and ``a/b``); segments starting with
``.~cloudphot`` are reserved for temporary files.

After every successful write the ``on_created`` listener receives the same
EventBridge "Object Created" event S3 would send. The object is fully stored
*before* the listener runs, and an exception from the listener propagates to the
caller unchanged: the write happened, the notification did not. Writing the same
bytes again is harmless and notifies again, which is how a caller recovers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ..errors import ObjectNotFound, StorageError
from .objects import ObjectCreatedListener, ObjectInfo, ObjectStore, s3_object_created_event

__all__ = ["LocalObjectStore", "validate_bucket", "validate_key"]

_CHUNK = 1 << 20  # 1 MiB: put_file and download never hold more than this in memory
_TMP_PREFIX = ".~cloudphot"
_META_DIR = ".cloudphot-meta"
_MAX_KEY_BYTES = 1024  # S3's limit on the UTF-8 encoded key
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def validate_bucket(bucket: str) -> str:
    """Return ``bucket`` if it is a valid S3 bucket name, else raise StorageError."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise StorageError(
            f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return bucket


def validate_key(key: str) -> str:
    """Return ``key`` if it maps safely onto a path inside its bucket folder.

    Rejects what S3 rejects (empty, longer than 1024 UTF-8 bytes) and what would
    escape the bucket or alias another key on a filesystem.
    """

    def bad(reason: str) -> StorageError:
        return StorageError(f"invalid object key {key!r}: {reason}")

    if not isinstance(key, str):
        raise StorageError(f"invalid object key {key!r}: keys are str, not {type(key).__name__}")
    if not key:
        raise bad("empty")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("not valid UTF-8 (lone surrogate)") from None
    if len(encoded) > _MAX_KEY_BYTES:
        raise bad(f"{len(encoded)} bytes long; S3 allows at most {_MAX_KEY_BYTES}")
    if _CONTROL_RE.search(key):
        raise bad("contains NUL or another control character")
    if "\\" in key:
        raise bad("contains a backslash")
    if key.startswith("/"):
        raise bad("starts with '/'")
    if key.endswith("/"):
        raise bad("ends with '/' (a folder marker, not an object)")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise bad(f"has an empty, '.' or '..' path segment ({segment!r})")
        if segment.startswith(_TMP_PREFIX):
            raise bad(f"segment {segment!r} uses the reserved prefix {_TMP_PREFIX!r}")
        if len(segment.encode("utf-8")) > 255:
            raise bad("has a path segment longer than 255 bytes (filesystem limit)")
    return key


class _SourceFailed(Exception):
    """Reading the caller's stream failed (the cause), as opposed to writing our file."""


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


class LocalObjectStore(ObjectStore):
    """Buckets as folders under ``root``; see the module docstring for guarantees."""

    def __init__(self, root: str | os.PathLike, on_created: ObjectCreatedListener | None = None,
                 *, region: str = "local"):
        self.root = Path(root).expanduser().absolute()
        self.on_created = on_created
        self.region = region

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # paths ------------------------------------------------------------------
    def bucket_path(self, bucket: str) -> Path:
        return self.root / validate_bucket(bucket)

    def path_of(self, bucket: str, key: str) -> Path:
        """Where ``key`` lives on disk (whether or not it exists)."""
        return self.bucket_path(bucket).joinpath(*validate_key(key).split("/"))

    def _meta_path(self, bucket: str, key: str) -> Path:
        return self.root.joinpath(_META_DIR, bucket, *key.split("/"))

    # writing ----------------------------------------------------------------
    def _write_atomic(self, target: Path, source: BinaryIO | bytes, *, bucket: str,
                      key: str) -> tuple[str, os.stat_result]:
        """Stream ``source`` into ``target`` atomically; return (hex md5, stat of new file)."""
        for attempt in range(5):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise StorageError(
                    f"cannot store s3://{bucket}/{key} locally: a parent of {target} is an "
                    "object, and a local key cannot be both an object and a prefix of others"
                ) from exc
            tmp = target.parent / f"{_TMP_PREFIX}.{target.name[:64]}.{uuid.uuid4().hex}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                             0o666)
            except FileNotFoundError:
                # a concurrent delete pruned the empty parent folder between mkdir and open
                if attempt == 4:
                    raise
                continue
            break
        try:
            md5 = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, (bytes, bytearray, memoryview)):
                    md5.update(source)
                    out.write(source)
                else:
                    while True:
                        try:
                            chunk = source.read(_CHUNK)
                        except BaseException as exc:
                            raise _SourceFailed() from exc
                        if not chunk:
                            break
                        md5.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                st = os.fstat(out.fileno())
            try:
                os.replace(tmp, target)
            except IsADirectoryError as exc:
                raise StorageError(
                    f"cannot store s3://{bucket}/{key} locally: {target} is a folder of other "
                    "keys, and a local key cannot be both an object and a prefix of others"
                ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)
        return md5.hexdigest(), st

    def _store(self, bucket: str, key: str, source: BinaryIO | bytes, content_type: str | None,
               metadata: dict[str, str] | None) -> ObjectInfo:
        target = self.path_of(bucket, key)
        if metadata is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise StorageError(f"metadata of s3://{bucket}/{key} must map str to str: {metadata!r}")
        try:
            etag, st = self._write_atomic(target, source, bucket=bucket, key=key)
            sidecar = {"identity": _identity(st), "etag": etag, "content_type": content_type,
                       "metadata": dict(metadata or {})}
            self._write_atomic(self._meta_path(bucket, key), json.dumps(sidecar).encode(),
                               bucket=bucket, key=key)
        except _SourceFailed as failed:
            # the caller's stream broke: its own exception says more than ours would
            raise failed.__cause__ from None
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write s3://{bucket}/{key} at {target}: {exc}") from exc
        info = ObjectInfo(bucket=bucket, key=key, size=st.st_size, etag=etag,
                          last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC))
        if self.on_created is not None:
            # the object is durable now; a listener failure propagates as is (see module doc)
            self.on_created(s3_object_created_event(info, region=self.region))
        return info

    def put_bytes(self, bucket: str, key: str, data: bytes, *, content_type: str | None = None,
                  metadata: dict[str, str] | None = None) -> ObjectInfo:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StorageError(f"s3://{bucket}/{key}: data must be bytes, "
                               f"not {type(data).__name__}")
        return self._store(bucket, key, bytes(data), content_type, metadata)

    def put_file(self, bucket: str, key: str, path: str | Path, *,
                 content_type: str | None = None) -> ObjectInfo:
        self.path_of(bucket, key)  # validate before touching the source
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below; only open() errors are ours
        except OSError as exc:
            raise StorageError(
                f"cannot read {path} to upload to s3://{bucket}/{key}: {exc}") from exc
        with src:
            return self._store(bucket, key, src, content_type, None)

    def put_fileobj(self, bucket: str, key: str, fileobj: BinaryIO, *,
                    content_type: str | None = None,
                    metadata: dict[str, str] | None = None) -> ObjectInfo:
        """Store what ``fileobj.read()`` yields until EOF, streamed and atomically.

        If reading fails midway the previous object (if any) is left untouched.
        """
        return self._store(bucket, key, fileobj, content_type, metadata)

    # reading ----------------------------------------------------------------
    def _existing(self, bucket: str, key: str) -> tuple[Path, os.stat_result]:
        path = self.path_of(bucket, key)
        try:
            st = path.stat()
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None
        if not path.is_file():
            raise ObjectNotFound(bucket, key)
        return path, st

    def _sidecar(self, bucket: str, key: str) -> dict:
        try:
            return json.loads(self._meta_path(bucket, key).read_bytes())
        except (*_MISSING, ValueError):
            return {}

    def _info(self, bucket: str, key: str, path: Path, st: os.stat_result) -> ObjectInfo:
        side = self._sidecar(bucket, key)
        if side.get("identity") == _identity(st):
            etag = side["etag"]
        else:  # written by hand, or a racing writer's sidecar: trust only the bytes
            md5 = hashlib.md5(usedforsecurity=False)
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    md5.update(chunk)
            etag = md5.hexdigest()
        return ObjectInfo(bucket=bucket, key=key, size=st.st_size, etag=etag,
                          last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC))

    def head(self, bucket: str, key: str) -> ObjectInfo:
        path, st = self._existing(bucket, key)
        try:
            return self._info(bucket, key, path, st)
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._existing(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def metadata(self, bucket: str, key: str) -> tuple[str | None, dict[str, str]]:
        """(content type, user metadata) of an object, as given when it was written."""
        _, st = self._existing(bucket, key)
        side = self._sidecar(bucket, key)
        if side.get("identity") != _identity(st):
            return None, {}
        return side.get("content_type"), dict(side.get("metadata") or {})

    def get_bytes(self, bucket: str, key: str) -> bytes:
        path = self.path_of(bucket, key)
        try:
            return path.read_bytes()
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None
        except OSError as exc:
            raise StorageError(f"cannot read s3://{bucket}/{key} at {path}: {exc}") from exc

    def download(self, bucket: str, key: str, path: str | Path) -> Path:
        src_path = self.path_of(bucket, key)
        dest = Path(path)
        try:
            src = open(src_path, "rb")  # noqa: SIM115 - closed below; missing: ObjectNotFound
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None
        with src:
            try:
                self._write_atomic(dest, src, bucket=bucket, key=key)
            except _SourceFailed as failed:
                raise StorageError(f"cannot read s3://{bucket}/{key} at {src_path}: "
                                   f"{failed.__cause__}") from failed.__cause__
            except OSError as exc:
                raise StorageError(f"cannot download s3://{bucket}/{key} to {dest}: {exc}") from exc
        return dest

    @contextlib.contextmanager
    def local_path(self, bucket: str, key: str) -> Iterator[Path]:
        """The stored file itself, no copy: read it, never write it."""
        path, _ = self._existing(bucket, key)
        yield path

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.bucket_path(bucket)
        # start the walk at the deepest folder the prefix names, not at the bucket
        folder = prefix.rpartition("/")[0]
        start = base.joinpath(*folder.split("/")) if folder else base
        if folder and any(s in ("", ".", "..") for s in folder.split("/")):
            return  # such keys cannot exist locally
        keys: list[str] = []
        stack = [start]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(current))
            except _MISSING:
                continue
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    key = Path(entry.path).relative_to(base).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        for key in sorted(keys):  # code-point order == S3's UTF-8 byte order
            try:
                yield self.head(bucket, key)
            except ObjectNotFound:
                continue  # deleted while we listed

    # deleting ---------------------------------------------------------------
    def delete(self, bucket: str, key: str) -> None:
        path = self.path_of(bucket, key)
        meta = self._meta_path(bucket, key)
        for p, stop in ((path, self.root / bucket), (meta, self.root / _META_DIR / bucket)):
            try:
                os.unlink(p)
            except _MISSING:
                pass
            except OSError as exc:
                raise StorageError(f"cannot delete s3://{bucket}/{key} at {p}: {exc}") from exc
            # prune folders the key left empty, so the name can become an object again
            parent = p.parent
            while parent != stop and stop in parent.parents:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def remove_bucket(self, bucket: str) -> None:
        """Delete a bucket folder and everything in it (tests and ``cloudphot clean``)."""
        shutil.rmtree(self.bucket_path(bucket), ignore_errors=True)
        shutil.rmtree(self.root / _META_DIR / bucket, ignore_errors=True)
