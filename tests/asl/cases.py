"""Conformance cases: (definition, input) pairs run through cloudphot and moto.

Each case may carry ``moto_deviation``: a note quoting the Amazon States Language
specification where moto disagrees with it; ``expected`` is then the
spec-derived result cloudphot must produce, and the test also asserts that moto
still differs (so the note is re-checked whenever moto changes).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["CASES", "Case"]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    definition: dict
    input: Any
    moto_deviation: str | None = None
    expected: dict | None = None  # status/output/error/cause per the spec (deviations only)
    compare_cause: bool = True
    cause_note: str | None = None  # why causes are not compared (wording only, never semantics)
    name: str = "conformance-run"


def one(state: dict, **extra) -> dict:
    """Machine with a single terminal state."""
    return {
        "StartAt": "S",
        "States": {
            "S": {**state, "End": True}
            if state["Type"] not in ("Succeed", "Fail", "Choice")
            else state
        },
        **extra,
    }


def chain(*states: tuple[str, dict]) -> dict:
    """Linear machine: each state's Next is the following one; the last ends."""
    out = {}
    for i, (name, st) in enumerate(states):
        st = dict(st)
        if st["Type"] not in ("Succeed", "Fail", "Choice"):
            if i + 1 < len(states):
                st["Next"] = states[i + 1][0]
            else:
                st["End"] = True
        out[name] = st
    return {"StartAt": states[0][0], "States": out}


def choice_matrix(rules: list[dict]) -> dict:
    """Parallel with one branch per rule; each branch outputs true if the rule matched."""
    branches = []
    for rule in rules:
        branches.append(
            {
                "StartAt": "C",
                "States": {
                    "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
                    "Yes": {"Type": "Pass", "Result": True, "End": True},
                    "No": {"Type": "Pass", "Result": False, "End": True},
                },
            }
        )
    return one({"Type": "Parallel", "Branches": branches})


def fail_branch(error: str, cause: str) -> dict:
    return {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": error, "Cause": cause}}}


def intrinsic(params: dict) -> dict:
    return one({"Type": "Pass", "Parameters": params})


CAUSE_JSON_SPACING = (
    "moto renders the input inside the cause with json.dumps' default ', ' / ': ' "
    "separators; cloudphot renders it compactly as Step Functions does."
)
CAUSE_BRANCH_RUNTIME = (
    "moto's cause for a States.Runtime error escaping a Parallel branch is an internal "
    "ValueError repr ('Custom Error Names MUST NOT begin with the prefix States.')."
)
CAUSE_PY_REPR = (
    "moto's cause is a Python exception repr; cloudphot names the function and the bad argument."
)

PASS_END = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}

DOC = {
    "name": "M31",
    "n": 3,
    "pi": 3.5,
    "ok": True,
    "none": None,
    "ts": "2024-05-01T12:00:00Z",
    "items": [{"id": "a", "x": 1}, {"id": "b", "x": 5}, {"id": "c", "x": 9}],
    "nested": {"deep": {"v": [10, 20, 30]}},
    "s": "a,b+c,,d",
    "first_id": "a",
    "last_id": "c",
    "x1": 1,
    "x5": 5,
}

CASES: list[Case] = [
    # ------------------------------------------------------------------ Pass + I/O
    Case(
        "pass_result_resultpath",
        one({"Type": "Pass", "Result": {"k": [1, 2]}, "ResultPath": "$.r"}),
        DOC,
    ),
    Case("pass_default_passthrough", one({"Type": "Pass"}), DOC),
    Case("pass_result_replaces", one({"Type": "Pass", "Result": "x"}), DOC),
    Case(
        "pass_parameters_static_and_paths",
        one(
            {
                "Type": "Pass",
                "Parameters": {
                    "static": {"a": [1, {"b": None}]},
                    "name.$": "$.name",
                    "deep.$": "$.nested.deep.v[1]",
                    "list": [{"n.$": "$.n"}, "lit"],
                    "whole.$": "$.nested",
                },
            }
        ),
        DOC,
    ),
    Case(
        "pass_inputpath_outputpath",
        one(
            {
                "Type": "Pass",
                "InputPath": "$.nested",
                "Result": 7,
                "ResultPath": "$.added",
                "OutputPath": "$.added",
            }
        ),
        DOC,
    ),
    Case(
        "pass_resultpath_null",
        one({"Type": "Pass", "Result": {"dropped": 1}, "ResultPath": None}),
        DOC,
    ),
    Case(
        "pass_resultpath_creates_nested",
        one({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b.c"}),
        DOC,
    ),
    Case(
        "pass_resultpath_overwrites_key",
        one({"Type": "Pass", "Result": "new", "ResultPath": "$.name"}),
        DOC,
    ),
    Case("pass_inputpath_null", one({"Type": "Pass", "InputPath": None}), DOC),
    Case("pass_outputpath_null", one({"Type": "Pass", "OutputPath": None}), DOC),
    Case(
        "pass_resultpath_root", one({"Type": "Pass", "Result": {"only": 1}, "ResultPath": "$"}), DOC
    ),
    Case("inputpath_no_match_runtime", one({"Type": "Pass", "InputPath": "$.missing"}), DOC),
    Case("outputpath_no_match_runtime", one({"Type": "Pass", "OutputPath": "$.missing"}), DOC),
    Case(
        "parameters_path_no_match_runtime",
        one({"Type": "Pass", "Parameters": {"a.$": "$.missing.x"}}),
        DOC,
        compare_cause=False,
        cause_note=CAUSE_JSON_SPACING,
    ),
    Case(
        "jsonpath_wildcard_filter_slice",
        one(
            {
                "Type": "Pass",
                "Parameters": {
                    "ids.$": "$.items[*].id",
                    "big.$": "$.items[?(@.x > 2)].id",
                    "first2.$": "$.items[0:2]",
                    "last.$": "$.items[-1:]",
                    "deepx.$": "$..x",
                    "bracket.$": "$['nested']['deep']['v'][2]",
                    "union.$": "$.items[0,2].x",
                },
            }
        ),
        DOC,
    ),
    Case(
        "context_object_fields",
        one(
            {
                "Type": "Pass",
                "Parameters": {
                    "state.$": "$$.State.Name",
                    "exec.$": "$$.Execution.Name",
                    "input.$": "$$.Execution.Input",
                },
            }
        ),
        {"hello": "world"},
    ),
    Case(
        "deeply_nested_document_passthrough",
        PASS_END,
        {"a": [[[[[[[[[[[[[[[[[[[[{"b": [1, 2, {"c": None}]}]]]]]]]]]]]]]]]]]]]]},
    ),
    # ------------------------------------------------------------------ Choice
    Case(
        "choice_string_operators",
        choice_matrix(
            [
                {"Variable": "$.name", "StringEquals": "M31"},
                {"Variable": "$.name", "StringEquals": "m31"},
                {"Variable": "$.name", "StringLessThan": "M32"},
                {"Variable": "$.name", "StringGreaterThan": "M30"},
                {"Variable": "$.name", "StringLessThanEquals": "M31"},
                {"Variable": "$.name", "StringGreaterThanEquals": "N"},
                {"Variable": "$.name", "StringEqualsPath": "$.name"},
                {"Variable": "$.name", "StringLessThanPath": "$.first_id"},
                {"Variable": "$.name", "StringGreaterThanPath": "$.first_id"},
                {"Variable": "$.name", "StringLessThanEqualsPath": "$.name"},
                {"Variable": "$.name", "StringGreaterThanEqualsPath": "$.last_id"},
            ]
        ),
        DOC,
    ),
    Case(
        "choice_numeric_operators",
        choice_matrix(
            [
                {"Variable": "$.n", "NumericEquals": 3},
                {"Variable": "$.n", "NumericEquals": 3.0},
                {"Variable": "$.pi", "NumericLessThan": 4},
                {"Variable": "$.pi", "NumericGreaterThan": 3.5},
                {"Variable": "$.pi", "NumericLessThanEquals": 3.5},
                {"Variable": "$.pi", "NumericGreaterThanEquals": 3.6},
                {"Variable": "$.n", "NumericEqualsPath": "$.x1"},
                {"Variable": "$.n", "NumericLessThanPath": "$.pi"},
                {"Variable": "$.n", "NumericGreaterThanPath": "$.x1"},
                {"Variable": "$.n", "NumericLessThanEqualsPath": "$.n"},
                {"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.x5"},
            ]
        ),
        DOC,
    ),
    Case(
        "choice_boolean_and_timestamp_operators",
        choice_matrix(
            [
                {"Variable": "$.ok", "BooleanEquals": True},
                {"Variable": "$.ok", "BooleanEquals": False},
                {"Variable": "$.ok", "BooleanEqualsPath": "$.ok"},
                {"Variable": "$.ts", "TimestampEquals": "2024-05-01T12:00:00Z"},
                {"Variable": "$.ts", "TimestampLessThan": "2024-05-01T12:00:01Z"},
                {"Variable": "$.ts", "TimestampGreaterThan": "2024-05-01T11:59:59Z"},
                {"Variable": "$.ts", "TimestampLessThanEquals": "2024-04-01T00:00:00Z"},
                {"Variable": "$.ts", "TimestampGreaterThanEquals": "2024-05-01T12:00:00Z"},
                {"Variable": "$.ts", "TimestampEqualsPath": "$.ts"},
                {"Variable": "$.ts", "TimestampLessThanPath": "$.ts"},
                {"Variable": "$.ts", "TimestampGreaterThanPath": "$.ts"},
                {"Variable": "$.ts", "TimestampLessThanEqualsPath": "$.ts"},
                {"Variable": "$.ts", "TimestampGreaterThanEqualsPath": "$.ts"},
                {"Variable": "$.name", "TimestampEquals": "2024-05-01T12:00:00Z"},
            ]
        ),
        DOC,
    ),
    Case(
        "choice_string_matches",
        choice_matrix(
            [
                {"Variable": "$.f", "StringMatches": "*.fits"},
                {"Variable": "$.f", "StringMatches": "j8*_flt.fits"},
                {"Variable": "$.f", "StringMatches": "*_drz.fits"},
                {"Variable": "$.f", "StringMatches": "*"},
                {"Variable": "$.f", "StringMatches": "j8*fl*s"},
            ]
        ),
        {"f": "j8xy01_flt.fits", "star": "a*b"},
    ),
    Case(
        "choice_and_or_not",
        choice_matrix(
            [
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThan": 1},
                        {"Variable": "$.ok", "BooleanEquals": True},
                    ]
                },
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThan": 5},
                        {"Variable": "$.ok", "BooleanEquals": True},
                    ]
                },
                {
                    "Or": [
                        {"Variable": "$.n", "NumericGreaterThan": 5},
                        {"Variable": "$.ok", "BooleanEquals": True},
                    ]
                },
                {"Not": {"Variable": "$.name", "StringEquals": "M31"}},
                {
                    "Not": {
                        "Or": [
                            {"Variable": "$.n", "NumericEquals": 1},
                            {"And": [{"Variable": "$.ok", "BooleanEquals": False}]},
                        ]
                    }
                },
            ]
        ),
        DOC,
    ),
    Case(
        "choice_type_tests",
        choice_matrix(
            [
                {"Variable": "$.none", "IsNull": True},
                {"Variable": "$.n", "IsNull": True},
                {"Variable": "$.missing", "IsPresent": False},
                {"Variable": "$.n", "IsPresent": True},
                {"Variable": "$.missing", "IsPresent": True},
                {"Variable": "$.n", "IsNumeric": True},
                {"Variable": "$.name", "IsNumeric": False},
                {"Variable": "$.name", "IsString": True},
                {"Variable": "$.ok", "IsBoolean": True},
                {"Variable": "$.n", "IsBoolean": True},
                {"Variable": "$.ts", "IsTimestamp": True},
                {"Variable": "$.name", "IsTimestamp": True},
                {"Variable": "$.ok", "IsNumeric": True},
            ]
        ),
        DOC,
    ),
    Case(
        "choice_default_and_outputpath",
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "InputPath": "$.nested",
                    "OutputPath": "$.deep",
                    "Choices": [{"Variable": "$.deep.v[0]", "NumericEquals": 11, "Next": "A"}],
                    "Default": "B",
                },
                "A": {"Type": "Pass", "Result": "A", "End": True},
                "B": {"Type": "Pass", "ResultPath": "$.took", "Result": "B", "End": True},
            },
        },
        DOC,
    ),
    # ------------------------------------------------------------------ Wait
    Case(
        "wait_all_forms",
        chain(
            ("W1", {"Type": "Wait", "Seconds": 0}),
            ("W2", {"Type": "Wait", "SecondsPath": "$.zero"}),
            ("W3", {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z"}),
            ("W4", {"Type": "Wait", "TimestampPath": "$.past", "OutputPath": "$.past"}),
        ),
        {"zero": 0, "past": "2002-02-02T02:02:02Z"},
    ),
    # ------------------------------------------------------------------ Succeed / Fail
    Case(
        "succeed_with_paths",
        one({"Type": "Succeed", "InputPath": "$.nested", "OutputPath": "$.deep.v"}),
        DOC,
    ),
    Case(
        "fail_static",
        one({"Type": "Fail", "Error": "NoStars", "Cause": "no stars above 5 sigma"}),
        DOC,
    ),
    Case(
        "fail_error_cause_paths",
        one({"Type": "Fail", "ErrorPath": "$.err", "CausePath": "$.why"}),
        {"err": "InvalidExposure", "why": "NAXIS=0"},
    ),
    Case(
        "fail_cause_intrinsic",
        one(
            {"Type": "Fail", "Error": "E", "CausePath": "States.Format('bad {} ({})', $.name, $.n)"}
        ),
        DOC,
    ),
    # ------------------------------------------------------------------ Parallel
    Case(
        "parallel_outputs_and_selector",
        one(
            {
                "Type": "Parallel",
                "Parameters": {"v.$": "$.n"},
                "ResultPath": "$.par",
                "ResultSelector": {"first.$": "$[0]", "both.$": "$"},
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": 2, "End": True}}},
                ],
            }
        ),
        DOC,
    ),
    Case(
        "parallel_branch_failure_propagates",
        one({"Type": "Parallel", "Branches": [PASS_END, fail_branch("Boom", "branch 2 failed")]}),
        DOC,
    ),
    Case(
        "catch_custom_error_resultpath",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("NoStars", "empty field")],
                    "Catch": [
                        {"ErrorEquals": ["Other"], "Next": "Wrong"},
                        {"ErrorEquals": ["NoStars"], "ResultPath": "$.error", "Next": "Handled"},
                    ],
                    "Next": "Wrong",
                },
                "Wrong": {"Type": "Fail", "Error": "WrongRoute"},
                "Handled": {"Type": "Pass", "End": True},
            },
        },
        {"job": 1},
    ),
    Case(
        "catch_states_all_default_resultpath",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("Anything", "c")],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
        {"job": 1},
    ),
    Case(
        "catch_resultpath_null_keeps_input",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("X", "c")],
                    "Catch": [{"ErrorEquals": ["X"], "ResultPath": None, "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
        {"job": 1},
    ),
    Case(
        "retry_maxattempts_zero_then_catch",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("Flaky", "c")],
                    "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 0}],
                    "Catch": [{"ErrorEquals": ["Flaky"], "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
        {},
    ),
    Case(
        "retry_exhausted_then_uncaught",
        one(
            {
                "Type": "Parallel",
                "Branches": [fail_branch("Flaky", "always")],
                "Retry": [
                    {"ErrorEquals": ["Other"], "MaxAttempts": 5},
                    {
                        "ErrorEquals": ["Flaky"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 1,
                        "BackoffRate": 1.0,
                    },
                ],
            }
        ),
        {},
    ),
    Case(
        "catch_does_not_match_other_error",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("Unlisted", "nobody catches this")],
                    "Catch": [{"ErrorEquals": ["Listed", "States.Timeout"], "Next": "X"}],
                    "End": True,
                },
                "X": {"Type": "Pass", "End": True},
            },
        },
        {},
    ),
    Case(
        "catch_states_taskfailed_is_wildcard",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [fail_branch("Custom", "caught by States.TaskFailed")],
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "X"}],
                    "End": True,
                },
                "X": {"Type": "Pass", "End": True},
            },
        },
        {},
    ),
    Case(
        "runtime_error_not_caught_by_states_all",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "P",
                            "States": {
                                "P": {"Type": "Pass", "InputPath": "$.missing", "End": True}
                            },
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X"}],
                    "End": True,
                },
                "X": {"Type": "Pass", "End": True},
            },
        },
        {},
        compare_cause=False,
        cause_note=CAUSE_BRANCH_RUNTIME,
    ),
    Case(
        "choice_type_mismatch_is_false",
        choice_matrix(
            [
                {"Variable": "$.n", "StringEquals": "3"},
                {"Variable": "$.name", "NumericEquals": 3},
                {"Variable": "$.ok", "NumericGreaterThan": 0},
                {"Variable": "$.n", "BooleanEquals": True},
            ]
        ),
        DOC,
    ),
    Case(
        "choice_no_match_runtime",
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericEquals": 99, "Next": "Y"}],
                },
                "Y": {"Type": "Succeed"},
            },
        },
        DOC,
        compare_cause=False,
        cause_note="moto's cause is a Python exception repr (\"RuntimeError(('No branching option ...\"); "
        "cloudphot says which state had no match.",
    ),
    Case(
        "nested_parallel_in_parallel",
        one(
            {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Inner",
                        "States": {
                            "Inner": {
                                "Type": "Parallel",
                                "End": True,
                                "Branches": [
                                    {
                                        "StartAt": "a",
                                        "States": {
                                            "a": {"Type": "Pass", "Result": "a", "End": True}
                                        },
                                    },
                                    {
                                        "StartAt": "b",
                                        "States": {
                                            "b": {"Type": "Pass", "Result": "b", "End": True}
                                        },
                                    },
                                ],
                            }
                        },
                    },
                    {
                        "StartAt": "c",
                        "States": {"c": {"Type": "Pass", "InputPath": "$.n", "End": True}},
                    },
                ],
            }
        ),
        DOC,
    ),
    # ------------------------------------------------------------------ Map
    Case(
        "map_itemspath_itemselector_context",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ResultPath": "$.out",
                "ItemSelector": {
                    "index.$": "$$.Map.Item.Index",
                    "value.$": "$$.Map.Item.Value",
                    "job.$": "$.name",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
            }
        ),
        DOC,
    ),
    Case(
        "map_legacy_iterator_parameters",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "Parameters": {"i.$": "$$.Map.Item.Index", "x.$": "$$.Map.Item.Value.x"},
                "Iterator": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "OutputPath": "$.x", "End": True}},
                },
            }
        ),
        DOC,
    ),
    Case(
        "map_default_items_root_order",
        one(
            {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True}},
                },
            }
        ),
        list(range(25)),
    ),
    Case(
        "map_empty",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.none_here",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            }
        ),
        {"none_here": []},
    ),
    Case(
        "map_iteration_failure_caught",
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "C",
                        "States": {
                            "C": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Variable": "$.x", "NumericGreaterThan": 4, "Next": "Bad"}
                                ],
                                "Default": "Ok",
                            },
                            "Bad": {"Type": "Fail", "Error": "TooBright", "Cause": "saturated"},
                            "Ok": {"Type": "Pass", "End": True},
                        },
                    },
                    "Catch": [
                        {"ErrorEquals": ["TooBright"], "ResultPath": "$.err", "Next": "After"}
                    ],
                    "End": True,
                },
                "After": {"Type": "Pass", "OutputPath": "$.err", "End": True},
            },
        },
        DOC,
    ),
    Case(
        "map_nested_map_and_selector",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.rows",
                "ResultSelector": {"rows.$": "$", "n.$": "States.ArrayLength($)"},
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {
                        "Inner": {
                            "Type": "Map",
                            "ItemsPath": "$",
                            "End": True,
                            "ItemSelector": {
                                "v.$": "$$.Map.Item.Value",
                                "i.$": "$$.Map.Item.Index",
                            },
                            "ItemProcessor": {
                                "StartAt": "P",
                                "States": {
                                    "P": {
                                        "Type": "Pass",
                                        "Parameters": {"s.$": "States.MathAdd($.v, $.i)"},
                                        "OutputPath": "$.s",
                                        "End": True,
                                    }
                                },
                            },
                        }
                    },
                },
            }
        ),
        {"rows": [[1, 2], [10, 20, 30], []]},
    ),
    Case(
        "map_in_parallel_in_map",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Par",
                    "States": {
                        "Par": {
                            "Type": "Parallel",
                            "End": True,
                            "Branches": [
                                {
                                    "StartAt": "Id",
                                    "States": {
                                        "Id": {"Type": "Pass", "InputPath": "$.id", "End": True}
                                    },
                                },
                                {
                                    "StartAt": "Sq",
                                    "States": {
                                        "Sq": {
                                            "Type": "Map",
                                            "ItemsPath": "$.ys",
                                            "End": True,
                                            "ItemProcessor": {
                                                "StartAt": "Q",
                                                "States": {"Q": {"Type": "Pass", "End": True}},
                                            },
                                        }
                                    },
                                },
                            ],
                        }
                    },
                },
            }
        ),
        {"items": [{"id": "a", "ys": [1]}, {"id": "b", "ys": [2, 3]}]},
    ),
    # ------------------------------------------------------------------ intrinsics
    Case(
        "intrinsic_format",
        intrinsic(
            {
                "a.$": "States.Format('Hello, {}! n={} pi={} ok={} none={}', $.name, $.n, $.pi, $.ok, $.none)",
                "nested.$": "States.Format('{}-{}', States.ArrayLength($.items), $.name)",
            }
        ),
        DOC,
    ),
    Case(
        "intrinsic_json_roundtrip",
        intrinsic(
            {
                "s.$": "States.JsonToString($.nested)",
                "o.$": "States.StringToJson($.js)",
                "round.$": "States.StringToJson(States.JsonToString($.items))",
            }
        ),
        {**DOC, "js": '{"k": [1, 2.5, null]}'},
    ),
    Case(
        "intrinsic_arrays",
        intrinsic(
            {
                "array.$": "States.Array('a', 1, $.ok, $.none, $.nested.deep.v)",
                "part.$": "States.ArrayPartition(States.ArrayRange(1, 10, 1), 4)",
                "contains.$": "States.ArrayContains($.nested.deep.v, 20)",
                "notcontains.$": "States.ArrayContains($.nested.deep.v, 21)",
                "range.$": "States.ArrayRange(1, 10, 3)",
                "item.$": "States.ArrayGetItem($.nested.deep.v, 2)",
                "len.$": "States.ArrayLength($.items)",
                "uniq.$": "States.ArrayUnique(States.Array(1, 2, 2, 'a', 'a', 1))",
            }
        ),
        DOC,
    ),
    Case(
        "intrinsic_base64_hash",
        intrinsic(
            {
                "b64.$": "States.Base64Encode($.name)",
                "back.$": "States.Base64Decode('TTMx')",
                "md5.$": "States.Hash($.name, 'MD5')",
                "sha1.$": "States.Hash($.name, 'SHA-1')",
                "sha256.$": "States.Hash($.name, 'SHA-256')",
                "sha384.$": "States.Hash('x', 'SHA-384')",
                "sha512.$": "States.Hash('x', 'SHA-512')",
            }
        ),
        DOC,
    ),
    Case(
        "intrinsic_merge_math_split_uuid",
        intrinsic(
            {
                "merged.$": "States.JsonMerge($.a, $.b, false)",
                "sum.$": "States.MathAdd($.n, -10)",
                "split.$": "States.StringSplit($.s, ',+')",
                "uuidparts.$": "States.ArrayLength(States.StringSplit(States.UUID(), '-'))",
            }
        ),
        {"a": {"x": 1, "y": {"z": 1}}, "b": {"y": 2, "w": 3}, "n": 4, "s": "a,b+c,,d"},
    ),
    Case(
        "intrinsic_context_and_resultselector",
        one(
            {
                "Type": "Parallel",
                "ResultSelector": {"msg.$": "States.Format('{} from {}', $[0], $$.State.Name)"},
                "Branches": [
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "hi", "End": True}}}
                ],
            }
        ),
        {},
    ),
    Case(
        "intrinsic_failure_array_index",
        intrinsic({"x.$": "States.ArrayGetItem($.nested.deep.v, 7)"}),
        DOC,
        compare_cause=False,
        cause_note=CAUSE_PY_REPR,
    ),
    Case(
        "intrinsic_failure_caught",
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "I",
                            "States": {
                                "I": {
                                    "Type": "Pass",
                                    "Parameters": {"x.$": "States.StringToJson($.bad)"},
                                    "End": True,
                                }
                            },
                        }
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["States.IntrinsicFailure"],
                            "ResultPath": "$.e",
                            "Next": "H",
                        }
                    ],
                    "End": True,
                },
                "H": {"Type": "Pass", "Parameters": {"error.$": "$.e.Error"}, "End": True},
            },
        },
        {"bad": "{nope"},
        compare_cause=False,
        cause_note=CAUSE_PY_REPR,
    ),
    # ------------------------------------------------------------------ whole-pipeline style
    Case(
        "pipeline_like_flow",
        {
            "StartAt": "Validate",
            "States": {
                "Validate": {
                    "Type": "Pass",
                    "Parameters": {
                        "job.$": "$.job",
                        "files.$": "$.files",
                        "count.$": "States.ArrayLength($.files)",
                    },
                    "Next": "Any?",
                },
                "Any?": {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.count", "NumericGreaterThan": 0, "Next": "PerFile"}
                    ],
                    "Default": "Nothing",
                },
                "PerFile": {
                    "Type": "Map",
                    "ItemsPath": "$.files",
                    "MaxConcurrency": 3,
                    "ResultPath": "$.masks",
                    "ItemSelector": {"key.$": "States.Format('{}/{}', $.job, $$.Map.Item.Value)"},
                    "ItemProcessor": {
                        "StartAt": "Mask",
                        "States": {"Mask": {"Type": "Pass", "End": True}},
                    },
                    "Next": "Summarise",
                },
                "Summarise": {
                    "Type": "Pass",
                    "Parameters": {"job.$": "$.job", "keys.$": "$.masks[*].key"},
                    "End": True,
                },
                "Nothing": {"Type": "Succeed"},
            },
        },
        {"job": "j42", "files": ["a.fits", "b.fits", "c.fits", "d.fits"]},
    ),
]

CASES += [
    Case(
        "wait_secondspath_negative",
        one({"Type": "Wait", "SecondsPath": "$.s"}),
        {"s": -1},
        compare_cause=False,
        cause_note="moto's cause embeds its internal field description",
    ),
    Case("fail_without_error_or_cause", {"StartAt": "F", "States": {"F": {"Type": "Fail"}}}, {}),
    Case(
        "map_maxconcurrency_path_and_outputpath",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "MaxConcurrencyPath": "$.conc",
                "OutputPath": "$[1]",
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {
                        "P": {
                            "Type": "Pass",
                            "Parameters": {"x2.$": "States.MathAdd($, $)"},
                            "End": True,
                        }
                    },
                },
            }
        ),
        {"xs": [1, 2, 3], "conc": 2},
    ),
    Case(
        "intrinsic_json_merge_deep_rejected_like_aws",
        intrinsic({"m.$": "States.JsonMerge($.a, $.b, true)"}),
        {"a": {"k": {"x": 1}}, "b": {"k": {"y": 2}}},
        compare_cause=False,
        cause_note=CAUSE_PY_REPR,
    ),
    Case(
        "intrinsic_json_merge_shallow_keeps_latter",
        intrinsic(
            {"m.$": "States.JsonMerge($.a, $.b, false)", "n.$": "States.JsonMerge($.b, $.a, false)"}
        ),
        {"a": {"k": {"x": 1}, "only_a": True}, "b": {"k": {"y": 2}}},
    ),
    Case(
        "parameters_on_parallel_and_context_in_branch",
        one(
            {
                "Type": "Parallel",
                "Parameters": {"job.$": "$.job", "exec.$": "$$.Execution.Name"},
                "Branches": [
                    {
                        "StartAt": "In",
                        "States": {
                            "In": {
                                "Type": "Pass",
                                "Parameters": {
                                    "state.$": "$$.State.Name",
                                    "job.$": "$.job",
                                    "exec.$": "$.exec",
                                },
                                "End": True,
                            }
                        },
                    }
                ],
            }
        ),
        {"job": "j1"},
    ),
]

# ---------------------------------------------------------------------- deviations
# moto disagrees with the Amazon States Language specification on these; cloudphot
# follows the spec (quoted), and the test checks moto still differs.

SPEC_TYPES = (
    'Spec, Choice State: "For each operator which compares values, if the values are not both of '
    'the appropriate type (String, number, boolean, or Timestamp) the comparison will return false."'
)
SPEC_MATCHES = (
    'Spec, Choice State, StringMatches: "If the character \\"*\\" needs to appear as part of the '
    "value without serving as a wildcard, it MUST be escaped with a backslash. ... The literal "
    'string \\\\* represents *."'
)
SPEC_ISPRESENT = (
    'Spec, Choice State, IsPresent: "In this case, if the Variable-field Path fails to match '
    'anything in the input no exception is thrown and the Choice Rule just returns false." '
    "(i.e. for every other operator an unmatched Variable path is a runtime error; AWS reports "
    'States.Runtime "The choice state\'s condition path references an invalid value.")'
)
SPEC_ITEMS = (
    'Spec, Map State: "The Reference Path is applied to the ItemReader result and MUST identify a field '
    'whose value is a JSON array"; Appendix A: "States.QueryEvaluationError: Query evaluation failed in '
    'a JSONata state" -- so a JSONPath Map must not report States.QueryEvaluationError.'
)
SPEC_FORMAT = (
    'Spec, Appendix B, States.Format: "If necessary, the { and } characters can be escaped '
    'respectively as \\\\{ and \\\\}."'
)
SPEC_RANGE = (
    'Spec, Appendix B, States.ArrayRange: "All arguments MUST be integer values. The third argument '
    'MUST NOT be zero." (a negative step is allowed)'
)
SPEC_CONTEXT = (
    'Step Functions Developer Guide, "Context object": State contains "EnteredTime", "Name" and '
    '"RetryCount"; Execution.StartTime is a timestamp string such as "2019-03-26T20:14:13.192Z" '
    "(the ASL spec leaves the Context Object's contents to the interpreter)."
)

CASES += [
    Case(
        "dev_choice_string_matches_escaped_star",
        choice_matrix(
            [
                {"Variable": "$.star", "StringMatches": "a\\*b"},
                {"Variable": "$.star", "StringMatches": "a\\**"},
                {"Variable": "$.plain", "StringMatches": "a\\*b"},
            ]
        ),
        {"star": "a*b", "plain": "axxb"},
        moto_deviation=SPEC_MATCHES,
        expected={
            "status": "SUCCEEDED",
            "output": [True, True, False],
            "error": None,
            "cause": None,
        },
    ),
    Case(
        "dev_choice_variable_missing_is_runtime_error",
        choice_matrix([{"Variable": "$.missing", "StringEquals": "x"}]),
        DOC,
        moto_deviation=SPEC_ISPRESENT,
        expected={
            "status": "FAILED",
            "output": None,
            "error": "States.Runtime",
            "cause": "An error occurred while executing the state 'C' (entered at the event id #4). "
            "Invalid path '$.missing': The choice state's condition path references an "
            "invalid value.",
        },
    ),
    Case(
        "dev_map_items_not_array",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.name",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            }
        ),
        DOC,
        moto_deviation=SPEC_ITEMS,
        expected={
            "status": "FAILED",
            "output": None,
            "error": "States.Runtime",
            "cause": "An error occurred while executing the state 'S' (entered at the event id #2). "
            'Map state input must be an array but was: "M31"',  # AWS's wording (recorded)
        },
    ),
    Case(
        "dev_intrinsic_format_escaped_braces",
        intrinsic({"esc.$": "States.Format('braces \\{\\} and {}', 'x')"}),
        {},
        moto_deviation=SPEC_FORMAT,
        expected={
            "status": "SUCCEEDED",
            "output": {"esc": "braces {} and x"},
            "error": None,
            "cause": None,
        },
    ),
    Case(
        "dev_intrinsic_array_range_negative_step",
        intrinsic({"r.$": "States.ArrayRange(10, 1, -3)"}),
        {},
        moto_deviation=SPEC_RANGE,
        expected={
            "status": "SUCCEEDED",
            "output": {"r": [10, 7, 4, 1]},
            "error": None,
            "cause": None,
        },
    ),
    Case(
        "dev_context_object_start_time",
        chain(
            ("First", {"Type": "Pass", "Parameters": {"state.$": "$$.State.Name"}}),
            (
                "Check",
                {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$$.Execution.StartTime", "IsTimestamp": True, "Next": "Done"}
                    ],
                    "Default": "NotATimestamp",
                },
            ),
            ("NotATimestamp", {"Type": "Fail", "Error": "StartTimeNotTimestamp"}),
            ("Done", {"Type": "Succeed"}),
        ),
        {},
        moto_deviation=SPEC_CONTEXT,
        expected={
            "status": "SUCCEEDED",
            "output": {"state": "First"},
            "error": None,
            "cause": None,
        },
    ),
]

SPEC_RESULTPATH = (
    'Spec, "JSONPath Runtime Errors": "Suppose a state\'s input is the string \\"foo\\", and its '
    '\\"ResultPath\\" field has the value \\"$.x\\". Then ResultPath cannot apply and the interpreter '
    'fails the machine with an Error Name of \\"States.ResultPathMatchFailure\\"."'
)
SPEC_REFPATH = (
    'Spec, "Reference Paths": "A Reference Path is a Path with syntax limited in such a way that it can '
    "only identify a single node ... all Reference Paths MUST be unambiguous references to a single "
    'value, array, or object (subtree)", with $.ledgers.branch[0].pending.count given as an example.'
)
SPEC_QUOTE = (
    'Spec, "Intrinsic Functions": "The following characters are reserved for all Intrinsic Functions and '
    "MUST be escaped: ' { } \\\\ ... The literal string \\' represents '.\""
)
SPEC_TOLERATED = (
    'Spec, "Map State Failure Tolerance": "A Map State MAY have a non-negative integer '
    '\\"ToleratedFailureCount\\" field. ... the Map State will fail if at least 1 of its items fail" '
    '(default 0); Appendix A: "States.ExceedToleratedFailureThreshold: A Map state failed because the '
    'number of failed items exceeded the configured tolerated failure threshold."'
)

CASES += [
    Case(
        "dev_resultpath_match_failure",
        one({"Type": "Pass", "Result": 1, "ResultPath": "$.name.x"}),
        DOC,
        moto_deviation=SPEC_RESULTPATH,
        expected={
            "status": "FAILED",
            "output": None,
            "error": "States.ResultPathMatchFailure",
            "cause": 'Unable to apply ResultPath "$.name.x" to input "'
            + json.dumps(DOC, separators=(",", ":"))
            + '"',
        },
    ),
    Case(
        "dev_resultpath_match_failure_caught",
        {
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
                                    "Result": 1,
                                    "ResultPath": "$.s.x",
                                    "End": True,
                                }
                            },
                        }
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ResultPathMatchFailure"],
                            "ResultPath": "$.e",
                            "Next": "X",
                        }
                    ],
                    "End": True,
                },
                "X": {"Type": "Pass", "OutputPath": "$.e.Error", "End": True},
            },
        },
        {"s": "str"},
        moto_deviation=SPEC_RESULTPATH,
        expected={
            "status": "SUCCEEDED",
            "output": "States.ResultPathMatchFailure",
            "error": None,
            "cause": None,
        },
    ),
    Case(
        "dev_choice_reference_path_with_index",
        choice_matrix(
            [
                {"Variable": "$.items[0].x", "NumericEquals": 1},
                {"Variable": "$.name", "StringLessThanPath": "$.items[0].id"},
            ]
        ),
        DOC,
        moto_deviation=SPEC_REFPATH,
        expected={"status": "SUCCEEDED", "output": [True, True], "error": None, "cause": None},
    ),
    Case(
        "dev_intrinsic_argument_path_with_index",
        intrinsic({"s.$": "States.Format('{}-{}', $.items[0].id, $.nested.deep.v[2])"}),
        DOC,
        moto_deviation=SPEC_REFPATH,
        expected={"status": "SUCCEEDED", "output": {"s": "a-30"}, "error": None, "cause": None},
    ),
    Case(
        "dev_intrinsic_escaped_quote",
        intrinsic({"q.$": "States.Format('it\\'s {}', 'x')"}),
        {},
        moto_deviation=SPEC_QUOTE,
        expected={"status": "SUCCEEDED", "output": {"q": "it's x"}, "error": None, "cause": None},
    ),
    Case(
        "dev_map_tolerated_failure_count_exceeded",
        one(
            {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "ToleratedFailureCount": 1,
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "C",
                    "States": {
                        "C": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericGreaterThan": 1, "Next": "Bad"}],
                            "Default": "Ok",
                        },
                        "Bad": {"Type": "Fail", "Error": "Bad", "Cause": "too big"},
                        "Ok": {"Type": "Pass", "End": True},
                    },
                },
            }
        ),
        {"xs": [1, 2, 3]},
        moto_deviation=SPEC_TOLERATED,
        expected={
            "status": "FAILED",
            "output": None,
            "error": "States.ExceedToleratedFailureThreshold",
            "cause": "The specified tolerated failure threshold was exceeded",
        },
    ),
]
