"""The TAP service's AWS adapters on moto: job store, Step Functions runner, tagged myDB
sessions, presigned results; and the template's TapJobsTable matches the job store."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cloudphot.aws.s3_objects import S3ObjectStore
from cloudphot.errors import ConditionFailed
from cloudphot.service.aws import (
    DynamoJobStore,
    StepFunctionsRunner,
    TaggedStores,
    claims_user,
)
from cloudphot.service.jobs import NoSuchJob, TapJob, now_iso

pytestmark = pytest.mark.aws
REGION = "us-east-1"


def _table(client, template_resources):
    props = template_resources["TapJobsTable"]["Properties"]
    client.create_table(
        TableName="tap-jobs",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def resources():
    from cloudphot.template import load_template

    return load_template()["Resources"]


def _job(jid, owner=None, phase="PENDING"):
    return TapJob(jid, owner, phase, now_iso(), 60, now_iso(3600), {"query": "SELECT 1"})


@mock_aws
def test_dynamo_job_store_contract(resources):
    client = boto3.client("dynamodb", region_name=REGION)
    _table(client, resources)  # built from template.yaml: the two cannot drift
    store = DynamoJobStore("tap-jobs", client=client)
    store.create(_job("a" * 16, "alice"))
    store.create(_job("b" * 16))
    with pytest.raises(ConditionFailed):
        store.create(_job("a" * 16, "alice"))
    assert [j.job_id for j in store.jobs("alice")] == ["a" * 16]
    assert [j.job_id for j in store.jobs(None)] == ["b" * 16]
    job = store.update("a" * 16, {"phase": "QUEUED"}, expect="PENDING")
    assert job.phase == "QUEUED" and store.get("a" * 16).parameters == {"query": "SELECT 1"}
    with pytest.raises(ConditionFailed):
        store.update("a" * 16, {"phase": "EXECUTING"}, expect="PENDING")
    store.delete("a" * 16)
    with pytest.raises(NoSuchJob):
        store.get("a" * 16)
    assert len(store.all_jobs()) == 1


@mock_aws
def test_step_functions_runner_starts_and_stops_executions_named_by_job(resources):
    ddb = boto3.client("dynamodb", region_name=REGION)
    _table(ddb, resources)
    store = DynamoJobStore("tap-jobs", client=ddb)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = sfn.create_state_machine(
        name="TapJob",
        definition=json.dumps(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
        ),
        roleArn=role,
    )["stateMachineArn"]
    store.create(_job("c" * 16, "alice", "QUEUED"))
    runner = StepFunctionsRunner(arn, store, client=sfn)
    runner.submit("c" * 16)
    runner.submit("c" * 16)  # a retried request starts nothing more
    execs = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in execs] == ["c" * 16]
    job = store.get("c" * 16)
    assert job.execution == execs[0]["executionArn"]
    assert json.loads(sfn.describe_execution(executionArn=job.execution)["input"]) == {
        "job_id": "c" * 16
    }
    runner.stop_job(job)
    assert sfn.describe_execution(executionArn=job.execution)["status"] == "ABORTED"


@mock_aws
def test_personal_tables_go_through_a_session_tagged_with_the_user(resources):
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="mydb", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    calls = []
    sts = boto3.client("sts", region_name=REGION)
    real = sts.assume_role

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    sts.assume_role = spy
    stores = TaggedStores(role, lambda c: S3ObjectStore(client=c), sts=sts, region=REGION)
    s1, s2 = stores("alice"), stores("alice")
    assert s1 is s2 and len(calls) == 1  # cached
    assert calls[0]["Tags"] == [{"Key": "cloudphot-user", "Value": "alice"}]
    # the role's policy in the template admits only the tagged user's prefix
    policy = resources["MyDbAccessRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    own = {st["Sid"]: st for st in policy["Statement"]}
    assert own["OwnTables"]["Resource"]["Fn::Sub"].endswith(
        "/service/mydb/${!aws:PrincipalTag/cloudphot-user}/*"
    )
    assert own["ListOwnTables"]["Condition"]["StringLike"]["s3:prefix"]["Fn::Sub"] == (
        "service/mydb/${!aws:PrincipalTag/cloudphot-user}/*"
    )
    trust = resources["MyDbAccessRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}


def test_only_the_authorized_route_makes_a_user():
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "1234-abcd"}}}}}
    assert claims_user({"aws.event": event}) is None  # claims on the anonymous route: ignored
    user = claims_user({"aws.event": event, "cloudphot.authenticated": True})
    assert user and user.startswith("u") and len(user) == 25
    from cloudphot.service.accounts import USER_NAME

    assert USER_NAME.match(user)
    assert claims_user({"aws.event": {}, "cloudphot.authenticated": True}) is None


def test_the_user_route_is_jwt_authorized_and_the_rest_anonymous(resources):
    events = resources["TapFunction"]["Properties"]["Events"]
    assert events["User"]["Properties"]["Path"] == "/user/{proxy+}"
    assert events["User"]["Properties"]["Auth"]["Authorizer"] == "CognitoJwt"
    assert "Auth" not in events["Root"]["Properties"]
    auth = resources["TapApi"]["Properties"]["Auth"]["Authorizers"]["CognitoJwt"]
    assert auth["JwtConfiguration"]["audience"] == [{"Ref": "TapUserPoolClient"}]


def test_the_app_answers_api_gateway_events_through_mangum(demo_catalog):
    from mangum import Mangum

    from cloudphot.service.aws import _UserPrefix
    from cloudphot.service.local import local_app

    settings, cat, _ = demo_catalog
    handler = Mangum(
        _UserPrefix(local_app(settings, cat.store, exposures=lambda: [])), lifespan="off"
    )

    def event(path, query=""):
        return {
            "version": "2.0",
            "routeKey": "ANY /{proxy+}",
            "rawPath": path,
            "rawQueryString": query,
            "headers": {"host": "abc.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "http": {
                    "method": "GET",
                    "path": path,
                    "sourceIp": "1.2.3.4",
                    "protocol": "HTTP/1.1",
                },
                "domainName": "abc.execute-api.us-east-1.amazonaws.com",
                "stage": "$default",
                "requestId": "r",
                "accountId": "1",
                "apiId": "abc",
            },
            "isBase64Encoded": False,
        }

    ok = handler(
        event("/tap/sync", "LANG=ADQL&QUERY=SELECT+TOP+2+objid+FROM+phat_v2.phot_mod&FORMAT=csv"),
        None,
    )
    assert ok["statusCode"] == 200 and ok["body"].count("\n") == 3
    caps = handler(event("/user/tap/capabilities"), None)
    assert caps["statusCode"] == 200 and "/user/tap" in caps["body"]
    # the web query page and its files answer through API Gateway as well
    page = handler(event("/query"), None)
    assert page["statusCode"] == 200 and 'data-survey="phat_v2"' in page["body"]
    assert handler(event("/query/query.js"), None)["statusCode"] == 200
    assert handler(event("/query/../template.yaml"), None)["statusCode"] == 404


def test_the_deployed_page_sends_tokens_to_the_jwt_route():
    from cloudphot.service.webpage import QueryPage

    html = QueryPage("phat_v2", 100_000, "user/").render().decode()
    assert 'data-auth-prefix="user/"' in html and 'data-max-rows="10000"' in html
    hostile = QueryPage('x"><script>alert(1)</script>', 5).render().decode()
    assert "<script>alert" not in hostile and "&lt;script&gt;" in hostile
