"""Workflow variables where no AWS recording decides the outcome: the guide's rules
enforced locally (scopes, quotas, reference errors), the history's
``assignedVariables``, and hostile input. Recorded behaviour is in
``aws_cases_variables.py``."""

from __future__ import annotations

import json

import pytest

from cloudphot.asl import AslDefinitionError, StateMachine
from cloudphot.asl.variables import Scope

from .test_aws_recorded import _RecordedResults


def _two(first: dict, second: dict) -> dict:
    return {
        "StartAt": "A",
        "States": {"A": {**first, "Next": "B"}, "B": {**second, "End": True}},
    }


def _exited(result, name: str) -> dict:
    for e in result.history:
        d = e.get("stateExitedEventDetails")
        if d and d["name"] == name:
            return d
    raise AssertionError(f"no StateExited for {name}")


def test_history_shows_assigned_variables_as_json_text():
    r = StateMachine(
        _two({"Type": "Pass", "Assign": {"s": "x", "n": 1.5, "o": {"k": [1]}}}, {"Type": "Pass"})
    ).execute({})
    d = _exited(r, "A")
    assert d["assignedVariables"] == {"s": '"x"', "n": "1.5", "o": '{"k":[1]}'}
    assert d["assignedVariablesDetails"] == {"truncated": False}
    assert "assignedVariables" not in _exited(r, "B")


def test_unassigned_variable_in_a_jsonpath_field_names_the_variable():
    r = StateMachine(
        _two({"Type": "Pass"}, {"Type": "Pass", "Parameters": {"v.$": "$nowhere"}})
    ).execute({})
    assert r.status == "FAILED" and r.error == "States.Runtime"
    assert "$nowhere" in r.cause and "no state in scope has assigned" in r.cause


def test_variables_of_a_map_iteration_do_not_leak_out():
    inner = {
        "StartAt": "I",
        "States": {"I": {"Type": "Pass", "Assign": {"inner": 1}, "End": True}},
    }
    machine = _two(
        {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": inner},
        {"Type": "Pass", "Parameters": {"v.$": "$inner"}},
    )
    r = StateMachine(machine).execute({"items": [1, 2]})
    assert r.status == "FAILED" and "$inner" in r.cause


def test_parallel_branches_do_not_see_each_other():
    branch = {
        "StartAt": "W",
        "States": {"W": {"Type": "Pass", "Assign": {"mine": 1}, "End": True}},
    }
    reader = {
        "StartAt": "R",
        "States": {"R": {"Type": "Pass", "Parameters": {"v.$": "$mine"}, "End": True}},
    }
    machine = {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [branch, reader], "End": True}},
    }
    assert StateMachine(machine).execute({}).status == "FAILED"


def test_distributed_map_children_cannot_read_outer_variables():
    """Developer guide, variable scope: Distributed Map child workflows cannot reference
    variables of outer scopes (the outcome's wording is ours)."""
    proc = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
        "StartAt": "C",
        "States": {"C": {"Type": "Pass", "Parameters": {"v.$": "$outer"}, "End": True}},
    }
    machine = _two(
        {"Type": "Pass", "Assign": {"outer": 1}},
        {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": proc},
    )
    r = StateMachine(machine).execute({"items": [1]})
    assert r.status == "FAILED" and r.error == "States.ExceedToleratedFailureThreshold"
    assert "first failed item: States.Runtime" in r.cause and "$outer" in r.cause


def test_catcher_assign_of_a_map_writes_the_outer_scope():
    proc = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}}
    machine = _two(
        {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": proc,
            "Catch": [{"ErrorEquals": ["Boom"], "Assign": {"err.$": "$.Error"}, "Next": "B"}],
        },
        {"Type": "Pass", "Parameters": {"err.$": "$err"}},
    )
    r = StateMachine(machine).execute({"items": [1]})
    assert r.status == "SUCCEEDED" and r.output == {"err": "Boom"}


def test_a_variable_over_256_kib_fails_with_data_limit_exceeded():
    big = "a" * (256 * 1024)
    r = StateMachine(_two({"Type": "Pass", "Assign": {"v.$": "$.big"}}, {"Type": "Pass"})).execute(
        {"big": big[:-100]}
    )
    assert r.status == "SUCCEEDED"
    # two values of 200 KiB each: each fits, the Assign field does not
    half = "b" * (200 * 1024)
    state = {"Type": "Pass", "Assign": {"x.$": "$.h", "y.$": "$.h"}}
    r = StateMachine(_two(state, {"Type": "Pass"})).execute({"h": half})
    assert r.status == "FAILED" and r.error == "States.DataLimitExceeded"
    assert "Assign" in r.cause and "256 KiB" in r.cause


def test_scope_quota_per_variable_and_per_execution():
    scope = Scope()
    with pytest.raises(Exception, match="256 KiB"):
        scope.assign({"v": "x" * (257 * 1024)}, "S")
    for i in range(40):  # 40 x 250 KiB = 10,000 KiB fits; one more does not
        scope.assign({f"v{i}": "x" * (250 * 1024 - 2)}, "S")
    with pytest.raises(Exception, match="10 MiB"):
        scope.assign({"v40": "x" * (250 * 1024)}, "S")
    scope.assign({"v0": "small"}, "S")  # replacing a value frees its share
    scope.assign({"v40": "x" * (200 * 1024)}, "S")


def test_inner_scope_cannot_assign_an_outer_name_at_run_time_either():
    outer = Scope()
    outer.assign({"x": 1}, "Outer")
    with pytest.raises(Exception, match="outer scope"):
        Scope(outer).assign({"x": 2}, "Inner")


@pytest.mark.parametrize(
    "assign",
    [
        {"": 1},
        {"a-b": 1},
        {"x.$": 1},  # a '.$' value must be a path string
        {"x.$": "not a path"},
        {"x.$": "States.Nope()"},
        [],
    ],
)
def test_hostile_assign_blocks_are_refused_at_construction(assign):
    with pytest.raises(AslDefinitionError):
        StateMachine(
            {"StartAt": "S", "States": {"S": {"Type": "Pass", "Assign": assign, "End": True}}}
        )


def test_assign_not_allowed_on_succeed_or_fail():
    with pytest.raises(AslDefinitionError):
        StateMachine({"StartAt": "S", "States": {"S": {"Type": "Succeed", "Assign": {"a": 1}}}})


def test_task_assign_sees_the_result_after_result_selector():
    lam = "arn:aws:states:::lambda:invoke"
    machine = _two(
        {
            "Type": "Task",
            "Resource": lam,
            "ResultSelector": {"p.$": "$.Payload"},
            "Assign": {"seen.$": "$"},
            "ResultPath": "$.r",
        },
        {"Type": "Pass", "Parameters": {"seen.$": "$seen", "in.$": "$"}},
    )
    r = StateMachine(machine).execute({"a": 1}, invoker=_RecordedResults({lam: {"Payload": 5}}))
    assert r.output == {"seen": {"p": 5}, "in": {"a": 1, "r": {"p": 5}}}


def test_variables_survive_retries_and_context_in_parallel():
    branch = {
        "StartAt": "R",
        "States": {"R": {"Type": "Pass", "Parameters": {"v.$": "$shared"}, "End": True}},
    }
    machine = _two(
        {"Type": "Pass", "Assign": {"shared": {"k": [1, None]}}},
        {"Type": "Parallel", "Branches": [branch, branch]},
    )
    r = StateMachine(machine).execute({})
    assert r.output == [{"v": {"k": [1, None]}}] * 2
    json.dumps(r.history, default=str)  # the history stays serialisable
