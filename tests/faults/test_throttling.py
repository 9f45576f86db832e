"""Throttled DynamoDB writes are retried with backoff; nothing is lost or stored twice."""

import boto3
import pytest
from botocore.exceptions import ClientError

moto = pytest.importorskip("moto")


def test_dispatch_survives_throttled_dynamodb_writes(monkeypatch):
    from cloudphot.aws.dynamodb_tables import DynamoDBTables
    from cloudphot.events import Dispatcher, Event, EventStore, JobState, load_registry
    from cloudphot.settings import TABLE_ENV
    from cloudphot.template import table_logical_id
    from moto_stack import create_from_template

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        names = create_from_template(region="us-east-1")
        client = boto3.client("dynamodb", region_name="us-east-1")
        throttled = {"PutItem": 0, "UpdateItem": 0}

        def throttle(model, **kwargs):
            # the first three writes of each kind are refused, as DynamoDB does under load
            if throttled[model.name] < 3:
                throttled[model.name] += 1
                raise ClientError(
                    {
                        "Error": {
                            "Code": "ThrottlingException",
                            "Message": "Rate of requests exceeds the allowed throughput.",
                        }
                    },
                    model.name,
                )

        for op in throttled:
            client.meta.events.register(f"before-call.dynamodb.{op}", throttle)
        sleeps: list[float] = []
        tables = DynamoDBTables(
            {k: names[table_logical_id(k)] for k in TABLE_ENV},
            client=client,
            sleep=sleeps.append,
        )
        store = EventStore(tables)
        event = Event(
            "obj-throttle",
            "object.created",
            "j1_flc.fits",
            payload={
                "bucket": "raw",
                "key": "j1_flc.fits",
                "etag": "e",
                "size": 1,
                "bucket_role": "raw",
            },
            source="s3",
        )
        assert store.record(event)
        assert not store.record(event)  # the retried put did not store it twice

        class Starter:
            def start(self, job):
                return f"arn:aws:states:us-east-1:123456789012:execution:x:{job.job_id}"

        Dispatcher(store, load_registry(), Starter()).dispatch(event)
        assert throttled == {"PutItem": 3, "UpdateItem": 3}
        assert len(sleeps) == 6 and all(s >= 0 for s in sleeps)
        (job,) = store.jobs()
        assert job.state is JobState.RUNNING and job.attempts == 1
        assert store.event("obj-throttle").dispatched_at
