"""What only the local object store promises: key safety, notifications, files on disk."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc

import pytest

from cloudphot.errors import ObjectNotFound, StorageError
from cloudphot.runtime.local_objects import LocalObjectStore

RAW = "raw-bucket"

HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "..",
    ".",
    "a/./b",
    "a//b",
    "a/",
    "a\\..\\b",
    "a\x00b",
    "a\nb",
    "tab\there",
    "del\x7f",
    "x" * 1025,
    "é" * 513,  # 1026 UTF-8 bytes
    "a/" + "y" * 256,  # one path segment longer than filesystems allow
    ".~cloudphot.tmp",  # reserved for temporary files
    "\udc80",  # lone surrogate: not UTF-8
]


@pytest.fixture
def events():
    return []


@pytest.fixture
def store(tmp_path, events):
    return LocalObjectStore(tmp_path / "buckets", on_created=events.append)


def all_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused_by_every_operation(store, tmp_path, key, events):
    calls = [
        lambda: store.put_bytes(RAW, key, b"evil"),
        lambda: store.put_file(RAW, key, __file__),
        lambda: store.get_bytes(RAW, key),
        lambda: store.head(RAW, key),
        lambda: store.exists(RAW, key),
        lambda: store.delete(RAW, key),
        lambda: store.download(RAW, key, tmp_path / "dl"),
        lambda: store.local_path(RAW, key).__enter__(),
        lambda: store.get_range(RAW, key, -8),
        lambda: store.copy(RAW, key, "fine"),
        lambda: store.copy(RAW, "fine", key),
    ]
    for call in calls:
        with pytest.raises(StorageError) as err:
            call()
        assert not isinstance(err.value, ObjectNotFound)
        assert "invalid object key" in str(err.value) and repr(key)[:60] in str(err.value)
    assert all_files(tmp_path) == [] and events == []


def test_moto_s3_is_more_lenient_than_the_local_store(s3_store):
    """Documented difference: S3 accepts keys the local store refuses (they would alias paths)."""
    for key in ("a//b", "a/./b", "a/", "a\\b"):
        s3_store.put_bytes(RAW, key, b"fine on S3")
        assert s3_store.get_bytes(RAW, key) == b"fine on S3"


@pytest.mark.parametrize(
    "bucket",
    ["", "ab", "UPPER", "under_score", "-dash", "../up", "a" * 64, ".cloudphot-meta", "x/y"],
)
def test_bad_bucket_names_are_refused(store, bucket):
    with pytest.raises(StorageError, match="invalid bucket name"):
        store.put_bytes(bucket, "k", b"x")


def test_layout_is_a_folder_per_bucket_and_the_stored_file_is_the_object(store, tmp_path):
    store.put_bytes(RAW, "field1/j8a_flc.fits", b"pixels")
    path = tmp_path / "buckets" / RAW / "field1" / "j8a_flc.fits"
    assert path.read_bytes() == b"pixels"
    assert store.path_of(RAW, "field1/j8a_flc.fits") == path
    with store.local_path(RAW, "field1/j8a_flc.fits") as p:
        assert p == path  # the stored file itself, not a copy


def test_a_key_cannot_be_both_object_and_prefix(store):
    store.put_bytes(RAW, "a/b", b"1")
    both = "both an object and a prefix"
    with pytest.raises(StorageError, match=f"s3://raw-bucket/a locally.*{both}"):
        store.put_bytes(RAW, "a", b"2")
    store.put_bytes(RAW, "c", b"1")
    with pytest.raises(StorageError, match=f"s3://raw-bucket/c/d locally.*{both}"):
        store.put_bytes(RAW, "c/d", b"2")
    assert store.get_bytes(RAW, "a/b") == b"1" and store.get_bytes(RAW, "c") == b"1"


def test_files_dropped_in_by_hand_are_objects(store, tmp_path):
    folder = tmp_path / "buckets" / RAW / "manual"
    folder.mkdir(parents=True)
    (folder / "copied.fits").write_bytes(b"copied by the user")
    info = store.head(RAW, "manual/copied.fits")
    assert info.etag == hashlib.md5(b"copied by the user").hexdigest() and info.size == 18
    assert [o.key for o in store.list(RAW)] == ["manual/copied.fits"]
    assert store.metadata(RAW, "manual/copied.fits") == (None, {})


def test_a_stale_sidecar_is_not_trusted(store, tmp_path):
    """If the bytes change behind the sidecar's back (a racing writer), the etag follows them."""
    store.put_bytes(RAW, "k", b"one", content_type="text/plain")
    path = tmp_path / "buckets" / RAW / "k"
    tmp = path.with_name("replacement")
    tmp.write_bytes(b"two!")
    os.replace(tmp, path)
    assert store.head(RAW, "k").etag == hashlib.md5(b"two!").hexdigest()
    assert store.metadata(RAW, "k") == (None, {})


def test_notification_per_write_with_s3_event_shape(store, events, tmp_path):
    info = store.put_bytes(RAW, "raw/j8a_flc.fits", b"12345")
    assert len(events) == 1
    event = events[0]
    assert event["detail-type"] == "Object Created" and event["source"] == "aws.s3"
    assert event["resources"] == [f"arn:aws:s3:::{RAW}"]
    assert event["detail"]["bucket"] == {"name": RAW}
    obj = event["detail"]["object"]
    assert (obj["key"], obj["size"], obj["etag"]) == ("raw/j8a_flc.fits", 5, info.etag)
    assert obj["etag"] == hashlib.md5(b"12345").hexdigest()

    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    store.put_file(RAW, "raw/f.bin", src)
    assert len(events) == 2 and events[1]["detail"]["object"]["key"] == "raw/f.bin"
    assert events[0]["id"] != events[1]["id"]

    # reads, lists, downloads and deletes notify nothing
    store.get_bytes(RAW, "raw/f.bin")
    store.head(RAW, "raw/f.bin")
    list(store.list(RAW))
    store.download(RAW, "raw/f.bin", tmp_path / "dl.bin")
    store.delete(RAW, "raw/f.bin")
    assert len(events) == 2


def test_no_notification_when_the_write_fails(store, events):
    from test_object_store_contract import BrokenSource, FailingStream

    with pytest.raises(BrokenSource):
        store.put_fileobj(RAW, "k", FailingStream(good=2))
    with pytest.raises(StorageError):
        store.put_bytes(RAW, "../k", b"x")
    with pytest.raises(StorageError):
        store.put_file(RAW, "k", "/definitely/not/here.fits")
    assert events == []


def test_listener_failure_propagates_after_the_object_is_stored(tmp_path):
    class Boom(RuntimeError):
        pass

    def listener(event):
        raise Boom(event["detail"]["object"]["key"])

    store = LocalObjectStore(tmp_path, on_created=listener)
    with pytest.raises(Boom, match="k/1"):
        store.put_bytes(RAW, "k/1", b"kept")
    assert store.get_bytes(RAW, "k/1") == b"kept"
    assert store.head(RAW, "k/1").etag == hashlib.md5(b"kept").hexdigest()


def test_no_temporary_files_remain_after_a_failed_write(store, tmp_path):
    from test_object_store_contract import BrokenSource, FailingStream

    store.put_bytes(RAW, "dir/obj", b"v1")
    with pytest.raises(BrokenSource):
        store.put_fileobj(RAW, "dir/obj", FailingStream(good=3))
    assert sorted(os.listdir(tmp_path / "buckets" / RAW / "dir")) == ["obj"]


def test_put_file_does_not_read_the_file_into_memory(store, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        f.truncate(50 << 20)  # sparse 50 MiB of zeros: cheap to create
    tracemalloc.start()
    try:
        info = store.put_file(RAW, "big.bin", src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == 50 << 20
    assert peak < 8 << 20, f"put_file peaked at {peak / 2**20:.1f} MiB of Python memory"


def test_same_key_racing_writers_last_wins_never_torn(store, tmp_path):
    payloads = [bytes([65 + i]) * (256 << 10) for i in range(8)]  # 8 x 256 KiB, distinct
    seen: set[bytes] = set()
    stop = threading.Event()
    start = threading.Barrier(len(payloads) + 1)

    def writer(data):
        start.wait()
        for _ in range(5):
            store.put_bytes(RAW, "contended", data)

    def reader():
        start.wait()
        while not stop.is_set():
            try:
                seen.add(store.get_bytes(RAW, "contended"))
            except ObjectNotFound:
                pass

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    r = threading.Thread(target=reader)
    for t in (*threads, r):
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    final = store.get_bytes(RAW, "contended")
    assert final in payloads
    assert seen <= set(payloads)  # a reader never saw a mixture or a partial file
    assert store.head(RAW, "contended").etag == hashlib.md5(final).hexdigest()
    assert sorted(os.listdir(tmp_path / "buckets" / RAW)) == ["contended"]


def test_different_keys_from_several_processes(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from cloudphot.runtime.local_objects import LocalObjectStore\n"
        "s = LocalObjectStore(sys.argv[1])\n"
        "for i in range(20): s.put_bytes('raw-bucket', f'p{sys.argv[2]}/same/{i}', b'x' * i)\n"
        "for i in range(20): s.put_bytes('raw-bucket', 'shared', sys.argv[2].encode() * 1000)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(n)], env=env)
        for n in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    store = LocalObjectStore(tmp_path)
    keys = [o.key for o in store.list(RAW)]
    assert len(keys) == 61 and keys == sorted(keys)
    assert store.get_bytes(RAW, "shared") in {str(n).encode() * 1000 for n in range(3)}


# copy: hard links -----------------------------------------------------------


def test_copy_is_a_hard_link_with_the_sidecar_and_a_copy_event(store, events, tmp_path):
    src = store.put_bytes(
        RAW, "v1/p.parquet", b"rows", content_type="application/x-parquet", metadata={"k": "v"}
    )
    info = store.copy(RAW, "v1/p.parquet", "v2/p.parquet", dst_bucket="products-bucket")
    a, b = store.path_of(RAW, "v1/p.parquet"), store.path_of("products-bucket", "v2/p.parquet")
    assert os.stat(a).st_ino == os.stat(b).st_ino and os.stat(a).st_nlink == 2
    assert (info.etag, info.size, info.last_modified) == (src.etag, 4, src.last_modified)
    assert store.metadata("products-bucket", "v2/p.parquet") == (
        "application/x-parquet",
        {"k": "v"},
    )
    assert len(events) == 2
    detail = events[1]["detail"]
    assert detail["reason"] == "CopyObject" and detail["bucket"] == {"name": "products-bucket"}
    assert (detail["object"]["key"], detail["object"]["etag"]) == ("v2/p.parquet", src.etag)
    # again, onto the existing link to the same inode: no temporary name left behind
    store.copy(RAW, "v1/p.parquet", "v2/p.parquet", dst_bucket="products-bucket")
    assert os.listdir(b.parent) == ["p.parquet"] and os.stat(a).st_nlink == 2


def test_overwriting_the_source_gives_it_a_new_inode(store):
    store.put_bytes(RAW, "src", b"one")
    store.copy(RAW, "src", "dst")
    path_src, path_dst = store.path_of(RAW, "src"), store.path_of(RAW, "dst")
    store.put_bytes(RAW, "src", b"two")
    assert os.stat(path_src).st_ino != os.stat(path_dst).st_ino
    assert path_dst.read_bytes() == b"one" and os.stat(path_dst).st_nlink == 1
    assert store.head(RAW, "dst").etag == hashlib.md5(b"one").hexdigest()


@pytest.mark.parametrize("code", ["EXDEV", "EPERM"])
def test_copy_falls_back_to_bytes_where_links_fail(store, events, monkeypatch, code):
    import errno

    def no_link(src, dst, **kwargs):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    store.put_bytes(RAW, "src/obj", b"bytes to copy", content_type="text/plain")
    monkeypatch.setattr(os, "link", no_link)
    info = store.copy(RAW, "src/obj", "dst/obj")
    a, b = store.path_of(RAW, "src/obj"), store.path_of(RAW, "dst/obj")
    assert os.stat(a).st_ino != os.stat(b).st_ino and b.read_bytes() == b"bytes to copy"
    assert info.etag == hashlib.md5(b"bytes to copy").hexdigest() == store.head(RAW, "dst/obj").etag
    assert store.metadata(RAW, "dst/obj") == ("text/plain", {})
    assert events[-1]["detail"]["reason"] == "CopyObject"
    assert os.listdir(b.parent) == ["obj"]


def test_copy_failing_otherwise_is_a_storage_error_and_leaves_nothing(store, events, monkeypatch):
    import errno

    def broken(src, dst, **kwargs):
        raise OSError(errno.EIO, "I/O error")

    store.put_bytes(RAW, "src", b"x")
    monkeypatch.setattr(os, "link", broken)
    with pytest.raises(
        StorageError, match="cannot copy s3://raw-bucket/src to s3://raw-bucket/d/dst"
    ):
        store.copy(RAW, "src", "d/dst")
    assert not store.exists(RAW, "d/dst") and len(events) == 1
    assert not any(
        n.startswith(".~cloudphot") for n in os.listdir(store.path_of(RAW, "d/x").parent)
    )


def test_copy_of_a_file_dropped_in_by_hand(store, tmp_path):
    folder = tmp_path / "buckets" / RAW / "manual"
    folder.mkdir(parents=True)
    (folder / "f.fits").write_bytes(b"by hand")
    info = store.copy(RAW, "manual/f.fits", "copied/f.fits")
    assert info.etag == hashlib.md5(b"by hand").hexdigest()
    assert store.metadata(RAW, "copied/f.fits") == (None, {})
    # a prefix is not an object to copy
    with pytest.raises(ObjectNotFound):
        store.copy(RAW, "manual", "x")
