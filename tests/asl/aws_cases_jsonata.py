"""JSONata states (``QueryLanguage``, ``{% %}``, Arguments, Output, Condition, Items,
``$states``) and the functions AWS adds, as AWS recorded and documented them.

Same rules as ``aws_cases.py``: each case cites the developer guide (``DG:``) or an
execution recorded on AWS (``REC:``); the definitions are written here to
reproduce the recorded situation and only the outcome is taken from the source.
Where a recorded Lambda function returned its own input, the case's invoker
echoes the Task's parameters (``"ECHO"``).
"""

from __future__ import annotations

from .aws_cases import ANY, DG, REC, AwsCase, Matches, chain, distributed_map, json_reader
from .aws_cases import pass_state as _pass

_machine = chain

__all__ = ["JSONATA_CASES"]

LAMBDA = "arn:aws:states:::lambda:invoke"
FN = "arn:aws:lambda:us-east-1:111111111111:function:echo"
_QE = "States.QueryEvaluationError"
_RT = "An error occurred while executing the state '{s}' (entered at the event id #{e}). "
_QL = REC + "query_language/test_base_query_language.snapshot.json::"
_MIXED = REC + "query_language/test_mixed_query_language.snapshot.json::"
_ARGS = REC + "arguments/test_arguments.snapshot.json::"
_OUT = REC + "outputdecl/test_output.snapshot.json::"
_REF = REC + "assign/test_assign_reference_variables.snapshot.json::"
_BASE = REC + "assign/test_assign_base.snapshot.json::"
_ERR = REC + "states_variables/test_error_output.snapshot.json::"
_EVAL = REC + "evaluate_jsonata/test_base_evaluate_expressions.snapshot.json::"
_SC = REC + "scenarios/test_base_scenarios.snapshot.json::"
_FUNC = REC + "intrinsic_functions/"
_TD = DG + "transforming-data"
_IN = {"input_value": "string literal", "input_values": [1, 2, 3]}
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def _rt(state: str, event: int, text: str) -> str:
    return _RT.format(s=state, e=event) + text


def _ja(*states: tuple[str, dict]) -> dict:
    return _machine(*states, QueryLanguage="JSONata")


def _catching_map(fallback_output: dict, retry: bool = False) -> dict:
    """A Map whose iterations run a failing Task that catches into a Fallback state."""
    task = {
        **_TASK,
        "Catch": [_CATCH_TO_FALLBACK],
        "Next": "Finish",
    }
    if retry:
        task["Retry"] = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    processor = _machine(
        ("ProcessItem", task),
        ("Fallback", _pass(Output=fallback_output, End=True)),
        ("Finish", _pass()),
    )
    processor["ProcessorConfig"] = {"Mode": "INLINE"}
    return _ja(
        (
            "ProcessItems",
            {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "MaxConcurrency": 1,
                "ItemProcessor": processor,
            },
        )
    )


def _output(value) -> dict:
    return _ja(("State0", _pass(Output=value)))


def _map(**fields) -> dict:
    return {
        "Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Pass",
            "States": {"Pass": {"Type": "Pass", "End": True}},
        },
        **fields,
    }


_INIT = (
    "Init",
    _pass(
        QueryLanguage="JSONPath", Assign={"var_input_value.$": "$.input_value", "var_constant_1": 1}
    ),
)
_EXPRS = {
    "ja_states_input": "{% $states.input %}",
    "ja_var_access": "{% $var_input_value %}",
    "ja_expr": "{% $sum($states.input.input_values) + $var_constant_1 %}",
}
_EXPR_VALUES = {"ja_states_input": _IN, "ja_var_access": "string literal", "ja_expr": 7}
_LITERALS = {
    "constant_null": None,
    "constant_int": 0,
    "constant_float": 0.1,
    "constant_bool": True,
    "constant_str": "constant string",
    "constant_not_jsonata": " {% states.input %} ",  # a space before {% : a literal
    "constant_varpath_states": "$states.input",
    "constant_varpath": "$no.such.var.path",
    "constant_jp_input.$": "$",  # .$ keys mean nothing in JSONata
    "constant_if": "States.Format('Format:{}', 101)",
    "constant_lst": [None, 0, 0.1, True, [], {"constant": 0}, " {% states.input %} "],
    "constant_obj": {"in_obj_constant_str": "constant string", "in_obj_lst": []},
}
_FAILURE = ("Exception", '{"errorMessage":"Some exception was raised.","errorType":"Exception"}')
_ERROR_OUTPUT = {"Error": _FAILURE[0], "Cause": _FAILURE[1]}
_CATCH_TO_FALLBACK = {
    "ErrorEquals": ["States.ALL"],
    "Output": {"stateInput": "{% $states.input %}", "stateError": "{% $states.errorOutput %}"},
    "Next": "Fallback",
}
_TASK = {
    "Type": "Task",
    "Resource": LAMBDA,
    "Arguments": {"FunctionName": FN, "Payload": {"foo": "foobar"}},
}
_JSON_ITEMS = (
    b'[{"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},'
    b'{"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},'
    b'{"verdict": "mostly-true", "statement_date": "5/18/2016", "statement_source": "news"}]'
)
_FIRST_TWO = [
    {"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},
    {"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},
]


def _dmap(reader: dict, **fields) -> dict:
    return _ja(("MapState", distributed_map(ItemReader=reader, **fields)))


def _reader(**config) -> dict:
    return json_reader(jsonata=True, **config)


_OBJECTS = {("bucket-name", "file.json"): _JSON_ITEMS}
_S3_IN = {"Bucket": "bucket-name", "Key": "file.json"}

_TYPES = [  # (label, JSONata expression, rendering in the cause, type name)
    ("number", "1", "1", "number"),
    ("string", "'string'", '"string"', "string"),
    ("boolean", "true", "true", "boolean"),
    ("object", "{'foo': 'bar'}", '{"foo":"bar"}', "object"),
    ("null", "null", "null", "null"),
]
_TYPE_VALUES = {
    "number": 1,
    "string": "string",
    "boolean": True,
    "object": {"foo": "bar"},
    "null": None,
}
_BAD_TIMESTAMPS = [  # (label, value)
    ("NO_T", "2016-12-05 21:29:29Z"),
    ("NO_Z", "2016-12-05T21:29:29"),
    ("INVALID_DATE", "2016-13-05T21:29:29Z"),
    ("INVALID_TIME", "2016-12-05T25:29:29Z"),
    ("INVALID_ISO", "05-12-2016T21:29:29Z"),
]
_PARTITION = [  # (array, size, recorded result)
    ([0], n, [[0]]) for n in range(1, 6)
] + [
    ([0, 1], 1, [[0], [1]]),
    ([0, 1], 2, [[0, 1]]),
    ([0, 1], 5, [[0, 1]]),
    ([0, 1, 2], 1, [[0], [1], [2]]),
    ([0, 1, 2], 2, [[0, 1], [2]]),
    ([0, 1, 2], 3, [[0, 1, 2]]),
    ([0, 1, 2, 3], 1, [[0], [1], [2], [3]]),
    ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
    ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]),
    ([0, 1, 2, 3], 4, [[0, 1, 2, 3]]),
    ([0, 1, 2, 3], 5, [[0, 1, 2, 3]]),
]
_RANGE = [
    ((0, 9, 3), [0, 3, 6, 9]),
    ((0, 10, 3), [0, 3, 6, 9]),
    ((1, 9, 9), 1),
    ((1, 9, 2), [1, 3, 5, 7, 9]),
]
_PARSE = [
    ("-0", 0),
    ("1", 1),
    ("1.1", 1.1),
    ("true", True),
    ('"HelloWorld"', "HelloWorld"),
    ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
    ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
]
_FUNCTION_STATE = ("State_0", _pass(QueryLanguage="JSONata"))


def _function(output) -> dict:
    return _machine((_FUNCTION_STATE[0], {**_FUNCTION_STATE[1], "Output": output}))


JSONATA_CASES: list[AwsCase] = [
    # ------------------------------------------------------------ QueryLanguage
    AwsCase(
        "machine_query_language_jsonata",
        "jsonata",
        _QL + "test_base_query_language_field[JSONATA]",
        _ja(("StartState", _pass())),
        {},
        output={},
    ),
    AwsCase(
        "state_query_language_overrides_the_machine",
        "jsonata",
        _QL + "test_query_language_field_override[JSONATA_OVERRIDE]",
        _machine(("StartState", _pass(QueryLanguage="JSONata")), QueryLanguage="JSONPath"),
        {},
        output={},
    ),
    AwsCase(
        "state_query_language_overrides_the_default",
        "jsonata",
        _QL + "test_query_language_field_override[JSONATA_OVERRIDE_DEFAULT]",
        _machine(("StartState", _pass(QueryLanguage="JSONata"))),
        {},
        output={},
    ),
    AwsCase(
        "jsonpath_state_in_a_jsonata_machine_is_refused",
        "jsonata",
        REC + "test_sfn_api_validation.snapshot.json::test_validate_state_machine_"
        "definition_type_standard[INVALID_DOWNGRADE_QUERY_LANGUAGE]",
        None,
        invalid=_ja(("Pass", _pass(QueryLanguage="JSONPath"))),
    ),
    AwsCase(
        "jsonpath_fields_refused_in_a_jsonata_state",
        "jsonata",
        _TD + " (JSONata states have Arguments and Output instead of InputPath, "
        "Parameters, ResultSelector, ResultPath and OutputPath)",
        None,
        invalid=_ja(("S", _pass(InputPath="$.a"))),
    ),
    AwsCase(
        "jsonata_fields_refused_in_a_jsonpath_state",
        "jsonata",
        _TD + " (Arguments and Output belong to JSONata states)",
        None,
        invalid=_machine(("S", _pass(Output={"a": 1}))),
    ),
    AwsCase(
        "mixed_jsonata_output_feeds_a_jsonpath_state",
        "jsonata",
        _MIXED + "test_output_to_state[JSONATA_OUTPUT_TO_JSONPATH]",
        _machine(
            (
                "JSONataState",
                _pass(
                    QueryLanguage="JSONata", Output={"foo": "foobar", "bar": "{% $states.input %}"}
                ),
            ),
            ("JSONPathState", _pass(QueryLanguage="JSONPath")),
        ),
        {"input_data": "test"},
        output={"foo": "foobar", "bar": {"input_data": "test"}},
    ),
    AwsCase(
        "mixed_jsonpath_output_feeds_a_jsonata_state",
        "jsonata",
        _MIXED + "test_output_to_state[JSONPATH_OUTPUT_TO_JSONATA]",
        _machine(
            (
                "JSONPathState",
                _pass(QueryLanguage="JSONPath", Parameters={"foo": "foobar", "bar.$": "$"}),
            ),
            ("JSONataState", _pass(QueryLanguage="JSONata")),
        ),
        {"input_data": "test"},
        output={"foo": "foobar", "bar": {"input_data": "test"}},
    ),
    AwsCase(
        "dg_conversion_example_jsonpath",
        "jsonata",
        _TD + ' (conversion sample: input {"title": "Doctor"}, customerName \'María\')',
        _machine(
            ("Init", _pass(Assign={"customerName": "María"})),
            (
                "Task",
                {
                    "QueryLanguage": "JSONPath",
                    "Type": "Task",
                    "Resource": FN,
                    "Parameters": {
                        "static": "Hello",
                        "title.$": "$.title",
                        "name.$": "$customerName",
                        "not-evaluated": "$customerName",
                    },
                },
            ),
        ),
        {"title": "Doctor"},
        output={
            "static": "Hello",
            "title": "Doctor",
            "name": "María",
            "not-evaluated": "$customerName",
        },
        results={FN: "ECHO"},
    ),
    AwsCase(
        "dg_conversion_example_jsonata",
        "jsonata",
        _TD + " (the same sample converted to JSONata gives the same result)",
        _machine(
            ("Init", _pass(Assign={"customerName": "María"})),
            (
                "Task",
                {
                    "QueryLanguage": "JSONata",
                    "Type": "Task",
                    "Resource": FN,
                    "Arguments": {
                        "static": "Hello",
                        "title": "{% $states.input.title %}",
                        "name": "{% $customerName %}",
                        "not-evaluated": "$customerName",
                    },
                },
            ),
        ),
        {"title": "Doctor"},
        output={
            "static": "Hello",
            "title": "Doctor",
            "name": "María",
            "not-evaluated": "$customerName",
        },
        results={FN: "ECHO"},
    ),
    # ------------------------------------------------------------ Output
    AwsCase(
        "output_empty_object",
        "jsonata",
        _OUT + "test_base_cases[BASE_EMPTY]",
        _output({}),
        _IN,
        output={},
    ),
    AwsCase(
        "output_literals_stay_literal",
        "jsonata",
        _OUT + "test_base_cases[BASE_LITERALS]",
        _output(_LITERALS),
        _IN,
        output=_LITERALS,
    ),
    AwsCase(
        "output_expressions_read_input_context_and_variables",
        "jsonata",
        _OUT + "test_base_cases[BASE_EXPR]",
        _machine(
            _INIT,
            (
                "State0",
                _pass(
                    QueryLanguage="JSONata",
                    Output={"ja_states_context": "{% $states.context.State.Name %}", **_EXPRS},
                ),
            ),
        ),
        _IN,
        output={"ja_states_context": "State0", **_EXPR_VALUES},
    ),
    AwsCase(
        "output_a_bare_expression",
        "jsonata",
        _OUT + "test_base_cases[BASE_DIRECT_EXPR]",
        _machine(
            ("Init", _pass(Assign={"var_constant_1": 1})),
            (
                "State0",
                _pass(
                    QueryLanguage="JSONata",
                    Output="{% $sum($states.input.input_values) + $var_constant_1 %}",
                ),
            ),
        ),
        _IN,
        output=7,
    ),
    *(
        AwsCase(
            f"output_any_value_{label.lower()}",
            "jsonata",
            _OUT + f"test_base_output_any_non_dict[{label}]",
            _output(value),
            {"input_value": "stringliteral"},
            output=want,
        )
        for label, value, want in [
            ("NULL", None, None),
            ("INT", 0, 0),
            ("FLOAT", 0.1, 0.1),
            ("BOOL", True, True),
            ("STR_LIT", "string literal", "string literal"),
            ("JSONATA_EXPR", "{% $states.input %}", {"input_value": "stringliteral"}),
            ("LIST_EMPY", [], []),
            (
                "LIST_RICH",
                [
                    None,
                    0,
                    0.1,
                    True,
                    "string",
                    [],
                    "$nosuchvar",
                    "$.no.such.path",
                    "{% $states.input %}",
                    {"key": "{% true %}"},
                ],
                [
                    None,
                    0,
                    0.1,
                    True,
                    "string",
                    [],
                    "$nosuchvar",
                    "$.no.such.path",
                    {"input_value": "stringliteral"},
                    {"key": True},
                ],
            ),
        ]
    ),
    *(
        AwsCase(
            f"choice_rule_output_replaces_the_state_output_{label.lower()}",
            "jsonata",
            _OUT + f"test_output_in_choice[{label}]",
            _ja(
                (
                    "ChoiceState",
                    {
                        "Type": "Choice",
                        "Choices": [
                            {
                                "Condition": "{% $states.input.condition %}",
                                "Next": "ConditionTrue",
                                "Output": "Condition Output block",
                            }
                        ],
                        "Default": "DefaultState",
                        "Output": "Default Output block",
                    },
                ),
                ("ConditionTrue", _pass(End=True)),
                ("DefaultState", {"Type": "Fail", "Cause": "Condition is false"}),
            ),
            {"condition": cond},
            status="SUCCEEDED" if cond else "FAILED",
            output="Condition Output block" if cond else None,
            cause=None if cond else "Condition is false",
        )
        for label, cond in (("CONDITION_TRUE", True), ("CONDITION_FALSE", False))
    ),
    *(
        AwsCase(
            f"choice_rule_assign_replaces_the_state_assign_{label.lower()}",
            "jsonata",
            _BASE + f"test_assign_in_choice[{label}]",
            _ja(
                (
                    "ChoiceState",
                    {
                        "Type": "Choice",
                        "Choices": [
                            {
                                "Condition": "{% $states.input.condition %}",
                                "Next": "ConditionTrue",
                                "Assign": {"Assignment": "Condition assignment"},
                            }
                        ],
                        "Default": "DefaultState",
                        "Assign": {"Assignment": "Default Assignment"},
                    },
                ),
                ("ConditionTrue", _pass(End=True)),
                ("DefaultState", {"Type": "Fail", "Cause": "Condition is false"}),
            ),
            {"condition": cond},
            status="SUCCEEDED" if cond else "FAILED",
            output={"condition": True} if cond else None,
            cause=None if cond else "Condition is false",
            assigned=[
                (
                    "ChoiceState",
                    {"Assignment": "Condition assignment" if cond else "Default Assignment"},
                )
            ],
        )
        for label, cond in (("CONDITION_TRUE", True), ("CONDITION_FALSE", False))
    ),
    # ------------------------------------------------------------ Arguments
    AwsCase(
        "arguments_empty_object_invokes_with_an_empty_object",
        "jsonata",
        _ARGS + "test_base_cases[BASE_LAMBDA_EMPTY]",
        _machine(
            (
                "State0",
                {"QueryLanguage": "JSONata", "Type": "Task", "Resource": FN, "Arguments": {}},
            )
        ),
        _IN,
        output={},
        results={FN: "ECHO"},
    ),
    AwsCase(
        "arguments_empty_object_machine_level_jsonata",
        "jsonata",
        _ARGS + "test_base_cases[BASE_LAMBDA_EMPTY_GLOBAL_QL_JSONATA]",
        _ja(("State0", {"Type": "Task", "Resource": FN, "Arguments": {}})),
        _IN,
        output={},
        results={FN: "ECHO"},
    ),
    AwsCase(
        "arguments_literals_stay_literal",
        "jsonata",
        _ARGS + "test_base_cases[BASE_LAMBDA_LITERALS]",
        _ja(("State0", {"Type": "Task", "Resource": FN, "Arguments": _LITERALS})),
        _IN,
        output=_LITERALS,
        results={FN: "ECHO"},
    ),
    AwsCase(
        "arguments_and_assign_evaluate_expressions",
        "jsonata",
        _ARGS + "test_base_cases[BASE_LAMBDA_EXPRESSION]",
        _machine(
            _INIT,
            (
                "State0",
                {
                    "QueryLanguage": "JSONata",
                    "Type": "Task",
                    "Resource": FN,
                    "Arguments": _EXPRS,
                    "Assign": {k: v for k, v in _EXPRS.items() if k != "ja_states_input"},
                },
            ),
        ),
        _IN,
        output=_EXPR_VALUES,
        results={FN: "ECHO"},
        assigned=[
            ("Init", {"var_input_value": "string literal", "var_constant_1": 1}),
            ("State0", {"ja_var_access": "string literal", "ja_expr": 7}),
        ],
    ),
    AwsCase(
        "output_reads_states_result",
        "jsonata",
        _OUT + "test_base_lambda[BASE_LAMBDA]",
        _machine(
            _INIT,
            (
                "State0",
                {
                    "QueryLanguage": "JSONata",
                    "Type": "Task",
                    "Resource": FN,
                    "Arguments": _EXPRS,
                    "Output": {
                        "ja_var_access": "{% $var_input_value %}",
                        "ja_states_input": "{% $states.input %}",
                        "ja_states_result": "{% $states.result %}",
                        "ja_states_result_access": "{% $states.result.ja_expr %}",
                    },
                },
            ),
        ),
        _IN,
        output={
            "ja_var_access": "string literal",
            "ja_states_input": _IN,
            "ja_states_result": _EXPR_VALUES,
            "ja_states_result_access": 7,
        },
        results={FN: "ECHO"},
    ),
    AwsCase(
        "task_result_to_output_and_variable_then_jsonpath",
        "jsonata",
        _MIXED + "test_lambda_task_resource_data_flow[TASK_LAMBDA_LEGACY_RESOURCE_"
        "JSONATA_TO_JSONPATH]",
        _machine(
            (
                "JsonataState",
                {
                    "QueryLanguage": "JSONata",
                    "Type": "Task",
                    "Resource": FN,
                    "Arguments": {"Payload": {"foo": "foo-1"}},
                    "Assign": {"resultsVar": "{% $states.result %}"},
                    "Output": {"results": "{% $states.result %}"},
                },
            ),
            ("JsonPathState", _pass(QueryLanguage="JSONPath")),
        ),
        {},
        output={"results": {"Payload": {"foo": "foo-1"}}},
        results={FN: "ECHO"},
        assigned=[("JsonataState", {"resultsVar": {"Payload": {"foo": "foo-1"}}})],
    ),
    # ------------------------------------------------------------ undefined results
    *(
        AwsCase(
            f"undefined_{label}",
            "jsonata",
            _REF + f"test_undefined_reference[{rec}]",
            definition,
            {},
            status="FAILED",
            output=None,
            error=_QE,
            cause=_rt(
                state,
                event,
                f"The JSONata expression '$doesNotExist' specified for "
                f"the field '{field}' returned nothing (undefined).",
            ),
        )
        for label, rec, definition, state, event, field in [
            (
                "output",
                "BASE_UNDEFINED_OUTPUT",
                _output("{% $doesNotExist %}"),
                "State0",
                2,
                "Output",
            ),
            (
                "output_field",
                "BASE_UNDEFINED_OUTPUT_FIELD",
                _output({"result": "{% $doesNotExist %}"}),
                "State0",
                2,
                "Output/result",
            ),
            (
                "output_field_third_state",
                "BASE_UNDEFINED_OUTPUT_MULTIPLE_STATES",
                _ja(
                    ("State0", _pass()),
                    ("State1", _pass()),
                    ("State2", _pass(Output={"result": "{% $doesNotExist %}"})),
                ),
                "State2",
                6,
                "Output/result",
            ),
            (
                "assign_field",
                "BASE_UNDEFINED_ASSIGN",
                _ja(("State0", _pass(Assign={"result": "{% $doesNotExist %}"}))),
                "State0",
                2,
                "Assign/result",
            ),
            (
                "arguments",
                "BASE_UNDEFINED_ARGUMENTS",
                _ja(
                    (
                        "State0",
                        {"Type": "Task", "Resource": LAMBDA, "Arguments": "{% $doesNotExist %}"},
                    )
                ),
                "State0",
                2,
                "Arguments",
            ),
            (
                "arguments_field",
                "BASE_UNDEFINED_ARGUMENTS_FIELD",
                _ja(
                    (
                        "State0",
                        {
                            "Type": "Task",
                            "Resource": LAMBDA,
                            "Arguments": {"FunctionName": "{% $doesNotExist %}"},
                        },
                    )
                ),
                "State0",
                2,
                "Arguments/FunctionName",
            ),
        ]
    ),
    # ------------------------------------------------------------ Catch and Retry
    AwsCase(
        "catch_output_reads_input_and_error_output",
        "jsonata",
        _ERR + "test_task_catch_error_output[TASK_CATCH_ERROR_OUTPUT]",
        _ja(
            (
                "Task",
                {
                    **_TASK,
                    "Catch": [_CATCH_TO_FALLBACK],
                    "Output": {
                        "stateInput": "{% $states.input %}",
                        "stateResult": "{% $states.result %}",
                    },
                    "Next": "Finish",
                },
            ),
            ("Fallback", _pass(Output={"error": "{% $states.input %}"}, End=True)),
            ("Finish", _pass(Output={"result": "{% $states.input %}"})),
        ),
        {"inputData": "dummy"},
        output={"error": {"stateInput": {"inputData": "dummy"}, "stateError": _ERROR_OUTPUT}},
        results={LAMBDA: _FAILURE},
    ),
    AwsCase(
        "catch_output_then_a_jsonpath_state",
        "jsonata",
        _ERR + "test_task_catch_error_output[TASK_CATCH_ERROR_OUTPUT_TO_JSONPATH]",
        _machine(
            (
                "Task",
                {
                    **_TASK,
                    "QueryLanguage": "JSONata",
                    "Catch": [_CATCH_TO_FALLBACK],
                    "Next": "Finish",
                },
            ),
            ("Fallback", _pass(End=True)),
            ("Finish", _pass()),
        ),
        {"inputData": "dummy"},
        output={"stateInput": {"inputData": "dummy"}, "stateError": _ERROR_OUTPUT},
        results={LAMBDA: _FAILURE},
    ),
    AwsCase(
        "catch_assign_replaces_the_state_assign",
        "jsonata",
        _ERR + "test_catch_error_variable_sampling[TASK_CATCH_ERROR_VARIABLE_SAMPLING_TO_JSONPATH]",
        _machine(
            (
                "Task",
                {
                    **_TASK,
                    "QueryLanguage": "JSONata",
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Assign": {
                                "inputVar": "{% $states.input %}",
                                "errorVar": "{% $states.errorOutput %}",
                            },
                            "Next": "Fallback",
                        }
                    ],
                    "Assign": {
                        "inputVar": "{% $states.input %}",
                        "resultVar": "{% $states.result %}",
                    },
                    "Next": "Finish",
                },
            ),
            ("Fallback", _pass(OutputPath="$errorVar", End=True)),
            ("Finish", _pass(OutputPath="$resultVar")),
        ),
        {"inputData": "dummy"},
        output=_ERROR_OUTPUT,
        results={LAMBDA: _FAILURE},
        assigned=[("Task", {"inputVar": {"inputData": "dummy"}, "errorVar": _ERROR_OUTPUT})],
    ),
    AwsCase(
        "catch_assign_in_a_jsonata_task",
        "jsonata",
        _REF + "test_assign_in_catch_state",
        _machine(
            (
                "Task",
                {
                    **_TASK,
                    "QueryLanguage": "JSONata",
                    "Assign": {"result": "SUCCESS"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Assign": {"result": "{% $states.errorOutput %}"},
                            "Next": "fallback",
                        }
                    ],
                },
            ),
            ("fallback", _pass()),
        ),
        {"input_value": FN},
        output=_ERROR_OUTPUT,
        results={LAMBDA: _FAILURE},
        assigned=[("Task", {"result": _ERROR_OUTPUT})],
    ),
    AwsCase(
        "retry_then_catch_output",
        "jsonata",
        _ERR + "test_task_catch_error_with_retry[TASK_CATCH_ERROR_OUTPUT_WITH_RETRY]",
        _ja(
            (
                "Task",
                {
                    **_TASK,
                    "Retry": [
                        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}
                    ],
                    "Catch": [_CATCH_TO_FALLBACK],
                    "Next": "Finish",
                },
            ),
            ("Fallback", _pass(Output={"error": "{% $states.input %}"}, End=True)),
            ("Finish", _pass()),
        ),
        {"inputData": "dummy"},
        output={"error": {"stateInput": {"inputData": "dummy"}, "stateError": _ERROR_OUTPUT}},
        results={LAMBDA: _FAILURE},
    ),
    AwsCase(
        "map_iteration_catch_output",
        "jsonata",
        _ERR + "test_map_catch_error[MAP_CATCH_ERROR_OUTPUT]",
        _catching_map({"result": "{% $states.input %}"}),
        {"items": [1, 2, 3]},
        output=[{"result": {"stateInput": i, "stateError": _ERROR_OUTPUT}} for i in (1, 2, 3)],
        results={LAMBDA: _FAILURE},
    ),
    AwsCase(
        "map_iteration_undefined_variable_fails_the_map",
        "jsonata",
        _ERR + "test_map_catch_error[MAP_CATCH_ERROR_OUTPUT_WITH_RETRY]",
        _catching_map({"error": "{% $stateError %}"}, retry=True),
        {"items": [1, 2, 3]},
        status="FAILED",
        output=None,
        error=_QE,
        cause=_rt(
            "Fallback",
            13,
            "The JSONata expression '$stateError' specified for the "
            "field 'Output/error' returned nothing (undefined).",
        ),
        results={LAMBDA: _FAILURE},
    ),
    AwsCase(
        "parallel_catch_output",
        "jsonata",
        _ERR + "test_parallel_catch_error[PARALLEL_CATCH_ERROR_OUTPUT]",
        _ja(
            (
                "ParallelState",
                {
                    "Type": "Parallel",
                    "Branches": [
                        _machine(
                            (
                                "ExecuteLambdaTask",
                                {**_TASK, "Output": {"r": "{% $states.result %}"}},
                            )
                        )
                    ],
                    "Catch": [_CATCH_TO_FALLBACK],
                    "Next": "Finish",
                },
            ),
            ("Fallback", _pass(Output={"result": "{% $states.input %}"}, End=True)),
            ("Finish", _pass(Output={"result": "{% $states.input %}"})),
        ),
        {"inputData": "dummy"},
        output={"result": {"stateInput": {"inputData": "dummy"}, "stateError": _ERROR_OUTPUT}},
        results={LAMBDA: _FAILURE},
    ),
    # ------------------------------------------------------------ Choice
    AwsCase(
        "choice_condition_docs_scenario",
        "jsonata",
        _SC + "test_choice_aws_docs_scenario[CHOICE_STATE_AWS_SCENARIO_JSONATA]",
        _machine(
            (
                "ChoiceStateX",
                {
                    "Type": "Choice",
                    "QueryLanguage": "JSONata",
                    "Choices": [
                        {
                            "Condition": "{% $not($states.input.type = 'Private') %}",
                            "Next": "Public",
                        },
                        {"Condition": "{% $states.input.value = 0 %}", "Next": "ValueIsZero"},
                        {
                            "Condition": "{% $states.input.value >= 20 and $states.input.value < 30 %}",
                            "Next": "ValueInTwenties",
                        },
                    ],
                    "Default": "DefaultState",
                },
            ),
            ("Public", _pass(Result="public", End=True)),
            ("ValueIsZero", _pass(Result="zero", End=True)),
            ("ValueInTwenties", _pass(End=True)),
            ("DefaultState", {"Type": "Fail", "Cause": "No Matches!"}),
        ),
        {"type": "Private", "value": 22},
        output={"type": "Private", "value": 22},
    ),
    AwsCase(
        "choice_condition_double_quoted_string",
        "jsonata",
        _SC + "test_choice_singleton_composite[CHOICE_STATE_SINGLETON_COMPOSITE_LITERAL_JSONATA]",
        _ja(
            ("Pass", _pass(Output={"str_value": "string literal"})),
            (
                "Choice",
                {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Next": "Success",
                            "Condition": '{% $states.input.str_value = "string literal" %}',
                        }
                    ],
                    "Default": "Fail",
                },
            ),
            ("Success", {"Type": "Succeed"}),
            ("Fail", {"Type": "Fail"}),
        ),
        {"type": "Public", "value": 22},
        output={"str_value": "string literal"},
    ),
    AwsCase(
        "choice_condition_constant",
        "jsonata",
        _SC + "test_choice_condition_constant_jsonata",
        _ja(
            (
                "ChoiceState",
                {
                    "Type": "Choice",
                    "Choices": [{"Condition": True, "Next": "ConditionTrue"}],
                    "Default": "DefaultState",
                },
            ),
            ("ConditionTrue", _pass(End=True)),
            ("DefaultState", {"Type": "Fail", "Cause": "Condition is false"}),
        ),
        {},
        output={},
    ),
    *(
        AwsCase(
            f"choice_without_default_{label}",
            "jsonata",
            _SC + f"test_choice_unsorted_parameters_{label}"
            "[CHOICE_STATE_UNSORTED_CHOICE_PARAMETERS_JSONATA]",
            _ja(
                (
                    "CheckResult",
                    {
                        "Type": "Choice",
                        "Choices": [
                            {"Condition": "{% $states.input.result.done %}", "Next": "FinishTrue"},
                            {
                                "Condition": "{% $not($states.input.result.done) %}",
                                "Next": "FinishFalse",
                            },
                        ],
                    },
                ),
                ("FinishTrue", _pass(Output="true branch", End=True)),
                ("FinishFalse", _pass(End=True)),
            ),
            {"result": {"done": done}},
            output="true branch" if done else {"result": {"done": False}},
        )
        for label, done in (("positive", True), ("negative", False))
    ),
    # ------------------------------------------------------------ Map
    *(
        AwsCase(
            f"map_items_array_with_expressions_{label.lower()}",
            "jsonata",
            _EVAL + f"test_base_map[{label}]",
            _ja(("Start", _map(Items=items))),
            {},
            output=[1, 2, 3],
        )
        for label, items in (
            ("ITEMS", [1, '{% $number("2") %}', 3]),
            ("ITEMS_DOUBLE_QUOTES", [1, "{% $number('2') %}", 3]),
        )
    ),
    *(
        AwsCase(
            f"map_{field.lower()}_expression",
            "jsonata",
            _EVAL + f"test_base_map[{label}]",
            _ja(("Start", _map(Items=[1], **{field: "{% $variable := 1 %}"}))),
            {},
            output=[1],
        )
        for label, field in (
            ("MAX_CONCURRENCY", "MaxConcurrency"),
            ("TOLERATED_FAILURE_PERCENTAGE", "ToleratedFailurePercentage"),
            ("TOLERATED_FAILURE_COUNT", "ToleratedFailureCount"),
        )
    ),
    *(
        AwsCase(
            f"map_items_expression_{label}",
            "jsonata",
            _SC + f"test_map_state_items_eval_jsonata[{label}]",
            _ja(("MapIterateState", _map(Items=items))),
            {},
            output=want,
        )
        for label, items, want in (
            ("empty", [], []),
            ("singleton", "{% [0] %}", [0]),
            ("mixed", [1, "two", 3], [1, "two", 3]),
        )
    ),
    *(
        AwsCase(
            f"map_items_not_an_array_{label}",
            "jsonata",
            _SC + f"test_map_state_items_eval_jsonata_fail[{label}]",
            _ja(("MapIterateState", _map(Items="{% " + expr + " %}"))),
            {},
            status="FAILED",
            output=None,
            error=_QE,
            cause=_rt(
                "MapIterateState",
                2,
                f"The JSONata expression '{expr}' specified for the "
                f"field 'Items' returned an unexpected result type. Expected 'array', but "
                f"was '{typ}' for value: {shown}",
            ),
        )
        for label, expr, shown, typ in _TYPES
    ),
    AwsCase(
        "map_items_a_function",
        "jsonata",
        _SC + "test_map_state_items_eval_jsonata_fail[function]",
        _ja(("MapIterateState", _map(Items="{% $fn := function($x){$x} %}"))),
        {},
        status="FAILED",
        output=None,
        error=_QE,
        cause=_rt(
            "MapIterateState",
            2,
            "The JSONata expression '$fn := function($x){$x}' "
            "specified for the field 'Items' returned an unsupported result type.",
        ),
    ),
    *(
        AwsCase(
            f"map_items_variable_not_an_array_{label}",
            "jsonata",
            _SC + f"test_map_state_items_variable_sampling[{label}]",
            _ja(
                ("Start", _pass(Assign={"ItemsVar": _TYPE_VALUES[label]})),
                ("MapIterateState", _map(Items="{% $ItemsVar %}")),
            ),
            {},
            status="FAILED",
            output=None,
            error=_QE,
            cause=_rt(
                "MapIterateState",
                4,
                "The JSONata expression '$ItemsVar' specified for the "
                f"field 'Items' returned an unexpected result type. Expected 'array', but "
                f"was '{typ}' for value: {shown}",
            ),
        )
        for label, _expr, shown, typ in _TYPES
    ),
    *(
        AwsCase(
            f"map_input_not_an_array_{label}",
            "jsonata",
            _SC + f"test_map_state_items_input_types[{label}]",
            _ja(("Start", _pass(Output="{% $states.input.items %}")), ("MapIterateState", _map())),
            {"items": _TYPE_VALUES[label]},
            status="FAILED",
            output=None,
            error=_QE,
            cause=_rt("MapIterateState", 4, f"Map state input must be an array but was: {shown}"),
        )
        for label, _expr, shown, _typ in _TYPES
    ),
    AwsCase(
        "map_item_selector_reads_item_and_variables",
        "jsonata",
        _SC + "test_map_state_item_selector[MAP_STATE_ITEM_SELECTOR_JSONATA]",
        _ja(
            ("Start", _pass(Assign={"ItemsVar": ["Item1", "Item2"]})),
            (
                "MapIterateState",
                _map(
                    Items="{% $ItemsVar %}",
                    ItemSelector={
                        "map_item_value": "{% $states.context.Map.Item.Value %}",
                        "var_sample": "{% $ItemsVar %}",
                        "string_literal": "string literal",
                    },
                ),
            ),
        ),
        {},
        output=[
            {
                "map_item_value": v,
                "var_sample": ["Item1", "Item2"],
                "string_literal": "string literal",
            }
            for v in ("Item1", "Item2")
        ],
    ),
    # ------------------------------------------------------------ Wait, Fail, escapes
    AwsCase(
        "wait_seconds_expression",
        "jsonata",
        _SC + "test_wait_seconds_jsonata",
        _ja(("WaitState", {"Type": "Wait", "Seconds": "{% $states.input.waitSeconds %}"})),
        {"waitSeconds": 0},
        output={"waitSeconds": 0},
    ),
    AwsCase(
        "wait_timestamp_expression",
        "jsonata",
        _SC + "test_wait_timestamp_jsonata",
        _ja(("WaitState", {"Type": "Wait", "Timestamp": "{% $states.input.TimestampValue %}"})),
        {"TimestampValue": "2016-03-14T01:59:00Z"},
        output={"TimestampValue": "2016-03-14T01:59:00Z"},
    ),
    *(
        AwsCase(
            f"wait_timestamp_expression_invalid_{label.lower()}",
            "jsonata",
            _SC + f"test_wait_timestamp_jsonata[{label}]",
            _ja(("WaitState", {"Type": "Wait", "Timestamp": "{% $states.input.TimestampValue %}"})),
            {"TimestampValue": value},
            status="FAILED",
            output=None,
            error=_QE,
            cause=_rt(
                "WaitState",
                2,
                "The Timestamp field cannot be parsed as an ISO-8601 "
                f"extended offset date-time format string: {value}",
            ),
        )
        for label, value in _BAD_TIMESTAMPS
    ),
    AwsCase(
        "wait_timestamp_literal_invalid_is_refused",
        "jsonata",
        _SC + "test_wait_timestamp_invalid[JSONATA]",
        None,
        invalid=_ja(("WaitUntil", {"Type": "Wait", "Timestamp": "2016-12-05 21:29:29Z"})),
    ),
    AwsCase(
        "fail_error_expression",
        "jsonata",
        _SC + "test_fail_error_jsonata",
        _ja(("FailState", {"Type": "Fail", "Error": "{% $states.input.error %}"})),
        {"error": "Exception"},
        status="FAILED",
        output=None,
        error="Exception",
    ),
    AwsCase(
        "fail_cause_expression",
        "jsonata",
        _SC + "test_fail_cause_jsonata",
        _ja(("FailState", {"Type": "Fail", "Cause": "{% $states.input.cause %}"})),
        {"cause": "This failed to due an Exception."},
        status="FAILED",
        output=None,
        cause="This failed to due an Exception.",
    ),
    AwsCase(
        "escaped_quote_in_assign_and_expression",
        "jsonata",
        _SC + "test_escape_sequence_parsing[ESCAPE_SEQUENCES_JSONATA_COMPARISON_ASSIGN]",
        _ja(("Pass", _pass(Assign={"var": '"'})), ("Check", _pass(Output="{% $var = '\"' %}"))),
        {'Test\\""Name"': 'Value"\\'},
        output=True,
        assigned=[("Pass", {"var": '"'})],
    ),
    AwsCase(
        "escaped_quote_in_output_and_expression",
        "jsonata",
        _SC + "test_escape_sequence_parsing[ESCAPE_SEQUENCES_JSONATA_COMPARISON_OUTPUT]",
        _ja(("Pass", _pass(Output='"')), ("Check", _pass(Output="{% $states.input = '\"' %}"))),
        {'Test\\""Name"': 'Value"\\'},
        output=True,
    ),
    *(
        AwsCase(
            f"regular_expression_{label.lower()}",
            "jsonata",
            _EVAL + f"test_base_jsonata_regular_expressions[{label}]",
            _ja(("Start", _pass(Output=expr))),
            {},
            output=want,
        )
        for label, expr, want in (
            ("BASE", r'{% $contains("hello$world", /^hello\$/) %}', True),
            ("BASE_FALSE", r'{% $contains("hello$world", /^hello\ /) %}', False),
            ("BASE_SINGLE_QUOTE", r"{% $contains('hello$world', /^hello\$/) %}", True),
            ("BASE_SINGLE_QUOTE_FALSE", r"{% $contains('hello$world', /^hello\ /) %}", False),
        )
    ),
    AwsCase(
        "merge_with_dynamic_arguments",
        "jsonata",
        _EVAL + "test_merge_with_dynamic_args",
        _ja(("Start", _pass(Output="{% $merge([$states.input.part1, $states.input.part2]) %}"))),
        {"part1": {"hello": "world"}, "part2": {"foo": "bar"}},
        output={"hello": "world", "foo": "bar"},
    ),
    AwsCase(
        "task_heartbeat_seconds_expression",
        "jsonata",
        _EVAL + "test_base_task_from_input[HEARTBEAT_SECONDS]",
        _ja(
            (
                "Start",
                {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Arguments": {"Payload": {}, "FunctionName": FN},
                    "HeartbeatSeconds": "{% $states.input.input_value %}",
                },
            )
        ),
        {"input_value": 1},
        output={"ExecutedVersion": "$LATEST", "Payload": {}, "StatusCode": 200},
        results={LAMBDA: {"ExecutedVersion": "$LATEST", "Payload": {}, "StatusCode": 200}},
    ),
    # ------------------------------------------------------------ Distributed Map
    AwsCase(
        "distributed_item_reader_arguments_and_max_items_expression",
        "distributed-map",
        _SC + "test_map_item_reader_base_json_max_items_jsonata",
        _dmap(_reader(MaxItems="{% $maxItems := 2 %}")),
        _S3_IN,
        output=_FIRST_TWO,
        objects=_OBJECTS,
    ),
    AwsCase(
        "distributed_item_batcher_expressions",
        "distributed-map",
        _SC + "test_map_item_batching_base_json_max_per_batch_jsonata",
        _dmap(
            _reader(MaxItems=2),
            ItemBatcher={
                "MaxItemsPerBatch": "{% $states.input.MaxItemsPerBatch %}",
                "MaxInputBytesPerBatch": "{% $states.input.MaxInputBytesPerBatch %}",
                "BatchInput": {"BatchTimestamp": "{% $states.context.State.EnteredTime %}"},
            },
        ),
        {**_S3_IN, "MaxItemsPerBatch": 2, "MaxInputBytesPerBatch": 150000},
        output=[{"BatchInput": {"BatchTimestamp": ANY}, "Items": _FIRST_TWO}],
        objects=_OBJECTS,
    ),
    # ------------------------------------------------------------ AWS's functions
    *(
        AwsCase(
            f"partition_{len(arr)}_by_{size}",
            "jsonata-functions",
            _FUNC + "test_array_jsonata.snapshot.json::test_array_partition",
            _function(
                "{% $partition($states.input.FunctionInput.fst, $states.input.FunctionInput.snd) %}"
            ),
            {"FunctionInput": {"fst": arr, "snd": size}},
            output=want,
        )
        for arr, size, want in _PARTITION
    ),
    *(
        AwsCase(
            f"range_{'_'.join(map(str, args))}",
            "jsonata-functions",
            _FUNC + "test_array_jsonata.snapshot.json::test_array_range",
            _function(
                "{% $range($states.input.FunctionInput.fst, $states.input.FunctionInput.snd, "
                "$states.input.FunctionInput.trd) %}"
            ),
            {"FunctionInput": dict(zip(("fst", "snd", "trd"), args, strict=True))},
            output=want,  # one value is a JSONata singleton sequence: the value itself
        )
        for args, want in _RANGE
    ),
    *(
        AwsCase(
            f"parse_{i}",
            "jsonata-functions",
            _FUNC + "test_json_manipulation_jsonata.snapshot.json::test_parse",
            _function("{% $parse($states.input.FunctionInput) %}"),
            {"FunctionInput": text},
            output=want,
        )
        for i, (text, want) in enumerate(_PARSE)
    ),
    AwsCase(
        "unknown_function_is_t1006",
        "jsonata-functions",
        _FUNC + "test_math_operations_jsonata.snapshot.json::test_math_random_seeded",
        _function({"FunctionResult": "{% $randomSeeded($states.input.FunctionInput.fst) %}"}),
        {"FunctionInput": "fst"},
        status="FAILED",
        output=None,
        error=_QE,
        cause=_rt(
            "State_0",
            2,
            "The JSONata expression '$randomSeeded($states.input."
            "FunctionInput.fst)' specified for the field 'Output/FunctionResult' threw an "
            "error during evaluation. T1006: Attempted to invoke a non-function",
        ),
    ),
    AwsCase(
        "dg_partition_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $partition([1,2,3,4], 2))",
        _function("{% $partition([1,2,3,4], 2) %}"),
        {},
        output=[[1, 2], [3, 4]],
    ),
    AwsCase(
        "dg_range_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $range(0, 10, 2))",
        _function("{% $range(0, 10, 2) %}"),
        {},
        output=[0, 2, 4, 6, 8, 10],
    ),
    AwsCase(
        "dg_hash_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $hash with SHA-256; the "
        "digest of 'Hash this string' as AWS recorded it for States.Hash)",
        _function("{% $hash($states.input.content, 'SHA-256') %}"),
        {"content": "Hash this string"},
        output="1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e",
    ),
    AwsCase(
        "dg_uuid_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $uuid() is a version 4 UUID)",
        _function("{% $uuid() %}"),
        {},
        output=Matches(_UUID),
    ),
    AwsCase(
        "dg_random_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $random() in [0, 1), and "
        "the same seed gives the same number)",
        _function({"unseeded": "{% $random() %}", "same": "{% $random(7) = $random(7) %}"}),
        {},
        output={"unseeded": Matches(r"0(\.\d+)?(e-\d+)?", float), "same": True},
    ),
    AwsCase(
        "dg_parse_example",
        "jsonata-functions",
        _TD + " (JSONata functions provided by Step Functions: $parse of a JSON string)",
        _function("{% $parse($states.input.json_string) %}"),
        {"json_string": '{"product": {"name": "Widget", "price": 10}}'},
        output={"product": {"name": "Widget", "price": 10}},
    ),
]
