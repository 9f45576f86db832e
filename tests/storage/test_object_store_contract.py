"""The ObjectStore contract, run against the local folders and S3 (moto)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from cloudphot.errors import ObjectNotFound, StorageError
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
    assert (info.bucket, info.key, info.size, info.etag) == (
        RAW,
        "exposures/j8a_flc.fits",
        5,
        md5(b"first"),
    )
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
    object_store.put_bytes(
        RAW,
        "m.json",
        b"{}",
        content_type="application/json",
        metadata={"survey": "phat", "field": "b01-f03"},
    )
    assert object_store.metadata(RAW, "m.json") == (
        "application/json",
        {"survey": "phat", "field": "b01-f03"},
    )
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
        "a.txt",
        "a/0",
        "a/1",
        "a/sub/x",
        "a/sub/y/z",
        "ab",
    ]
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
    info = object_store.put_fileobj(
        RAW, "stream/obj", io.BytesIO(b"streamed bytes"), content_type="text/plain"
    )
    assert info.size == 14 and info.etag == md5(b"streamed bytes")
    assert object_store.get_bytes(RAW, "stream/obj") == b"streamed bytes"


@pytest.mark.parametrize(
    "key",
    [
        "dir with spaces/ünïcode +=&?@,;$.fits",
        ".hidden",
        "a/.../b",  # '...' is an ordinary segment; only '.' and '..' are refused
        "x:y*z<>|\"'",
        "x" * 255,
    ],
)
def test_unusual_but_valid_keys_round_trip(object_store, key):
    object_store.put_bytes(RAW, key, b"ok")
    assert object_store.get_bytes(RAW, key) == b"ok"
    assert [o.key for o in object_store.list(RAW)] == [key]


def test_key_of_1024_bytes_is_accepted(object_store):
    key = "/".join(["k" * 200] * 5) + "/" + "k" * 19  # 5 * 201 + 19 = 1024 bytes
    assert len(key.encode()) == 1024
    object_store.put_bytes(RAW, key, b"long")
    assert object_store.get_bytes(RAW, key) == b"long"


# copy -----------------------------------------------------------------------


def test_copy_keeps_content_etag_and_content_type(object_store):
    src = object_store.put_bytes(
        RAW,
        "v1/part.parquet",
        b"partition bytes",
        content_type="application/x-parquet",
        metadata={"v": "1"},
    )
    info = object_store.copy(RAW, "v1/part.parquet", "v2/part.parquet")
    assert isinstance(info, ObjectInfo)
    assert (info.bucket, info.key, info.size, info.etag) == (RAW, "v2/part.parquet", 15, src.etag)
    assert info.last_modified.tzinfo is not None
    assert object_store.get_bytes(RAW, "v2/part.parquet") == b"partition bytes"
    assert object_store.head(RAW, "v2/part.parquet").etag == src.etag
    assert object_store.metadata(RAW, "v2/part.parquet") == ("application/x-parquet", {"v": "1"})
    # into another bucket
    other = object_store.copy(
        RAW, "v1/part.parquet", "copied/part.parquet", dst_bucket="products-bucket"
    )
    assert (other.bucket, other.key, other.etag) == (
        "products-bucket",
        "copied/part.parquet",
        src.etag,
    )
    assert object_store.get_bytes("products-bucket", "copied/part.parquet") == b"partition bytes"
    # the source is untouched
    assert object_store.get_bytes(RAW, "v1/part.parquet") == b"partition bytes"
    assert [o.key for o in object_store.list(RAW)] == ["v1/part.parquet", "v2/part.parquet"]


def test_copy_of_a_missing_source_names_the_source(object_store):
    with pytest.raises(ObjectNotFound) as err:
        object_store.copy(RAW, "nothing/here", "dst/key", dst_bucket="products-bucket")
    assert (err.value.bucket, err.value.key) == (RAW, "nothing/here")
    assert not object_store.exists("products-bucket", "dst/key")


def test_copy_onto_an_existing_key_replaces_it(object_store):
    object_store.put_bytes(RAW, "src", b"new content", content_type="text/plain")
    object_store.put_bytes(
        RAW, "dst", b"old, longer content", content_type="text/csv", metadata={"old": "yes"}
    )
    info = object_store.copy(RAW, "src", "dst")
    assert info.size == 11 and info.etag == md5(b"new content")
    assert object_store.get_bytes(RAW, "dst") == b"new content"
    assert object_store.metadata(RAW, "dst") == ("text/plain", {})
    # and again: copying the same source onto its own earlier copy is harmless
    again = object_store.copy(RAW, "src", "dst")
    assert again.etag == info.etag and object_store.get_bytes(RAW, "dst") == b"new content"
    assert [o.key for o in object_store.list(RAW)] == ["dst", "src"]


def test_writing_the_source_after_a_copy_leaves_the_copy_unchanged(object_store):
    object_store.put_bytes(RAW, "a/src", b"version 1", content_type="text/plain")
    copied = object_store.copy(RAW, "a/src", "b/copy")
    object_store.put_bytes(RAW, "a/src", b"version 2, rewritten", content_type="text/csv")
    assert object_store.get_bytes(RAW, "b/copy") == b"version 1"
    head = object_store.head(RAW, "b/copy")
    assert (head.size, head.etag) == (9, copied.etag) == (9, md5(b"version 1"))
    assert object_store.metadata(RAW, "b/copy") == ("text/plain", {})
    object_store.put_fileobj(RAW, "a/src", io.BytesIO(b"version 3"))
    object_store.delete(RAW, "a/src")
    assert object_store.get_bytes(RAW, "b/copy") == b"version 1"
    # and writing the copy leaves the source alone
    object_store.put_bytes(RAW, "a/src", b"source")
    object_store.copy(RAW, "a/src", "c/copy")
    object_store.put_bytes(RAW, "c/copy", b"copy rewritten")
    assert object_store.get_bytes(RAW, "a/src") == b"source"


def test_copy_onto_itself_is_refused(object_store):
    object_store.put_bytes(RAW, "self", b"me")
    with pytest.raises(StorageError, match="onto itself"):
        object_store.copy(RAW, "self", "self")
    with pytest.raises(StorageError, match="onto itself"):
        object_store.copy(RAW, "self", "self", dst_bucket=RAW)
    assert object_store.get_bytes(RAW, "self") == b"me"


# get_range ------------------------------------------------------------------

RANGE_DATA = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),  # prefix
        (100, 300),  # middle
        (1000, None),  # to the end
        (-8, None),  # suffix: the last 8 bytes (a Parquet footer's length and magic)
        (-1024, None),  # a suffix of exactly the object
        (-5000, None),  # a suffix longer than the object: all of it
        (1000, 5000),  # past the end: cut short
        (1024, None),  # starting at the end: nothing
        (2000, None),  # starting past the end: nothing
        (2000, 3000),
        (7, 7),  # empty
        (9, 3),  # end before start: empty, as slicing
        (0, None),  # all of it
    ],
)
def test_get_range(object_store, start, end):
    object_store.put_bytes(RAW, "r/obj", RANGE_DATA)
    assert object_store.get_range(RAW, "r/obj", start, end) == RANGE_DATA[start:end]


def test_get_range_of_an_empty_object(object_store):
    object_store.put_bytes(RAW, "r/empty", b"")
    for start, end in ((0, None), (-8, None), (0, 4), (3, None)):
        assert object_store.get_range(RAW, "r/empty", start, end) == b""


def test_get_range_of_a_missing_object_and_bad_ranges(object_store):
    for start, end in ((0, 10), (-8, None), (5, None), (4, 4)):
        with pytest.raises(ObjectNotFound) as err:
            object_store.get_range(RAW, "r/missing", start, end)
        assert (err.value.bucket, err.value.key) == (RAW, "r/missing")
    object_store.put_bytes(RAW, "r/obj", b"abc")
    for start, end in ((-2, 1), (0, -1), (0.5, None), (True, None)):
        with pytest.raises(ValueError):
            object_store.get_range(RAW, "r/obj", start, end)
