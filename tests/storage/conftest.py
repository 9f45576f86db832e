"""Fixtures: each storage port once per adapter, local and AWS (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudphot.storage.tables import TABLE_SCHEMAS

BUCKETS = ("raw-bucket", "products-bucket")
#: logical -> physical table names, deliberately different so the mapping is exercised
TABLE_NAMES = {logical: f"cloudphot-test-{logical}" for logical in TABLE_SCHEMAS}


def create_moto_tables(dynamodb_client, names: dict[str, str]) -> None:
    """Create every table of TABLE_SCHEMAS (with its GSIs) under its physical name.

    All key attributes are declared as strings except the sort keys that hold
    numbers (``mjd``); the lead will build this from template.yaml instead.
    """
    numeric = {"mjd"}
    for logical, schema in TABLE_SCHEMAS.items():
        attrs = {schema.key}
        gsis = []
        for index, (part, sort) in schema.indexes.items():
            key_schema = [{"AttributeName": part, "KeyType": "HASH"}]
            attrs.add(part)
            if sort is not None:
                key_schema.append({"AttributeName": sort, "KeyType": "RANGE"})
                attrs.add(sort)
            gsis.append(
                {
                    "IndexName": index,
                    "KeySchema": key_schema,
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        kwargs = {}
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        dynamodb_client.create_table(
            TableName=names[logical],
            KeySchema=[{"AttributeName": schema.key, "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": "N" if a in numeric else "S"}
                for a in sorted(attrs)
            ],
            BillingMode="PAY_PER_REQUEST",
            **kwargs,
        )


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region, so nothing can reach a real account."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def moto(aws_env) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def s3_store(moto):
    import boto3

    from cloudphot.aws.s3_objects import S3ObjectStore

    client = boto3.client("s3", region_name="us-east-1")
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)
    return S3ObjectStore(client=client)


@pytest.fixture
def local_store(tmp_path):
    from cloudphot.runtime.local_objects import LocalObjectStore

    return LocalObjectStore(tmp_path / "buckets")


@pytest.fixture(params=["local", "aws"])
def object_store(request):
    """The object-store port, once per adapter."""
    return request.getfixturevalue("local_store" if request.param == "local" else "s3_store")


@pytest.fixture
def dynamodb_tables(moto):
    import boto3

    from cloudphot.aws.dynamodb_tables import DynamoDBTables

    client = boto3.client("dynamodb", region_name="us-east-1")
    create_moto_tables(client, TABLE_NAMES)
    return DynamoDBTables(TABLE_NAMES, client=client, sleep=lambda s: None)


@pytest.fixture
def sqlite_tables(tmp_path):
    from cloudphot.runtime.sqlite_tables import SQLiteTables

    tables = SQLiteTables(tmp_path / "tables.sqlite", TABLE_NAMES)
    yield tables
    tables.close()


@pytest.fixture(params=["local", "aws"])
def tables(request):
    """The tables port, once per adapter."""
    name = "sqlite_tables" if request.param == "local" else "dynamodb_tables"
    return request.getfixturevalue(name)
