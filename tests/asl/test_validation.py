"""Definition validation at construction: every message names the state and field."""

from __future__ import annotations

import json

import pytest

from cloudphot.asl import AslDefinitionError, StateMachine
from cloudphot.errors import ConfigError


def machine(**states) -> dict:
    return {"StartAt": next(iter(states)), "States": states}


P = {"Type": "Pass", "End": True}

BAD = [
    (
        machine(Validate={"Type": "Pass", "Next": "Store"}),
        r"Validate\.Next: no state named 'Store'",
    ),
    ({"StartAt": "Nope", "States": {"A": P}}, r"StartAt: no state named 'Nope'"),
    ({"States": {"A": P}}, r"StartAt: required"),
    ({"StartAt": "A", "States": {}}, r"States: required non-empty"),
    (machine(A={"Type": "Sleep", "End": True}), r"A\.Type: unknown state type 'Sleep'"),
    (machine(A={"Type": "Pass"}), r"A\.End: exactly one of Next or End"),
    (machine(A={"Type": "Pass", "End": True, "Next": "A"}), r"A\.Next: exactly one of Next or End"),
    (machine(A={"Type": "Task", "End": True}), r"A\.Resource: required"),
    (
        machine(A={"Type": "Succeed", "Next": "B"}, B=P),
        r"A\.Next: field not allowed in a Succeed state",
    ),
    (machine(A={"Type": "Fail", "End": True}), r"A\.End: field not allowed in a Fail state"),
    (machine(A={"Type": "Choice", "Choices": []}), r"A\.Choices: required non-empty"),
    (
        machine(
            A={"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "Z"}]}
        ),
        r"A\.Choices\[0\]\.Next: no state named 'Z'",
    ),
    (
        machine(
            A={
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "NumericEquals": "1", "Next": "A"}],
            }
        ),
        r"A\.Choices\[0\]\.NumericEquals: '1' is not a valid numeric",
    ),
    (
        machine(A={"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "A"}]}),
        r"A\.Choices\[0\]: a Choice rule needs exactly one operator",
    ),
    (
        machine(
            A={
                "Type": "Choice",
                "Choices": [
                    {"And": [{"Variable": "$.x", "IsNull": True, "Next": "A"}], "Next": "A"}
                ],
            }
        ),
        r"A\.Choices\[0\]\.And\[0\]\.Next",
    ),
    (
        machine(
            A={
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "A"}],
                "Default": "Q",
            }
        ),
        r"A\.Default: no state named 'Q'",
    ),
    (machine(A={"Type": "Wait", "End": True}), r"A: exactly one of Seconds"),
    (
        machine(A={"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}),
        r"A: exactly one of Seconds",
    ),
    (
        machine(A={"Type": "Wait", "Timestamp": "2020-01-01 00:00:00", "End": True}),
        r"A\.Timestamp: .* RFC 3339",
    ),
    (
        machine(A={"Type": "Pass", "ResultPath": "$.a[*]", "End": True}),
        r"A\.ResultPath: .* reference path",
    ),
    (
        machine(A={"Type": "Pass", "InputPath": "a.b", "End": True}),
        r"A\.InputPath: path must start with '\$'",
    ),
    (
        machine(A={"Type": "Pass", "Parameters": {"x.$": "States.Nope(1)"}, "End": True}),
        r"A\.Parameters\.x\.\$: unknown intrinsic function States\.Nope",
    ),
    (
        machine(A={"Type": "Pass", "Parameters": {"x.$": "States.Format('a', "}, "End": True}),
        r"A\.Parameters\.x\.\$",
    ),
    (
        machine(A={"Type": "Pass", "Parameters": {"deep": {"x.$": 5}}, "End": True}),
        r"A\.Parameters\.deep\.x\.\$: value of a '\.\$' field must be a string",
    ),
    (
        machine(A={"Type": "Task", "Resource": "r", "End": True, "Retry": [{"ErrorEquals": []}]}),
        r"A\.Retry\[0\]\.ErrorEquals",
    ),
    (
        machine(
            A={
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}],
            }
        ),
        r"A\.Retry\[0\]\.BackoffRate",
    ),
    (
        machine(
            A={
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": -1}],
            }
        ),
        r"A\.Retry\[0\]\.MaxAttempts",
    ),
    (
        machine(
            A={
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "Next": "A"},
                    {"ErrorEquals": ["X"], "Next": "A"},
                ],
            }
        ),
        r"A\.Catch\[0\]\.ErrorEquals: States\.ALL must appear alone and in the last",
    ),
    (
        machine(
            A={
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}],
            }
        ),
        r"A\.Catch\[0\]\.Next: no state named 'Gone'",
    ),
    (
        machine(A={"Type": "Task", "Resource": "r", "End": True, "TimeoutSeconds": 0}),
        r"A\.TimeoutSeconds",
    ),
    (
        machine(
            A={"Type": "Parallel", "End": True, "Branches": [{"StartAt": "X", "States": {"Y": P}}]}
        ),
        r"A\.Branches\[0\]\.StartAt: no state named 'X'",
    ),
    (
        machine(
            A={
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "A"}}}],
            }
        ),
        r"A\.Branches\[0\]\.X\.Next: no state named 'A'",
    ),
    (
        machine(A={"Type": "Map", "End": True}),
        r"A\.ItemProcessor: exactly one of ItemProcessor or Iterator",
    ),
    (
        machine(
            A={
                "Type": "Map",
                "End": True,
                "ItemProcessor": {"StartAt": "X", "States": {"X": P}},
                "ItemSelector": {},
                "Parameters": {},
            }
        ),
        r"A\.ItemSelector: cannot be used together",
    ),
    (
        machine(
            A={
                "Type": "Map",
                "End": True,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "PARALLEL"},
                    "StartAt": "X",
                    "States": {"X": P},
                },
            }
        ),
        r"ProcessorConfig\.Mode: must be INLINE or DISTRIBUTED",
    ),
    (
        machine(
            A={
                "Type": "Map",
                "End": True,
                "MaxConcurrency": -2,
                "ItemProcessor": {"StartAt": "X", "States": {"X": P}},
            }
        ),
        r"A\.MaxConcurrency",
    ),
    (machine(A=P, Orphan=P), r"Orphan: state is not reachable"),
    (
        machine(A={"Type": "Pass", "End": True, "Bogus": 1}),
        r"A\.Bogus: field not allowed in a Pass state",
    ),
    (
        machine(A={"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
        r"A\.Error: cannot be used together",
    ),
    ("{not json", r"definition is not valid JSON"),
    ([], r"definition must be a JSON object"),
]


@pytest.mark.parametrize("definition, message", BAD, ids=[m for _, m in BAD])
def test_invalid_definitions_are_rejected_with_location(definition, message):
    with pytest.raises(AslDefinitionError, match=message):
        StateMachine(definition)


def test_definition_error_is_a_config_error():
    assert issubclass(AslDefinitionError, ConfigError)


def test_json_text_definition_accepted():
    sm = StateMachine(json.dumps({"StartAt": "A", "States": {"A": P}}))
    assert sm.execute({"x": 1}).output == {"x": 1}


def test_repository_state_machines_validate():
    """Every statemachines/*.asl.json in the repository must load (placeholders are strings)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "statemachines"
    files = sorted(root.glob("*.asl.json"))
    if not files:
        pytest.skip("no state machine definitions in statemachines/ yet")
    for f in files:
        StateMachine(f.read_text())
