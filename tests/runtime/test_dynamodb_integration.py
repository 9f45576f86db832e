"""The local DynamoDB service integration, as state machines call it."""

import pytest

from cloudphot.runtime.dynamodb import DynamoDBIntegration, DynamoDBTaskError


@pytest.fixture
def ddb(tmp_path):
    from cloudphot.runtime.sqlite_tables import SQLiteTables

    tables = SQLiteTables(tmp_path / "t.sqlite")
    return DynamoDBIntegration(tables, {"events-prod": "events", "jobs-prod": "jobs"}), tables


def test_put_with_condition_stores_once(ddb):
    integ, tables = ddb
    params = {
        "TableName": "events-prod",
        "Item": {
            "event_id": {"S": "e1"},
            "type": {"S": "t"},
            "n": {"N": "2.5"},
            "flag": {"BOOL": True},
            "m": {"M": {"a": {"L": [{"N": "1"}]}}},
        },
        "ConditionExpression": "attribute_not_exists(event_id)",
    }
    assert integ.call("putItem", params) == {}
    assert tables.get("events", "e1") == {
        "event_id": "e1",
        "type": "t",
        "n": 2.5,
        "flag": True,
        "m": {"a": [1]},
    }
    with pytest.raises(DynamoDBTaskError) as info:
        integ.call("putItem", params)
    assert info.value.error == "DynamoDB.ConditionalCheckFailedException"


def test_get_update_and_delete(ddb):
    integ, tables = ddb
    tables.put("jobs", {"job_id": "j", "state": "RUNNING", "attempts": 1})
    out = integ.call(
        "updateItem",
        {
            "TableName": "jobs-prod",
            "Key": {"job_id": {"S": "j"}},
            "UpdateExpression": "SET #s = :s ADD attempts :one",
            "ConditionExpression": "#s = :running",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {
                ":s": {"S": "DONE"},
                ":one": {"N": "1"},
                ":running": {"S": "RUNNING"},
            },
            "ReturnValues": "ALL_NEW",
        },
    )
    assert out["Attributes"]["state"] == {"S": "DONE"}
    assert out["Attributes"]["attempts"] == {"N": "2"}
    got = integ.call("getItem", {"TableName": "jobs-prod", "Key": {"job_id": {"S": "j"}}})
    assert got["Item"]["state"] == {"S": "DONE"}
    with pytest.raises(DynamoDBTaskError, match="ConditionalCheckFailed"):
        integ.call(
            "updateItem",
            {
                "TableName": "jobs-prod",
                "Key": {"job_id": {"S": "j"}},
                "UpdateExpression": "SET #s = :s",
                "ConditionExpression": "#s = :running",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":s": {"S": "X"}, ":running": {"S": "RUNNING"}},
            },
        )
    integ.call("deleteItem", {"TableName": "jobs-prod", "Key": {"job_id": {"S": "j"}}})
    assert integ.call("getItem", {"TableName": "jobs-prod", "Key": {"job_id": {"S": "j"}}}) == {}


@pytest.mark.parametrize(
    "params, error",
    [
        ({"TableName": "nope", "Item": {}}, "DynamoDB.ResourceNotFoundException"),
        (
            {"TableName": "events-prod", "Item": {"type": {"S": "x"}}},
            "DynamoDB.ValidationException",
        ),
        (
            {"TableName": "events-prod", "Item": {"event_id": {"Q": "x"}}},
            "DynamoDB.ValidationException",
        ),
        (
            {
                "TableName": "events-prod",
                "Item": {"event_id": {"S": "x"}},
                "ConditionExpression": "size(a) > :n",
            },
            "States.Runtime",
        ),
        ("not a map", "DynamoDB.ValidationException"),
    ],
)
def test_malformed_requests_fail_with_dynamodb_error_names(ddb, params, error):
    integ, _ = ddb
    with pytest.raises(DynamoDBTaskError) as info:
        integ.call("putItem", params)
    assert info.value.error == error
