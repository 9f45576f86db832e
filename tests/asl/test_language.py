"""Unit tests of the building blocks: JSONPath subset, intrinsics, Choice rules."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest

from cloudphot.asl import AslDefinitionError, StatesError, evaluate_choice_rule
from cloudphot.asl.intrinsics import IntrinsicSyntaxError, compile_intrinsic
from cloudphot.asl.paths import NotFound, PathError, compile_path, read_path, set_reference_path

DOC = {
    "a": {"b": [1, 2, 3]},
    "items": [{"k": "x", "v": 1}, {"k": "y", "v": 5}],
    "s": "hi",
    "dot.key": 7,
    "n": None,
}


@pytest.mark.parametrize(
    "path, value",
    [
        ("$", DOC),
        ("$.a.b[1]", 2),
        ("$.a.b[-1]", 3),
        ("$['a']['b'][0]", 1),
        ("$.dot\\.key", 7),
        ("$['dot.key']", 7),
        ("$.n", None),
        ("$.items[*].k", ["x", "y"]),
        ("$.a.b[0:2]", [1, 2]),
        ("$.a.b[::2]", [1, 3]),
        ("$.a.b[0,2]", [1, 3]),
        ("$.items[?(@.v > 2)].k", ["y"]),
        ("$.items[?(@.k == 'x' || @.v >= 5)].v", [1, 5]),
        ("$.items[?(@.k)].k", ["x", "y"]),
        ("$..v", [1, 5]),
        ("$.missing[*]", []),
    ],
)
def test_read_paths(path, value):
    assert read_path(path, DOC) == value


def test_definite_path_not_found_and_bad_syntax():
    with pytest.raises(NotFound):
        read_path("$.a.c", DOC)
    with pytest.raises(NotFound):
        read_path("$.a.b[9]", DOC)
    for bad in ("a.b", "$.a[", "$.a[1:2:0]", "$.", "$.a[?(@.x ~ 1)]"):
        with pytest.raises(PathError):
            compile_path(bad)


def test_reference_path_set_is_copy_on_write():
    p = compile_path("$.a.new.deep")
    out = set_reference_path(DOC, p, 9)
    assert out["a"]["new"] == {"deep": 9} and "new" not in DOC["a"]
    assert out["items"] is DOC["items"]  # untouched branches are shared, not copied
    assert set_reference_path(DOC, compile_path("$.a.b[0]"), "z")["a"]["b"] == ["z", 2, 3]
    assert DOC["a"]["b"][0] == 1


def run(text, data=DOC, ctx=None):
    return compile_intrinsic(text)(data, ctx or {}, True)


@pytest.mark.parametrize(
    "text, value",
    [
        ("States.Format('{} and {}', $.s, $.a.b[2])", "hi and 3"),
        ("States.Format('x\\{\\}y{}', 1.5)", "x{}y1.5"),
        ("States.Format('{}', $.n)", "null"),
        ("States.Format('a\\\\b')", "a\\b"),
        ("States.StringToJson('[1,{\"a\":null}]')", [1, {"a": None}]),
        ("States.JsonToString($.a)", '{"b":[1,2,3]}'),
        ("States.Array()", []),
        ("States.Array(States.Array(1), 'two', true, null)", [[1], "two", True, None]),
        ("States.ArrayPartition($.a.b, 2)", [[1, 2], [3]]),
        ("States.ArrayContains($.items, $.items[1])", True),
        ("States.ArrayContains(States.Array(1, 2), true)", False),
        ("States.ArrayRange(0, 4, 2)", [0, 2, 4]),
        ("States.ArrayRange(3, 0, -1)", [3, 2, 1, 0]),
        ("States.ArrayGetItem($.a.b, 0)", 1),
        ("States.ArrayLength($.items)", 2),
        (
            "States.ArrayUnique(States.Array(1, 1.0, '1', true, 1, true, null, null))",
            [1, "1", True, None],
        ),
        ("States.ArrayUnique(States.Array($.a, $.a, $.items))", [{"b": [1, 2, 3]}, DOC["items"]]),
        ("States.Base64Encode('cloudphot')", base64.b64encode(b"cloudphot").decode()),
        ("States.Base64Decode('Y2xvdWRwaG90')", "cloudphot"),
        ("States.Hash('abc', 'SHA-1')", hashlib.sha1(b"abc").hexdigest()),
        (
            'States.JsonMerge(States.StringToJson(\'{"a":{"x":1}}\'), States.StringToJson(\'{"a":{"y":2}}\'), true)',
            {"a": {"x": 1, "y": 2}},
        ),
        ("States.MathAdd(-3, $.a.b[2])", 0),
        ("States.StringSplit('a, b,,c', ', ')", ["a", "b", "c"]),
        ("States.MathRandom(7, 8)", 7),
    ],
)
def test_intrinsics(text, value):
    assert run(text) == value


def test_math_random_seeded_is_reproducible_and_in_range():
    vals = [run("States.MathRandom(1, 1000, 42)") for _ in range(3)]
    assert len(set(vals)) == 1 and 1 <= vals[0] < 1000


def test_uuid_and_context_paths():
    assert uuid.UUID(run("States.UUID()")).version == 4
    assert run("States.Format('{}', $$.Map.Item.Index)", ctx={"Map": {"Item": {"Index": 4}}}) == "4"


@pytest.mark.parametrize(
    "text",
    [
        "States.ArrayGetItem($.a.b, 3)",
        "States.ArrayPartition($.a.b, 0)",
        "States.ArrayRange(1, 2, 0)",
        "States.ArrayRange(0, 5000, 1)",
        "States.StringToJson('{')",
        "States.Format('{} {}', 1)",
        "States.Hash('x', 'SHA-3')",
        "States.Base64Decode('***')",
        "States.JsonMerge($.a, $.s, false)",
        "States.ArrayLength($.s)",
    ],
)
def test_intrinsic_failures(text):
    with pytest.raises(StatesError) as info:
        run(text)
    assert info.value.error == "States.IntrinsicFailure"
    assert "States." in info.value.cause


def test_intrinsic_missing_path_is_runtime_error():
    with pytest.raises(StatesError) as info:
        run("States.Format('{}', $.nope)")
    assert info.value.error == "States.Runtime"


@pytest.mark.parametrize(
    "text",
    [
        "States.Format('x'",
        "States.Format('x') extra",
        "Foo.Bar()",
        "States.Format('x', ?)",
        "States.Format('unterminated)",
    ],
)
def test_intrinsic_syntax_errors(text):
    with pytest.raises(IntrinsicSyntaxError):
        compile_intrinsic(text)


@pytest.mark.parametrize(
    "rule, expected",
    [
        ({"Variable": "$.f", "StringMatches": "*.fits"}, True),
        ({"Variable": "$.f", "StringMatches": "j*_drz.fits"}, False),
        ({"Variable": "$.lit", "StringMatches": "a\\*b"}, True),
        ({"Variable": "$.lit", "StringMatches": "a\\\\*"}, False),
        ({"Variable": "$.bs", "StringMatches": "x\\\\y"}, True),
        ({"Variable": "$.t", "TimestampLessThan": "2024-05-01T12:00:00.5Z"}, True),
        ({"Variable": "$.t", "TimestampEquals": "2024-05-01T14:00:00+02:00"}, True),
        ({"Variable": "$.t", "IsTimestamp": True}, True),
        ({"Variable": "$.bad_t", "IsTimestamp": True}, False),
        ({"Variable": "$.x", "NumericEquals": 1}, True),
        ({"Variable": "$.flag", "NumericEquals": 1}, False),  # booleans are not numbers
        ({"Not": {"Variable": "$.missing", "IsPresent": True}}, True),
        (
            {
                "And": [
                    {"Variable": "$.x", "IsNumeric": True},
                    {"Variable": "$.x", "NumericLessThanPath": "$.y"},
                ]
            },
            True,
        ),
    ],
)
def test_choice_rules(rule, expected):
    data = {
        "f": "j8ab01_flt.fits",
        "lit": "a*b",
        "bs": "x\\y",
        "t": "2024-05-01T12:00:00Z",
        "bad_t": "2024-05-01 12:00:00",
        "x": 1,
        "y": 2,
        "flag": True,
    }
    assert evaluate_choice_rule(rule, data) is expected


def test_choice_rule_errors():
    with pytest.raises(StatesError) as info:
        evaluate_choice_rule({"Variable": "$.nope", "StringEquals": "x"}, {})
    assert info.value.error == "States.Runtime"
    with pytest.raises(AslDefinitionError, match="exactly one operator"):
        evaluate_choice_rule({"Variable": "$.x"}, {})
    with pytest.raises(
        AslDefinitionError, match="not a valid numeric"
    ):  # validated even if never reached
        evaluate_choice_rule(
            {
                "Or": [
                    {"Variable": "$.x", "IsPresent": True},
                    {"Variable": "$.x", "NumericEquals": "1"},
                ]
            },
            {"x": 1},
        )
    with pytest.raises(AslDefinitionError, match="Variable"):
        evaluate_choice_rule({"Variable": "x", "IsNull": True}, {})
    assert evaluate_choice_rule(
        {"Variable": "$$.Execution.Name", "StringEquals": "j"}, {}, {"Execution": {"Name": "j"}}
    )
