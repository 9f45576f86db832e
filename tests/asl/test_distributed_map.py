"""Distributed Map: child executions with their own histories, ItemReader, ResultWriter."""

from __future__ import annotations

import json
import threading

import pytest

from cloudphot.asl import StateMachine


class Bucket:
    """In-memory S3 and Map Run recorder (the interfaces the runtime implements)."""

    def __init__(self, objects: dict | None = None):
        self.objects = dict(objects or {})
        self.children: dict[str, dict] = {}
        self._lock = threading.Lock()

    def invoke(self, resource, parameters, ctx):
        if parameters.get("fail"):
            from cloudphot.asl import TaskFailed

            raise TaskFailed("ItemFailed", f"item {parameters['i']}")
        return {"done": parameters["i"]}

    def s3_get_object(self, bucket, key):
        return self.objects[(bucket, key)]

    def s3_list_objects(self, bucket, prefix):
        return [
            {"Key": k} for (b, k) in sorted(self.objects) if b == bucket and k.startswith(prefix)
        ]

    def s3_put_object(self, bucket, key, body):
        self.objects[(bucket, key)] = body

    def child_started(self, arn, name, parent_arn, input):
        with self._lock:
            self.children[arn] = {"parent": parent_arn, "input": input, "events": []}

    def child_event(self, arn, event):
        with self._lock:
            self.children[arn]["events"].append(event["type"])

    def child_finished(self, arn, status, output, error, cause):
        with self._lock:
            self.children[arn].update(status=status, output=output, error=error)


def dmap(**extra) -> dict:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "End": True,
                        }
                    },
                },
                "End": True,
                **extra,
            }
        },
    }


@pytest.mark.slow
def test_ten_thousand_items_succeed_with_a_small_parent_history():
    bucket = Bucket(
        {("b", "manifest.json"): json.dumps([{"i": i} for i in range(10_000)]).encode()}
    )
    sm = StateMachine(
        dmap(
            ItemReader={
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket": "b", "Key": "manifest.json"},
            },
            ResultWriter={
                "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": {"Bucket": "b", "Prefix": "runs"},
            },
            Label="Exposures",
        )
    )
    r = sm.execute({}, invoker=bucket, child_executions=bucket)
    assert r.status == "SUCCEEDED", r.cause
    types = [e["type"] for e in r.history]
    assert types == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
    assert len(r.history) < 25_000 // 1000
    assert len(bucket.children) == 10_000
    child = next(iter(bucket.children.values()))
    assert child["events"][0] == "ExecutionStarted" and child["events"][-1] == "ExecutionSucceeded"
    manifest_key = r.output["ResultWriterDetails"]["Key"]
    manifest = json.loads(bucket.objects[("b", manifest_key)])
    assert manifest["MapRunArn"] == r.output["MapRunArn"] and ":mapRun:" in manifest["MapRunArn"]
    assert "/Exposures:" in manifest["MapRunArn"]
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    rows = json.loads(bucket.objects[("b", succeeded["Key"])])
    assert len(rows) == 10_000 and succeeded["Key"].endswith("/SUCCEEDED_0.json")
    assert sorted(json.loads(row["Output"])["done"] for row in rows) == list(range(10_000))
    assert manifest["ResultFiles"]["FAILED"] == []


@pytest.mark.slow
def test_an_inline_map_of_the_same_size_would_exceed_the_history_quota():
    sm = StateMachine(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        }
    )
    r = sm.execute(list(range(10_000)))
    assert r.status == "FAILED" and r.error == "States.Runtime"


def test_tolerated_failures_and_failed_results_file():
    items = [{"i": i, "fail": i in (1, 3)} for i in range(10)]
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "out"},
    }
    bucket = Bucket()
    ok = StateMachine(dmap(ToleratedFailureCount=2, ResultWriter=writer)).execute(
        items, invoker=bucket, child_executions=bucket
    )
    assert ok.status == "SUCCEEDED"
    manifest = json.loads(bucket.objects[("b", ok.output["ResultWriterDetails"]["Key"])])
    (failed,) = manifest["ResultFiles"]["FAILED"]
    rows = json.loads(bucket.objects[("b", failed["Key"])])
    assert sorted(row["Error"] for row in rows) == ["ItemFailed", "ItemFailed"]
    bad = StateMachine(dmap(ToleratedFailurePercentage=10)).execute(
        items, invoker=bucket, child_executions=bucket
    )
    assert bad.error == "States.ExceedToleratedFailureThreshold"
    assert [e["type"] for e in bad.history][-3:] == [
        "MapRunFailed",
        "MapStateFailed",
        "ExecutionFailed",
    ]


def test_batches_respect_max_bytes_and_max_items():
    items = [{"i": i, "pad": "x" * 100} for i in range(25)]
    sm = StateMachine(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemBatcher": {"MaxItemsPerBatch": 10, "MaxInputBytesPerBatch": 600},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        }
    )
    out = sm.execute(items).output
    assert [len(b["Items"]) for b in out] == [5, 5, 5, 5, 5]
    assert [x for b in out for x in b["Items"]] == items


def test_item_reader_without_an_object_store_fails_clearly():
    r = StateMachine(
        dmap(
            ItemReader={
                "Resource": "arn:aws:states:::s3:getObject",
                "Parameters": {"Bucket": "b", "Key": "k"},
            }
        )
    ).execute({})
    assert r.error == "States.ItemReaderFailed" and "object store" in r.cause


def test_missing_manifest_object_is_an_item_reader_failure():
    r = StateMachine(
        dmap(
            ItemReader={
                "Resource": "arn:aws:states:::s3:getObject",
                "Parameters": {"Bucket": "b", "Key": "absent.json"},
            }
        )
    ).execute({}, invoker=Bucket())
    assert r.error == "States.ItemReaderFailed" and "absent.json" in r.cause
