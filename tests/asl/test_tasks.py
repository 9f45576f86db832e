"""Task states through a fake ResourceInvoker: what moto cannot run for us."""

from __future__ import annotations

import threading
import time

import pytest

from cloudphot.asl import StateMachine, TaskContext, TaskFailed

LAMBDA = "arn:aws:states:::lambda:invoke"


class ScriptedInvoker:
    """Fails with the scripted errors in order, then returns ``result``; records every call."""

    def __init__(self, errors=(), result=None):
        self.errors = list(errors)
        self.result = result
        self.calls: list[tuple[str, object, TaskContext]] = []
        self.lock = threading.Lock()

    def invoke(self, resource, parameters, ctx):
        with self.lock:
            self.calls.append((resource, parameters, ctx))
            err = self.errors.pop(0) if self.errors else None
        if err is not None:
            if isinstance(err, Exception):
                raise err
            raise TaskFailed(err, f"scripted {err}")
        return self.result if self.result is not None else {"echo": parameters}


def task_machine(**task_fields) -> dict:
    task = {"Type": "Task", "Resource": LAMBDA, "End": True, **task_fields}
    states = {"T": task}
    for c in task_fields.get("Catch", []):
        states.setdefault(c["Next"], {"Type": "Pass", "End": True})
    return {"StartAt": "T", "States": states}


def test_task_parameters_resultselector_resultpath():
    inv = ScriptedInvoker(result={"Payload": {"n": 3}, "StatusCode": 200})
    sm = StateMachine(
        task_machine(
            Parameters={
                "FunctionName": "f",
                "Payload": {"job.$": "$.job", "ctx.$": "$$.State.Name"},
            },
            ResultSelector={"n.$": "$.Payload.n"},
            ResultPath="$.out",
        )
    )
    r = sm.execute({"job": "j1"}, invoker=inv)
    assert r.status == "SUCCEEDED"
    assert r.output == {"job": "j1", "out": {"n": 3}}
    resource, params, ctx = inv.calls[0]
    assert resource == LAMBDA
    assert params == {"FunctionName": "f", "Payload": {"job": "j1", "ctx": "T"}}
    assert ctx.state_name == "T" and ctx.retry_count == 0 and ctx.execution_name == r.name
    assert ctx.context_object["Execution"]["Input"] == {"job": "j1"}


def test_retry_backoff_exact_sleep_sequence(fake_sleep):
    inv = ScriptedInvoker(errors=["Throttled"] * 5)
    sm = StateMachine(
        task_machine(
            Retry=[
                {
                    "ErrorEquals": ["Throttled"],
                    "IntervalSeconds": 2,
                    "BackoffRate": 3.0,
                    "MaxAttempts": 5,
                    "MaxDelaySeconds": 30,
                }
            ]
        )
    )
    r = sm.execute({}, invoker=inv, sleep=fake_sleep)
    assert r.status == "SUCCEEDED"
    assert fake_sleep.calls == [2, 6, 18, 30, 30]  # 2*3^k capped by MaxDelaySeconds
    assert [c[2].retry_count for c in inv.calls] == [0, 1, 2, 3, 4, 5]


def test_retry_defaults_and_exhaustion(fake_sleep):
    inv = ScriptedInvoker(errors=["X"] * 10)
    r = StateMachine(task_machine(Retry=[{"ErrorEquals": ["X"]}])).execute(
        {}, invoker=inv, sleep=fake_sleep
    )
    assert r.status == "FAILED" and r.error == "X" and r.cause == "scripted X"
    assert fake_sleep.calls == [1, 2, 4]  # IntervalSeconds 1, BackoffRate 2, MaxAttempts 3
    assert len(inv.calls) == 4


def test_retriers_keep_separate_counts_spec_example(fake_sleep):
    # The spec's "Complex retry scenarios": ErrorA, ErrorB, ErrorC, ErrorB -> waits 1, 2, 5 then Catch.
    inv = ScriptedInvoker(errors=["ErrorA", "ErrorB", "ErrorC", "ErrorB"])
    sm = StateMachine(
        task_machine(
            Retry=[
                {
                    "ErrorEquals": ["ErrorA", "ErrorB"],
                    "IntervalSeconds": 1,
                    "BackoffRate": 2,
                    "MaxAttempts": 2,
                },
                {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5},
            ],
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Z"}],
        )
    )
    r = sm.execute({"in": 1}, invoker=inv, sleep=fake_sleep)
    assert fake_sleep.calls == [1, 2, 5]
    assert r.status == "SUCCEEDED" and r.output == {"Error": "ErrorB", "Cause": "scripted ErrorB"}


def test_max_attempts_zero_never_retries(fake_sleep):
    inv = ScriptedInvoker(errors=["X"])
    r = StateMachine(task_machine(Retry=[{"ErrorEquals": ["X"], "MaxAttempts": 0}])).execute(
        {}, invoker=inv, sleep=fake_sleep
    )
    assert r.error == "X" and fake_sleep.calls == [] and len(inv.calls) == 1


def test_full_jitter_stays_within_delay(fake_sleep):
    inv = ScriptedInvoker(errors=["X"] * 3)
    StateMachine(
        task_machine(Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 4, "JitterStrategy": "FULL"}])
    ).execute({}, invoker=inv, sleep=fake_sleep)
    assert len(fake_sleep.calls) == 3
    assert all(0 <= s <= cap for s, cap in zip(fake_sleep.calls, [4, 8, 16]))


def test_catch_routes_by_error_name():
    def run(error):
        inv = ScriptedInvoker(errors=[error])
        sm = StateMachine(
            task_machine(
                ResultPath="$.r",
                Catch=[
                    {"ErrorEquals": ["InvalidExposure"], "ResultPath": "$.err", "Next": "Bad"},
                    {"ErrorEquals": ["States.Timeout"], "Next": "Slow"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Other"},
                ],
            )
        )
        r = sm.execute({"k": 1}, invoker=inv)
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in r.history
            if e["type"].endswith("StateEntered")
        ]
        return r, entered

    r, entered = run("InvalidExposure")
    assert entered == ["T", "Bad"]
    assert r.output == {
        "k": 1,
        "err": {"Error": "InvalidExposure", "Cause": "scripted InvalidExposure"},
    }
    assert run("Whatever")[1] == ["T", "Other"]
    r, entered = run(RuntimeError("boom"))
    assert entered == ["T", "Other"] and r.output == {"Error": "States.TaskFailed", "Cause": "boom"}


def test_no_invoker_fails_with_task_failed():
    r = StateMachine(task_machine()).execute({})
    assert r.status == "FAILED" and r.error == "States.TaskFailed"
    assert LAMBDA in r.cause


def test_timeout_sets_cancelled_and_yields_states_timeout():
    seen = {}

    class Slow:
        def invoke(self, resource, parameters, ctx):
            seen["deadline"] = ctx.deadline
            seen["timeout"] = ctx.timeout_seconds
            seen["stopped"] = ctx.cancelled.wait(
                10
            )  # a real worker polls this and kills its subprocess
            return "late"

    sm = StateMachine(
        task_machine(TimeoutSeconds=1, Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "H"}])
    )
    t0 = time.monotonic()
    r = sm.execute({}, invoker=Slow())
    elapsed = time.monotonic() - t0
    assert seen["stopped"] is True and seen["timeout"] == 1.0 and seen["deadline"] is not None
    assert 0.9 <= elapsed < 3.0
    assert r.status == "SUCCEEDED" and r.output["Error"] == "States.Timeout"
    types = [e["type"] for e in r.history]
    assert "TaskTimedOut" in types and "TaskSucceeded" not in types


def test_timeout_does_not_wait_forever_for_a_stuck_invoker():
    release = threading.Event()

    class Stuck:
        def invoke(self, resource, parameters, ctx):
            release.wait(30)  # ignores ctx.cancelled

    sm = StateMachine(task_machine(TimeoutSecondsPath="$.t"), cancel_grace_seconds=0.2)
    t0 = time.monotonic()
    r = sm.execute({"t": 1}, invoker=Stuck())
    release.set()
    assert r.error == "States.Timeout" and time.monotonic() - t0 < 3.0


def test_timeout_seconds_path_reads_the_state_input_not_the_parameters():
    """A plan in the input can time a task whose Parameters do not carry the value."""
    release = threading.Event()

    class Stuck:
        def invoke(self, resource, parameters, ctx):
            assert "t" not in parameters
            release.wait(30)

    sm = StateMachine(
        task_machine(TimeoutSecondsPath="$.plan.t", Parameters={"FunctionName": "f"}),
        cancel_grace_seconds=0.2,
    )
    t0 = time.monotonic()
    r = sm.execute({"plan": {"t": 1}}, invoker=Stuck())
    release.set()
    assert r.error == "States.Timeout" and time.monotonic() - t0 < 3.0


def test_timeout_is_task_failed_wildcard_exception(fake_sleep):
    class Never:
        def invoke(self, resource, parameters, ctx):
            ctx.cancelled.wait(5)

    sm = StateMachine(
        task_machine(TimeoutSeconds=1, Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}]),
        cancel_grace_seconds=0.1,
    )
    r = sm.execute({}, invoker=Never())
    assert (
        r.status == "FAILED" and r.error == "States.Timeout"
    )  # States.TaskFailed does not match a timeout


def test_task_history_shape():
    events = []
    inv = ScriptedInvoker(errors=["X"], result={"ok": True})
    sm = StateMachine(
        task_machine(Retry=[{"ErrorEquals": ["X"]}], TimeoutSeconds=30, HeartbeatSeconds=10)
    )
    r = sm.execute({"a": 1}, invoker=inv, history=events.append, sleep=lambda s: None)
    assert events == r.history
    assert [e["type"] for e in r.history] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in r.history] == list(range(1, 11))
    assert all(e["previousEventId"] == e["id"] - 1 for e in r.history)
    sched = r.history[2]["taskScheduledEventDetails"]
    assert sched["resourceType"] == "lambda" and sched["resource"] == "invoke"
    assert sched["parameters"] == '{"a":1}' and sched["timeoutInSeconds"] == 30
    assert sched["heartbeatInSeconds"] == 10
    assert r.history[4]["taskFailedEventDetails"]["error"] == "X"
    assert r.history[7]["taskSucceededEventDetails"]["output"] == '{"ok":true}'
    assert r.history[-1]["executionSucceededEventDetails"]["output"] == '{"ok":true}'
    assert r.start_date <= r.history[0]["timestamp"] <= r.stop_date


@pytest.mark.parametrize(
    "resource, rtype, rname",
    [
        ("arn:aws:states:::ecs:runTask.sync", "ecs", "runTask.sync"),
        ("arn:aws:states:::dynamodb:putItem", "dynamodb", "putItem"),
        ("arn:aws:states:::aws-sdk:s3:getObject", "aws-sdk:s3", "getObject"),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:validate",
            "lambda",
            "arn:aws:lambda:us-east-1:123456789012:function:validate",
        ),
    ],
)
def test_resource_types_in_history(resource, rtype, rname):
    inv = ScriptedInvoker(result=1)
    r = StateMachine(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True}}}
    ).execute({}, invoker=inv)
    assert inv.calls[0][0] == resource
    d = next(e for e in r.history if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert (d["resourceType"], d["resource"]) == (rtype, rname)


def test_non_json_task_result_fails_task():
    class Bad:
        def invoke(self, resource, parameters, ctx):
            return {"x": object()}

    r = StateMachine(task_machine()).execute({}, invoker=Bad())
    assert r.error == "States.TaskFailed" and "JSON" in r.cause


def test_invoker_gets_a_copy_of_parameters():
    class Mutating:
        def invoke(self, resource, parameters, ctx):
            parameters["a"]["b"] = "changed"
            return parameters

    r = StateMachine(task_machine(ResultPath="$.r")).execute({"a": {"b": 1}}, invoker=Mutating())
    assert r.output["a"] == {"b": 1} and r.output["r"] == {"a": {"b": "changed"}}
