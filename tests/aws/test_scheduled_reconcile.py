"""The hourly reconcile Lambda's step against moto resources built from template.yaml."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import boto3
import pytest

moto = pytest.importorskip("moto")

pytestmark = pytest.mark.aws

REGION = "us-east-1"
#: what EventBridge sends a rate(1 hour) target (the step ignores it)
SCHEDULED = {
    "version": "0",
    "id": "5e8c5a3c-0000-0000-0000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-24T23:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/cloudphot-Hourly"],
    "detail": {},
}


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        from moto_stack import create_from_template

        yield create_from_template(region=REGION)


@pytest.fixture
def svc(aws):
    from cloudphot.aws.dynamodb_tables import DynamoDBTables
    from cloudphot.aws.s3_objects import S3ObjectStore
    from cloudphot.pipeline.services import Services
    from cloudphot.settings import TABLE_ENV, Settings
    from cloudphot.template import table_logical_id

    tables = {k: aws[table_logical_id(k)] for k in TABLE_ENV}
    settings = Settings(
        backend="aws",
        region=REGION,
        tables=tables,
        buckets={"raw": aws["RawBucket"], "products": aws["ProductsBucket"]},
    )
    return Services(settings, S3ObjectStore(region=REGION), DynamoDBTables(tables, region=REGION))


def _event(aws, event_id: str) -> dict | None:
    from boto3.dynamodb.types import TypeDeserializer

    item = (
        boto3.client("dynamodb", region_name=REGION)
        .get_item(TableName=aws["EventsTable"], Key={"event_id": {"S": event_id}})
        .get("Item")
    )
    return None if item is None else {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def _notification(bucket: str, key: str, etag: str, version_id: str | None = None) -> dict:
    obj = {"key": key, "size": 5, "etag": etag}
    if version_id:
        obj["version-id"] = version_id
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": "2026-11-24T22:00:00Z",
        "detail": {"bucket": {"name": bucket}, "object": obj},
    }


def test_an_object_without_an_event_gets_one_once(aws, svc):
    from cloudphot.events import event_id_for_object
    from cloudphot.pipeline.scheduled import reconcile_step

    s3 = boto3.client("s3", region_name=REGION)
    etag = s3.put_object(Bucket=aws["RawBucket"], Key="uploads/j1_flc.fits", Body=b"SIMPLE")[
        "ETag"
    ].strip('"')

    assert reconcile_step(SCHEDULED, svc) == {"emitted": 1, "keys": ["uploads/j1_flc.fits"]}
    stored = _event(aws, event_id_for_object(aws["RawBucket"], "uploads/j1_flc.fits", etag))
    assert stored is not None, "no object.created event under the id the notification would use"
    assert stored["type"] == "object.created" and stored["subject"] == "uploads/j1_flc.fits"
    assert stored["source"] == "reconcile"

    assert reconcile_step(SCHEDULED, svc) == {"emitted": 0, "keys": []}


def test_objects_already_announced_are_left_alone(aws, svc):
    """An upload whose notification was recorded (unversioned shape) emits nothing."""
    from cloudphot.pipeline.scheduled import reconcile_step
    from cloudphot.pipeline.steps import record_object_created

    s3 = boto3.client("s3", region_name=REGION)
    seen = s3.put_object(Bucket=aws["RawBucket"], Key="a_flc.fits", Body=b"a")["ETag"].strip('"')
    s3.put_object(Bucket=aws["RawBucket"], Key="b_flc.fits", Body=b"b")
    assert record_object_created(_notification(aws["RawBucket"], "a_flc.fits", seen), svc)["new"]

    assert reconcile_step(SCHEDULED, svc) == {"emitted": 1, "keys": ["b_flc.fits"]}


def test_versioned_notifications_are_recognised(aws, svc):
    """The raw bucket is versioned, so notifications carry a version id that listings
    do not: object event ids are keyed on bucket, key and ETag so both agree."""
    from cloudphot.pipeline.scheduled import reconcile_step
    from cloudphot.pipeline.steps import record_object_created

    s3 = boto3.client("s3", region_name=REGION)
    put = s3.put_object(Bucket=aws["RawBucket"], Key="c_flc.fits", Body=b"c")
    assert put.get("VersionId"), "the template's raw bucket is versioned"
    note = _notification(aws["RawBucket"], "c_flc.fits", put["ETag"].strip('"'), put["VersionId"])
    assert record_object_created(note, svc)["new"]

    assert reconcile_step(SCHEDULED, svc) == {"emitted": 0, "keys": []}


def test_the_deployed_handler_runs_the_step(aws, svc, project_root, monkeypatch):
    """functions/reconcile/app.py as Lambda calls it, with the template's environment."""
    from cloudphot.platform import handler as handler_module
    from cloudphot.settings import BUCKET_ENV, TABLE_ENV

    monkeypatch.setenv("CLOUDPHOT_BACKEND", "aws")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    for logical, var in {**BUCKET_ENV, **TABLE_ENV}.items():
        monkeypatch.setenv(var, svc.settings.buckets.get(logical) or svc.settings.tables[logical])
    monkeypatch.setattr(handler_module, "_cache", {})  # no platform left from other tests
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=aws["RawBucket"], Key="d_flc.fits", Body=b"d"
    )
    spec = importlib.util.spec_from_file_location(
        "reconcile_app", project_root / "functions" / "reconcile" / "app.py"
    )
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    context = SimpleNamespace(
        function_name="cloudphot-ReconcileFunction",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
        aws_request_id="00000000-0000-0000-0000-000000000001",
    )
    out = app.handler(SCHEDULED, context)
    assert json.loads(json.dumps(out)) == {"emitted": 1, "keys": ["d_flc.fits"]}
