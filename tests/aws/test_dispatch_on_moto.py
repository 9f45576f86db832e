"""The dispatch Lambda's logic against moto: stream record -> job -> StartExecution."""

import json
from datetime import UTC

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

moto = pytest.importorskip("moto")

pytestmark = pytest.mark.aws


@pytest.fixture
def aws(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        yield


def _stream_record(event_item: dict, name="INSERT") -> dict:
    ser = TypeSerializer()
    return {
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"NewImage": {k: ser.serialize(v) for k, v in event_item.items()}},
    }


def test_stream_insert_starts_one_execution_named_by_the_job(aws):
    from cloudphot.aws.dispatch import StepFunctionsStarter, dispatch_stream_record
    from cloudphot.aws.dynamodb_tables import DynamoDBTables
    from cloudphot.aws.s3_objects import S3ObjectStore
    from cloudphot.events import load_registry
    from cloudphot.events.notifications import object_created_event
    from cloudphot.pipeline.services import Services
    from cloudphot.settings import TABLE_ENV, Settings
    from cloudphot.template import table_logical_id
    from moto_stack import create_from_template

    names = create_from_template(region="us-east-1")
    table_names = {k: names[table_logical_id(k)] for k in TABLE_ENV}
    sm_arn = names["IngestExposureStateMachine"]
    settings = Settings(backend="aws", tables=table_names)
    svc = Services(
        settings, S3ObjectStore(region="us-east-1"), DynamoDBTables(table_names, region="us-east-1")
    )
    from datetime import datetime

    from cloudphot.storage import ObjectInfo, s3_object_created_event

    note = s3_object_created_event(ObjectInfo("raw", "j1_flc.fits", 5, "e1", datetime.now(UTC)))
    event = object_created_event(note, {"raw": "raw"})
    svc.store.record(event)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    starter = StepFunctionsStarter({"IngestExposureStateMachine": sm_arn}, client=sfn)
    record = _stream_record(event.to_item())
    first = dispatch_stream_record(record, svc=svc, starter=starter, registry=load_registry())
    again = dispatch_stream_record(record, svc=svc, starter=starter, registry=load_registry())
    assert len(first) == 1 and again == []
    executions = sfn.list_executions(stateMachineArn=sm_arn)["executions"]
    assert [e["name"] for e in executions] == first
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"])["event"]["payload"]["key"] == "j1_flc.fits"
    assert (
        dispatch_stream_record(
            _stream_record(event.to_item(), "MODIFY"),
            svc=svc,
            starter=starter,
            registry=load_registry(),
        )
        == []
    )


def test_a_poison_stream_record_goes_to_the_dead_letter_table_and_the_shard_moves_on(aws):
    """A record whose event cannot be dispatched returns normally (so the batch is not
    retried forever) after writing it to DeadLettersTable; transient errors still raise."""
    from cloudphot.aws.dispatch import StepFunctionsStarter, dispatch_stream_record
    from cloudphot.aws.dynamodb_tables import DynamoDBTables
    from cloudphot.aws.s3_objects import S3ObjectStore
    from cloudphot.errors import Throttled
    from cloudphot.events import load_registry
    from cloudphot.pipeline.services import Services
    from cloudphot.settings import TABLE_ENV, Settings
    from cloudphot.template import table_logical_id
    from moto_stack import create_from_template

    names = create_from_template(region="us-east-1")
    table_names = {k: names[table_logical_id(k)] for k in TABLE_ENV}
    settings = Settings(backend="aws", tables=table_names)
    svc = Services(
        settings, S3ObjectStore(region="us-east-1"), DynamoDBTables(table_names, region="us-east-1")
    )
    poison = {
        "event_id": "obj-poison",
        "type": "object.created",
        "subject": "?",
        "payload": json.dumps({"bucket": "raw", "bucket_role": "raw"}),  # no key
        "source": "s3",
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    svc.tables.put("events", poison)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    starter = StepFunctionsStarter({}, client=sfn)
    started = dispatch_stream_record(
        _stream_record(poison), svc=svc, starter=starter, registry=load_registry()
    )
    assert started == []
    (letter,) = svc.store.dead_letters()
    assert letter["event_id"] == "obj-poison" and "$.payload.key" in letter["cause"]
    assert svc.tables.get("events", "obj-poison")["dispatched_at"]

    class Throttling:
        def start(self, job):
            raise Throttled("StartExecution: ThrottlingException")

    good = {**poison, "event_id": "obj-good", "payload": json.dumps(
        {"bucket": "raw", "bucket_role": "raw", "key": "j1_flc.fits", "etag": "e"}
    )}  # fmt: skip
    svc.tables.put("events", good)
    with pytest.raises(Throttled):
        dispatch_stream_record(
            _stream_record(good), svc=svc, starter=Throttling(), registry=load_registry()
        )
    assert [d["event_id"] for d in svc.store.dead_letters()] == ["obj-poison"]


def test_starter_reports_a_missing_state_machine_mapping_as_config_error(aws):
    from cloudphot.aws.dispatch import StepFunctionsStarter
    from cloudphot.errors import ConfigError
    from cloudphot.events import Job

    job = Job(
        job_id="x-0123456789abcdef",
        event_id="e",
        task="x",
        executor={"kind": "state_machine", "name": "Missing"},
        input={},
    )
    with pytest.raises(ConfigError, match="STATE_MACHINE_ARNS"):
        StepFunctionsStarter(
            {}, client=boto3.client("stepfunctions", region_name="us-east-1")
        ).start(job)


def test_execution_status_changes_move_jobs_forward_only(tmp_path):
    from cloudphot.events import EventStore, Job, JobState
    from cloudphot.pipeline.services import Services
    from cloudphot.pipeline.steps import record_execution_status
    from cloudphot.runtime.sqlite_tables import SQLiteTables
    from cloudphot.settings import Settings

    tables = SQLiteTables(tmp_path / "t.sqlite")
    svc = Services(Settings(), None, tables)
    job = Job(
        job_id="ingest_exposure-0123456789abcdef",
        event_id="e",
        task="ingest_exposure",
        executor={},
        input={},
        state=JobState.RUNNING,
    )
    EventStore(tables).create_job(job)
    done = {
        "detail": {
            "name": job.job_id + "-r1",
            "status": "FAILED",
            "error": "InvalidExposure",
            "cause": "bad",
            "executionArn": "arn:x",
        }
    }
    assert record_execution_status(done, svc)["updated"]
    late = {"detail": {"name": job.job_id, "status": "RUNNING"}}
    assert not record_execution_status(late, svc)["updated"]
    assert EventStore(tables).job(job.job_id).state is JobState.FAILED
    from cloudphot.errors import InvalidEvent

    with pytest.raises(InvalidEvent):
        record_execution_status({"detail": {"name": "whatever", "status": "FAILED"}}, svc)
