"""put_bytes_if: compare-and-swap on one key, the same on both adapters."""

from __future__ import annotations

import threading

import pytest

from cloudphot.errors import ConditionFailed

BUCKET = "products-bucket"  # (tests/storage/conftest.py BUCKETS)


def test_create_only_if_absent(object_store):
    info = object_store.put_bytes_if(BUCKET, "c/LATEST.json", b'{"version": 1}', etag=None)
    with pytest.raises(ConditionFailed, match="c/LATEST.json"):
        object_store.put_bytes_if(BUCKET, "c/LATEST.json", b'{"version": 9}', etag=None)
    assert object_store.get_bytes(BUCKET, "c/LATEST.json") == b'{"version": 1}'
    assert object_store.head(BUCKET, "c/LATEST.json").etag == info.etag


def test_swap_only_from_the_etag_read(object_store):
    first = object_store.put_bytes(BUCKET, "c/LATEST.json", b'{"version": 1}')
    second = object_store.put_bytes_if(BUCKET, "c/LATEST.json", b'{"version": 2}', etag=first.etag)
    with pytest.raises(ConditionFailed):  # a writer still holding the first etag loses
        object_store.put_bytes_if(BUCKET, "c/LATEST.json", b'{"version": 3}', etag=first.etag)
    with pytest.raises(ConditionFailed):  # and "absent" is a condition too
        object_store.put_bytes_if(BUCKET, "c/LATEST.json", b'{"version": 3}', etag=None)
    assert object_store.get_bytes(BUCKET, "c/LATEST.json") == b'{"version": 2}'
    assert object_store.head(BUCKET, "c/LATEST.json").etag == second.etag


def test_missing_object_with_an_etag_fails(object_store, request):
    if "aws" in request.node.name:
        pytest.skip("moto 5 writes an If-Match PUT to a missing key; S3 answers 404 NoSuchKey")
    with pytest.raises(ConditionFailed):
        object_store.put_bytes_if(BUCKET, "c/none.json", b"x", etag="0" * 32)
    assert not object_store.exists(BUCKET, "c/none.json")


def test_racing_local_writers_one_wins(local_store):
    """16 threads swap from the same etag at once: exactly one write lands."""
    start = local_store.put_bytes(BUCKET, "c/LATEST.json", b"0")
    barrier = threading.Barrier(16)
    won, lost = [], []

    def writer(i):
        barrier.wait()
        try:
            local_store.put_bytes_if(BUCKET, "c/LATEST.json", f"w{i}".encode(), etag=start.etag)
            won.append(i)
        except ConditionFailed:
            lost.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 15
    assert local_store.get_bytes(BUCKET, "c/LATEST.json") == f"w{won[0]}".encode()
    # the lock file is not an object
    assert [i.key for i in local_store.list(BUCKET)] == ["c/LATEST.json"]
