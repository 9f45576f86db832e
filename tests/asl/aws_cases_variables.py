"""Workflow variables (``Assign``, ``$name``) as AWS recorded and documented them.

Same rules as ``aws_cases.py``: each case cites the developer guide (``DG:``) or an
execution recorded on AWS (``REC:``, LocalStack's ``aws.validated`` snapshots); the
definitions are written here to reproduce the recorded situation, and only the
observable outcome (status, output, error, cause, and the variables each state's
``StateExited`` event shows as assigned) is taken from the source.
"""

from __future__ import annotations

import json

from .aws_cases import ANY, DG, REC, AwsCase, chain, distributed_map, json_reader, pass_state

_machine, _pass, _distributed, _reader = chain, pass_state, distributed_map, json_reader

__all__ = ["VARIABLE_CASES"]

_BASE = REC + "assign/test_assign_base.snapshot.json::"
_REF = REC + "assign/test_assign_reference_variables.snapshot.json::"
_MIXED = REC + "query_language/test_mixed_query_language.snapshot.json::"
_WV = DG + "workflow-variables"
_IN = {"input_value": "input_value_literal"}
LAMBDA = "arn:aws:states:::lambda:invoke"


def _inline(*states: tuple[str, dict]) -> dict:
    proc = _machine(*states)
    proc["ProcessorConfig"] = {"Mode": "INLINE"}
    return proc


_S3_IN = {"Bucket": "bucket-name", "Key": "file.json"}
_FOUR = [  # the recorded object's items
    {"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},
    {"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},
    {"verdict": "mostly-true", "statement_date": "5/18/2016", "statement_source": "news"},
    {"verdict": "false", "statement_date": "5/18/2024", "statement_source": "x"},
]
_FOUR_BODY = json.dumps(_FOUR).encode()

# literals that look like paths, intrinsics or JSONata stay literals in Assign
_LOOKALIKES = {
    "constant_null": None,
    "constant_int": 0,
    "constant_float": 0.1,
    "constant_bool": True,
    "constant_str_path_root": "$",
    "constant_str_path": "$.no.such.path",
    "constant_str_contextpath": "$$.Execution.Id",
    "constant_str_var": "$noSuchVar",
    "constant_str_intrinsic_func": "States.Format('Format Func {}', $varname)",
    "constant_str_jsonata_expr": "{% $varname.varfield %}",
    "constant_lst": [None, 0, "$.no.such.path", "$varname", "{% $varname %}", [], {"c": 0}],
    "constant_obj": {"in_obj_path": "$", "in_obj_var": "$noSuchVar", "in_obj_lst": []},
}

_MATRIX = [[9, 44, 6], [82, 25, 76], [18, 42, 2]]
_POKEMON = ["Charizard", "Pikachu", "Squirtle"]
_ANNOUNCED = [{"Answer": f"It's {p}!", "Question": "Who's that Pokemon?"} for p in _POKEMON]
_INTRINSIC_INPUT = {
    "inputArray": [1, 2, 3, 4, 5, 6],
    "duplicateArray": [1, 2, 2, 3, 3, 4],
    "rawString": "Hello World",
    "encodedString": "SGVsbG8gV29ybGQ=",
    "inputString": "Hash this string",
    "json1": {"a": 1, "b": 2},
    "json2": {"c": 3, "d": 4},
    "jsonString": '{"key":"value"}',
    "jsonObject": {"test": "object"},
    "value1": 5,
    "value2": 3,
    "csvString": "a,b,c,d,e",
    "name": "John",
    "place": "LocalStack",
}
_INTRINSIC_OPS = {
    "arrayOps": {
        "simpleArray.$": "States.Array('a', 'b', 'c')",
        "partitionedArray.$": "States.ArrayPartition($.inputArray, 2)",
        "containsElement.$": "States.ArrayContains($.inputArray, 5)",
        "numberRange.$": "States.ArrayRange(1, 10, 2)",
        "thirdElement.$": "States.ArrayGetItem($.inputArray, 2)",
        "arraySize.$": "States.ArrayLength($.inputArray)",
        "uniqueValues.$": "States.ArrayUnique($.duplicateArray)",
    },
    "encodingOps": {
        "encoded.$": "States.Base64Encode($.rawString)",
        "decoded.$": "States.Base64Decode($.encodedString)",
    },
    "hashOps": {"hashValue.$": "States.Hash($.inputString, 'SHA-256')"},
    "jsonOps": {
        "mergedJson.$": "States.JsonMerge($.json1, $.json2, false)",
        "parsedJson.$": "States.StringToJson($.jsonString)",
        "stringifiedJson.$": "States.JsonToString($.jsonObject)",
    },
    "mathOps": {"sum.$": "States.MathAdd($.value1, $.value2)"},
    "stringOps": {
        "splitString.$": "States.StringSplit($.csvString, ',')",
        "formattedString.$": "States.Format('Hello {}, welcome to {}!', $.name, $.place)",
    },
    "uuidOp": {"uniqueId.$": "States.UUID()"},
}
_HASH = "1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e"
_INTRINSIC_RESULTS = {
    "arrayOps": {
        "simpleArray": ["a", "b", "c"],
        "partitionedArray": [[1, 2], [3, 4], [5, 6]],
        "containsElement": True,
        "numberRange": [1, 3, 5, 7, 9],
        "thirdElement": 3,
        "arraySize": 6,
        "uniqueValues": [1, 2, 3, 4],
    },
    "encodingOps": {"encoded": "SGVsbG8gV29ybGQ=", "decoded": "Hello World"},
    "hashOps": {"hashValue": _HASH},
    "jsonOps": {
        "mergedJson": {"a": 1, "b": 2, "c": 3, "d": 4},
        "parsedJson": {"key": "value"},
        "stringifiedJson": '{"test":"object"}',
    },
    "mathOps": {"sum": 8},
    "stringOps": {
        "splitString": ["a", "b", "c", "d", "e"],
        "formattedString": "Hello John, welcome to LocalStack!",
    },
    "uuidOp": {"uniqueId": ANY},
}

VARIABLE_CASES: list[AwsCase] = [
    AwsCase(
        "assign_absent_assigns_nothing",
        "variables",
        _BASE + "test_base_cases[BASE_EMPTY]",
        _machine(("State0", _pass())),
        _IN,
        output=_IN,
        assigned=[],
    ),
    AwsCase(
        "assign_literals_stay_literal",
        "variables",
        _BASE + "test_base_cases[BASE_CONSTANT_LITERALS]",
        _machine(("State0", _pass(Assign=_LOOKALIKES))),
        _IN,
        output=_IN,
        assigned=[("State0", _LOOKALIKES)],
    ),
    AwsCase(
        "assign_paths_read_the_state_result",
        "variables",
        _BASE + "test_base_cases[BASE_PATHS]",
        _machine(
            (
                "State0",
                _pass(
                    Assign={
                        "str_path_root.$": "$",
                        "str_path.$": "$.input_value",
                        "str_contextpath_root.$": "$$",
                        "str_intrinsic_func.$": "States.Format('Format Func {}', $.input_value)",
                    }
                ),
            )
        ),
        _IN,
        output=_IN,
        assigned=[
            (
                "State0",
                {
                    "str_path_root": _IN,
                    "str_path": "input_value_literal",
                    "str_contextpath_root": ANY,
                    "str_intrinsic_func": "Format Func input_value_literal",
                },
            )
        ],
    ),
    AwsCase(
        "variables_read_by_the_next_state",
        "variables",
        _BASE + "test_base_cases[BASE_VAR]",
        _machine(
            ("State0", _pass(Assign={"varname.$": "$.input_value", **_LOOKALIKES})),
            (
                "State1",
                _pass(
                    Assign={
                        "varname2": "varname2",
                        "copy_null.$": "$constant_null",
                        "copy_lst.$": "$constant_lst",
                        "copy_obj.$": "$constant_obj",
                        "copy_var_lookalike.$": "$constant_str_var",
                        "obj_member.$": "$constant_obj.in_obj_lst",
                        "copy_varname.$": "$varname",
                    }
                ),
            ),
        ),
        _IN,
        output=_IN,
        assigned=[
            ("State0", {"varname": "input_value_literal", **_LOOKALIKES}),
            (
                "State1",
                {
                    "varname2": "varname2",
                    "copy_null": None,
                    "copy_lst": _LOOKALIKES["constant_lst"],
                    "copy_obj": _LOOKALIKES["constant_obj"],
                    "copy_var_lookalike": "$noSuchVar",
                    "obj_member": [],
                    "copy_varname": "input_value_literal",
                },
            ),
        ],
    ),
    AwsCase(
        "map_iterations_read_outer_variables",
        "variables",
        _BASE + "test_base_cases[BASE_SCOPE_MAP]",
        _machine(
            ("State0", _pass(Assign={"x": 42, "items": [1, 2, 3]})),
            (
                "State1",
                {
                    "Type": "Map",
                    "ItemsPath": "$items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": _inline(("Inner", _pass(Assign={"innerX.$": "$x"}))),
                },
            ),
            ("State2", _pass(Assign={"final.$": "$x"})),
        ),
        _IN,
        output=[1, 2, 3],
        assigned=[
            ("State0", {"x": 42, "items": [1, 2, 3]}),
            ("Inner", {"innerX": 42}),
            ("Inner", {"innerX": 42}),
            ("Inner", {"innerX": 42}),
            ("State2", {"final": 42}),
        ],
    ),
    AwsCase(
        "parallel_branches_read_outer_variables",
        "variables",
        _BASE + "test_base_parallel_cases[BASE_SCOPE_PARALLEL]",
        _machine(
            ("State0", _pass(Assign={"x": 42})),
            (
                "State1",
                {
                    "Type": "Parallel",
                    "Branches": [
                        _machine((f"Branch{i}", _pass(Assign={"innerX.$": "$x", "value.$": "$"})))
                        for i in (1, 2, 3)
                    ],
                },
            ),
        ),
        {},
        output=[{}, {}, {}],
        assigned=[("State0", {"x": 42})]
        + [(f"Branch{i}", {"innerX": 42, "value": {}}) for i in (1, 2, 3)],
    ),
    *(
        AwsCase(
            f"choice_default_takes_the_state_assign_{label.lower()}",
            "variables",
            _REF + f"test_assign_in_choice_state[{label}]",
            _machine(
                (
                    "CheckInputState",
                    {
                        "Type": "Choice",
                        "Choices": [
                            {
                                "Variable": "$.input_value",
                                "IsPresent": False,
                                "Assign": {"status": "UNKNOWN"},
                                "Next": "FinalState",
                            },
                            {
                                "Variable": "$.input_value",
                                "NumericEquals": 42,
                                "Assign": {"status": "CORRECT"},
                                "Next": "FinalState",
                            },
                        ],
                        "Assign": {"status": "INCORRECT", "guess.$": "$.input_value"},
                        "Default": "FinalState",
                    },
                ),
                ("FinalState", _pass(Parameters={"result.$": "$status"})),
            ),
            {"input_value": value},
            output={"result": "INCORRECT"},  # a string "42" is not NumericEquals 42
            assigned=[("CheckInputState", {"guess": value, "status": "INCORRECT"})],
        )
        for label, value in (("CORRECT", "42"), ("INCORRECT", "0"))
    ),
    AwsCase(
        "choice_compares_two_variables_in_a_loop",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_CHOICE]",
        _machine(
            ("Setup", _pass(Assign={"guess": "the_guess", "answer": "the_answer"})),
            (
                "CheckAnswer",
                {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Variable": "$guess",
                            "StringEqualsPath": "$answer",
                            "Next": "CorrectAnswer",
                        }
                    ],
                    "Default": "WrongAnswer",
                },
            ),
            ("CorrectAnswer", _pass(Result={"state": "CORRECT"}, End=True)),
            (
                "WrongAnswer",
                _pass(Assign={"guess.$": "$answer"}, Result={"state": "WRONG"}, Next="CheckAnswer"),
            ),
        ),
        {},
        output={"state": "CORRECT"},
        assigned=[
            ("Setup", {"guess": "the_guess", "answer": "the_answer"}),
            ("WrongAnswer", {"guess": "the_answer"}),
        ],
    ),
    AwsCase(
        "nested_maps_read_every_enclosing_scope",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_ITERATOR_OUTER_SCOPE]",
        _machine(
            ("Input", _pass(Result=_MATRIX, Assign={"bias": 4.3})),
            (
                "IterateLevels",
                {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ItemProcessor": _inline(
                        (
                            "AssignCurrentVector",
                            _pass(
                                Assign={
                                    "xCurrent.$": "$[0]",
                                    "yCurrent.$": "$[1]",
                                    "zCurrent.$": "$[2]",
                                }
                            ),
                        ),
                        (
                            "Calculate",
                            {
                                "Type": "Map",
                                "MaxConcurrency": 1,
                                "ItemProcessor": _inline(
                                    (
                                        "Summate",
                                        _pass(
                                            Assign={
                                                "Sum.$": "States.MathAdd(States.MathAdd("
                                                "States.MathAdd($yCurrent, $xCurrent), "
                                                "$zCurrent), $bias)"
                                            }
                                        ),
                                    )
                                ),
                            },
                        ),
                    ),
                },
            ),
        ),
        {},
        output=_MATRIX,
        assigned=[("Input", {"bias": 4.3})]
        + [
            ("AssignCurrentVector", {"xCurrent": x, "yCurrent": y, "zCurrent": z})
            for x, y, z in _MATRIX
        ]
        + [("Summate", {"Sum": s}) for s in (63, 187, 66) for _ in range(3)],
    ),
    AwsCase(
        "inputpath_reads_a_variable",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_INPUTPATH]",
        _machine(
            ("State0", _pass(Assign={"theAnswer": 42})), ("State1", _pass(InputPath="$theAnswer"))
        ),
        {},
        output=42,
    ),
    AwsCase(
        "outputpath_reads_a_variable",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_OUTPUTPATH]",
        _machine(
            ("State0", _pass(Result={"answer": 42}, Assign={"theAnswer.$": "$.answer"})),
            ("State1", _pass(OutputPath="$theAnswer")),
        ),
        {},
        output=42,
        assigned=[("State0", {"theAnswer": 42})],
    ),
    AwsCase(
        "parameters_read_a_variable_literal_keys_do_not",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_PARAMETERS]",
        _machine(
            ("State0", _pass(Parameters={"result": "$result"}, Assign={"result": "foobar"})),
            ("State1", _pass(ResultPath="$.result", Parameters={"result.$": "$result"})),
        ),
        {},
        output={"result": {"result": "foobar"}},
        assigned=[("State0", {"result": "foobar"})],
    ),
    AwsCase(
        "assign_from_parameters_and_from_variables",
        "variables",
        _REF + "test_assign_from_value[BASE_ASSIGN_FROM_PARAMETERS]",
        _machine(
            ("State0", _pass(Parameters={"input": "PENDING"}, Assign={"result.$": "$.input"})),
            ("State1", _pass(Assign={"result": "SUCCESS", "originalResult.$": "$.input"})),
        ),
        {},
        output={"input": "PENDING"},
        assigned=[
            ("State0", {"result": "PENDING"}),
            ("State1", {"result": "SUCCESS", "originalResult": "PENDING"}),
        ],
    ),
    AwsCase(
        "assign_from_result",
        "variables",
        _REF + "test_assign_from_value[BASE_ASSIGN_FROM_RESULT]",
        _machine(("State0", _pass(Result={"answer": 42}, Assign={"theAnswer.$": "$.answer"}))),
        {},
        output={"answer": 42},
        assigned=[("State0", {"theAnswer": 42})],
    ),
    AwsCase(
        "assign_takes_effect_after_the_state",
        "variables",
        _REF + "test_state_assign_evaluation_order[BASE_EVALUATION_ORDER_PASS_STATE]",
        _machine(
            (
                "State0",
                _pass(
                    Result={"theQuestion": "What is the answer?"},
                    Assign={"question.$": "$.theQuestion", "answer": 42},
                ),
            ),
            (
                "State1",
                _pass(
                    InputPath="$answer",
                    ResultPath="$.theAnswer",
                    OutputPath="$answer",
                    Assign={"answer": "<omitted>"},
                ),
            ),
        ),
        {},
        output=42,  # OutputPath still sees the value from before State1
        assigned=[
            ("State0", {"question": "What is the answer?", "answer": 42}),
            ("State1", {"answer": "<omitted>"}),
        ],
    ),
    AwsCase(
        "assign_all_values_see_the_values_before_the_state",
        "variables",
        _WV + " (Assign: all of a state's assignments are evaluated against the variables "
        "as they were on entering it, then set together)",
        _machine(
            ("Init", _pass(Assign={"x": 3, "y": 6})),
            ("Swap", _pass(Assign={"x.$": "$y", "y.$": "$x"})),
            ("Show", _pass(Parameters={"x.$": "$x", "y.$": "$y"})),
        ),
        {},
        output={"x": 6, "y": 3},
        assigned=[("Init", {"x": 3, "y": 6}), ("Swap", {"x": 6, "y": 3})],
    ),
    AwsCase(
        "intrinsics_read_variables",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_INTRINSIC_FUNCTION]",
        _machine(
            ("State0", _pass(Assign=_INTRINSIC_INPUT)),
            (
                "State1",
                _pass(
                    Parameters={
                        "hashOps": {"hashValue.$": "States.Hash($inputString, 'SHA-256')"},
                        "jsonOps": {"mergedJson.$": "States.JsonMerge($json1, $json2, false)"},
                        "mathOps": {"sum.$": "States.MathAdd($value1, $value2)"},
                        "stringOps": {
                            "formattedString.$": "States.Format('Hello {}, welcome to {}!', "
                            "$name, $place)"
                        },
                    }
                ),
            ),
        ),
        {},
        output={
            "hashOps": {"hashValue": _HASH},
            "jsonOps": {"mergedJson": {"a": 1, "b": 2, "c": 3, "d": 4}},
            "mathOps": {"sum": 8},
            "stringOps": {"formattedString": "Hello John, welcome to LocalStack!"},
        },
    ),
    AwsCase(
        "assign_from_intrinsics",
        "variables",
        _REF + "test_assign_from_value[BASE_ASSIGN_FROM_INTRINSIC_FUNCTION]",
        _machine(("State0", _pass(Result=_INTRINSIC_INPUT, Assign=_INTRINSIC_OPS))),
        {},
        output=_INTRINSIC_INPUT,
        assigned=[("State0", _INTRINSIC_RESULTS)],
    ),
    AwsCase(
        "wait_paths_read_variables",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_WAIT]",
        _machine(
            ("Start", _pass(Assign={"waitTime": 0, "startAt": "2024-11-06T09:42:03Z"})),
            ("WaitSecondsState", {"Type": "Wait", "SecondsPath": "$waitTime"}),
            ("WaitUntilState", {"Type": "Wait", "TimestampPath": "$startAt"}),
        ),
        {},
        output={},
    ),
    AwsCase(
        "fail_paths_read_variables",
        "variables",
        _REF + "test_reference_assign[BASE_REFERENCE_IN_FAIL]",
        _machine(
            ("Pass", _pass(Assign={"errorVar": "Exception", "causeVar": "An Exception"})),
            ("Fail", {"Type": "Fail", "CausePath": "$causeVar", "ErrorPath": "$errorVar"}),
        ),
        {},
        status="FAILED",
        output=None,
        error="Exception",
        cause="An Exception",
    ),
    AwsCase(
        "wait_assigns",
        "variables",
        _REF + "test_assign_in_wait_state",
        _machine(("WaitState", {"Type": "Wait", "Seconds": 0, "Assign": {"foo": "oof"}})),
        {},
        output={},
        assigned=[("WaitState", {"foo": "oof"})],
    ),
    AwsCase(
        "map_item_selector_intrinsic_reads_a_variable",
        "variables",
        _REF + "test_reference_in_map_state[MAP_STATE_REFERENCE_IN_INTRINSIC_FUNCTION]",
        _machine(
            (
                "Start",
                _pass(
                    Assign={"AnswerTemplate": "It's {}!", "Question": "Who's that Pokemon?"},
                    Result=_POKEMON,
                ),
            ),
            (
                "MapIterateState",
                {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ItemSelector": {
                        "AnnouncePokemon.$": "States.Format($AnswerTemplate, $$.Map.Item.Value)"
                    },
                    "ItemProcessor": _inline(
                        (
                            "Pass",
                            _pass(
                                Parameters={
                                    "Question.$": "$Question",
                                    "Answer.$": "$.AnnouncePokemon",
                                }
                            ),
                        )
                    ),
                },
            ),
        ),
        {},
        output=_ANNOUNCED,
    ),
    AwsCase(
        "map_items_path_reads_a_variable",
        "variables",
        _REF + "test_reference_in_map_state[MAP_STATE_REFERENCE_IN_ITEMS_PATH]",
        _machine(
            (
                "Start",
                _pass(
                    Assign={"Question": "Who's that Pokemon?", "PokemonList": _POKEMON},
                    Result={"AnswerTemplate": "It's {}!"},
                ),
            ),
            (
                "MapIterateState",
                {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ItemsPath": "$PokemonList",
                    "ItemSelector": {
                        "AnnouncePokemon.$": "States.Format($.AnswerTemplate, $$.Map.Item.Value)"
                    },
                    "ItemProcessor": _inline(
                        (
                            "Pass",
                            _pass(
                                Parameters={
                                    "Question.$": "$Question",
                                    "Answer.$": "$.AnnouncePokemon",
                                }
                            ),
                        )
                    ),
                },
            ),
        ),
        {},
        output=_ANNOUNCED,
    ),
    AwsCase(
        "map_max_concurrency_path_reads_a_numeric_string_variable",
        "variables",
        _REF + "test_reference_in_map_state[MAP_STATE_REFERENCE_IN_MAX_CONCURRENCY_PATH]",
        _machine(
            ("Start", _pass(Assign={"maxConcurrency": "1"}, Result={"Values": [1, 2, 3]})),
            (
                "MapState",
                {
                    "Type": "Map",
                    "ItemsPath": "$.Values",
                    "MaxConcurrencyPath": "$maxConcurrency",
                    "ItemProcessor": _inline(("HandleItem", _pass())),
                },
            ),
        ),
        {},
        output=[1, 2, 3],
    ),
    AwsCase(
        "task_fields_read_variables_and_assign_reads_the_result",
        "variables",
        _REF + "test_variables_in_lambda_task[BASE_ASSIGN_FROM_LAMBDA_TASK_RESULT]",
        _machine(
            (
                "Pass",
                _pass(
                    Assign={
                        "functionName.$": "$.FunctionName",
                        "inputData": {"foo": "oof", "bar": "rab"},
                        "timeout": 300,
                    }
                ),
            ),
            (
                "Task",
                {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "TimeoutSecondsPath": "$timeout",
                    "Parameters": {"Payload.$": "$inputData", "FunctionName.$": "$functionName"},
                    "Assign": {"result.$": "$.Payload"},
                    "OutputPath": "$.Payload",
                },
            ),
            ("End", _pass(Assign={"previousResult.$": "$result", "timeout": 150})),
        ),
        {"FunctionName": "fn"},
        output="HelloWorld!",
        results={
            LAMBDA: {"ExecutedVersion": "$LATEST", "Payload": "HelloWorld!", "StatusCode": 200}
        },
        assigned=[
            (
                "Pass",
                {"functionName": "fn", "inputData": {"foo": "oof", "bar": "rab"}, "timeout": 300},
            ),
            ("Task", {"result": "HelloWorld!"}),
            ("End", {"previousResult": "HelloWorld!", "timeout": 150}),
        ],
    ),
    AwsCase(
        "jsonpath_states_share_variables",
        "variables",
        _MIXED + "test_variable_sampling[JSONATA_ASSIGN_JSONPATH_REF]",
        _machine(
            ("First", _pass(QueryLanguage="JSONPath", Assign={"theAnswerVar": 42})),
            (
                "Second",
                _pass(
                    QueryLanguage="JSONPath",
                    Assign={"theAnswerVar": 18, "oldAnswerVar.$": "$theAnswerVar"},
                ),
            ),
        ),
        {},
        output={},
        assigned=[
            ("First", {"theAnswerVar": 42}),
            ("Second", {"theAnswerVar": 18, "oldAnswerVar": 42}),
        ],
    ),
    AwsCase(
        "jsonata_state_reads_a_jsonpath_state_variable",
        "variables",
        _MIXED + "test_variable_sampling[JSONPATH_ASSIGN_JSONATA_REF]",
        _machine(
            ("JSONPathState", _pass(QueryLanguage="JSONPath", Assign={"theAnswer": 42})),
            (
                "JSONataState",
                _pass(
                    QueryLanguage="JSONata",
                    Assign={"theAnswer": 18, "oldAnswer": "{% $theAnswer %}"},
                ),
            ),
        ),
        {},
        output={},
        assigned=[
            ("JSONPathState", {"theAnswer": 42}),
            ("JSONataState", {"theAnswer": 18, "oldAnswer": 42}),
        ],
    ),
    AwsCase(
        "jsonpath_assign_reads_result_then_jsonata_task_reads_it",
        "variables",
        _MIXED + "test_task_dataflow_to_state",
        _machine(
            (
                "StateJsonPath",
                _pass(
                    QueryLanguage="JSONPath",
                    Result={"riddle": "What is the answer?"},
                    Assign={"answer": 42, "inputData.$": "$"},
                    OutputPath="$",
                    ResultPath="$.enigma.mystery",
                ),
            ),
            (
                "StateJsonata",
                {
                    "QueryLanguage": "JSONata",
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Arguments": {
                        "FunctionName": "{% $states.input.functionName %}",
                        "Payload": {
                            "theQuestion": "{% $states.input.enigma.mystery.riddle %}",
                            "theAnswer": "{% $answer %}",
                        },
                    },
                    "Assign": {"answer": "<omitted>", "message": "{% $states.result.Payload %}"},
                    "Output": {"result": "{% $states.result.Payload %}"},
                },
            ),
        ),
        {"functionName": "fn"},
        output={"result": {"theQuestion": "What is the answer?", "theAnswer": 42}},
        # the recorded function echoes its payload
        results={LAMBDA: {"Payload": {"theQuestion": "What is the answer?", "theAnswer": 42}}},
        assigned=[
            ("StateJsonPath", {"answer": 42, "inputData": {"riddle": "What is the answer?"}}),
            (
                "StateJsonata",
                {
                    "answer": "<omitted>",
                    "message": {"theQuestion": "What is the answer?", "theAnswer": 42},
                },
            ),
        ],
    ),
    # ------------------------------------------------------------ Distributed Map
    AwsCase(
        "distributed_item_selector_dollar_name_without_dot_dollar_is_literal",
        "distributed-map",
        _REF + "test_reference_in_map_state[MAP_STATE_REFERENCE_IN_ITEM_SELECTOR]",
        _machine(
            ("Start", _pass(Assign={"bucket": "test-name"}, Result={"Values": [1, 2, 3]})),
            (
                "MapState",
                _distributed(
                    ItemsPath="$.Values",
                    ItemSelector={"value.$": "$$.Map.Item.Value", "bucketName": "$bucket"},
                ),
            ),
        ),
        {},
        output=[{"bucketName": "$bucket", "value": v} for v in (1, 2, 3)],
    ),
    AwsCase(
        "distributed_tolerated_failure_paths_read_numeric_string_variables",
        "distributed-map",
        _REF + "test_reference_in_map_state[MAP_STATE_REFERENCE_IN_TOLERATED_FAILURE_PATH]",
        _machine(
            (
                "Start",
                _pass(
                    Assign={"toleratedFailurePercentage": "1", "toleratedFailureCount": "1"},
                    Result={"Values": [1, 2, 3]},
                ),
            ),
            (
                "MapState",
                _distributed(
                    ItemsPath="$.Values",
                    ToleratedFailurePercentagePath="$toleratedFailurePercentage",
                    ToleratedFailureCountPath="$toleratedFailureCount",
                ),
            ),
        ),
        {},
        output=[1, 2, 3],
    ),
    AwsCase(
        "distributed_max_items_path_reads_a_numeric_string_variable",
        "distributed-map",
        _REF + "test_reference_in_map_state_max_items_path[MAP_STATE_REFERENCE_IN_MAX_ITEMS_PATH]",
        _machine(
            ("Start", _pass(Assign={"maxItems": "2"})),
            ("MapState", _distributed(ItemReader=_reader(MaxItemsPath="$maxItems"))),
        ),
        _S3_IN,
        output=_FOUR[:2],
        objects={("bucket-name", "file.json"): _FOUR_BODY},
    ),
    AwsCase(
        "distributed_batcher_paths_read_numeric_string_variables",
        "distributed-map",
        _REF
        + "test_reference_in_map_state_max_items_path[MAP_STATE_REFERENCE_IN_MAX_PER_BATCH_PATH]",
        _machine(
            ("Start", _pass(Assign={"maxItemsPerBatch": "2", "maxBytesPerBatch": "15000"})),
            (
                "BatchMapState",
                _distributed(
                    ItemReader=_reader(),
                    ItemBatcher={
                        "MaxItemsPerBatchPath": "$maxItemsPerBatch",
                        "MaxInputBytesPerBatchPath": "$maxBytesPerBatch",
                    },
                ),
            ),
        ),
        _S3_IN,
        output=[{"Items": _FOUR[:2]}, {"Items": _FOUR[2:]}],
        objects={("bucket-name", "file.json"): _FOUR_BODY},
    ),
    # ------------------------------------------------------------ definitions refused
    AwsCase(
        "variable_name_must_be_an_identifier",
        "variables",
        _WV + " (variable name syntax: Unicode identifier rules)",
        None,
        invalid=_machine(("S", _pass(Assign={"1st": 1}))),
    ),
    AwsCase(
        "variable_name_at_most_80_characters",
        "variables",
        _WV + " (variable name syntax: the maximum length of a variable name is 80)",
        None,
        invalid=_machine(("S", _pass(Assign={"v" * 81: 1}))),
    ),
    AwsCase(
        "variable_named_states_is_reserved",
        "variables",
        _WV + "#reserved-variable-states ($states is reserved)",
        None,
        invalid=_machine(("S", _pass(Assign={"states": 1}))),
    ),
    AwsCase(
        "inner_scope_cannot_assign_an_outer_variable",
        "variables",
        _WV + " (variable scope: a variable assigned in an inner scope cannot have the "
        "same name as one assigned in an outer scope)",
        None,
        invalid=_machine(
            ("Outer", _pass(Assign={"x": 1})),
            (
                "M",
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": _inline(("Inner", _pass(Assign={"x": 2}))),
                },
            ),
        ),
    ),
    AwsCase(
        "resultpath_cannot_name_a_variable",
        "variables",
        _WV + " (variables are set by Assign; ResultPath places the result in the state output)",
        None,
        invalid=_machine(("S", _pass(ResultPath="$x"))),
    ),
]
