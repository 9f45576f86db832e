"""Content checksums of a catalog version's files, and their verification on read.

Every file a build publishes (each table's partition files and HATS metadata) is
recorded in the version's manifest with its SHA-256 and size. A reader checks a
partition file the first time it opens it in a process (:class:`FileChecks`): the
file's bytes are hashed once and the result kept against the file's identity
(device, inode, size, mtime and ctime), so later queries in the same process pay
one ``stat`` per file, and a file changed in place (any write updates ctime, which
no user can set back) is hashed again. A mismatch raises :class:`CorruptCatalogFile`
naming the object and what to do: ``cloudphot catalog verify`` checks a whole
version, and a rebuild republishes it.

On S3 the same digest travels with each upload (``ChecksumSHA256``: S3 refuses a
body that does not match it and keeps it with the object), so
``cloudphot catalog verify`` can compare S3's recorded checksum with the manifest's
without reading the data, and ``--full`` downloads and hashes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, ObjectNotFound
from ..storage.objects import ObjectStore

__all__ = [
    "CorruptCatalogFile",
    "FileChecks",
    "VerifyReport",
    "checksum_b64",
    "manifest_files",
    "sha256_file",
    "verify_version",
]

_CHUNK = 4 << 20


class CorruptCatalogFile(DataError):
    """A catalog file's bytes are not the ones its version's manifest recorded."""

    def __init__(self, where: str, reason: str, *, survey: str | None = None):
        self.where = where
        fix = (
            "run 'cloudphot catalog verify' to check the whole version, then rebuild it "
            "('cloudphot catalog build --rebuild') or restore the object from the bucket's "
            "versions"
        )
        super().__init__(f"catalog file {where} is corrupt: {reason}; {fix}")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a local file (streamed)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def checksum_b64(hex_digest: str) -> str:
    """The base64 form S3's ``ChecksumSHA256`` uses for a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileChecks:
    """Which local files this process has verified, against which digest and identity.

    Thread-safe. One process-wide instance (:data:`CHECKS`) serves every engine, so a
    long-lived service hashes each partition file once.
    """

    def __init__(self) -> None:
        self._ok: dict[str, tuple[tuple[int, ...], str]] = {}
        self._lock = threading.Lock()
        #: bytes hashed so far (benchmarks report the cost of verification)
        self.bytes_hashed = 0

    def verify(self, path: str, sha256: str, size: int | None, where: str) -> None:
        """Raise :class:`CorruptCatalogFile` unless ``path`` holds the recorded bytes."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise CorruptCatalogFile(where, "the file is missing") from None
        ident = _identity(st)
        with self._lock:
            if self._ok.get(path) == (ident, sha256):
                return
        if size is not None and st.st_size != size:
            raise CorruptCatalogFile(
                where, f"it has {st.st_size} bytes where the manifest recorded {size}"
            )
        got = sha256_file(path)
        with self._lock:
            self.bytes_hashed += st.st_size
        if got != sha256:
            raise CorruptCatalogFile(
                where, f"its SHA-256 is {got} where the manifest recorded {sha256}"
            )
        with self._lock:
            self._ok[path] = (ident, sha256)

    def forget(self) -> None:
        with self._lock:
            self._ok.clear()


#: the process's verified files
CHECKS = FileChecks()


def manifest_files(manifest: dict) -> Iterator[tuple[str, str, dict]]:
    """``(table, key, entry)`` of every file a version's manifest records.

    Partition entries carry ``key``, ``sha256`` and ``size``; the HATS metadata files
    of each table are in its ``files`` list (format 2 manifests).
    """
    for table, t in manifest.get("tables", {}).items():
        for e in t.get("partitions", {}).values():
            yield table, e["key"], e
        for e in t.get("files", []):
            yield table, e["key"], e


@dataclass
class VerifyReport:
    """What :func:`verify_version` found."""

    version: int
    files: int = 0
    bytes: int = 0
    #: files the manifest recorded no checksum for (built before checksums)
    unchecked: list[str] = field(default_factory=list)
    #: (key, reason) of each file that does not match
    bad: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad


def verify_version(
    store: ObjectStore,
    bucket: str,
    manifest: dict,
    *,
    full: bool = True,
    tables: Iterable[str] | None = None,
) -> VerifyReport:
    """Check every file of one catalog version against its manifest.

    ``full``: hash the bytes (the local store always does; on S3 this downloads every
    object). Without it an S3 store compares its recorded ``ChecksumSHA256`` (one HEAD
    per object) and falls back to hashing objects stored without one.
    """
    report = VerifyReport(version=int(manifest["version"]))
    wanted = set(tables) if tables is not None else None
    quick = getattr(store, "recorded_sha256", None) if not full else None
    for table, key, e in manifest_files(manifest):
        if wanted is not None and table not in wanted:
            continue
        report.files += 1
        sha, size = e.get("sha256"), e.get("size")
        if not sha:
            report.unchecked.append(key)
            continue
        where = f"s3://{bucket}/{key}"
        try:
            if quick is not None:
                recorded = quick(bucket, key)
                if recorded is not None:
                    if recorded != sha:
                        report.bad.append(
                            (key, f"S3's SHA-256 is {recorded}, the manifest's {sha}")
                        )
                    report.bytes += int(size or 0)
                    continue
            with store.local_path(bucket, key) as path:
                got_size = Path(path).stat().st_size
                if size is not None and got_size != size:
                    report.bad.append((key, f"{got_size} bytes, the manifest recorded {size}"))
                    continue
                got = sha256_file(path)
                report.bytes += got_size
            if got != sha:
                report.bad.append((key, f"SHA-256 {got}, the manifest recorded {sha}"))
        except ObjectNotFound:
            report.bad.append((key, f"missing ({where})"))
    return report
