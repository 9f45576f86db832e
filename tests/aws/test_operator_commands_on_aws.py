"""The operator's view of a deployed stack: names from its outputs, retries as new executions."""

import boto3
import pytest
from botocore.stub import Stubber

from cloudphot.events import Event, Job, JobState

moto = pytest.importorskip("moto")


@pytest.fixture
def deployed(monkeypatch):
    from cloudphot.settings import TABLE_ENV
    from cloudphot.template import table_logical_id
    from moto_stack import create_from_template

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
            {f"{table_logical_id(t)}Name": names[table_logical_id(t)] for t in TABLE_ENV}
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
    from cloudphot.aws.platform import AwsPlatform
    from cloudphot.aws.stack import settings_from_stack
    from cloudphot.events.retry import reset_for_retry

    settings, arns = settings_from_stack(
        "cloudphot", region="us-east-1", client=_cloudformation(deployed)
    )
    assert settings.table("events") == deployed["EventsTableName"]
    assert arns["IngestExposureStateMachine"] == deployed["IngestExposureStateMachineArn"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    platform = AwsPlatform(settings, arns, sfn_client=sfn)
    store = platform.store
    job = _failed_job(store, settings)
    assert [j.job_id for j in reset_for_retry(store, event_id="obj-1")] == [job.job_id]
    summary = platform.run()
    assert summary.jobs == {"STARTED": 1}
    rerun = store.job(job.job_id)
    assert rerun.state is JobState.RUNNING and rerun.attempts == 2
    assert _execution_names(sfn, arns) == [f"{job.job_id}-r1"]


def test_cli_retry_on_aws_starts_the_rerun(deployed, monkeypatch, capsys):
    """``cloudphot retry`` with CLOUDPHOT_BACKEND=aws: the stack's outputs name the tables,
    the reset job starts as a new execution (it used to crash on a budget keyword)."""
    from cloudphot import cli
    from cloudphot.aws import stack
    from cloudphot.aws.platform import AwsPlatform

    monkeypatch.setattr(stack, "stack_outputs", lambda name, client=None: deployed)
    monkeypatch.setenv("CLOUDPHOT_BACKEND", "aws")
    platform = AwsPlatform.from_stack()
    job = _failed_job(platform.store, platform.settings)
    assert cli.main(["retry", "obj-1"]) == 0, capsys.readouterr().err
    assert platform.store.job(job.job_id).state is JobState.RUNNING
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert _execution_names(sfn, platform.arns) == [f"{job.job_id}-r1"]
    assert "ran 1 job(s)" in capsys.readouterr().out


def _failed_job(store, settings) -> Job:
    store.record(
        Event(
            "obj-1",
            "object.created",
            "bad_flc.fits",
            source="s3",
            payload={"bucket": settings.bucket("raw"), "key": "bad_flc.fits", "etag": "e"},
        )
    )
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
    return job


def _execution_names(sfn, arns) -> list[str]:
    page = sfn.list_executions(stateMachineArn=arns["IngestExposureStateMachine"])
    return [e["name"] for e in page["executions"]]


def test_a_stack_that_is_not_cloudphot_is_named_in_the_error(deployed):
    from cloudphot.aws.stack import settings_from_stack
    from cloudphot.errors import ConfigError

    with pytest.raises(ConfigError, match="RawBucketName"):
        settings_from_stack("cloudphot", client=_cloudformation({"Other": "x"}))
