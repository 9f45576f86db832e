"""The ObjectStore contract, run against the local folders and S3 (moto)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from cloudphot.errors import ObjectNotFound
from cloudphot.storage.objects import ObjectInfo

RAW = "raw-bucket"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class BrokenSource(Exception):
    """Raised by a test stream midway, standing in for a dropped connection."""


class FailingStream(io.RawIOBase):
    """A non-seekable stream of ``good`` MiB that raises when read past them.

    ``read(n)`` returns exactly ``n`` bytes while it can, as buffered files do
    (the S3 transfer manager relies on that to decide on multipart).
    """

    def __init__(self, good: int):
        self.left = good << 20

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > self.left:
            raise BrokenSource("source stream broke")
        self.left -= n
        return b"z" * n


def test_put_get_replace(object_store):
    info = object_store.put_bytes(RAW, "exposures/j8a_flc.fits", b"first")
    assert isinstance(info, ObjectInfo)
    assert (info.bucket, info.key, info.size, info.etag) == (RAW, "exposures/j8a_flc.fits", 5,
                                                             md5(b"first"))
    assert info.uri == f"s3://{RAW}/exposures/j8a_flc.fits"
    assert object_store.get_bytes(RAW, "exposures/j8a_flc.fits") == b"first"

    again = object_store.put_bytes(RAW, "exposures/j8a_flc.fits", b"second, longer")
    assert again.etag == md5(b"second, longer") and again.size == 14
    assert object_store.get_bytes(RAW, "exposures/j8a_flc.fits") == b"second, longer"


def test_empty_object(object_store):
    info = object_store.put_bytes(RAW, "empty", b"")
    assert info.size == 0 and info.etag == md5(b"")
    assert object_store.get_bytes(RAW, "empty") == b""


def test_head_exists_and_missing(object_store):
    put = object_store.put_bytes(RAW, "a/b.txt", b"hello", content_type="text/plain")
    head = object_store.head(RAW, "a/b.txt")
    assert (head.bucket, head.key, head.size, head.etag) == (RAW, "a/b.txt", 5, put.etag)
    assert head.last_modified.tzinfo is not None
    assert object_store.exists(RAW, "a/b.txt")
    assert not object_store.exists(RAW, "a/c.txt")
    assert not object_store.exists(RAW, "a")  # a prefix is not an object
    for call in (object_store.head, object_store.get_bytes):
        with pytest.raises(ObjectNotFound) as err:
            call(RAW, "a/c.txt")
        assert err.value.bucket == RAW and err.value.key == "a/c.txt"
        assert f"s3://{RAW}/a/c.txt" in str(err.value)


def test_missing_in_a_bucket_never_written(object_store):
    with pytest.raises(ObjectNotFound):
        object_store.get_bytes("products-bucket", "nothing/here")
    assert list(object_store.list("products-bucket")) == []


def test_content_type_and_metadata_round_trip(object_store):
    object_store.put_bytes(RAW, "m.json", b"{}", content_type="application/json",
                           metadata={"survey": "phat", "field": "b01-f03"})
    assert object_store.metadata(RAW, "m.json") == (
        "application/json", {"survey": "phat", "field": "b01-f03"})
    # and the sidecar that keeps them locally is never listed
    assert [o.key for o in object_store.list(RAW)] == ["m.json"]


def test_list_by_prefix_in_key_order(object_store):
    keys = ["b/2", "a/1", "a.txt", "a/0", "a/sub/x", "ab", "a/sub/y/z", "A"]
    for k in keys:
        object_store.put_bytes(RAW, k, k.encode())
    listed = list(object_store.list(RAW))
    assert [o.key for o in listed] == sorted(keys)  # "A" < "a.txt" < "a/0": byte order
    assert all(o.etag == md5(o.key.encode()) and o.size == len(o.key) for o in listed)
    assert [o.key for o in object_store.list(RAW, "a/")] == ["a/0", "a/1", "a/sub/x", "a/sub/y/z"]
    assert [o.key for o in object_store.list(RAW, "a")] == [
        "a.txt", "a/0", "a/1", "a/sub/x", "a/sub/y/z", "ab"]
    assert [o.key for o in object_store.list(RAW, "a/s")] == ["a/sub/x", "a/sub/y/z"]
    assert [o.key for o in object_store.list(RAW, "a/sub/y/z")] == ["a/sub/y/z"]
    assert list(object_store.list(RAW, "c")) == []
    assert list(object_store.list(RAW, "a/nope/")) == []


def test_delete(object_store):
    object_store.put_bytes(RAW, "d/1", b"1")
    object_store.put_bytes(RAW, "d/2", b"2")
    object_store.delete(RAW, "d/1")
    assert not object_store.exists(RAW, "d/1")
    assert [o.key for o in object_store.list(RAW)] == ["d/2"]
    object_store.delete(RAW, "d/1")  # absent: no error
    object_store.delete(RAW, "never/was")
    object_store.delete(RAW, "d/2")
    assert list(object_store.list(RAW)) == []
    # once "d/..." is gone, "d" itself can be an object (locally: its empty folder was pruned)
    object_store.put_bytes(RAW, "d", b"now a file")
    assert object_store.get_bytes(RAW, "d") == b"now a file"


def test_download(object_store, tmp_path):
    object_store.put_bytes(RAW, "x/y.fits", b"payload" * 1000)
    dest = object_store.download(RAW, "x/y.fits", tmp_path / "out" / "deeper" / "y.fits")
    assert dest == tmp_path / "out" / "deeper" / "y.fits"
    assert dest.read_bytes() == b"payload" * 1000
    assert os.listdir(dest.parent) == ["y.fits"]  # no temporary file left behind
    with pytest.raises(ObjectNotFound):
        object_store.download(RAW, "x/missing.fits", tmp_path / "missing.fits")
    assert not (tmp_path / "missing.fits").exists()


def test_local_path(object_store):
    object_store.put_bytes(RAW, "lp/image.fits", b"pixels")
    with object_store.local_path(RAW, "lp/image.fits") as path:
        assert isinstance(path, Path) and path.read_bytes() == b"pixels"
        assert path.name == "image.fits"
    with pytest.raises(ObjectNotFound), object_store.local_path(RAW, "lp/missing.fits"):
        pass  # pragma: no cover


def test_put_file_50mb_streams(object_store, tmp_path):
    chunk = os.urandom(1 << 20)
    src = tmp_path / "big.fits"
    digest = hashlib.md5()
    with open(src, "wb") as f:
        for i in range(50):
            block = chunk[i:] + chunk[:i]
            digest.update(block)
            f.write(block)
    info = object_store.put_file(RAW, "big/big.fits", src, content_type="application/fits")
    assert info.size == 50 << 20
    if "-" in info.etag:  # S3: multipart upload, etag is md5-of-part-md5s "-<parts>"
        assert int(info.etag.rsplit("-", 1)[1]) > 1
    else:
        assert info.etag == digest.hexdigest()
    assert object_store.head(RAW, "big/big.fits").etag == info.etag
    out = object_store.download(RAW, "big/big.fits", tmp_path / "back.fits")
    with open(out, "rb") as f:
        assert hashlib.file_digest(f, "md5").hexdigest() == digest.hexdigest()


def test_failed_stream_leaves_previous_object(object_store):
    object_store.put_bytes(RAW, "atomic/obj", b"version 1")
    # 9 MiB then a failure: past S3's 8 MiB multipart threshold, so a multipart upload aborts
    with pytest.raises(BrokenSource):
        object_store.put_fileobj(RAW, "atomic/obj", FailingStream(good=9))
    assert object_store.get_bytes(RAW, "atomic/obj") == b"version 1"
    assert [o.key for o in object_store.list(RAW)] == ["atomic/obj"]
    # and a new key whose first write fails does not appear at all
    with pytest.raises(BrokenSource):
        object_store.put_fileobj(RAW, "atomic/new", FailingStream(good=1))
    assert not object_store.exists(RAW, "atomic/new")
    assert [o.key for o in object_store.list(RAW)] == ["atomic/obj"]


def test_put_fileobj_stores_the_stream(object_store):
    info = object_store.put_fileobj(RAW, "stream/obj", io.BytesIO(b"streamed bytes"),
                                    content_type="text/plain")
    assert info.size == 14 and info.etag == md5(b"streamed bytes")
    assert object_store.get_bytes(RAW, "stream/obj") == b"streamed bytes"


@pytest.mark.parametrize("key", [
    "dir with spaces/ünïcode +=&?@,;$.fits",
    ".hidden",
    "a/.../b",          # '...' is an ordinary segment; only '.' and '..' are refused
    "x:y*z<>|\"'",
    "x" * 255,
])
def test_unusual_but_valid_keys_round_trip(object_store, key):
    object_store.put_bytes(RAW, key, b"ok")
    assert object_store.get_bytes(RAW, key) == b"ok"
    assert [o.key for o in object_store.list(RAW)] == [key]


def test_key_of_1024_bytes_is_accepted(object_store):
    key = "/".join(["k" * 200] * 5) + "/" + "k" * 19  # 5 * 201 + 19 = 1024 bytes
    assert len(key.encode()) == 1024
    object_store.put_bytes(RAW, key, b"long")
    assert object_store.get_bytes(RAW, key) == b"long"
