"""The web monitor on AWS: MonitorFunction behind an IAM-authorized HTTP API.

Retry changes state, so every route must require SigV4-signed requests; the
function may read the tables and Step Functions and start executions of the
cloudphot state machines, and nothing more. The last test runs the monitor's
routes (including a retry) against moto and checks every AWS call it makes is
one its policy allows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _template_helpers import references

from cloudphot.template import state_machines, table_logical_id

ROOT = Path(__file__).resolve().parents[2]

STATEMENTS = {
    "ReadTasksAndEvents": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"},
    "ReadDeadLetters": {"dynamodb:Scan"},  # shown in the tree and status
    "ReadAndRetryJobs": {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    },
    "ReadStateMachines": {"states:ListExecutions", "states:DescribeStateMachine"},
    "ReadExecutions": {"states:DescribeExecution", "states:GetExecutionHistory"},
    "StartRetriedJobs": {"states:StartExecution"},
    "ListMapRuns": {"states:ListMapRuns"},
    "ListMapRunExecutions": {"states:ListExecutions"},
    "ListManifests": {"s3:ListBucket"},
    "ReadRawObjects": {"s3:GetObject"},
}
# SDK operations whose IAM action has another name
IAM_ACTION = {"s3:ListObjectsV2": "s3:ListBucket", "s3:HeadObject": "s3:GetObject"}


def _statements(resources) -> dict[str, dict]:
    policies = resources["MonitorFunction"]["Properties"]["Policies"]
    return {s["Sid"]: s for p in policies for s in p["Statement"]}


def _actions(statement) -> set[str]:
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


def test_function_is_laid_out_like_the_others(resources):
    props = resources["MonitorFunction"]["Properties"]
    assert props["CodeUri"] == "functions/monitor/" and props["Handler"] == "app.handler"
    assert props["Runtime"] == "python3.11"
    assert props["Layers"] == [{"Ref": "ScienceLayer"}, {"Ref": "CloudphotLayer"}]
    assert props["Timeout"] < 30  # HTTP API integrations time out at 30 s


def test_state_machine_arns_name_every_state_machine(template, resources):
    env = resources["MonitorFunction"]["Properties"]["Environment"]["Variables"]
    text = env["STATE_MACHINE_ARNS"]["Fn::Sub"]
    machines = set(state_machines(template))
    assert references(env["STATE_MACHINE_ARNS"]) == machines
    parsed = json.loads(text.replace("${", "").replace('}"', '"'))
    assert set(parsed) == machines
    # the dispatcher starts the pipeline's machines: all but the TAP service's own
    dispatch = resources["DispatchFunction"]["Properties"]["Environment"]["Variables"]
    assert references(dispatch["STATE_MACHINE_ARNS"]) == machines - {"TapJobStateMachine"}


def test_every_route_is_iam_authorized(resources):
    api = resources["MonitorApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    auth = api["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "AWS_IAM" and auth["EnableIamAuthorizer"] is True
    events = resources["MonitorFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert routes == {("GET", "/"), ("ANY", "/{proxy+}")}
    for e in events.values():
        assert e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "MonitorApi"}
        assert "Auth" not in e["Properties"]  # no route opts out of the default


def test_sam_translation_requires_sigv4_on_every_operation(sam_translated):
    body = sam_translated["Resources"]["MonitorApi"]["Properties"]["Body"]
    ops = [op for path in body["paths"].values() for op in path.values()]
    assert len(ops) == 2
    assert all(op["security"] == [{"AWS_IAM": []}] for op in ops)
    assert (
        body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"]
        == "awsSigv4"
    )


def test_policy_is_exactly_what_the_monitor_needs(resources):
    statements = _statements(resources)
    assert {sid: _actions(s) for sid, s in statements.items()} == STATEMENTS
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_tables_are_the_three_it_reads_with_their_indexes(resources):
    statements = _statements(resources)
    read = statements["ReadTasksAndEvents"]["Resource"]
    assert references(read) == {"TasksTable", "EventsTable"}
    jobs = statements["ReadAndRetryJobs"]["Resource"]
    assert references(jobs) == {"JobsTable"}
    for table, targets in (("EventsTable", read), ("JobsTable", jobs)):
        indexes = {
            i["IndexName"] for i in resources[table]["Properties"].get("GlobalSecondaryIndexes", [])
        }
        named = {
            t["Fn::Sub"].rsplit("/", 1)[-1]
            for t in targets
            if isinstance(t, dict) and "Fn::Sub" in t and table in t["Fn::Sub"]
        }
        assert named == indexes, table


def test_step_functions_access_is_limited_to_cloudphot_machines(template, resources):
    machines = set(state_machines(template))
    statements = _statements(resources)
    # the monitor retries pipeline jobs; TAP jobs (TapJobStateMachine) are the TAP
    # service's, which starts them itself: the monitor may read them, never start them
    pipeline = machines - {"TapJobStateMachine"}
    for sid, want in (("ReadStateMachines", machines), ("StartRetriedJobs", pipeline)):
        targets = statements[sid]["Resource"]
        assert len(targets) == len(want) and {t["Ref"] for t in targets} == want, sid
    executions = statements["ReadExecutions"]["Resource"]
    # a Distributed Map's children are executions of '<machine>/<label>' and are listed
    # per Map Run: only the machines that have one get those grants
    specs = state_machines(template)
    distributed = {
        m
        for m, spec in specs.items()
        if '"DISTRIBUTED"' in (ROOT / spec.definition_uri).read_text()
    }
    assert distributed, "no Distributed Map found: the grants below would test nothing"
    texts = [t["Fn::Sub"] for t in executions]
    assert all(":execution:${" in t for t in texts), texts
    assert len([t for t in texts if t.endswith(".Name}:*")]) == len(machines)
    assert len([t for t in texts if t.endswith(".Name}/*")]) == len(distributed)
    assert references(executions) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"} == machines
    for sid, kind in (("ListMapRuns", ":execution:${"), ("ListMapRunExecutions", ":mapRun:${")):
        targets = statements[sid]["Resource"]
        assert all(kind in t["Fn::Sub"] for t in targets), sid
        assert references(targets) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"} == (
            distributed
        ), sid


def test_output_names_the_api(template):
    url = template["Outputs"]["MonitorUrl"]["Value"]
    assert references(url) == {"MonitorApi", "AWS::Region", "AWS::URLSuffix"}
    assert "SigV4" in template["Outputs"]["MonitorUrl"]["Description"]


def test_every_call_the_monitor_makes_is_allowed(resources, monkeypatch):
    """Serve the routes (tree, job page, graph, cost, retry) against moto and record
    the API calls: each must be an action of the function's policy."""
    moto = pytest.importorskip("moto")
    import boto3
    from botocore.client import BaseClient

    from cloudphot.events import Event, Job, JobState
    from cloudphot.monitor.web import MonitorApp
    from cloudphot.platform import open_platform
    from cloudphot.settings import BUCKET_ENV, TABLE_ENV, Settings
    from moto_stack import create_from_template

    allowed = set().union(*STATEMENTS.values())
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        names = create_from_template(region="us-east-1")
        arns = {k: v for k, v in names.items() if k.endswith("StateMachine")}
        env = {
            "CLOUDPHOT_BACKEND": "aws",
            "AWS_REGION": "us-east-1",
            "STATE_MACHINE_ARNS": json.dumps(arns),
        }
        env.update({var: names[f"{n.title()}Bucket"] for n, var in BUCKET_ENV.items()})
        env.update({var: names[table_logical_id(n)] for n, var in TABLE_ENV.items()})
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        app = MonitorApp(open_platform(Settings.from_env(env=env), env=env, sfn_client=sfn))
        job_id = "ingest_exposure-00000000000000aa"
        app.rt.store.record(
            Event(
                "obj-1",
                "object.created",
                "x_flc.fits",
                source="s3",
                payload={"bucket": names["RawBucket"], "key": "x_flc.fits", "etag": "e"},
            )
        )
        app.rt.store.create_job(
            Job(
                job_id=job_id,
                event_id="obj-1",
                task="ingest_exposure",
                executor={"kind": "state_machine", "name": "IngestExposureStateMachine"},
                input={"job_id": job_id},
                state=JobState.FAILED,
                attempts=1,
                error="InvalidExposure",
            )
        )
        sfn.start_execution(
            stateMachineArn=arns["IngestExposureStateMachine"], name=job_id, input="{}"
        )

        calls: set[str] = set()
        real = BaseClient._make_api_call

        def record(self, operation, params):
            call = f"{self.meta.service_model.signing_name}:{operation}"
            calls.add(IAM_ACTION.get(call, call))
            return real(self, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", record)
        for method, path in (
            ("GET", "/api/status"),
            ("GET", "/api/tree"),
            ("GET", f"/api/jobs/{job_id}"),
            ("GET", f"/api/executions/{job_id}"),
            ("GET", f"/api/executions/{job_id}/graph"),
            ("GET", "/api/cost"),
            ("POST", f"/api/jobs/{job_id}/retry"),
        ):
            status, _, body = app.handle(method, path)
            assert status in (200, 202), (path, body)
        assert json.loads(body)["run"]["error"] is None
        monkeypatch.setattr(BaseClient, "_make_api_call", real)
    assert {
        "states:StartExecution",
        "dynamodb:UpdateItem",
        "states:GetExecutionHistory",
        "states:DescribeStateMachine",
    } <= calls
    assert {"dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem"} <= calls
    assert calls <= allowed, sorted(calls - allowed)
