"""The operator's view of a deployed stack: names from its outputs, retries as new executions."""

import boto3
import pytest
from botocore.stub import Stubber

moto = pytest.importorskip("moto")


@pytest.fixture
def deployed(monkeypatch):
    from cloudphot.aws.moto_resources import create_from_template

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        names = create_from_template(region="us-east-1")
        outputs = {
            "RawBucketName": names["RawBucket"],
            "ProductsBucketName": names["ProductsBucket"],
        }
        outputs.update(
            {f"{t}TableName": names[f"{t}Table"] for t in ("Tasks", "Events", "Jobs", "Exposures")}
        )
        outputs.update({f"{sm}Arn": names[sm] for sm in names if sm.endswith("StateMachine")})
        yield outputs


def _cloudformation(outputs: dict):
    client = boto3.client("cloudformation", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "cloudphot",
                    "CreationTime": "2026-11-24T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        },
        {"StackName": "cloudphot"},
    )
    stub.activate()
    return client


def test_retry_on_aws_starts_a_new_execution_named_after_the_job(deployed):
    from cloudphot.aws.dispatch import StepFunctionsStarter
    from cloudphot.aws.stack import AwsPipeline, settings_from_stack
    from cloudphot.events import Event, Job, JobState
    from cloudphot.events.retry import reset_for_retry
    from cloudphot.storage import open_object_store, open_tables

    settings, arns = settings_from_stack(
        "cloudphot", region="us-east-1", client=_cloudformation(deployed)
    )
    assert settings.table("events") == deployed["EventsTableName"]
    assert arns["IngestExposureStateMachine"] == deployed["IngestExposureStateMachineArn"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    pipeline = AwsPipeline(
        settings,
        open_object_store(settings),
        open_tables(settings),
        StepFunctionsStarter(arns, client=sfn),
    )
    store = pipeline.store
    event = Event(
        "obj-1",
        "object.created",
        "bad_flc.fits",
        source="s3",
        payload={"bucket": settings.bucket("raw"), "key": "bad_flc.fits", "etag": "e"},
    )
    store.record(event)
    job = Job(
        job_id="ingest_exposure-0123456789abcdef",
        event_id="obj-1",
        task="ingest_exposure",
        executor={"kind": "state_machine", "name": "IngestExposureStateMachine"},
        input={"job_id": "ingest_exposure-0123456789abcdef"},
        state=JobState.FAILED,
        attempts=1,
        error="InvalidExposure",
    )
    store.create_job(job)
    assert [j.job_id for j in reset_for_retry(store, event_id="obj-1")] == [job.job_id]
    summary = pipeline.run()
    assert summary.jobs == {"STARTED": 1}
    rerun = store.job(job.job_id)
    assert rerun.state is JobState.RUNNING and rerun.attempts == 2
    names = [
        e["name"]
        for e in sfn.list_executions(stateMachineArn=arns["IngestExposureStateMachine"])[
            "executions"
        ]
    ]
    assert names == [f"{job.job_id}-r1"]


def test_a_stack_that_is_not_cloudphot_is_named_in_the_error(deployed):
    from cloudphot.aws.stack import settings_from_stack
    from cloudphot.errors import ConfigError

    with pytest.raises(ConfigError, match="RawBucketName"):
        settings_from_stack("cloudphot", client=_cloudformation({"Other": "x"}))
