"""The web monitor over a deployed stack: Step Functions executions, retry, console links.

Runs against moto's Step Functions, DynamoDB and S3 built from template.yaml, and
through the Lambda handler in functions/monitor/ with an HTTP API (v2.0) event.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import types

import boto3
import pytest
from botocore.stub import Stubber

from cloudphot.template import find_project_root, table_logical_id

moto = pytest.importorskip("moto")

JOB_ID = "ingest_exposure-0123456789abcdef"
MACHINE = "IngestExposureStateMachine"


@pytest.fixture
def deployed(monkeypatch):
    """moto resources from template.yaml and the environment template.yaml gives the Lambda."""
    from cloudphot.settings import BUCKET_ENV, TABLE_ENV
    from moto_stack import create_from_template

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        names = create_from_template(region="us-east-1")
        env = {
            "CLOUDPHOT_BACKEND": "aws",
            "AWS_REGION": "us-east-1",
            "STATE_MACHINE_ARNS": json.dumps(
                {k: v for k, v in names.items() if k.endswith("StateMachine")}
            ),
        }
        env.update({var: names[f"{n.title()}Bucket"] for n, var in BUCKET_ENV.items()})
        env.update({var: names[table_logical_id(n)] for n, var in TABLE_ENV.items()})
        yield types.SimpleNamespace(
            names=names, env=env, sfn=boto3.client("stepfunctions", region_name="us-east-1")
        )


def _platform(deployed):
    """What functions/monitor/app.py builds from the Lambda's environment."""
    from cloudphot.platform import open_platform
    from cloudphot.settings import Settings

    return open_platform(
        Settings.from_env(env=deployed.env), env=deployed.env, sfn_client=deployed.sfn
    )


def _executions(deployed):
    from cloudphot.aws.executions import StepFunctionsExecutions

    arns = {k: v for k, v in deployed.names.items() if k.endswith("StateMachine")}
    return StepFunctionsExecutions(deployed.sfn, arns=arns)


def _start(deployed, name=JOB_ID, machine=MACHINE):
    return deployed.sfn.start_execution(
        stateMachineArn=deployed.names[machine], name=name, input=json.dumps({"job_id": JOB_ID})
    )["executionArn"]


# ---------------------------------------------------------------- StepFunctionsExecutions
def test_find_by_name_and_arn(deployed):
    arn = _start(deployed)
    execs = _executions(deployed)
    rec = execs.find(JOB_ID)
    assert rec is not None and rec.arn == arn and rec.name == JOB_ID
    assert rec.state_machine == MACHINE  # logical id, like the local store
    assert rec.job_id == JOB_ID and rec.input == {"job_id": JOB_ID}
    assert rec.start_date.endswith("Z") and "T" in rec.start_date
    assert execs.find(arn).arn == arn
    assert execs.find("no-such-job") is None
    assert execs.find("bad/name") is None


def test_retry_names_map_to_the_job(deployed):
    _start(deployed, name=f"{JOB_ID}-r1")
    rec = _executions(deployed).find(f"{JOB_ID}-r1")
    assert rec.job_id == JOB_ID


def test_history_is_shaped_like_the_local_store(deployed):
    arn = _start(deployed)
    history = _executions(deployed).history(arn)
    assert history and history[0]["type"] == "ExecutionStarted"
    assert [e["id"] for e in history] == sorted(e["id"] for e in history)
    assert all(isinstance(e["timestamp"], str) for e in history)
    json.dumps(history)  # what the monitor serves must be JSON


def test_list_filters_by_machine_and_status(deployed):
    _start(deployed)
    _start(deployed, name="check_field-0000000000000001", machine="CheckFieldStateMachine")
    execs = _executions(deployed)
    assert {r.name for r in execs.list()} == {JOB_ID, "check_field-0000000000000001"}
    assert [r.name for r in execs.list(state_machine=MACHINE)] == [JOB_ID]
    assert len(execs.list(limit=1)) == 1
    status = execs.find(JOB_ID).status
    assert JOB_ID in {r.name for r in execs.list(status=status.lower())}


def test_definition_comes_from_step_functions(deployed):
    definition = _executions(deployed).state_machine_definition(MACHINE)
    assert "States" in definition and "StartAt" in definition
    from cloudphot.errors import ConfigError

    with pytest.raises(ConfigError, match="known"):
        _executions(deployed).state_machine_definition("NoSuchStateMachine")


def test_list_and_history_follow_pagination():
    from cloudphot.aws.executions import StepFunctionsExecutions

    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:"
    t = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)

    def execution(name, minutes):
        return {
            "executionArn": arn + name,
            "stateMachineArn": machine,
            "name": name,
            "status": "FAILED",
            "startDate": t + dt.timedelta(minutes=minutes),
        }

    with Stubber(client) as stub:
        stub.add_response(
            "list_executions",
            {"executions": [execution("a", 1)], "nextToken": "n"},
            {"stateMachineArn": machine, "maxResults": 100, "statusFilter": "FAILED"},
        )
        stub.add_response(
            "list_executions",
            {"executions": [execution("b", 2)]},
            {
                "stateMachineArn": machine,
                "maxResults": 100,
                "statusFilter": "FAILED",
                "nextToken": "n",
            },
        )
        event = {"id": 1, "type": "ExecutionStarted", "timestamp": t}
        stub.add_response(
            "get_execution_history",
            {"events": [event], "nextToken": "h"},
            {"executionArn": arn + "a", "maxResults": 1000},
        )
        stub.add_response(
            "get_execution_history",
            {"events": [{**event, "id": 2}]},
            {"executionArn": arn + "a", "maxResults": 1000, "nextToken": "h"},
        )
        execs = StepFunctionsExecutions(client, arns={"M": machine})
        records = execs.list(status="failed")
        assert [r.name for r in records] == ["b", "a"] and records[0].state_machine == "M"
        history = execs.history(arn + "a")
        assert [e["id"] for e in history] == [1, 2]
        assert history[0]["timestamp"] == "2026-11-24T12:00:00.000Z"


def test_log_group_link_from_the_logging_configuration():
    from cloudphot.aws.executions import StepFunctionsExecutions
    from cloudphot.aws.links import log_group_url

    client = boto3.client(
        "stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:m"
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/cp-M:*"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_state_machine",
            {
                "stateMachineArn": machine,
                "name": "m",
                "definition": "{}",
                "roleArn": "arn:aws:iam::123456789012:role/r",
                "type": "STANDARD",
                "creationDate": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "loggingConfiguration": {
                    "level": "ALL",
                    "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group}}],
                },
            },
            {"stateMachineArn": machine},
        )
        assert StepFunctionsExecutions(client, arns={"M": machine}).log_group("M") == group
    url = log_group_url(group, "eu-west-1")
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Fvendedlogs$252Fstates$252Fcp-M"
    )
    with pytest.raises(ValueError):
        log_group_url("", "eu-west-1")


# ---------------------------------------------------------------- MonitorApp on AWS
def _failed_job(store, settings):
    from cloudphot.events import Event, Job, JobState

    store.record(
        Event(
            "obj-1",
            "object.created",
            "bad_flc.fits",
            source="s3",
            payload={"bucket": settings.bucket("raw"), "key": "bad_flc.fits", "etag": "e"},
        )
    )
    store.create_job(
        Job(
            job_id=JOB_ID,
            event_id="obj-1",
            task="ingest_exposure",
            executor={"kind": "state_machine", "name": MACHINE},
            input={"job_id": JOB_ID},
            state=JobState.FAILED,
            attempts=1,
            error="InvalidExposure",
        )
    )
    # the refused file was replaced under its key (a new etag): the monitor offers a
    # retry, not "fix the file first"
    import boto3

    boto3.client("s3").put_object(Bucket=settings.bucket("raw"), Key="bad_flc.fits", Body=b"v2")


def test_job_page_status_graph_and_retry_on_aws(deployed):
    from cloudphot.aws.platform import AwsPlatform
    from cloudphot.events import JobState
    from cloudphot.monitor.web import MonitorApp

    app = MonitorApp(_platform(deployed))
    assert isinstance(app.rt, AwsPlatform)
    _failed_job(app.rt.store, app.rt.settings)
    arn = _start(deployed)

    status, _, body = app.handle("GET", "/api/status")
    assert status == 200 and json.loads(body)["jobs"] == 1

    status, _, body = app.handle("GET", f"/api/jobs/{JOB_ID}")
    doc = json.loads(body)
    assert status == 200, doc
    assert doc["execution"] == JOB_ID and doc["retryable"]
    assert doc["links"]["execution"].endswith(f"#/v2/executions/details/{arn}")
    assert doc["attempts_list"][0]["state_machine"] == MACHINE

    status, _, body = app.handle("GET", f"/api/executions/{JOB_ID}/graph")
    assert status == 200, body
    assert json.loads(body)["state_machine"] == MACHINE

    status, _, body = app.handle("POST", f"/api/jobs/{JOB_ID}/retry", "", b"")
    doc = json.loads(body)
    assert status == 202, doc
    assert doc["reset"] == [JOB_ID] and doc["run"]["error"] is None
    job = app.rt.store.job(JOB_ID)
    assert job.state is JobState.RUNNING and job.attempts == 2
    assert app.rt.executions.find(f"{JOB_ID}-r1") is not None  # started before the answer


def test_links_only_on_aws(deployed, local_settings):
    """The same job on a platform without a console (local): no links, none asked for."""
    from cloudphot.monitor.web import MonitorApp
    from cloudphot.runtime.platform import LocalPlatform

    rt = _platform(deployed)
    _failed_job(rt.store, rt.settings)
    arn = _start(deployed)
    assert set(rt.links(arn, MACHINE)) == {"execution"}  # moto's machines log nowhere
    assert LocalPlatform(local_settings).links(arn, MACHINE) == {}
    local = types.SimpleNamespace(
        store=rt.store,
        objects=rt.objects,
        executions=rt.executions,
        targets=rt.targets,
        settings=rt.settings,
        links=LocalPlatform(local_settings).links,
        change_stamp=lambda: None,
        run_inline=False,
    )
    status, _, body = MonitorApp(local, run_in_background=lambda: None).handle(
        "GET", f"/api/jobs/{JOB_ID}"
    )
    assert status == 200 and "links" not in json.loads(body)


def test_lambda_handler_serves_an_http_api_event(deployed, monkeypatch):
    for k, v in deployed.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    path = find_project_root() / "functions" / "monitor" / "app.py"
    spec = importlib.util.spec_from_file_location("cloudphot_monitor_lambda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from cloudphot.platform import current_platform

    _failed_job(current_platform().store, current_platform().settings)
    context = types.SimpleNamespace(
        function_name="MonitorFunction",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:m",
        aws_request_id="req-1",
    )
    event = {
        "version": "2.0",
        "rawPath": "/api/tree",
        "rawQueryString": "failed=1",
        "requestContext": {"http": {"method": "GET", "path": "/api/tree"}},
        "isBase64Encoded": False,
    }
    out = module.handler(event, context)
    assert out["statusCode"] == 200, out
    assert json.loads(out["body"])["counts"]["FAILED"] == 1
    index = module.handler({**event, "rawPath": "/", "rawQueryString": ""}, context)
    assert index["statusCode"] == 200 and "html" in index["headers"]["Content-Type"]
    assert module._app is not None  # built once, reused by the next request
