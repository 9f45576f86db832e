"""The template's DynamoDB tables against TABLE_SCHEMAS, the one source of truth.

The SQLite adapter creates its tables from TABLE_SCHEMAS and the DynamoDB adapter
queries by its index names, so a key or index that differs in template.yaml would
only show up as a failed query after deploying.
"""

from __future__ import annotations

import pytest

from cloudphot.storage.tables import TABLE_SCHEMAS
from cloudphot.template import resources_of_type, table_logical_id

#: attributes that are not strings (DynamoDB type per table and attribute)
NUMERIC = {("exposures", "mjd")}


def logical_id(table: str) -> str:
    return table_logical_id(table)


def test_every_schema_has_a_table_and_no_more(template):
    declared = set(resources_of_type(template, "AWS::DynamoDB::Table"))
    # TapJobsTable is the TAP service's job store (tests/service/test_aws.py checks it)
    assert declared == {logical_id(name) for name in TABLE_SCHEMAS} | {"TapJobsTable"}


@pytest.mark.parametrize("table", sorted(TABLE_SCHEMAS))
def test_keys_and_indexes_match_schema(resources, table):
    schema = TABLE_SCHEMAS[table]
    props = resources[logical_id(table)]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": schema.key, "KeyType": "HASH"}]

    indexes = {gsi["IndexName"]: gsi for gsi in props.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == set(schema.indexes)
    for name, (hash_key, range_key) in schema.indexes.items():
        expected = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key:
            expected.append({"AttributeName": range_key, "KeyType": "RANGE"})
        assert indexes[name]["KeySchema"] == expected, f"{table}.{name}"
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}, f"{table}.{name}"

    key_attributes = {schema.key} | {a for pair in schema.indexes.values() for a in pair if a}
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    # CloudFormation rejects attribute definitions that no key uses
    assert set(types) == key_attributes
    for attribute, kind in types.items():
        assert kind == ("N" if (table, attribute) in NUMERIC else "S"), f"{table}.{attribute}"


@pytest.mark.parametrize("table", sorted(TABLE_SCHEMAS))
def test_billing_recovery_encryption(resources, table):
    props = resources[logical_id(table)]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_events_stream_feeds_the_dispatcher(resources):
    assert resources["EventsTable"]["Properties"]["StreamSpecification"] == {
        "StreamViewType": "NEW_IMAGE"
    }
    source = resources["DispatchFunction"]["Properties"]["Events"]["NewEvents"]
    assert source["Type"] == "DynamoDB"
    props = source["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 5
    assert props["FilterCriteria"] == {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}
    on_failure = props["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert on_failure["Destination"] == {"Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"]}


def test_schema_check_catches_a_drift(resources):
    """The comparison above is not vacuous: a renamed index would fail it."""
    gsis = resources["EventsTable"]["Properties"]["GlobalSecondaryIndexes"]
    drifted = {g["IndexName"].replace("by_type", "by_kind") for g in gsis}
    assert drifted != set(TABLE_SCHEMAS["events"].indexes)
