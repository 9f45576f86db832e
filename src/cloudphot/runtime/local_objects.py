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

:meth:`LocalObjectStore.copy` hard-links the stored file under the new key (a byte
copy only across filesystems), so a copy costs no space and no reading. Sharing
one inode between keys is safe because no write path here ever writes into an
existing file: ``_write_atomic`` (every object, every sidecar, every download)
fills a new temporary file and renames it over the key, which gives the key a new
inode and leaves the other links untouched; ``delete`` and ``remove_bucket`` only
unlink names. Whatever writes to a stored file in place (through
:meth:`LocalObjectStore.local_path`, which says "never write it", or by hand)
would change every copy of it.

After every successful write the ``on_created`` listener receives the same
EventBridge "Object Created" event S3 would send. The object is fully stored
*before* the listener runs, and an exception from the listener propagates to the
caller unchanged: the write happened, the notification did not. Writing the same
bytes again is harmless and notifies again, which is how a caller recovers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ObjectNotFound, StorageError
from ..storage.objects import (
    ObjectCreatedListener,
    ObjectInfo,
    ObjectStore,
    check_range,
    s3_object_created_event,
)

__all__ = ["LocalObjectStore", "validate_bucket", "validate_key"]

_CHUNK = 1 << 20  # 1 MiB: put_file and download never hold more than this in memory
_TMP_PREFIX = ".~cloudphot"
_META_DIR = ".cloudphot-meta"
_MAX_KEY_BYTES = 1024  # S3's limit on the UTF-8 encoded key
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
#: os.link failures that mean "no hard link here", not "no source": copy the bytes instead
#: (another filesystem, a filesystem without hard links, an inode at its link limit)
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


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


def _file_md5(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


class LocalObjectStore(ObjectStore):
    """Buckets as folders under ``root``; see the module docstring for guarantees."""

    copies_are_free = True  # copy() hard-links

    def __init__(
        self,
        root: str | os.PathLike,
        on_created: ObjectCreatedListener | None = None,
        *,
        region: str = "local",
    ):
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
    def _write_atomic(
        self, target: Path, source: BinaryIO | bytes, *, bucket: str, key: str
    ) -> tuple[str, os.stat_result]:
        """Stream ``source`` into ``target`` atomically; return (hex md5, stat of new file)."""

        def create(tmp: Path) -> int:
            return os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )

        tmp, fd = self._temp_beside(target, create, bucket=bucket, key=key)
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
            self._replace(tmp, target, bucket=bucket, key=key)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)
        return md5.hexdigest(), st

    @staticmethod
    def _temp_beside(
        target: Path, create: Callable[[Path], Any], *, bucket: str, key: str
    ) -> tuple[Path, Any]:
        """Make ``target``'s folder, then ``create(tmp)`` at a fresh temporary name in it.

        Returns ``(tmp, what create returned)``. Retries when a concurrent delete prunes
        the empty folder between the two steps.
        """
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
                return tmp, create(tmp)
            except FileNotFoundError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _replace(tmp: Path, target: Path, *, bucket: str, key: str) -> None:
        """``os.replace(tmp, target)``; the caller removes ``tmp`` when this raises."""
        try:
            os.replace(tmp, target)
        except IsADirectoryError as exc:
            raise StorageError(
                f"cannot store s3://{bucket}/{key} locally: {target} is a folder of other "
                "keys, and a local key cannot be both an object and a prefix of others"
            ) from exc
        # rename(2) does nothing, and leaves tmp behind, when tmp and target are already
        # links to one inode (a copy repeated onto its own earlier copy): drop that name
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)

    def _store(
        self,
        bucket: str,
        key: str,
        source: BinaryIO | bytes,
        content_type: str | None,
        metadata: dict[str, str] | None,
    ) -> ObjectInfo:
        target = self.path_of(bucket, key)
        if metadata is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise StorageError(f"metadata of s3://{bucket}/{key} must map str to str: {metadata!r}")
        try:
            etag, st = self._write_atomic(target, source, bucket=bucket, key=key)
            sidecar = {
                "identity": _identity(st),
                "etag": etag,
                "content_type": content_type,
                "metadata": dict(metadata or {}),
            }
            self._write_atomic(
                self._meta_path(bucket, key), json.dumps(sidecar).encode(), bucket=bucket, key=key
            )
        except _SourceFailed as failed:
            # the caller's stream broke: its own exception says more than ours would
            raise (failed.__cause__ or failed) from None
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write s3://{bucket}/{key} at {target}: {exc}") from exc
        info = ObjectInfo(
            bucket=bucket,
            key=key,
            size=st.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
        )
        if self.on_created is not None:
            # the object is durable now; a listener failure propagates as is (see module doc)
            self.on_created(s3_object_created_event(info, region=self.region))
        return info

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StorageError(
                f"s3://{bucket}/{key}: data must be bytes, not {type(data).__name__}"
            )
        return self._store(bucket, key, bytes(data), content_type, metadata)

    def put_bytes_if(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        etag: str | None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Compare-and-swap across processes: the check and the write hold an exclusive
        ``flock`` on a lock file beside the key's sidecar (every conditional writer of
        the key takes it; plain writes do not, as on S3 where they are unconditional)."""
        import fcntl

        meta = self._meta_path(bucket, key)  # (".~cloudphot" names are reserved: no key has one)
        lock = meta.with_name(f"{_TMP_PREFIX}-lock-{meta.name}")
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot lock s3://{bucket}/{key} at {lock}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current: str | None = self.head(bucket, key).etag
            except ObjectNotFound:
                current = None
            if current != etag:
                from ..errors import ConditionFailed

                raise ConditionFailed(
                    f"s3://{bucket}/{key} changed: its etag is {current or 'absent'}, "
                    f"the write expected {etag or 'no object'}"
                )
            return self.put_bytes(bucket, key, data, content_type=content_type)
        finally:
            os.close(fd)  # releases the lock

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str | Path,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        sha256: str | None = None,  # (S3 checks it; here the file is the caller's own)
    ) -> ObjectInfo:
        self.path_of(bucket, key)  # validate before touching the source
        try:
            src = open(path, "rb")
        except OSError as exc:
            raise StorageError(
                f"cannot read {path} to upload to s3://{bucket}/{key}: {exc}"
            ) from exc
        with src:
            return self._store(bucket, key, src, content_type, metadata)

    def put_fileobj(
        self,
        bucket: str,
        key: str,
        fileobj: BinaryIO,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store what ``fileobj.read()`` yields until EOF, streamed and atomically.

        If reading fails midway the previous object (if any) is left untouched.
        """
        return self._store(bucket, key, fileobj, content_type, metadata)

    def copy(
        self, bucket: str, src_key: str, dst_key: str, *, dst_bucket: str | None = None
    ) -> ObjectInfo:
        """Hard-link the stored file under ``dst_key``: no bytes read, no space used.

        Atomic like every write: the link is made at a temporary name beside the
        target, then ``os.replace``-d over it. Where a hard link cannot be made
        (another filesystem, or one without hard links) the bytes are copied through
        :meth:`_write_atomic` instead. The source's sidecar (etag, content type,
        metadata) is carried over when it describes the linked file; the listener
        then gets an "Object Created" event with reason ``CopyObject``, as from S3.
        Linking is safe only because no write ever modifies a stored file in place
        (see the module docstring); a linked copy therefore shares the source's
        ``last_modified``, where S3 would give it the copy's time.
        """
        dst_bucket = bucket if dst_bucket is None else dst_bucket
        src = self.path_of(bucket, src_key)
        target = self.path_of(dst_bucket, dst_key)
        if src == target:
            raise StorageError(f"cannot copy s3://{bucket}/{src_key} onto itself")
        self._existing(bucket, src_key)  # ObjectNotFound names the source, not the target

        def link(tmp: Path) -> os.stat_result:
            try:
                os.link(src, tmp)
            except _MISSING:
                if not src.is_file():  # deleted since we looked
                    raise ObjectNotFound(bucket, src_key) from None
                raise  # our target folder was pruned under us: _temp_beside retries
            return os.stat(tmp)

        try:
            try:
                tmp, st = self._temp_beside(target, link, bucket=dst_bucket, key=dst_key)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                etag, st, side = self._copy_bytes(bucket, src_key, src, dst_bucket, dst_key, target)
            else:
                try:
                    # the sidecar describes our inode unless the source was replaced (or
                    # dropped in by hand) meanwhile: then trust only the bytes, as head does
                    side = self._sidecar(bucket, src_key)
                    if side.get("identity") != _identity(st):
                        side = {}
                    etag = side.get("etag") or _file_md5(tmp)
                    self._replace(tmp, target, bucket=dst_bucket, key=dst_key)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
                _fsync_dir(target.parent)
            sidecar = {
                "identity": _identity(st),
                "etag": etag,
                "content_type": side.get("content_type"),
                "metadata": dict(side.get("metadata") or {}),
            }
            self._write_atomic(
                self._meta_path(dst_bucket, dst_key),
                json.dumps(sidecar).encode(),
                bucket=dst_bucket,
                key=dst_key,
            )
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(
                f"cannot copy s3://{bucket}/{src_key} to "
                f"s3://{dst_bucket}/{dst_key} at {target}: {exc}"
            ) from exc
        info = ObjectInfo(
            bucket=dst_bucket,
            key=dst_key,
            size=st.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
        )
        if self.on_created is not None:
            self.on_created(s3_object_created_event(info, region=self.region, reason="CopyObject"))
        return info

    def _copy_bytes(
        self, bucket: str, src_key: str, src: Path, dst_bucket: str, dst_key: str, target: Path
    ) -> tuple[str, os.stat_result, dict]:
        """copy's fallback: stream the source into ``target``; (etag, stat, source sidecar)."""
        try:
            f = open(src, "rb")
        except _MISSING:
            raise ObjectNotFound(bucket, src_key) from None
        with f:
            side = self._sidecar(bucket, src_key)
            if side.get("identity") != _identity(os.fstat(f.fileno())):
                side = {}
            try:
                etag, st = self._write_atomic(target, f, bucket=dst_bucket, key=dst_key)
            except _SourceFailed as failed:
                raise StorageError(
                    f"cannot read s3://{bucket}/{src_key} at {src}: {failed.__cause__}"
                ) from failed.__cause__
        return etag, st, side

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
            etag = _file_md5(path)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=st.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
        )

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

    def get_range(self, bucket: str, key: str, start: int, end: int | None = None) -> bytes:
        check_range(start, end)
        path = self.path_of(bucket, key)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                first = max(size + start, 0) if start < 0 else start
                stop = size if end is None else min(end, size)
                if stop <= first:
                    return b""
                f.seek(first)
                return f.read(stop - first)
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None
        except OSError as exc:
            raise StorageError(f"cannot read s3://{bucket}/{key} at {path}: {exc}") from exc

    def download(self, bucket: str, key: str, path: str | Path) -> Path:
        src_path = self.path_of(bucket, key)
        dest = Path(path)
        try:
            src = open(src_path, "rb")
        except _MISSING:
            raise ObjectNotFound(bucket, key) from None
        with src:
            try:
                self._write_atomic(dest, src, bucket=bucket, key=key)
            except _SourceFailed as failed:
                raise StorageError(
                    f"cannot read s3://{bucket}/{key} at {src_path}: {failed.__cause__}"
                ) from failed.__cause__
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
