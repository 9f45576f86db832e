"""Cases whose expected results come from AWS itself, never from an implementation.

Each case names its ``source``: either a page of the Step Functions developer guide
(``DG:<page>#<section>``) or an execution recorded on AWS
(``REC:<file>::<test>``: the snapshot files LocalStack records against real AWS
accounts under ``tests/aws/services/stepfunctions/v2/`` of localstack/localstack,
tests marked ``aws.validated``). The definitions are written here to reproduce the
recorded situation; only the observable outcome (status, output, error, cause) is
taken from the source. ``known_difference`` marks a case cloudphot does not yet
match (run as a strict xfail, so fixing it is noticed); see docs/asl-conformance.md.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

__all__ = [
    "ANY",
    "AREAS",
    "AWS_CASES",
    "AwsCase",
    "Matches",
    "chain",
    "distributed_map",
    "json_reader",
    "pass_state",
]


class _Any:
    __hash__ = object.__hash__

    def __eq__(self, other):
        return True

    def __repr__(self):
        return "ANY"


ANY: Any = _Any()


class Matches:
    """Equal to any string the regular expression matches in full (a uuid, a random
    number's rendering) where the recording shows only the value's kind."""

    __hash__ = object.__hash__

    def __init__(self, pattern: str, kind: type = str):
        self.pattern = re.compile(pattern)
        self.kind = kind

    def __eq__(self, other):
        if not isinstance(other, self.kind) or isinstance(other, bool):
            return False
        return self.pattern.fullmatch(str(other)) is not None

    def __repr__(self):
        return f"Matches({self.pattern.pattern!r})"


AREAS = (
    "limits",
    "errors",
    "causes",
    "intrinsics",
    "context",
    "validation",
    "jsonata",
    "jsonata-functions",
    "variables",
    "distributed-map",
)

REC = "REC:tests/aws/services/stepfunctions/v2/"
DG = "DG:"


@dataclasses.dataclass(frozen=True)
class AwsCase:
    id: str
    area: str
    source: str
    definition: dict | None  # None: the case is a validation failure (see ``invalid``)
    input: Any = None
    status: str = "SUCCEEDED"
    output: Any = ANY
    error: str | None = None
    cause: Any = None
    results: dict = dataclasses.field(default_factory=dict)  # resource -> task result
    invalid: dict | None = None  # a definition AWS refuses at CreateStateMachine
    objects: dict = dataclasses.field(default_factory=dict)  # (bucket, key) -> bytes
    known_difference: str | None = None
    # variables the history shows assigned: [(state name, {name: value}), ...] in any order
    assigned: list | None = None


def chain(*states: tuple[str, dict], **top) -> dict:
    """A machine of ``(name, state)`` in order: each gets Next to the following one
    and the last End (unless it says otherwise)."""
    out = {}
    for i, (name, st) in enumerate(states):
        st = dict(st)
        if st["Type"] not in ("Choice", "Succeed", "Fail") and not {"Next", "End"} & set(st):
            if i + 1 < len(states):
                st["Next"] = states[i + 1][0]
            else:
                st["End"] = True
        out[name] = st
    return {"StartAt": states[0][0], "States": out, **top}


def pass_state(**fields) -> dict:
    return {"Type": "Pass", **fields}


def distributed_map(**fields) -> dict:
    """A Distributed Map (MaxConcurrency 1) whose children run one Pass state."""
    return {
        "Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "PassItem",
            "States": {"PassItem": {"Type": "Pass", "End": True}},
        },
        **fields,
    }


def json_reader(jsonata: bool = False, **config) -> dict:
    """An s3:getObject ItemReader of JSON taking Bucket and Key from the state input."""
    reader = {
        "ReaderConfig": {"InputType": "JSON", **config},
        "Resource": "arn:aws:states:::s3:getObject",
    }
    if jsonata:
        reader["Arguments"] = {
            "Bucket": "{% $states.input.Bucket %}",
            "Key": "{% $states.input.Key %}",
        }
    else:
        reader["Parameters"] = {"Bucket.$": "$.Bucket", "Key.$": "$.Key"}
    return reader


def _one(state: dict) -> dict:
    st = dict(state)
    if st["Type"] not in ("Succeed", "Fail", "Choice"):
        st["End"] = True
    return {"StartAt": "S", "States": {"S": st}}


BIG = "a" * (257 * 1024)
LAMBDA = "arn:aws:states:::lambda:invoke"
FN = "arn:aws:lambda:us-east-1:111111111111:function:big"
_DLE_LAMBDA = (
    "The state/task 'lambda' returned a result with a size exceeding the maximum number "
    "of bytes service limit."
)


def _catching_task(resource: str, catch: list[str], params: dict | None = None) -> dict:
    task = {"Type": "Task", "Resource": resource, "Next": "Done"}
    if params is not None:
        task["Parameters"] = params
    task["Catch"] = [{"ErrorEquals": [e], "Next": f"Caught{i}"} for i, e in enumerate(catch)]
    states = {"T": task, "Done": {"Type": "Pass", "End": True}}
    for i, e in enumerate(catch):
        states[f"Caught{i}"] = {"Type": "Pass", "Result": e, "End": True}
    return {"StartAt": "T", "States": states}


def _wait_path(field: str) -> dict:
    return {
        "StartAt": "WaitState",
        "States": {"WaitState": {"Type": "Wait", field: "$.input.w", "End": True}},
    }


_RT = "An error occurred while executing the state '{s}' (entered at the event id #{e}). "


def _rt(state: str, event: int, text: str) -> str:
    return _RT.format(s=state, e=event) + text


AWS_CASES: list[AwsCase] = [
    # ------------------------------------------------------------------ limits
    AwsCase(
        "pass_result_over_256k_fails_execution",
        "limits",
        REC + "error_handling/test_states_errors.snapshot.json::test_start_large_input",
        _one({"Type": "Pass", "Result": {"Arg1": BIG}}),
        {},
        status="FAILED",
        output=None,
        error="States.DataLimitExceeded",
        cause="The state/task 'S' returned a result with a size exceeding the maximum "
        "number of bytes service limit.",
    ),
    AwsCase(
        "lambda_invoke_result_over_256k_caught_by_name",
        "limits",
        REC + "error_handling/test_states_errors.snapshot.json::"
        "test_service_task_lambada_data_limit_exceeded_on_large_utf8_response",
        _catching_task(LAMBDA, ["States.DataLimitExceeded", "States.ALL"], {"FunctionName": "f"}),
        {},
        output="States.DataLimitExceeded",
        results={LAMBDA: {"Payload": BIG, "StatusCode": 200}},
    ),
    AwsCase(
        "lambda_invoke_result_over_256k_caught_by_states_all",
        "limits",
        REC + "error_handling/test_states_errors.snapshot.json::"
        "test_service_task_lambada_catch_state_all_data_limit_exceeded_on_large_utf8_response",
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Parameters": {"FunctionName": "f"},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}],
                    "End": True,
                },
                "H": {"Type": "Pass", "End": True},
            },
        },
        {},
        output={"Error": "States.DataLimitExceeded", "Cause": _DLE_LAMBDA},
        results={LAMBDA: {"Payload": BIG, "StatusCode": 200}},
    ),
    AwsCase(
        "lambda_arn_result_over_256k_names_the_arn",
        "limits",
        REC + "error_handling/test_states_errors.snapshot.json::"
        "test_task_lambda_data_limit_exceeded_on_large_utf8_response",
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "H"}],
                    "End": True,
                },
                "H": {"Type": "Pass", "End": True},
            },
        },
        {},
        output={
            "Error": "States.DataLimitExceeded",
            "Cause": f"The state/task '{FN}' returned a result with a size exceeding the "
            "maximum number of bytes service limit.",
        },
        results={FN: BIG},
    ),
    AwsCase(
        "state_output_over_256k_not_caught_by_states_all",
        "limits",
        DG + "concepts-error-handling#error-data-limit-exceed (the state output is larger "
        "than the payload size quota; a terminal error States.ALL cannot catch)",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [_one({"Type": "Pass", "Result": BIG})],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}],
                    "End": True,
                },
                "H": {"Type": "Pass", "End": True},
            },
        },
        {},
        status="FAILED",
        output=None,
        error="States.DataLimitExceeded",
        cause=ANY,
    ),
    AwsCase(
        "state_output_over_256k_caught_by_name",
        "limits",
        DG + "concepts-error-handling#error-data-limit-exceed (named in ErrorEquals, it is "
        "caught: only States.ALL is excluded)",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [_one({"Type": "Pass", "Result": BIG})],
                    "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "H"}],
                    "End": True,
                },
                "H": {"Type": "Pass", "Result": "caught", "End": True},
            },
        },
        {},
        output="caught",
    ),
    AwsCase(
        "exactly_256k_output_is_allowed",
        "limits",
        DG + "service-quotas#service-limits-task-executions (Maximum input or output size "
        "for a task, activity, or state: 256 KiB of data as a UTF-8 encoded string)",
        _one({"Type": "Pass", "Result": "a" * (256 * 1024 - 2)}),
        {},
        output="a" * (256 * 1024 - 2),
    ),
    AwsCase(
        "utf8_bytes_not_characters_are_counted",
        "limits",
        DG + "service-quotas#service-limits-task-executions (256 KiB as a UTF-8 encoded "
        "string: 100,000 two-byte characters are 200,000 bytes, 140,000 are 280,000)",
        _one({"Type": "Pass", "Result": "é" * 140_000}),
        {},
        status="FAILED",
        output=None,
        error="States.DataLimitExceeded",
        cause=ANY,
    ),
    AwsCase(
        "parameters_over_256k_fail_the_state",
        "limits",
        DG + "concepts-error-handling#error-data-limit-exceed (the state input is larger "
        "than the payload size quota after Parameters processing)",
        _one(
            {
                "Type": "Pass",
                "Parameters": {"a.$": "$.x", "b.$": "$.x", "c.$": "$.x"},
                "ResultPath": "$.r",
                "OutputPath": "$.r.a",
            }
        ),
        {"x": "a" * 100_000},
        status="FAILED",
        output=None,
        error="States.DataLimitExceeded",
        cause=ANY,
    ),
    # ------------------------------------------------------------------ errors
    AwsCase(
        "states_runtime_not_caught_by_name",
        "errors",
        REC + "scenarios/test_base_scenarios.snapshot.json::test_catch_states_runtime",
        {
            "StartAt": "RaiseRuntime",
            "States": {
                "RaiseRuntime": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Parameters": {"FunctionName": "f"},
                    "OutputPath": "$.no.such.result.path",
                    "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "CaughtRuntime"}],
                    "Next": "Final",
                },
                "CaughtRuntime": {"Type": "Pass", "End": True},
                "Final": {"Type": "Pass", "End": True},
            },
        },
        {},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "RaiseRuntime",
            2,
            "Invalid path '$.no.such.result.path' : Missing property in path $['no']",
        ),
        results={LAMBDA: {"Payload": {}, "StatusCode": 200}},
    ),
    AwsCase(
        "states_runtime_not_retried_by_name",
        "errors",
        DG + "concepts-error-handling#states-runtime-error (errors of this type are not "
        "retriable and always cause the execution to fail)",
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Parameters": {"FunctionName": "f"},
                    "OutputPath": "$.missing",
                    "Retry": [{"ErrorEquals": ["States.Runtime"], "MaxAttempts": 2}],
                    "End": True,
                }
            },
        },
        {},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt("T", 2, "Invalid path '$.missing' : No results for path: $['missing']"),
        results={LAMBDA: {"Payload": {}}},
    ),
    AwsCase(
        "task_timeout_has_empty_cause_when_caught",
        "errors",
        REC + "error_handling/test_task_service_lambda.snapshot.json::test_invoke_timeout",
        {
            "StartAt": "Start",
            "States": {
                "Start": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Parameters": {"FunctionName": "slow"},
                    "TimeoutSeconds": 1,
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "EndWithHandler"}],
                    "End": True,
                },
                "EndWithHandler": {"Type": "Pass", "End": True},
            },
        },
        {},
        output={"Error": "States.Timeout", "Cause": ""},
        results={LAMBDA: "SLEEP"},
    ),
    AwsCase(
        "task_timeout_execution_failure_has_no_cause",
        "errors",
        REC + "timeouts/test_timeouts.snapshot.json::test_fixed_timeout_service_lambda",
        _one(
            {
                "Type": "Task",
                "Resource": LAMBDA,
                "Parameters": {"FunctionName": "slow"},
                "TimeoutSeconds": 1,
            }
        ),
        {},
        status="FAILED",
        output=None,
        error="States.Timeout",
        cause=None,
        results={LAMBDA: "SLEEP"},
    ),
    AwsCase(
        "states_all_catches_task_failure",
        "errors",
        REC + "error_handling/test_task_service_lambda.snapshot.json::test_raise_exception",
        _catching_task(LAMBDA, ["States.ALL"], {"FunctionName": "f"}),
        {},
        output="States.ALL",
        results={LAMBDA: ("Exception", "Some exception was raised.")},
    ),
    AwsCase(
        "states_taskfailed_does_not_catch_timeout",
        "errors",
        DG + "concepts-error-handling#states-taskfailed (a wildcard that matches any known "
        "error name except States.Timeout)",
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Parameters": {"FunctionName": "slow"},
                    "TimeoutSeconds": 1,
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}],
                    "End": True,
                },
                "H": {"Type": "Pass", "End": True},
            },
        },
        {},
        status="FAILED",
        output=None,
        error="States.Timeout",
        results={LAMBDA: "SLEEP"},
    ),
    # ------------------------------------------------------------------ causes
    AwsCase(
        "wait_seconds_path_missing",
        "causes",
        REC + "logs/test_logs.snapshot.json::test_base[wait_seconds_path.json5_ALL_False]",
        _wait_path("SecondsPath"),
        {"input": {}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "WaitState", 2, "The SecondsPath parameter does not reference an input value: $.input.w"
        ),
    ),
    AwsCase(
        "wait_seconds_path_negative",
        "causes",
        REC + "base/test_wait.snapshot.json::test_base_wait_seconds_path[-1]",
        _wait_path("SecondsPath"),
        {"input": {"w": -1}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "WaitState", 2, "The SecondsPath parameter references a negative value: $.input.w == -1"
        ),
    ),
    AwsCase(
        "wait_seconds_path_not_a_long",
        "causes",
        REC + "base/test_wait.snapshot.json::test_base_wait_seconds_path[1.5]",
        _wait_path("SecondsPath"),
        {"input": {"w": 1.5}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "WaitState",
            2,
            "The SecondsPath parameter cannot be parsed as a long value: $.input.w == 1.5",
        ),
    ),
    AwsCase(
        "wait_timestamp_path_no_t",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::test_wait_timestamp_path[NO_T]",
        _wait_path("TimestampPath"),
        {"input": {"w": "2016-12-05 21:29:29Z"}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "WaitState",
            2,
            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
            "date-time format string: $.input.w == 2016-12-05 21:29:29Z",
        ),
    ),
    AwsCase(
        "wait_timestamp_path_no_zone",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::test_wait_timestamp_path[NO_Z]",
        _wait_path("TimestampPath"),
        {"input": {"w": "2016-12-05T21:29:29"}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "WaitState",
            2,
            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
            "date-time format string: $.input.w == 2016-12-05T21:29:29",
        ),
    ),
    AwsCase(
        "max_concurrency_path_not_integer",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::test_max_concurrency_path[NoNumber]",
        {
            "StartAt": "MapState",
            "States": {
                "MapState": {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "MaxConcurrencyPath": "$.MaxConcurrencyValue",
                    "ItemProcessor": _one({"Type": "Pass"}),
                    "End": True,
                }
            },
        },
        {"Values": [1], "MaxConcurrencyValue": "NoNumber"},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "MapState",
            2,
            'The MaxConcurrencyPath field refers to value "NoNumber" which is not a valid '
            "integer: $.MaxConcurrencyValue",
        ),
    ),
    AwsCase(
        "max_concurrency_path_object",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_max_concurrency_path[max_concurrency_value0]",
        {
            "StartAt": "MapState",
            "States": {
                "MapState": {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "MaxConcurrencyPath": "$.MaxConcurrencyValue",
                    "ItemProcessor": _one({"Type": "Pass"}),
                    "End": True,
                }
            },
        },
        {"Values": [1], "MaxConcurrencyValue": {}},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "MapState",
            2,
            'The MaxConcurrencyPath field refers to value "{}" which is not a valid '
            "integer: $.MaxConcurrencyValue",
        ),
    ),
    AwsCase(
        "tolerated_failure_count_path_negative",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_map_state_tolerated_failure_count_path[-1]",
        {
            "StartAt": "MapState",
            "States": {
                "MapState": {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "ToleratedFailureCountPath": "$.ToleratedFailureCount",
                    "ItemProcessor": _one({"Type": "Pass"}),
                    "End": True,
                }
            },
        },
        {"Values": [1], "ToleratedFailureCount": -1},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt("MapState", 2, "ToleratedFailureCount cannot be negative."),
    ),
    AwsCase(
        "tolerated_failure_percentage_path_out_of_range",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_map_state_tolerated_failure_percentage_path[100.1]",
        {
            "StartAt": "MapState",
            "States": {
                "MapState": {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "ToleratedFailurePercentagePath": "$.ToleratedFailurePercentage",
                    "ItemProcessor": _one({"Type": "Pass"}),
                    "End": True,
                }
            },
        },
        {"Values": [1], "ToleratedFailurePercentage": 100.1},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt("MapState", 2, "ToleratedFailurePercentage must be between 0 and 100."),
    ),
    AwsCase(
        "tolerated_failure_percentage_path_not_float",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_map_state_tolerated_failure_percentage_path[NoNumber]",
        {
            "StartAt": "MapState",
            "States": {
                "MapState": {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "ToleratedFailurePercentagePath": "$.ToleratedFailurePercentage",
                    "ItemProcessor": _one({"Type": "Pass"}),
                    "End": True,
                }
            },
        },
        {"Values": [1], "ToleratedFailurePercentage": "NoNumber"},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "MapState",
            2,
            'The ToleratedFailurePercentagePath field refers to value "NoNumber" which is '
            "not a valid float: $.ToleratedFailurePercentage",
        ),
    ),
    AwsCase(
        "error_path_matches_nothing",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_invalid_jsonpath[INVALID_JSONPATH_IN_ERRORPATH]",
        {
            "StartAt": "fail",
            "States": {"fail": {"Type": "Fail", "ErrorPath": "$.ErrorX", "Cause": "c"}},
        },
        {"Error": "e"},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "fail",
            2,
            "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found "
            'in the input \'{"Error":"e"}\'',
        ),
    ),
    AwsCase(
        "cause_path_matches_nothing",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_CAUSEPATH]",
        {
            "StartAt": "fail",
            "States": {"fail": {"Type": "Fail", "Error": "e", "CausePath": "$.NoSuchCausePath"}},
        },
        {},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "fail",
            2,
            "The JSONPath '$.NoSuchCausePath' specified for the field 'CausePath' could not "
            "be found in the input '{}'",
        ),
    ),
    AwsCase(
        "input_path_matches_nothing",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_INPUTPATH]",
        {
            "StartAt": "pass",
            "States": {"pass": {"Type": "Pass", "InputPath": "$.NoSuchInputPath", "End": True}},
        },
        {},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "pass",
            2,
            "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']",
        ),
    ),
    AwsCase(
        "parameters_path_matches_nothing",
        "causes",
        REC + "scenarios/test_base_scenarios.snapshot.json::"
        "test_invalid_jsonpath[INVALID_JSONPATH_IN_STRING_EXPR_JSONPATH]",
        {
            "StartAt": "pass",
            "States": {
                "pass": {
                    "Type": "Pass",
                    "Parameters": {"value.$": "$.no_such_jsonpath"},
                    "End": True,
                }
            },
        },
        {"a": 1},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "pass",
            2,
            "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be "
            "found in the input '{\"a\":1}'",
        ),
    ),
]


def _intrinsic(expr: str) -> dict:
    return _one({"Type": "Pass", "Parameters": {"FunctionResult.$": expr}})


_INTR = REC + "intrinsic_functions/"
_MATH_ADD = [  # (fst, snd, recorded FunctionResult)
    (-9, 3, -6),
    (1.49, 1.5, 3),
    (1.5, 1.51, 4),
    (-1.49, -1.5, -2),
    (-1.5, -1.51, -3),
    (1.49, -1.49, 0),
    (-1.5, 0, -1),
    (-1.51, 0, -2),
    (0.5, 0, 1),
    (2.5, 0, 3),
    (-0.5, 0.5, 1),
    (-2.5, 0, -2),
]
_STRING_TO_JSON = [  # (FunctionInput, recorded FunctionResult)
    ("", None),
    (" ", None),
    ("null", None),
    ("-0", 0),
    ("1.1", 1.1),
    ("true", True),
    ('"HelloWorld"', "HelloWorld"),
    ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
    ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
]
_FORMAT = [  # (argument, recorded rendering)
    ("", ""),
    (None, "null"),
    (1.1, "1.1"),
    ('{"Arg1": 1, "Arg2": []}', '{"Arg1": 1, "Arg2": []}'),
    ({"Arg1": 1, "Arg2": []}, "{Arg1=1, Arg2=[]}"),
]

AWS_CASES += [
    AwsCase(
        f"math_add_{i}",
        "intrinsics",
        _INTR + "test_math_operations.snapshot.json::test_math_add",
        _intrinsic("States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"),
        {"FunctionInput": {"fst": a, "snd": b}},
        output={"FunctionResult": want},
    )
    for i, (a, b, want) in enumerate(_MATH_ADD)
]
AWS_CASES += [
    AwsCase(
        f"string_to_json_{i}",
        "intrinsics",
        _INTR + "test_json_manipulation.snapshot.json::test_string_to_json",
        _intrinsic("States.StringToJson($.FunctionInput)"),
        {"FunctionInput": text},
        output={"FunctionResult": want},
    )
    for i, (text, want) in enumerate(_STRING_TO_JSON)
]
AWS_CASES += [
    AwsCase(
        f"format_two_args_{i}",
        "intrinsics",
        _INTR + "test_generic.snapshot.json::test_format_2",
        _intrinsic(
            "States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, "
            "$.FunctionInput.snd)"
        ),
        {"FunctionInput": {"fst": arg, "snd": arg}},
        output={"FunctionResult": f"Formatting arguments fst={want} and snd={want}."},
    )
    for i, (arg, want) in enumerate(_FORMAT)
]
AWS_CASES += [
    AwsCase(
        "math_random_non_integer_bounds",
        "intrinsics",
        _INTR + "test_math_operations.snapshot.json::test_math_random (12.5, 44.51 succeeds)",
        {
            "StartAt": "R",
            "States": {
                "R": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.MathRandom($.fst, $.snd)"},
                    "Next": "C",
                },
                "C": {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "And": [
                                {"Variable": "$.n", "NumericGreaterThanEquals": 12},
                                {"Variable": "$.n", "NumericLessThanEquals": 45},
                            ],
                            "Next": "Ok",
                        }
                    ],
                    "Default": "Bad",
                },
                "Ok": {"Type": "Succeed"},
                "Bad": {"Type": "Fail", "Error": "OutOfRange"},
            },
        },
        {"fst": 12.5, "snd": 44.51},
        output={"n": ANY},
    ),
    AwsCase(
        "format_context_object",
        "intrinsics",
        _INTR + "test_generic.snapshot.json::test_context_json_path",
        _intrinsic(
            "States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, "
            "$$.StateMachine)"
        ),
        {},
        output={
            "FunctionResult": "Formatting arguments fst=recorded and snd={Id=arn:aws:states:"
            "local:000000000000:stateMachine:local, Name=local}."
        },
    ),
    AwsCase(
        "string_split_escape_sequence",
        "intrinsics",
        _INTR + "test_generic.snapshot.json::test_escape_sequence",
        _intrinsic("States.StringSplit('Hello\nWorld', '\n')"),
        {},
        output={"FunctionResult": ["Hello", "World"]},
    ),
    AwsCase(
        "json_merge_string_to_json_literal",
        "intrinsics",
        _INTR + "test_json_manipulation.snapshot.json::test_json_merge_escaped_argument",
        {
            "StartAt": "StartState",
            "States": {
                "StartState": {
                    "Type": "Pass",
                    "ResultPath": "$.result_path",
                    "Parameters": {
                        "merged.$": "States.JsonMerge(States.StringToJson("
                        '\'{"constant_in_literal": "false"}\'), $$.Execution.Input.input_field, '
                        "false)"
                    },
                    "OutputPath": "$.result_path.merged",
                    "End": True,
                }
            },
        },
        {"input_field": {"constant_input_field": "constant_value"}},
        output={"constant_input_field": "constant_value", "constant_in_literal": "false"},
    ),
    # ------------------------------------------------------------------ context
    AwsCase(
        "pass_state_context_has_no_retry_count",
        "context",
        REC + "context_object/test_context_object.snapshot.json::test_input_path[$$]",
        _one({"Type": "Pass", "InputPath": "$$.State", "ResultPath": "$.state"}),
        {},
        output={"state": {"Name": "S", "EnteredTime": ANY}},
    ),
    AwsCase(
        "context_object_shape",
        "context",
        REC + "context_object/test_context_object.snapshot.json::test_input_path[$$]",
        {
            "StartAt": "TestState",
            "States": {"TestState": {"Type": "Pass", "InputPath": "$$", "End": True}},
        },
        {"input-value": 0},
        output={
            "Execution": {
                "Id": ANY,
                "Input": {"input-value": 0},
                "StartTime": ANY,
                "Name": "recorded",
                "RoleArn": ANY,
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": ANY, "Name": ANY},
            "State": {"Name": "TestState", "EnteredTime": ANY},
        },
    ),
    AwsCase(
        "task_state_context_has_retry_count",
        "context",
        DG + "input-output-contextobject#contextobject-format (State.RetryCount: the number "
        "of retries of a Task state)",
        _one(
            {
                "Type": "Task",
                "Resource": LAMBDA,
                "Parameters": {"FunctionName": "f", "retry.$": "$$.State.RetryCount"},
                "ResultSelector": {"retry.$": "$$.State.RetryCount"},
            }
        ),
        {},
        output={"retry": 0},
        results={LAMBDA: {}},
    ),
    AwsCase(
        "error_cause_path_from_context",
        "context",
        REC + "context_object/test_context_object.snapshot.json::test_error_cause_path",
        {
            "StartAt": "StartState",
            "States": {
                "StartState": {
                    "Type": "Fail",
                    "ErrorPath": "$$.State.Name",
                    "CausePath": "$$.Execution.Name",
                }
            },
        },
        {},
        status="FAILED",
        output=None,
        error="StartState",
        cause="recorded",
    ),
    # ------------------------------------------------------------------ validation
    AwsCase(
        "loop_without_terminal_state",
        "validation",
        DG + "API_ValidateStateMachineDefinitionDiagnostic (MISSING_END_STATE: the workflow "
        "does not have a terminal state)",
        None,
        invalid={
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
        },
    ),
    AwsCase(
        "branch_without_terminal_state",
        "validation",
        DG + "API_ValidateStateMachineDefinitionDiagnostic (MISSING_END_STATE)",
        None,
        invalid=_one(
            {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "Next": "A"}}}
                ],
            }
        ),
    ),
    AwsCase(
        "query_language_on_item_processor",
        "validation",
        DG + "concepts-map-process-modes (ItemProcessor holds ProcessorConfig, StartAt, States; "
        "QueryLanguage is set on the Map state)",
        None,
        invalid=_one(
            {
                "Type": "Map",
                "ItemProcessor": {"QueryLanguage": "JSONPath", **_one({"Type": "Pass"})},
            }
        ),
    ),
    AwsCase(
        "escaped_double_quote_in_intrinsic_literal",
        "validation",
        DG + "intrinsic-functions#amazon-states-language-intrinsic-functions-escapes (only "
        "' { } \\ are escaped in intrinsic string literals)",
        None,
        invalid=_intrinsic("States.Format('say \\\"hi\\\"')"),
    ),
    AwsCase(
        "five_hundred_nested_parallels",
        "validation",
        DG + "service-quotas (a definition must be a valid, finite state machine; deep "
        "nesting is refused, never a crash)",
        None,
        invalid=None,
    ),
]


def _nested(depth: int) -> dict:
    machine = _one({"Type": "Pass"})
    for _ in range(depth):
        machine = _one({"Type": "Parallel", "Branches": [machine]})
    return machine


AWS_CASES[-1] = dataclasses.replace(AWS_CASES[-1], invalid=_nested(500))


# ---------------------------------------------------------------------- distributed map
_SC = REC + "scenarios/test_base_scenarios.snapshot.json::"
_CSV = b"Col1,Col2,Col3\nValue1,Value2,Value3\nValue4,Value5,Value6\n,,\ntrue,1,'HelloWorld'\n"
_JSON = (
    b'[{"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},'
    b'{"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},'
    b'{"verdict": "mostly-true", "statement_date": "5/18/2016", "statement_source": "news"}]'
)


def _dmap(reader: dict | None = None, **extra) -> dict:
    state = {
        "Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "PassItem",
            "States": {"PassItem": {"Type": "Pass", "End": True}},
        },
        "End": True,
        **extra,
    }
    if reader is not None:
        state["ItemReader"] = reader
    return {"StartAt": "MapState", "States": {"MapState": state}}


def _get(config: dict | None = None) -> dict:
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket.$": "$.Bucket", "Key.$": "$.Key"},
    }
    if config is not None:
        reader["ReaderConfig"] = config
    return reader


_B = {"Bucket": "bucket-name", "Key": "file"}
AWS_CASES += [
    AwsCase(
        "item_reader_csv_first_row",
        "distributed-map",
        _SC + "test_map_item_reader_base_csv_headers_first_line",
        _dmap(_get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})),
        _B,
        output=[
            {"Col1": "Value1", "Col2": "Value2", "Col3": "Value3"},
            {"Col1": "Value4", "Col2": "Value5", "Col3": "Value6"},
            {"Col1": "", "Col2": "", "Col3": ""},
            {"Col1": "true", "Col2": "1", "Col3": "'HelloWorld'"},
        ],
        objects={("bucket-name", "file"): _CSV},
    ),
    AwsCase(
        "item_reader_csv_given_headers_extra_fields_dropped",
        "distributed-map",
        _SC + "test_map_item_reader_csv_headers_decl_extra_fields",
        _dmap(_get({"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["H1"]})),
        _B,
        output=[{"H1": "Col1"}, {"H1": "Value1"}, {"H1": "Value4"}, {"H1": ""}, {"H1": "true"}],
        objects={("bucket-name", "file"): _CSV},
    ),
    AwsCase(
        "item_reader_csv_duplicate_headers",
        "distributed-map",
        _SC + "test_map_item_reader_csv_headers_decl_duplicate_headers",
        _dmap(_get({"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["H", "H"]})),
        _B,
        status="FAILED",
        output=None,
        error="States.ItemReaderFailed",
        cause="CSV headers cannot contain duplicates.",
        objects={("bucket-name", "file"): _CSV},
    ),
    AwsCase(
        "item_reader_json",
        "distributed-map",
        _SC + "test_map_item_reader_base_json",
        _dmap(_get({"InputType": "JSON"})),
        _B,
        output=__import__("json").loads(_JSON),
        objects={("bucket-name", "file"): _JSON},
    ),
    AwsCase(
        "item_reader_json_max_items",
        "distributed-map",
        _SC + "test_map_item_reader_base_json_max_items_jsonata (MaxItems 2)",
        _dmap(_get({"InputType": "JSON", "MaxItems": 2})),
        _B,
        output=__import__("json").loads(_JSON)[:2],
        objects={("bucket-name", "file"): _JSON},
    ),
    AwsCase(
        "item_reader_json_not_a_list",
        "distributed-map",
        _SC + "test_map_item_reader_json_no_json_list_object",
        _dmap(_get({"InputType": "JSON"})),
        _B,
        status="FAILED",
        output=None,
        error="States.ItemReaderFailed",
        cause="Attempting to map over non-iterable node.",
        objects={("bucket-name", "file"): b'{"a": 1}'},
    ),
    AwsCase(
        "item_reader_max_items_path_negative",
        "distributed-map",
        _SC + "test_map_item_reader_csv_max_items_paths[-1]",
        _dmap(_get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItemsPath": "$.M"})),
        {**_B, "M": -1},
        status="FAILED",
        output=None,
        error="States.ItemReaderFailed",
        cause="field MaxItems must be positive",
        objects={("bucket-name", "file"): _CSV},
    ),
    AwsCase(
        "item_reader_max_items_path_not_integer",
        "distributed-map",
        _SC + "test_map_item_reader_csv_max_items_paths[1.5]",
        _dmap(_get({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItemsPath": "$.M"})),
        {**_B, "M": 1.5},
        status="FAILED",
        output=None,
        error="States.Runtime",
        cause=_rt(
            "MapState",
            2,
            'The MaxItemsPath field refers to value "1.5" which is not a valid integer: $.M',
        ),
        objects={("bucket-name", "file"): _CSV},
    ),
    AwsCase(
        "item_reader_list_objects_v2",
        "distributed-map",
        _SC + "test_map_item_reader_base_list_objects_v2",
        _dmap(
            {
                "Resource": "arn:aws:states:::s3:listObjectsV2",
                "Parameters": {"Bucket.$": "$.Bucket"},
            }
        ),
        {"Bucket": "bucket_name"},
        output=[
            {
                "Etag": ANY,
                "LastModified": ANY,
                "Key": f"file_{i}.txt",
                "Size": 12,
                "StorageClass": "STANDARD",
            }
            for i in range(3)
        ],
        objects={("bucket_name", f"file_{i}.txt"): b"HelloWorld!\n" for i in range(3)},
    ),
    AwsCase(
        "item_selector_in_distributed_mode",
        "distributed-map",
        _SC + "test_map_state_config_distributed_item_selector",
        _dmap(
            ItemsPath="$.Values",
            ItemSelector={
                "constantValue": "constant",
                "mapValue.$": "$$.Map.Item.Value",
                "fromInput.$": "$.Values",
            },
        ),
        {"Values": ["Hello", "World"]},
        output=[
            {"constantValue": "constant", "mapValue": "Hello", "fromInput": ["Hello", "World"]},
            {"constantValue": "constant", "mapValue": "World", "fromInput": ["Hello", "World"]},
        ],
    ),
    AwsCase(
        "item_batcher_max_items_per_batch",
        "distributed-map",
        _SC + "test_map_item_batching_base_json_max_per_batch_jsonata (JSONPath form)",
        _dmap(
            _get({"InputType": "JSON", "MaxItems": 2}),
            ItemBatcher={
                "MaxItemsPerBatchPath": "$.MaxItemsPerBatch",
                "MaxInputBytesPerBatchPath": "$.MaxInputBytesPerBatch",
                "BatchInput": {"BatchTimestamp.$": "$$.State.EnteredTime"},
            },
        ),
        {**_B, "MaxItemsPerBatch": 2, "MaxInputBytesPerBatch": 150000},
        output=[
            {"BatchInput": {"BatchTimestamp": ANY}, "Items": __import__("json").loads(_JSON)[:2]}
        ],
        objects={("bucket-name", "file"): _JSON},
    ),
    AwsCase(
        "result_writer_output",
        "distributed-map",
        _SC + "test_map_state_result_writer",
        _dmap(
            ResultWriter={
                "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": {"Bucket": "result-bucket", "Prefix": "mapJobs"},
            },
            Label="TestMap",
        ),
        ["Hello", "World"],
        output={
            "MapRunArn": ANY,
            "ResultWriterDetails": {"Bucket": "result-bucket", "Key": ANY},
        },
    ),
]
