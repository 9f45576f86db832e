"""SHA-256 with uploads: S3 checks and keeps it; catalog verify reads it back without the data."""

from __future__ import annotations

import base64
import hashlib

import pytest

from cloudphot.catalog.integrity import verify_version
from cloudphot.errors import StorageError

BUCKET = "products-bucket"  # (tests/storage/conftest.py BUCKETS)


def _file(tmp_path, data: bytes):
    p = tmp_path / "part.parquet"
    p.write_bytes(data)
    return p, hashlib.sha256(data).hexdigest()


@pytest.fixture
def stubbed(aws_env):
    """An S3 store on a stubbed client (moto 5 keeps no ChecksumSHA256 of an upload)."""
    import boto3
    from botocore.stub import ANY, Stubber

    from cloudphot.aws.s3_objects import S3ObjectStore

    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        yield S3ObjectStore(client=client), stub, ANY
        stub.assert_no_pending_responses()


def _head(**extra):
    from datetime import UTC, datetime

    return {"ContentLength": 10, "ETag": '"e"', "LastModified": datetime.now(UTC), **extra}


def test_s3_uploads_carry_the_sha256_and_read_it_back(stubbed, tmp_path):
    store, stub, ANY = stubbed
    path, sha = _file(tmp_path, b"partition bytes" * 1000)
    b64 = base64.b64encode(bytes.fromhex(sha)).decode()
    stub.add_response(
        "put_object",
        {"ETag": '"e"'},
        {"Bucket": BUCKET, "Key": "c/p.parquet", "Body": ANY, "ChecksumSHA256": b64},
    )
    stub.add_response("head_object", _head(), {"Bucket": BUCKET, "Key": "c/p.parquet"})
    store.put_file(BUCKET, "c/p.parquet", path, sha256=sha)
    stub.add_response(
        "head_object",
        _head(ChecksumSHA256=b64, ChecksumType="FULL_OBJECT"),
        {"Bucket": BUCKET, "Key": "c/p.parquet", "ChecksumMode": "ENABLED"},
    )
    assert store.recorded_sha256(BUCKET, "c/p.parquet") == sha
    # multipart composites ("...-3") and objects without one are not comparable
    stub.add_response(
        "head_object",
        _head(ChecksumSHA256=b64 + "-3", ChecksumType="COMPOSITE"),
        {"Bucket": BUCKET, "Key": "c/m", "ChecksumMode": "ENABLED"},
    )
    assert store.recorded_sha256(BUCKET, "c/m") is None
    stub.add_response(
        "head_object", _head(), {"Bucket": BUCKET, "Key": "c/n", "ChecksumMode": "ENABLED"}
    )
    assert store.recorded_sha256(BUCKET, "c/n") is None


def test_s3_refusing_a_body_that_does_not_match_is_a_named_error(stubbed, tmp_path):
    store, stub, _ = stubbed
    path, _sha = _file(tmp_path, b"good bytes")
    stub.add_client_error("put_object", "BadDigest", http_status_code=400)
    with pytest.raises(StorageError, match="s3://products-bucket/c/bad.*BadDigest"):
        store.put_file(BUCKET, "c/bad", path, sha256=hashlib.sha256(b"other").hexdigest())


def test_verify_compares_recorded_checksums_and_hashes_the_rest(object_store, tmp_path):
    path, sha = _file(tmp_path, b"partition" * 5000)
    object_store.put_file(BUCKET, "c/v0001/a.parquet", path, sha256=sha)
    object_store.put_file(BUCKET, "c/v0001/b.parquet", path, sha256=sha)
    size = path.stat().st_size
    manifest = {
        "version": 1,
        "tables": {
            "phot_mod": {
                "partitions": {
                    "1": {"key": "c/v0001/a.parquet", "sha256": sha, "size": size},
                    "2": {"key": "c/v0001/b.parquet", "sha256": sha, "size": size},
                }
            }
        },
    }
    assert verify_version(object_store, BUCKET, manifest, full=False).ok
    # b is replaced by other bytes (a PUT without a checksum, as any other writer would)
    object_store.put_bytes(BUCKET, "c/v0001/b.parquet", b"y" * size)
    for full in (False, True):
        rep = verify_version(object_store, BUCKET, manifest, full=full)
        assert [k for k, _ in rep.bad] == ["c/v0001/b.parquet"], full
