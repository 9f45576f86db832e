"""Interpreter behaviour beyond the conformance cases: concurrency, cancellation,
timeouts, history, error-name modes and hostile input."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from cloudphot.asl import StateMachine
from cloudphot.errors import DataError

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def map_of(processor: dict, **fields) -> dict:
    return {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}},
    }


class ConcurrencyProbe:
    """Invoker that holds each call briefly and records the peak number running at once."""

    def __init__(self, hold: float = 0.05):
        self.hold = hold
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def invoke(self, resource, parameters, ctx):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.hold)
        with self.lock:
            self.running -= 1
        return parameters


TASK_PROC = {
    "StartAt": "T",
    "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
}


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrency_really_limits_and_runs_concurrently(limit):
    probe = ConcurrencyProbe()
    r = StateMachine(map_of(TASK_PROC, MaxConcurrency=limit)).execute(
        list(range(12)), invoker=probe
    )
    assert r.status == "SUCCEEDED" and r.output == list(range(12))
    assert probe.peak == limit


def test_unbounded_map_runs_items_concurrently():
    probe = ConcurrencyProbe(hold=0.1)
    t0 = time.monotonic()
    r = StateMachine(map_of(TASK_PROC)).execute(list(range(20)), invoker=probe)
    assert r.status == "SUCCEEDED" and probe.peak > 5
    assert time.monotonic() - t0 < 20 * 0.1  # would take >= 2 s serially


def test_map_history_events_and_thread_safe_ids():
    events = []
    r = StateMachine(map_of(PASS, MaxConcurrency=8)).execute(list(range(50)), history=events.append)
    assert r.status == "SUCCEEDED"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[:4] == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapIterationStarted",
    ]
    assert types[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert types.count("MapIterationStarted") == types.count("MapIterationSucceeded") == 50
    assert events[2]["mapStateStartedEventDetails"] == {"length": 50}
    indices = sorted(
        e["mapIterationStartedEventDetails"]["index"]
        for e in events
        if e["type"] == "MapIterationStarted"
    )
    assert indices == list(range(50))
    by_id = {e["id"]: e for e in events}
    for e in events:  # every event links to an earlier one of the same branch
        assert e["previousEventId"] < e["id"]
        if e["type"] == "PassStateEntered":
            assert by_id[e["previousEventId"]]["type"] == "MapIterationStarted"


def test_parallel_history_and_failure_cancels_siblings(fake_sleep):
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {
                        "StartAt": "W",
                        "States": {
                            "W": {"Type": "Wait", "Seconds": 30, "Next": "After"},
                            "After": {"Type": "Pass", "End": True},
                        },
                    },
                    {
                        "StartAt": "F",
                        "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "c"}},
                    },
                ],
            }
        },
    }
    t0 = time.monotonic()
    r = StateMachine(definition).execute({})  # real sleep: the Wait must be interrupted
    assert time.monotonic() - t0 < 5
    assert r.status == "FAILED" and (r.error, r.cause) == ("Boom", "c")
    types = [e["type"] for e in r.history]
    assert "ParallelStateStarted" in types and "ParallelStateFailed" in types
    assert "PassStateEntered" not in types  # the sibling never reached "After"


def test_stop_event_aborts_running_task_promptly():
    stop = threading.Event()
    seen = {}

    class Worker:
        def invoke(self, resource, parameters, ctx):
            seen["cancelled"] = ctx.cancelled.wait(20)

    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    r = StateMachine(map_of(TASK_PROC)).execute([1, 2, 3], invoker=Worker(), stop_event=stop)
    assert r.status == "ABORTED" and r.output is None
    assert time.monotonic() - t0 < 3
    assert seen["cancelled"] is True
    assert r.history[-1]["type"] == "ExecutionAborted"


def test_stop_event_interrupts_wait():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    r = StateMachine(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    ).execute({}, stop_event=stop)
    assert r.status == "ABORTED" and time.monotonic() - t0 < 3


def test_execution_timeout():
    d = {
        "TimeoutSeconds": 1,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}},
    }
    t0 = time.monotonic()
    r = StateMachine(d).execute({})
    assert r.status == "TIMED_OUT" and r.error == "States.Timeout"
    assert 0.9 < time.monotonic() - t0 < 4
    assert r.history[-1]["type"] == "ExecutionTimedOut"


def test_wait_uses_injected_sleep(fake_sleep):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    d = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Wait", "Seconds": 7, "Next": "B"},
            "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
            "C": {"Type": "Wait", "TimestampPath": "$.t", "End": True},
        },
    }
    r = StateMachine(d).execute({"s": 3, "t": future}, sleep=fake_sleep)
    assert r.status == "SUCCEEDED"
    assert fake_sleep.calls[:2] == [7.0, 3.0] and 95 < fake_sleep.calls[2] <= 100
    assert [e["type"] for e in r.history].count("WaitStateExited") == 3


def test_context_overrides_and_execution_name():
    d = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "sm.$": "$$.StateMachine.Name",
                    "id.$": "$$.Execution.Id",
                    "role.$": "$$.Execution.RoleArn",
                    "name.$": "$$.Execution.Name",
                    "entered.$": "$$.State.EnteredTime",
                },
                "End": True,
            }
        },
    }
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Reduce"
    r = StateMachine(d).execute(
        {},
        name="job-42",
        context={
            "StateMachine": {"Id": arn, "Name": "Reduce"},
            "Execution": {"RoleArn": "arn:aws:iam::1:role/r"},
        },
    )
    assert r.output["sm"] == "Reduce" and r.output["name"] == "job-42" and r.name == "job-42"
    assert r.output["id"] == "arn:aws:states:us-east-1:123456789012:execution:Reduce:job-42"
    assert r.output["role"] == "arn:aws:iam::1:role/r"
    assert r.output["entered"].endswith("Z")


def test_strict_spec_error_names():
    no_match = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "Y"}],
            },
            "Y": {"Type": "Succeed"},
        },
    }
    bad_intrinsic = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"x.$": "States.ArrayGetItem($.a, 5)"}, "End": True}
        },
    }
    bad_param = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.nope"}, "End": True}},
    }
    aws = [
        StateMachine(d).execute({"x": 0, "a": []}).error
        for d in (no_match, bad_intrinsic, bad_param)
    ]
    spec = [
        StateMachine(d, strict_spec=True).execute({"x": 0, "a": []}).error
        for d in (no_match, bad_intrinsic, bad_param)
    ]
    assert aws == ["States.Runtime"] * 3
    assert spec == [
        "States.NoChoiceMatched",
        "States.IntrinsicFailure",
        "States.ParameterPathFailure",
    ]


def test_strict_spec_error_names_are_catchable():
    d = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "P",
                        "States": {
                            "P": {
                                "Type": "Pass",
                                "Parameters": {"x.$": "States.StringToJson('{bad')"},
                                "End": True,
                            }
                        },
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "H"}],
                "End": True,
            },
            "H": {"Type": "Pass", "OutputPath": "$.Error", "End": True},
        },
    }
    assert StateMachine(d, strict_spec=True).execute({}).output == "States.IntrinsicFailure"
    assert StateMachine(d).execute({}).status == "FAILED"


def test_map_tolerated_failures_within_threshold():
    proc = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericGreaterThan": 7, "Next": "Bad"}],
                "Default": "Ok",
            },
            "Bad": {"Type": "Fail", "Error": "Bad", "Cause": "big"},
            "Ok": {"Type": "Pass", "End": True},
        },
    }
    r = StateMachine(map_of(proc, ToleratedFailurePercentage=20)).execute(list(range(10)))
    assert r.status == "SUCCEEDED"
    assert r.output[:8] == list(range(8)) and r.output[8] == {"Error": "Bad", "Cause": "big"}
    r = StateMachine(map_of(proc, ToleratedFailurePercentage=10)).execute(list(range(10)))
    assert r.error == "States.ExceedToleratedFailureThreshold"


def test_non_json_input_is_a_clear_error():
    with pytest.raises(DataError, match="JSON"):
        StateMachine(PASS).execute({"x": object()})


def test_deeply_nested_input():
    doc: object = "leaf"
    for _ in range(300):
        doc = {"a": [doc]}
    r = StateMachine(map_of(PASS, ItemsPath="$.items")).execute({"items": [doc, doc]})
    assert r.status == "SUCCEEDED" and r.output == [doc, doc]
    for _ in range(100_000):
        doc = [doc]
    with pytest.raises(DataError, match="nested"):
        StateMachine(PASS).execute(doc)


def test_huge_map_keeps_every_item_in_order_and_its_history_linear():
    """8,000 items: every result in place, and history events grow linearly with items
    (speed is measured in benchmarks/asl_overhead.py, not asserted here)."""
    sm = StateMachine(map_of(PASS, ItemSelector={"i.$": "$$.Map.Item.Index"}), history_limit=None)

    def run(n):
        r = sm.execute(list(range(n)))
        assert r.status == "SUCCEEDED" and r.output == [{"i": i} for i in range(n)]
        return len(r.history)

    small, big = run(1000), run(8000)
    per_item = (big - small) / 7000
    assert small == pytest.approx(1000 * per_item, rel=0.05)


def test_json_merge_deep_only_in_strict_spec_mode():
    d = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {"m.$": "States.JsonMerge($.a, $.b, true)"},
                "End": True,
            }
        },
    }
    data = {"a": {"k": {"x": 1}}, "b": {"k": {"y": 2}}}
    r = StateMachine(d).execute(data)
    assert r.error == "States.Runtime" and "deep merge" in r.cause
    assert StateMachine(d, strict_spec=True).execute(data).output == {"m": {"k": {"x": 1, "y": 2}}}


def test_interpreter_crash_in_a_map_thread_is_not_swallowed(monkeypatch):
    from cloudphot.asl import executor

    real = executor._Run.run_machine

    def broken_in_iterations(self, machine, data, scope, lane, map_item):
        if map_item is not None and map_item[0] == 1:
            raise ZeroDivisionError("bug")
        return real(self, machine, data, scope, lane, map_item)

    monkeypatch.setattr(executor._Run, "run_machine", broken_in_iterations)
    sm = StateMachine(map_of(PASS, MaxConcurrency=2))
    with pytest.raises(ZeroDivisionError):
        sm.execute([1, 2, 3])


def test_history_over_25000_events_fails_the_execution_as_on_aws():
    """An inline Map of 7,000 items writes ~28,000 events; AWS fails a standard
    execution at 25,000 (developer guide, Service quotas)."""
    r = StateMachine(map_of(PASS)).execute(list(range(7000)))
    assert r.status == "FAILED" and r.error == "States.Runtime"
    assert "25000" in r.cause and "Distributed Map" in r.cause
    assert len(r.history) == 25_001 and r.history[-1]["type"] == "ExecutionFailed"


def test_execution_input_over_256k_is_refused_like_start_execution():
    with pytest.raises(DataError, match="256 KiB"):
        StateMachine(PASS).execute({"x": "a" * (256 * 1024)})
