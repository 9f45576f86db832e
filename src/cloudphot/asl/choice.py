"""Choice rules: comparison operators, And/Or/Not, and the type tests.

Public because the task registry uses Choice rules as trigger conditions.
Semantics follow the ASL spec: a comparison whose operand has the wrong type
is false (not an error); a ``Variable`` path that matches nothing is a
``States.Runtime`` error except under ``IsPresent``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from typing import Any

from .errors import AslDefinitionError, StatesError
from .paths import NotFound, PathError, compile_path
from .variables import path_document

__all__ = [
    "COMPARISON_OPERATORS",
    "evaluate_choice_rule",
    "parse_timestamp",
    "validate_choice_rule",
]

_KIND_CHECKS: dict[str, Any] = {
    "String": lambda v: isinstance(v, str),
    "Numeric": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
    "Timestamp": lambda v: isinstance(v, str) and _is_timestamp(v),
}
_RELATIONS = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
COMPARISON_OPERATORS: dict[str, tuple[str, str, bool]] = {}
for _kind in _KIND_CHECKS:
    for _rel in _RELATIONS:
        if _kind == "Boolean" and _rel != "Equals":
            continue
        COMPARISON_OPERATORS[_kind + _rel] = (_kind, _rel, False)
        COMPARISON_OPERATORS[_kind + _rel + "Path"] = (_kind, _rel, True)
COMPARISON_OPERATORS["StringMatches"] = ("String", "Matches", False)
_TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")

_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _is_timestamp(text: str) -> bool:
    return parse_timestamp(text) is not None


@functools.lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> _dt.datetime | None:
    """RFC 3339 timestamp with an uppercase T and a Z or offset, as ASL requires; else None."""
    m = _TS.match(text)
    if not m:
        return None
    frac = m.group(7) or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    tz = m.group(8)
    if tz == "Z":
        tzinfo = _dt.UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = _dt.timezone(sign * _dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    try:
        return _dt.datetime(
            int(m.group(1)),
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            micro,
            tzinfo=tzinfo,
        )
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _operator_of(rule: dict, where: str) -> str:
    ops = [k for k in rule if k in COMPARISON_OPERATORS or k in _TYPE_TESTS]
    bools = [k for k in rule if k in ("And", "Or", "Not")]
    if len(ops) + len(bools) != 1:
        raise AslDefinitionError(
            f"{where}: a Choice rule needs exactly one operator, found "
            f"{ops + bools or 'none'} in {json.dumps(rule)[:200]}"
        )
    return (ops + bools)[0]


def validate_choice_rule(rule: Any, where: str, top: bool = False) -> None:
    """Check one rule's shape; raise AslDefinitionError naming ``where``."""
    if not isinstance(rule, dict):
        raise AslDefinitionError(f"{where}: a Choice rule must be an object")
    op = _operator_of(rule, where)
    if op in ("And", "Or"):
        subs = rule[op]
        if not isinstance(subs, list) or not subs:
            raise AslDefinitionError(f"{where}.{op}: must be a non-empty array of rules")
        for i, sub in enumerate(subs):
            validate_choice_rule(sub, f"{where}.{op}[{i}]")
    elif op == "Not":
        validate_choice_rule(rule["Not"], f"{where}.Not")
    else:
        var = rule.get("Variable")
        if not isinstance(var, str):
            raise AslDefinitionError(f"{where}.Variable: required string for operator {op}")
        try:
            compile_path(var)
        except PathError as exc:
            raise AslDefinitionError(f"{where}.Variable: {exc}") from None
        value = rule[op]
        if op in _TYPE_TESTS:
            if not isinstance(value, bool):
                raise AslDefinitionError(f"{where}.{op}: must be true or false")
        else:
            kind, _rel, is_path = COMPARISON_OPERATORS[op]
            if is_path:
                try:
                    compile_path(value)
                except PathError as exc:
                    raise AslDefinitionError(f"{where}.{op}: {exc}") from None
            elif not _KIND_CHECKS[kind](value):
                raise AslDefinitionError(f"{where}.{op}: {value!r} is not a valid {kind.lower()}")
    if not top and "Next" in rule:
        raise AslDefinitionError(f"{where}.Next: only top-level Choice rules may have Next")


def _read(path_text: str, data: Any, context: Any) -> Any:
    p = compile_path(path_text)
    return p.read(path_document(p, data, context))


def evaluate_choice_rule(rule: dict, data: Any, context: dict | None = None) -> bool:
    """Evaluate one Choice rule (``Next``/``Comment`` ignored) against ``data``.

    The rule is validated first, so a malformed rule (wrong operand type, two
    operators, bad path) raises AslDefinitionError even when it would not be reached;
    a ``Variable`` (or ``...Path`` operand) that matches nothing raises
    StatesError('States.Runtime'), except under IsPresent.
    """
    if not isinstance(rule, dict):
        raise AslDefinitionError("Choice rule must be an object")
    validate_choice_rule(
        {k: v for k, v in rule.items() if k not in ("Next", "Comment")}, "Choice rule", top=True
    )
    return _evaluate(rule, data, context)


def _evaluate(rule: dict, data: Any, context: dict | None = None) -> bool:
    """Evaluate an already validated rule (the executor validated it at construction)."""
    op = _operator_of(rule, "Choice rule")
    if op == "And":
        return all(_evaluate(r, data, context) for r in rule["And"])
    if op == "Or":
        return any(_evaluate(r, data, context) for r in rule["Or"])
    if op == "Not":
        return not _evaluate(rule["Not"], data, context)
    var = rule.get("Variable")
    if not isinstance(var, str):
        raise AslDefinitionError(f"Choice rule: Variable is required for {op}")
    ctx = context or {}
    try:
        value = _read(var, data, ctx)
    except NotFound:
        if op == "IsPresent":
            return rule[op] is False
        raise StatesError(
            "States.Runtime",
            f"Invalid path '{var}': The choice state's condition path references an invalid value.",
        ) from None
    except PathError as exc:
        raise AslDefinitionError(f"Choice rule Variable: {exc}") from None
    if op in _TYPE_TESTS:
        want = rule[op]
        if op == "IsPresent":
            return want is True
        if op == "IsNull":
            return (value is None) is want
        return _KIND_CHECKS[op[2:]](value) is want
    kind, rel, is_path = COMPARISON_OPERATORS[op]
    other = rule[op]
    if is_path:
        try:
            other = _read(other, data, ctx)
        except NotFound:
            raise StatesError(
                "States.Runtime",
                f"Invalid path '{rule[op]}': The choice state's condition path "
                f"references an invalid value.",
            ) from None
    check = _KIND_CHECKS[kind]
    if not check(value) or not check(other):
        return False
    if rel == "Matches":
        return _glob(other).fullmatch(value) is not None
    if kind == "Timestamp":
        value, other = parse_timestamp(value), parse_timestamp(other)
    return _RELATIONS[rel](value, other)
