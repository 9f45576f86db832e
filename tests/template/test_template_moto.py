"""Moto resources built from template.yaml behave like the deployed ones.

This is what the storage and dispatch contract tests stand on: if
create_from_template produced a table or state machine the template would not,
those tests would pass against something that never gets deployed.
"""

from __future__ import annotations

import boto3
import pytest

from cloudphot.errors import ConfigError
from cloudphot.storage.tables import TABLE_SCHEMAS
from cloudphot.template import state_machines, table_logical_id
from moto_stack import create_from_template, physical_names

moto = pytest.importorskip("moto")

pytestmark = pytest.mark.aws

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch, template):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        session = boto3.Session(region_name=REGION)
        yield session, create_from_template(template, session=session, region=REGION)


def test_tables_match_schemas(aws):
    session, physical = aws
    ddb = session.client("dynamodb")
    for name, schema in TABLE_SCHEMAS.items():
        table = ddb.describe_table(TableName=physical[table_logical_id(name)])["Table"]
        assert table["KeySchema"] == [{"AttributeName": schema.key, "KeyType": "HASH"}]
        indexes = {
            g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]]
            for g in table.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {i: [a for a in pair if a] for i, pair in schema.indexes.items()}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    events = ddb.describe_table(TableName=physical["EventsTable"])["Table"]
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert events["LatestStreamArn"]


def test_index_queries_work(aws):
    """A numeric sort key (exposures.by_field on mjd) orders numerically, as on AWS."""
    session, physical = aws
    ddb = session.client("dynamodb")
    table = physical["ExposuresTable"]
    for exposure, mjd in [("a", "60000.5"), ("b", "9999.25"), ("c", "60000.25")]:
        ddb.put_item(
            TableName=table,
            Item={
                "exposure_id": {"S": exposure},
                "field_id": {"S": "M31-B01-F01"},
                "mjd": {"N": mjd},
            },
        )
    found = ddb.query(
        TableName=table,
        IndexName="by_field",
        KeyConditionExpression="field_id = :f",
        ExpressionAttributeValues={":f": {"S": "M31-B01-F01"}},
    )["Items"]
    assert [i["exposure_id"]["S"] for i in found] == ["b", "c", "a"]


def test_buckets_and_queues(aws):
    session, physical = aws
    s3 = session.client("s3")
    assert s3.get_bucket_versioning(Bucket=physical["RawBucket"])["Status"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=physical["ProductsBucket"])["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=physical["RawBucket"])[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    sqs = session.client("sqs")
    urls = sqs.list_queues()["QueueUrls"]
    assert physical["DispatchDeadLetterQueue"] in urls


def test_state_machines_exist_with_resolved_definitions(aws, template):
    session, physical = aws
    sfn = session.client("stepfunctions")
    names = physical_names(
        template, region=REGION, account=session.client("sts").get_caller_identity()["Account"]
    )
    listed = {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for lid in state_machines(template):
        assert physical[lid] in listed
        definition = sfn.describe_state_machine(stateMachineArn=physical[lid])["definition"]
        assert "${" not in definition, f"{lid}: unresolved placeholder"
    ingest = sfn.describe_state_machine(stateMachineArn=physical["IngestExposureStateMachine"])[
        "definition"
    ]
    assert names["IngestExposureFunction"]["Arn"] in ingest
    assert f'"TableName": "{physical["ExposuresTable"]}"' in ingest
    assert f'"TableName": "{physical["EventsTable"]}"' in ingest


def test_execution_can_start(aws):
    """The dispatcher's call: StartExecution with the job id as name, on the moto ARN."""
    session, physical = aws
    sfn = session.client("stepfunctions")
    out = sfn.start_execution(
        stateMachineArn=physical["IngestExposureStateMachine"], name="job-0001", input="{}"
    )
    assert out["executionArn"].endswith(":job-0001")


def test_unknown_placeholder_is_a_config_error(aws, template, tmp_path):
    """A placeholder the template does not substitute is reported, not deployed as text."""
    session, _ = aws
    (tmp_path / "statemachines").mkdir()
    (tmp_path / "statemachines" / "broken.asl.json").write_text(
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Nowhere}", "End": true}}}'
    )
    broken = {
        "Resources": {
            "Broken": {
                "Type": "AWS::Serverless::StateMachine",
                "Properties": {
                    "DefinitionUri": "statemachines/broken.asl.json",
                    "DefinitionSubstitutions": {},
                },
            }
        }
    }
    with pytest.raises(ConfigError, match="Nowhere"):
        create_from_template(broken, session=session, region=REGION, project_root=tmp_path)
