"""JSONata states where no AWS recording decides the outcome: event shapes, error
handling, thread safety, type checks of expression results and hostile input.
Recorded behaviour is in ``aws_cases_jsonata.py``."""

from __future__ import annotations

import json

import pytest

from cloudphot.asl import AslDefinitionError, StateMachine

from .test_aws_recorded import _RecordedResults

QE = "States.QueryEvaluationError"
LAMBDA = "arn:aws:states:::lambda:invoke"


def _ja(*states: tuple[str, dict]) -> dict:
    out = {}
    for i, (name, st) in enumerate(states):
        st = dict(st)
        if st["Type"] not in ("Choice", "Succeed", "Fail") and not {"Next", "End"} & set(st):
            st["Next" if i + 1 < len(states) else "End"] = (
                states[i + 1][0] if i + 1 < len(states) else True
            )
        out[name] = st
    return {"QueryLanguage": "JSONata", "StartAt": states[0][0], "States": out}


def _run(machine, data=None, results=None, **kw):
    return StateMachine(machine, cancel_grace_seconds=0.1).execute(
        data, invoker=_RecordedResults(results or {}), **kw
    )


def test_evaluation_failed_event_has_state_location_and_the_prefixed_cause():
    r = _run(_ja(("S", {"Type": "Pass", "Output": {"a": "{% $nope %}"}})), {})
    ev = next(e for e in r.history if e["type"] == "EvaluationFailed")
    d = ev["evaluationFailedEventDetails"]
    assert d["error"] == QE and d["state"] == "S" and d["location"] == "Output/a"
    assert d["cause"] == r.cause and r.cause.startswith("An error occurred while executing")
    assert [e["type"] for e in r.history][-2:] == ["EvaluationFailed", "ExecutionFailed"]


def test_map_items_failure_records_map_state_failed_after_evaluation_failed():
    m = _ja(
        (
            "M",
            {
                "Type": "Map",
                "Items": "{% 1 %}",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            },
        )
    )
    types = [e["type"] for e in _run(m, {}).history]
    assert types == [
        "ExecutionStarted",
        "MapStateEntered",
        "EvaluationFailed",
        "MapStateFailed",
        "ExecutionFailed",
    ]


def test_query_errors_are_caught_by_name_and_by_states_all():
    for match in ("States.ALL", QE):
        m = _ja(
            (
                "T",
                {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Arguments": "{% $nope %}",
                    "Catch": [{"ErrorEquals": [match], "Next": "C"}],
                    "End": True,
                },
            ),
            ("C", {"Type": "Pass", "Output": "{% $states.input.Error %}"}),
        )
        r = _run(m, {})
        assert r.status == "SUCCEEDED" and r.output == QE


def test_task_and_parallel_without_arguments_get_the_state_input():
    m = _ja(
        ("T", {"Type": "Task", "Resource": LAMBDA}),
        (
            "P",
            {
                "Type": "Parallel",
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
            },
        ),
    )
    r = _run(m, {"a": 1}, {LAMBDA: "ECHO"})
    assert r.output == [{"a": 1}]


def test_null_and_undefined_are_told_apart():
    m = _ja(
        (
            "S",
            {
                "Type": "Pass",
                "Assign": {"n": None},
                "Output": {
                    "from_input": "{% $states.input.a %}",
                    "typed": "{% $type($states.input.a) %}",
                },
            },
        ),
        ("T", {"Type": "Pass", "Output": "{% [$n, $type($n)] %}"}),
    )
    r = _run(m, {"a": None})
    assert r.status == "SUCCEEDED" and r.output == [None, "null"]


def test_numbers_render_as_javascript_does():
    r = _run(_ja(("S", {"Type": "Pass", "Output": "{% [6/2, 1/4, $sum([1.5, 1.5]), 2e3] %}"})), {})
    assert r.output == [3, 0.25, 3, 2000] and all(
        type(v) is t for v, t in zip(r.output, (int, float, int, int), strict=True)
    )


def test_eval_is_not_available_as_on_aws():
    r = _run(_ja(("S", {"Type": "Pass", "Output": "{% $eval('1 + 1') %}"})), {})
    assert r.error == QE and "T1006" in r.cause


def test_condition_must_be_boolean():
    m = _ja(
        (
            "C",
            {
                "Type": "Choice",
                "Choices": [{"Condition": "{% 'yes' %}", "Next": "D"}],
                "Default": "D",
            },
        ),
        ("D", {"Type": "Succeed"}),
    )
    r = _run(m, {})
    assert r.error == QE and "Expected 'boolean'" in r.cause


@pytest.mark.parametrize(
    "state",
    [
        {"Type": "Wait", "Seconds": "{% -1 %}"},
        {"Type": "Wait", "Seconds": "{% 'soon' %}"},
        {"Type": "Fail", "Error": "{% 42 %}"},
        {"Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": "{% 0 %}"},
        {
            "Type": "Map",
            "Items": [1],
            "MaxConcurrency": "{% 'x' %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        },
    ],
)
def test_expression_results_of_the_wrong_type_are_query_errors(state, fake_sleep):
    r = _run(_ja(("S", state)), {}, {LAMBDA: {}}, sleep=fake_sleep)
    assert r.status == "FAILED" and r.error == QE and "unexpected result type" in r.cause


def test_timeout_seconds_expression_is_enforced():
    m = _ja(("T", {"Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": "{% $states.input.t %}"}))
    r = _run(m, {"t": 1}, {LAMBDA: "SLEEP"})
    assert r.status == "FAILED" and r.error == "States.Timeout"


def test_concurrent_iterations_evaluate_independently():
    """Map iterations evaluate expressions on 40 threads at once (jsonata-python keeps
    per-thread state; each evaluation must see only its own input)."""
    proc = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "End": True,
                "Output": {
                    "i": "{% $states.context.Map.Item.Index %}",
                    "sq": "{% $states.input * $states.input %}",
                    "t": "{% $now() %}",
                },
            }
        },
    }
    m = _ja(("M", {"Type": "Map", "Items": "{% [0..199] %}", "ItemProcessor": proc}))
    r = _run(m, {})
    assert [o["i"] for o in r.output] == list(range(200))
    assert [o["sq"] for o in r.output] == [i * i for i in range(200)]
    assert all(o["t"].endswith("Z") for o in r.output)


def test_runaway_expressions_are_query_errors_not_hangs_or_crashes(monkeypatch):
    from cloudphot.asl import jsonata_eval

    monkeypatch.setattr(jsonata_eval, "EVALUATION_TIMEOUT_MS", 300)
    endless = "{% ($f := function($x){ $f($x + 1) }; $f(0)) %}"  # a tail call: loops
    deep = "{% ($f := function($x){ $x > 100000 ? 0 : 1 + $f($x + 1) }; $f(0)) %}"
    for expr in (endless, deep):
        r = _run(_ja(("S", {"Type": "Pass", "Output": expr})), {})
        assert r.status == "FAILED" and r.error == QE, expr


def test_an_output_over_256_kib_is_data_limit_exceeded():
    r = _run(_ja(("S", {"Type": "Pass", "Output": "{% $pad('', 300000, 'x') %}"})), {})
    assert r.error == "States.DataLimitExceeded"


@pytest.mark.parametrize(
    "machine",
    [
        _ja(("S", {"Type": "Pass", "Output": "{% $states.input. %}"})),  # does not parse
        _ja(("S", {"Type": "Pass", "Parameters": {"a": 1}})),
        _ja(("S", {"Type": "Wait", "SecondsPath": "$.s"})),
        _ja(
            (
                "C",
                {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": True, "Next": "D"}]},
            ),
            ("D", {"Type": "Succeed"}),
        ),
        _ja(
            ("C", {"Type": "Choice", "Choices": [{"Condition": "yes", "Next": "D"}]}),
            ("D", {"Type": "Succeed"}),
        ),
        _ja(
            (
                "M",
                {
                    "Type": "Map",
                    "Items": {"a": 1},
                    "ItemProcessor": {
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                },
            )
        ),
        _ja(
            (
                "T",
                {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "T"}],
                },
            )
        ),
    ],
)
def test_definitions_mixing_the_languages_wrongly_are_refused(machine):
    with pytest.raises(AslDefinitionError):
        StateMachine(machine)


def test_distributed_map_in_jsonata_items_selector_and_result_writer():
    """A JSONata Distributed Map: Items and ItemSelector are evaluated in the parent,
    ResultWriter takes Arguments (developer guide, Map state in JSONata)."""
    proc = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
        "StartAt": "C",
        "States": {"C": {"Type": "Pass", "Output": "{% $states.input.v * 10 %}", "End": True}},
    }
    m = _ja(
        ("Init", {"Type": "Pass", "Assign": {"factor": 2}}),
        (
            "M",
            {
                "Type": "Map",
                "Items": "{% $states.input.xs %}",
                "ItemSelector": {"v": "{% $states.context.Map.Item.Value * $factor %}"},
                "ItemProcessor": proc,
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Arguments": {"Bucket": "{% $states.input.bucket %}", "Prefix": "out"},
                },
                "Output": "{% $states.result.ResultWriterDetails %}",
            },
        ),
    )
    store = _RecordedResults({})
    r = StateMachine(m).execute({"xs": [1, 2, 3], "bucket": "b"}, invoker=store)
    assert r.status == "SUCCEEDED", r.cause
    assert r.output["Bucket"] == "b" and r.output["Key"].endswith("manifest.json")
    rows = json.loads(
        next(v for (b, k), v in store.objects.items() if k.endswith("SUCCEEDED_0.json"))
    )
    assert sorted(json.loads(row["Output"]) for row in rows) == [20, 40, 60]


def test_jsonata_item_reader_needs_arguments_not_parameters():
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "b", "Key": "k"},
    }
    m = _ja(
        (
            "M",
            {
                "Type": "Map",
                "ItemReader": reader,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
            },
        )
    )
    with pytest.raises(AslDefinitionError, match="Arguments"):
        StateMachine(m)
