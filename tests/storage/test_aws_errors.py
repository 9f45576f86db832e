"""AWS error handling, with botocore's Stubber: throttling, backoff and translation."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from cloudphot.aws.dynamodb_tables import DynamoDBTables, from_dynamodb, to_dynamodb
from cloudphot.aws.s3_objects import S3ObjectStore
from cloudphot.errors import (
    ConditionFailed,
    ItemNotFound,
    ObjectNotFound,
    StorageError,
    Throttled,
    TransientError,
)

NAMES = {"jobs": "prod-jobs", "events": "prod-events"}
GET = {"TableName": "prod-jobs", "Key": {"job_id": {"S": "j1"}}, "ConsistentRead": True}


@pytest.fixture
def ddb(aws_env):
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        sleeps: list[float] = []
        tables = DynamoDBTables(
            NAMES, client=client, max_attempts=4, base_delay_s=0.1, sleep=sleeps.append
        )
        yield tables, stub, sleeps
        stub.assert_no_pending_responses()


def test_throttled_twice_then_success(ddb):
    tables, stub, sleeps = ddb
    stub.add_client_error(
        "get_item", "ThrottlingException", http_status_code=400, expected_params=GET
    )
    stub.add_client_error(
        "get_item",
        "ProvisionedThroughputExceededException",
        http_status_code=400,
        expected_params=GET,
    )
    stub.add_response(
        "get_item", {"Item": {"job_id": {"S": "j1"}, "n": {"N": "3"}}}, expected_params=GET
    )
    assert tables.get("jobs", "j1") == {"job_id": "j1", "n": 3}
    assert len(sleeps) == 2
    # full jitter: each sleep is uniform in [0, base * 2**attempt]
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2


def test_always_throttled_raises_throttled(ddb):
    tables, stub, sleeps = ddb
    for _ in range(4):
        stub.add_client_error("put_item", "ThrottlingException", http_status_code=400)
    with pytest.raises(Throttled, match="prod-jobs") as err:
        tables.put("jobs", {"job_id": "j1"})
    assert len(sleeps) == 3
    assert err.value.__cause__.response["Error"]["Code"] == "ThrottlingException"
    assert isinstance(err.value, TransientError)


def test_backoff_grows_and_is_capped():
    import random

    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    sleeps: list[float] = []

    class Top(random.Random):
        def uniform(self, a, b):  # always the top of the jitter range
            return b

    tables = DynamoDBTables(
        NAMES,
        client=client,
        max_attempts=7,
        base_delay_s=0.1,
        max_delay_s=1.0,
        sleep=sleeps.append,
        rng=Top(),
    )
    with Stubber(client) as stub:
        for _ in range(7):
            stub.add_client_error("scan", "RequestLimitExceeded", http_status_code=400)
        with pytest.raises(Throttled):
            list(tables.scan("jobs"))
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_server_error_retries_reads_but_not_conditional_writes(ddb):
    tables, stub, sleeps = ddb
    stub.add_client_error("get_item", "InternalServerError", http_status_code=500)
    stub.add_response("get_item", {})
    assert tables.get("jobs", "j1") is None
    assert len(sleeps) == 1
    # the write may have happened: an if_absent put or an increment is not retried
    stub.add_client_error("put_item", "InternalServerError", http_status_code=500)
    with pytest.raises(TransientError) as err:
        tables.put("jobs", {"job_id": "j1"}, if_absent=True)
    assert not isinstance(err.value, Throttled)
    stub.add_client_error("update_item", "ServiceUnavailable", http_status_code=503)
    with pytest.raises(TransientError):
        tables.update("jobs", "j1", {}, increment={"n": 1})
    assert len(sleeps) == 1


def test_update_request_shape(ddb):
    tables, stub, _ = ddb
    stub.add_response(
        "update_item",
        {
            "Attributes": {
                "job_id": {"S": "j1"},
                "state": {"S": "RUNNING"},
                "n": {"N": "2"},
                "f": {"N": "0.5"},
            }
        },
        expected_params={
            "TableName": "prod-jobs",
            "Key": {"job_id": {"S": "j1"}},
            "UpdateExpression": "SET #a0 = :v0, #a1 = :v1 ADD #a2 :v2",
            "ConditionExpression": "attribute_exists(#a3) AND #a0 = :v3 AND attribute_not_exists(#a4)",
            "ExpressionAttributeNames": {
                "#a0": "state",
                "#a1": "f",
                "#a2": "n",
                "#a3": "job_id",
                "#a4": "lease",
            },
            "ExpressionAttributeValues": {
                ":v0": {"S": "RUNNING"},
                ":v1": {"N": "0.5"},
                ":v2": {"N": "1"},
                ":v3": {"S": "PENDING"},
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )
    new = tables.update(
        "jobs",
        "j1",
        {"state": "RUNNING", "f": 0.5},
        increment={"n": 1},
        expect={"state": "PENDING", "lease": None},
    )
    assert new == {"job_id": "j1", "state": "RUNNING", "n": 2, "f": 0.5}


def test_condition_failure_without_item_in_response_rereads(ddb):
    tables, stub, _ = ddb
    stub.add_client_error("update_item", "ConditionalCheckFailedException", http_status_code=400)
    stub.add_response("get_item", {}, expected_params=GET)
    with pytest.raises(ItemNotFound):
        tables.update("jobs", "j1", {"state": "x"})
    stub.add_client_error("update_item", "ConditionalCheckFailedException", http_status_code=400)
    stub.add_response("get_item", {"Item": {"job_id": {"S": "j1"}, "state": {"S": "DONE"}}})
    with pytest.raises(ConditionFailed, match="expected state='PENDING', found 'DONE'"):
        tables.update("jobs", "j1", {"state": "x"}, expect={"state": "PENDING"})


def test_missing_table_and_validation_errors_name_the_table(ddb):
    tables, stub, sleeps = ddb
    stub.add_client_error(
        "get_item",
        "ResourceNotFoundException",
        http_status_code=400,
        service_message="Requested resource not found",
    )
    with pytest.raises(StorageError, match="prod-jobs.*does not exist") as err:
        tables.get("jobs", "j1")
    assert err.value.__cause__ is not None
    stub.add_client_error(
        "put_item",
        "ValidationException",
        http_status_code=400,
        service_message="Item size has exceeded the maximum allowed size",
    )
    with pytest.raises(StorageError, match="prod-jobs.*ValidationException.*size"):
        tables.put("jobs", {"job_id": "j1"})
    assert sleeps == []


def test_query_paginates_up_to_the_limit(ddb):
    tables, stub, _ = ddb
    base = {
        "TableName": "prod-jobs",
        "IndexName": "by_state",
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": "state"},
        "ExpressionAttributeValues": {":p": {"S": "DONE"}},
        "ScanIndexForward": False,
    }
    page1 = [{"job_id": {"S": "a"}}, {"job_id": {"S": "b"}}]
    stub.add_response(
        "query",
        {"Items": page1, "LastEvaluatedKey": {"job_id": {"S": "b"}}},
        expected_params={**base, "Limit": 5},
    )
    stub.add_response(
        "query",
        {"Items": [{"job_id": {"S": "c"}}], "LastEvaluatedKey": {"job_id": {"S": "c"}}},
        expected_params={**base, "Limit": 3, "ExclusiveStartKey": {"job_id": {"S": "b"}}},
    )
    stub.add_response(
        "query",
        {
            "Items": [{"job_id": {"S": "d"}}, {"job_id": {"S": "e"}}],
            "LastEvaluatedKey": {"job_id": {"S": "e"}},
        },
        expected_params={**base, "Limit": 2, "ExclusiveStartKey": {"job_id": {"S": "c"}}},
    )
    got = tables.query("jobs", "by_state", "DONE", limit=5, descending=True)
    assert [i["job_id"] for i in got] == ["a", "b", "c", "d", "e"]


def test_scan_paginates(ddb):
    tables, stub, _ = ddb
    stub.add_response(
        "scan",
        {"Items": [{"job_id": {"S": "a"}}], "LastEvaluatedKey": {"job_id": {"S": "a"}}},
        expected_params={"TableName": "prod-jobs", "ConsistentRead": True},
    )
    stub.add_response(
        "scan",
        {"Items": [{"job_id": {"S": "b"}}]},
        expected_params={
            "TableName": "prod-jobs",
            "ConsistentRead": True,
            "ExclusiveStartKey": {"job_id": {"S": "a"}},
        },
    )
    assert [i["job_id"] for i in tables.scan("jobs")] == ["a", "b"]


def test_value_conversion():
    item = {"i": 3, "f": 0.1, "big": 10**30, "l": [1.5, {"x": -2}], "b": True, "n": None}
    wire = to_dynamodb(item)
    assert wire["f"] == {"N": "0.1"} and wire["i"] == {"N": "3"} and wire["b"] == {"BOOL": True}
    assert from_dynamodb(wire) == item
    assert from_dynamodb({"x": {"N": "1.0"}, "y": {"N": "1E+2"}, "z": {"N": "-0.25"}}) == {
        "x": 1,
        "y": 100,
        "z": -0.25,
    }
    assert type(from_dynamodb({"x": {"N": "1.0"}})["x"]) is int


# S3 -------------------------------------------------------------------------


@pytest.fixture
def s3(aws_env):
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        yield S3ObjectStore(client=client), stub
        stub.assert_no_pending_responses()


def test_s3_error_translation(s3):
    store, stub = s3
    stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    with pytest.raises(ObjectNotFound) as err:
        store.get_bytes("b-1", "k/1")
    assert (err.value.bucket, err.value.key) == ("b-1", "k/1")
    stub.add_client_error("head_object", "404", http_status_code=404)
    assert not store.exists("b-1", "k/1")
    stub.add_client_error("put_object", "SlowDown", http_status_code=503)
    with pytest.raises(Throttled, match="s3://b-1/k/1") as terr:
        store.put_bytes("b-1", "k/1", b"x")
    assert terr.value.__cause__.response["Error"]["Code"] == "SlowDown"
    stub.add_client_error("get_object", "InternalError", http_status_code=500)
    with pytest.raises(TransientError):
        store.get_bytes("b-1", "k/1")
    stub.add_client_error(
        "delete_object", "AccessDenied", http_status_code=403, service_message="Access Denied"
    )
    with pytest.raises(StorageError, match="s3://b-1/k/1.*AccessDenied") as derr:
        store.delete("b-1", "k/1")
    assert not isinstance(derr.value, (ObjectNotFound, TransientError))
    assert derr.value.__cause__ is not None
    stub.add_client_error("head_object", "403", http_status_code=403)
    with pytest.raises(StorageError, match="ListBucket"):
        store.head("b-1", "k/1")
    stub.add_client_error("list_objects_v2", "NoSuchBucket", http_status_code=404)
    with pytest.raises(StorageError, match="bucket 'b-1' does not exist"):
        list(store.list("b-1", "p/"))


def test_s3_put_strips_etag_quotes_and_reports_versions(s3):
    store, stub = s3
    stub.add_response(
        "put_object",
        {"ETag": '"abc123"', "VersionId": "v1"},
        expected_params={
            "Bucket": "b-1",
            "Key": "k",
            "Body": b"x",
            "ContentType": "text/plain",
            "Metadata": {"a": "b"},
        },
    )
    info = store.put_bytes("b-1", "k", b"x", content_type="text/plain", metadata={"a": "b"})
    assert (info.etag, info.version_id, info.size) == ("abc123", "v1", 1)
    stub.add_response("put_object", {"ETag": '"def"', "VersionId": "null"})
    assert store.put_bytes("b-1", "k", b"y").version_id is None


def test_s3_list_paginates(s3):
    from datetime import datetime

    store, stub = s3
    now = datetime(2026, 1, 1, tzinfo=UTC)
    stub.add_response(
        "list_objects_v2",
        {
            "Contents": [{"Key": "p/a", "Size": 1, "ETag": '"e1"', "LastModified": now}],
            "IsTruncated": True,
            "NextContinuationToken": "t",
        },
        expected_params={"Bucket": "b-1", "Prefix": "p/"},
    )
    stub.add_response(
        "list_objects_v2",
        {
            "Contents": [{"Key": "p/b", "Size": 2, "ETag": '"e2"', "LastModified": now}],
            "IsTruncated": False,
        },
        expected_params={"Bucket": "b-1", "Prefix": "p/", "ContinuationToken": "t"},
    )
    assert [(o.key, o.etag, o.size) for o in store.list("b-1", "p/")] == [
        ("p/a", "e1", 1),
        ("p/b", "e2", 2),
    ]


def test_s3_versioned_bucket_reports_version_ids(s3_store):
    s3_store.client.put_bucket_versioning(
        Bucket="raw-bucket", VersioningConfiguration={"Status": "Enabled"}
    )
    first = s3_store.put_bytes("raw-bucket", "v", b"1")
    second = s3_store.put_bytes("raw-bucket", "v", b"2")
    assert first.version_id and second.version_id and first.version_id != second.version_id
    assert s3_store.head("raw-bucket", "v").version_id == second.version_id
    assert s3_store.put_bytes("products-bucket", "v", b"1").version_id is None


HEAD = {
    "ContentLength": 5,
    "ETag": '"e1"',
    "ContentType": "text/plain",
    "LastModified": datetime(2026, 1, 1, tzinfo=UTC),
}
COPY = {
    "CopySource": {"Bucket": "b-1", "Key": "src"},
    "Bucket": "b-2",
    "Key": "dst",
    "CopySourceIfMatch": '"e1"',
}


def test_s3_copy_is_one_copy_object_pinned_to_the_source_etag(s3):
    store, stub = s3
    stub.add_response("head_object", HEAD, expected_params={"Bucket": "b-1", "Key": "src"})
    stub.add_response(
        "copy_object",
        {
            "CopyObjectResult": {"ETag": '"e1"', "LastModified": HEAD["LastModified"]},
            "VersionId": "v7",
        },
        expected_params=COPY,
    )
    info = store.copy("b-1", "src", "dst", dst_bucket="b-2")
    assert (info.bucket, info.key, info.size, info.etag, info.version_id) == (
        "b-2",
        "dst",
        5,
        "e1",
        "v7",
    )


def test_s3_copy_error_translation(s3):
    store, stub = s3
    stub.add_client_error("head_object", "404", http_status_code=404)
    with pytest.raises(ObjectNotFound) as err:
        store.copy("b-1", "src", "dst", dst_bucket="b-2")
    assert (err.value.bucket, err.value.key) == ("b-1", "src")
    cases = [
        ("SlowDown", 503, Throttled, "s3://b-2/dst from s3://b-1/src"),
        ("InternalError", 500, TransientError, "s3://b-1/src"),
        ("PreconditionFailed", 412, TransientError, "replaced while it was being copied"),
        ("NoSuchBucket", 404, StorageError, "bucket 'b-2' does not exist"),
        ("AccessDenied", 403, StorageError, "copy to s3://b-2/dst from s3://b-1/src"),
        ("NoSuchKey", 404, ObjectNotFound, "s3://b-1/src"),
    ]
    for code, status, error, message in cases:
        stub.add_response("head_object", HEAD)
        stub.add_client_error("copy_object", code, http_status_code=status)
        with pytest.raises(error, match=message) as err:
            store.copy("b-1", "src", "dst", dst_bucket="b-2")
        assert err.value.__cause__ is not None
    stub.add_client_error("get_object", "SlowDown", http_status_code=503)
    with pytest.raises(Throttled, match="s3://b-1/k"):
        store.get_range("b-1", "k", -8)


def test_s3_copy_above_the_copy_object_limit_is_a_multipart_copy(s3_store, monkeypatch):
    """Objects over 5 GiB: the managed multipart copy, with content type and metadata."""
    import os

    from cloudphot.aws import s3_objects

    monkeypatch.setattr(s3_objects, "_COPY_OBJECT_MAX", 6 << 20)
    monkeypatch.setattr(s3_objects, "_COPY_PART", 5 << 20)
    data = os.urandom(12 << 20)
    s3_store.put_bytes(
        "raw-bucket", "big", data, content_type="application/fits", metadata={"field": "b01"}
    )
    info = s3_store.copy("raw-bucket", "big", "copy/big", dst_bucket="products-bucket")
    assert info.size == 12 << 20 and info.etag.endswith("-3")  # three parts
    assert s3_store.get_bytes("products-bucket", "copy/big") == data
    assert s3_store.metadata("products-bucket", "copy/big") == (
        "application/fits",
        {"field": "b01"},
    )
