"""Definition validation, done once at construction.

Mirrors what CreateStateMachine rejects, so a broken ``statemachines/*.asl.json``
fails at load time with a message naming the state and field, not mid-run.

Both query languages are checked (developer guide, "Transforming data with
JSONata"): a JSONata state has ``Arguments``/``Output``/``Items``/``Condition``
and none of JSONPath's five I/O fields or ``...Path`` fields; a JSONPath state has
none of JSONata's; a machine set to JSONata cannot have JSONPath states (recorded
wording). Variables (``Assign``) follow the guide's scoping rule: a name assigned
inside a Map or Parallel cannot also be assigned by an enclosing scope.
"""

from __future__ import annotations

import json
from typing import Any

from .choice import validate_choice_rule
from .errors import AslDefinitionError
from .intrinsics import IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from .jsonata_eval import (
    JsonataSyntaxError,
    compile_expression,
    is_expression,
    template_expressions,
)
from .paths import PathError, compile_path
from .variables import check_variable_name

__all__ = ["STATE_TYPES", "load_definition", "state_language", "validate_machine"]

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
JSONPATH, JSONATA = "JSONPath", "JSONata"
MAX_NESTING = 200  # ours: Python's stack decides the real limit, so refuse well before it

_COMMON = {"Type", "Comment", "QueryLanguage"}
_IO = {"InputPath", "OutputPath", "Output"}
# fields of one query language only (developer guide: JSONata replaces the five
# JSONPath I/O fields by Arguments and Output, and every ...Path field by an
# expression in the field itself)
_JSONPATH_ONLY = {
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "Iterator",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "ErrorPath",
    "CausePath",
}
_JSONATA_ONLY = {"Arguments", "Output", "Items"}
_FIELDS = {
    "Pass": _COMMON | _IO | {"Next", "End", "Result", "ResultPath", "Parameters", "Assign"},
    "Task": _COMMON
    | _IO
    | {
        "Assign",
        "Arguments",
        "Next",
        "End",
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
    },
    "Choice": _COMMON | _IO | {"Choices", "Default", "Assign"},
    "Wait": _COMMON
    | _IO
    | {"Next", "End", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON
    | _IO
    | {
        "Next",
        "End",
        "Branches",
        "Parameters",
        "Arguments",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "Assign",
    },
    "Map": _COMMON
    | _IO
    | {
        "Assign",
        "Items",
        "Next",
        "End",
        "Iterator",
        "ItemProcessor",
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Label",
        "ItemReader",
        "ResultWriter",
        "ItemBatcher",
    },
}


def load_definition(definition: dict | str) -> dict:
    """Accept a dict or JSON text; return the dict."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise AslDefinitionError(f"definition is not valid JSON: {exc}") from None
    if not isinstance(definition, dict):
        raise AslDefinitionError("definition must be a JSON object")
    return definition


def state_language(state: dict, machine_language: str) -> str:
    """The query language a state is evaluated in (its own, else the machine's)."""
    return state.get("QueryLanguage", machine_language)


def validate_machine(
    machine: Any,
    where: str = "",
    *,
    language: str | None = None,
    outer_names: frozenset[str] = frozenset(),
    depth: int = 0,
) -> None:
    """Validate a top-level machine or a Parallel branch / Map processor (``where``
    prefixes messages; ``language`` is the top-level machine's query language for
    nested machines, ``outer_names`` the variables enclosing scopes assign)."""
    pre = f"{where}." if where else ""
    if depth > MAX_NESTING:
        raise AslDefinitionError(
            f"definition: states are nested more than {MAX_NESTING} levels deep (Parallel "
            "branches or Map processors inside each other); flatten the definition or "
            "split it into child state machines"
        )
    if not isinstance(machine, dict):
        raise AslDefinitionError(f"{where or 'definition'}: must be an object")
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        raise AslDefinitionError(f"{pre}States: required non-empty object")
    start = machine.get("StartAt")
    if not isinstance(start, str):
        raise AslDefinitionError(f"{pre}StartAt: required string")
    if start not in states:
        raise AslDefinitionError(f"{pre}StartAt: no state named {start!r}")
    if language is None:
        language = machine.get("QueryLanguage", JSONPATH)
        if language not in (JSONPATH, JSONATA):
            raise AslDefinitionError(f"{pre}QueryLanguage: must be JSONPath or JSONata")
    elif "QueryLanguage" in machine:
        raise AslDefinitionError(
            f"{pre}QueryLanguage: only the top-level machine and its states may set "
            "QueryLanguage; set it on the states inside"
        )
    if "TimeoutSeconds" in machine:
        _positive_int(machine["TimeoutSeconds"], f"{pre}TimeoutSeconds")
    names = frozenset(n for s in states.values() if isinstance(s, dict) for n in _assigned(s))
    clash = sorted(names & outer_names)
    if clash:
        raise AslDefinitionError(
            f"{where}: the variable {clash[0]!r} is assigned both inside this "
            "Map/Parallel and in an enclosing scope; states inside a Map or Parallel "
            "may read outer variables but not assign them (return data through "
            "Output, or use another name)"
        )
    for name, state in states.items():
        if len(name) > 80:
            raise AslDefinitionError(
                f"{pre}{name[:40]}...: state names are limited to 80 characters"
            )
        _validate_state(name, state, states, f"{pre}{name}", language, outer_names | names, depth)
    _check_reachable(start, states, pre)
    if not any(_terminal(s) for s in states.values()):
        raise AslDefinitionError(
            f"{where or 'definition'}: MISSING_END_STATE: the workflow does not have a "
            "terminal state (a state with End: true, a Succeed or a Fail state)"
        )


def _assigned(state: dict) -> set[str]:
    """Variable names a state assigns (its Assign, its Choice rules', its catchers')."""
    out: set[str] = set()
    blocks = [state.get("Assign")]
    blocks += [r.get("Assign") for r in state.get("Choices", []) if isinstance(r, dict)]
    blocks += [c.get("Assign") for c in state.get("Catch", []) if isinstance(c, dict)]
    for b in blocks:
        if isinstance(b, dict):
            out.update(k[:-2] if k.endswith(".$") else k for k in b)
    return out


def _terminal(state: dict) -> bool:
    return state.get("End") is True or state.get("Type") in ("Succeed", "Fail")


def _targets(state: dict) -> list[str]:
    out = [state["Next"]] if "Next" in state else []
    if "Default" in state:
        out.append(state["Default"])
    out += [c.get("Next") for c in state.get("Choices", []) if isinstance(c, dict)]
    out += [c.get("Next") for c in state.get("Catch", []) if isinstance(c, dict)]
    return out


def _check_reachable(start: str, states: dict, pre: str) -> None:
    seen, todo = {start}, [start]
    while todo:
        for t in _targets(states[todo.pop()]):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    for name in states:
        if name not in seen:
            raise AslDefinitionError(f"{pre}{name}: state is not reachable from StartAt")


def _positive_int(v: Any, where: str, allow_zero: bool = False) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < (0 if allow_zero else 1):
        raise AslDefinitionError(
            f"{where}: must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}"
        )


def _check_path(
    state: dict, field: str, where: str, reference: bool = False, nullable: bool = True
) -> None:
    if field not in state:
        return
    v = state[field]
    if v is None and nullable:
        return
    if not isinstance(v, str):
        raise AslDefinitionError(
            f"{where}.{field}: must be a path string{' or null' if nullable else ''}"
        )
    try:
        p = compile_path(v)
    except PathError as exc:
        raise AslDefinitionError(f"{where}.{field}: {exc}") from None
    if reference and not p.reference:
        raise AslDefinitionError(
            f"{where}.{field}: {v!r} must be a reference path (no wildcards, filters or slices)"
        )
    if reference and p.context:
        raise AslDefinitionError(f"{where}.{field}: {v!r} cannot refer to the context object")
    if reference and p.variable is not None:
        raise AslDefinitionError(
            f"{where}.{field}: {v!r} names a variable; {field} places the result in the "
            "state's output (assign variables with Assign)"
        )


def check_payload_template(template: Any, where: str) -> None:
    """Keys ending in '.$' must hold a path or an intrinsic call."""
    if isinstance(template, dict):
        for k, v in template.items():
            if k.endswith(".$"):
                if not isinstance(v, str):
                    raise AslDefinitionError(f"{where}.{k}: value of a '.$' field must be a string")
                if is_intrinsic(v):
                    try:
                        compile_intrinsic(v)
                    except IntrinsicSyntaxError as exc:
                        raise AslDefinitionError(f"{where}.{k}: {exc}") from None
                else:
                    try:
                        compile_path(v)
                    except PathError as exc:
                        raise AslDefinitionError(f"{where}.{k}: {exc}") from None
            else:
                check_payload_template(v, f"{where}.{k}")
    elif isinstance(template, list):
        for i, v in enumerate(template):
            check_payload_template(v, f"{where}[{i}]")


def _check_jsonata_template(template: Any, where: str) -> None:
    """Every ``{% %}`` string in a JSONata field must parse."""
    for field, body in template_expressions(template, ""):
        try:
            compile_expression(body)
        except JsonataSyntaxError as exc:
            raise AslDefinitionError(
                f"{where}{field.replace('/', '.')}: the JSONata expression {body!r} does not "
                f"parse ({exc})"
            ) from None


def _check_number_or_expression(
    obj: dict, field: str, where: str, language: str, *, allow_zero: bool, number: bool = False
) -> None:
    """A count/seconds field: an integer (a number for percentages), or in a JSONata
    state an expression that will produce one."""
    if field not in obj:
        return
    v = obj[field]
    if language == JSONATA and is_expression(v):
        _check_jsonata_template(v, f"{where}.{field}")
        return
    if number:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 100:
            raise AslDefinitionError(f"{where}.{field}: must be a number between 0 and 100")
        return
    _positive_int(v, f"{where}.{field}", allow_zero=allow_zero)


def _check_assign(assign: Any, where: str, language: str) -> None:
    if not isinstance(assign, dict):
        raise AslDefinitionError(f"{where}: Assign must be an object of variable names")
    for key in assign:
        name = key[:-2] if language == JSONPATH and key.endswith(".$") else key
        problem = check_variable_name(name)
        if problem:
            raise AslDefinitionError(f"{where}.{key}: {problem}")
    if language == JSONPATH:
        check_payload_template(assign, where)
    else:
        _check_jsonata_template(assign, where)


def _check_language_fields(obj: dict, where: str, language: str, kind: str) -> None:
    for k in obj:
        if language == JSONATA and k in _JSONPATH_ONLY:
            raise AslDefinitionError(
                f"{where}.{k}: not allowed in a JSONata {kind}; JSONata states use "
                "Arguments and Output, and a JSONata expression ({% ... %}) in the field "
                "itself instead of a ...Path field"
            )
        if language == JSONPATH and k in _JSONATA_ONLY:
            raise AslDefinitionError(
                f'{where}.{k}: only JSONata states have {k}; set "QueryLanguage": '
                '"JSONata" on the state or the machine, or use the JSONPath fields'
            )


def _validate_retry_catch(state: dict, states: dict, where: str, language: str) -> None:
    for field in ("Retry", "Catch"):
        rules = state.get(field, [])
        if not isinstance(rules, list):
            raise AslDefinitionError(f"{where}.{field}: must be an array")
        for i, r in enumerate(rules):
            w = f"{where}.{field}[{i}]"
            if not isinstance(r, dict):
                raise AslDefinitionError(f"{w}: must be an object")
            eq = r.get("ErrorEquals")
            if not isinstance(eq, list) or not eq or not all(isinstance(e, str) for e in eq):
                raise AslDefinitionError(
                    f"{w}.ErrorEquals: required non-empty array of error names"
                )
            if "States.ALL" in eq and (len(eq) != 1 or i != len(rules) - 1):
                raise AslDefinitionError(
                    f"{w}.ErrorEquals: States.ALL must appear alone and in the last {'Retrier' if field == 'Retry' else 'Catcher'}"
                )
            if field == "Retry":
                allowed = {
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                }
                for k in r:
                    if k not in allowed:
                        raise AslDefinitionError(f"{w}.{k}: unknown Retrier field")
                if "IntervalSeconds" in r:
                    _positive_int(r["IntervalSeconds"], f"{w}.IntervalSeconds")
                if "MaxAttempts" in r:
                    _positive_int(r["MaxAttempts"], f"{w}.MaxAttempts", allow_zero=True)
                if "MaxDelaySeconds" in r:
                    _positive_int(r["MaxDelaySeconds"], f"{w}.MaxDelaySeconds")
                br = r.get("BackoffRate", 2.0)
                if not isinstance(br, (int, float)) or isinstance(br, bool) or br < 1.0:
                    raise AslDefinitionError(f"{w}.BackoffRate: must be a number >= 1.0")
                if r.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
                    raise AslDefinitionError(f"{w}.JitterStrategy: must be NONE or FULL")
            else:
                allowed = {"ErrorEquals", "Next", "Comment", "Assign"}
                allowed |= {"Output"} if language == JSONATA else {"ResultPath"}
                for k in r:
                    if k not in allowed:
                        raise AslDefinitionError(
                            f"{w}.{k}: not a field of a Catcher in a {language} state"
                        )
                nxt = r.get("Next")
                if not isinstance(nxt, str):
                    raise AslDefinitionError(f"{w}.Next: required string")
                if nxt not in states:
                    raise AslDefinitionError(f"{w}.Next: no state named {nxt!r}")
                _check_path(r, "ResultPath", w, reference=True)
                if "Assign" in r:
                    _check_assign(r["Assign"], f"{w}.Assign", language)
                if "Output" in r:
                    _check_jsonata_template(r["Output"], f"{w}.Output")


def _validate_choices(state: dict, states: dict, where: str, language: str) -> None:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        raise AslDefinitionError(f"{where}.Choices: required non-empty array")
    for i, rule in enumerate(choices):
        w = f"{where}.Choices[{i}]"
        if not isinstance(rule, dict):
            raise AslDefinitionError(f"{w}: a Choice rule must be an object")
        if language == JSONATA:
            for k in rule:
                if k not in ("Condition", "Next", "Comment", "Assign", "Output"):
                    raise AslDefinitionError(
                        f"{w}.{k}: a JSONata Choice rule has Condition (a JSONata "
                        "expression or a boolean), Next, Assign and Output"
                    )
            cond = rule.get("Condition")
            if is_expression(cond):
                _check_jsonata_template(cond, f"{w}.Condition")
            elif not isinstance(cond, bool):
                raise AslDefinitionError(
                    f"{w}.Condition: required, a JSONata expression ({{% ... %}}) or a boolean"
                )
            if "Output" in rule:
                _check_jsonata_template(rule["Output"], f"{w}.Output")
        else:
            validate_choice_rule(
                {k: v for k, v in rule.items() if k not in ("Next", "Comment", "Assign")},
                w,
                top=True,
            )
        if "Assign" in rule:
            _check_assign(rule["Assign"], f"{w}.Assign", language)
        nxt = rule.get("Next")
        if not isinstance(nxt, str):
            raise AslDefinitionError(f"{w}.Next: required string")
        if nxt not in states:
            raise AslDefinitionError(f"{w}.Next: no state named {nxt!r}")
    if "Default" in state and state["Default"] not in states:
        raise AslDefinitionError(f"{where}.Default: no state named {state['Default']!r}")


def _validate_state(
    name: str,
    state: Any,
    states: dict,
    where: str,
    machine_language: str,
    names: frozenset,
    depth: int,
) -> None:
    if not isinstance(state, dict):
        raise AslDefinitionError(f"{where}: state must be an object")
    typ = state.get("Type")
    if typ not in STATE_TYPES:
        raise AslDefinitionError(
            f"{where}.Type: unknown state type {typ!r} (expected one of {', '.join(STATE_TYPES)})"
        )
    for k in state:
        if k not in _FIELDS[typ]:
            raise AslDefinitionError(f"{where}.{k}: field not allowed in a {typ} state")
    language = state_language(state, machine_language)
    if language not in (JSONPATH, JSONATA):
        raise AslDefinitionError(f"{where}.QueryLanguage: must be JSONPath or JSONata")
    if machine_language == JSONATA and language == JSONPATH:
        raise AslDefinitionError(  # AWS's wording (recorded ValidateStateMachineDefinition)
            f"{where}.QueryLanguage: 'QueryLanguage' can not be 'JSONPath' if set to "
            "'JSONata' for whole state machine"
        )
    _check_language_fields(state, where, language, f"{typ} state")
    if typ in ("Pass", "Task", "Wait", "Parallel", "Map"):
        has_next, end = "Next" in state, state.get("End") is True
        if "End" in state and not isinstance(state["End"], bool):
            raise AslDefinitionError(f"{where}.End: must be a boolean")
        if has_next == end:
            raise AslDefinitionError(
                f"{where}.{'Next' if has_next else 'End'}: exactly one of Next or End: true is required"
            )
        if has_next:
            if not isinstance(state["Next"], str):
                raise AslDefinitionError(f"{where}.Next: must be a string")
            if state["Next"] not in states:
                raise AslDefinitionError(f"{where}.Next: no state named {state['Next']!r}")
    if "Assign" in state:
        _check_assign(state["Assign"], f"{where}.Assign", language)
    for f in ("Arguments", "Output"):
        if f in state:
            _check_jsonata_template(state[f], f"{where}.{f}")
    for f in ("InputPath", "OutputPath"):
        _check_path(state, f, where)
    _check_path(state, "ResultPath", where, reference=True)
    for f in ("Parameters", "ResultSelector", "ItemSelector"):
        if f in state:
            if f == "ResultSelector" and not isinstance(state[f], dict):
                raise AslDefinitionError(f"{where}.{f}: must be an object")
            if language == JSONATA:
                _check_jsonata_template(state[f], f"{where}.{f}")
            else:
                check_payload_template(state[f], f"{where}.{f}")
    if typ in ("Task", "Parallel", "Map"):
        _validate_retry_catch(state, states, where, language)
    if typ == "Task":
        if not isinstance(state.get("Resource"), str) or not state["Resource"]:
            raise AslDefinitionError(f"{where}.Resource: required string")
        for f in ("TimeoutSeconds", "HeartbeatSeconds"):
            if f in state and f + "Path" in state:
                raise AslDefinitionError(f"{where}.{f}: cannot be used together with {f}Path")
            _check_number_or_expression(state, f, where, language, allow_zero=False)
            _check_path(state, f + "Path", where, nullable=False)
        if language == JSONATA and "Credentials" in state:
            _check_jsonata_template(state["Credentials"], f"{where}.Credentials")
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
            raise AslDefinitionError(
                f"{where}.HeartbeatSeconds: must be smaller than TimeoutSeconds"
            )
    elif typ == "Choice":
        _validate_choices(state, states, where, language)
    elif typ == "Wait":
        present = [
            f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state
        ]
        if len(present) != 1:
            raise AslDefinitionError(
                f"{where}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required (found {present or 'none'})"
            )
        f = present[0]
        if language == JSONATA and is_expression(state[f]):
            _check_jsonata_template(state[f], f"{where}.{f}")
        elif f == "Seconds":
            _positive_int(state[f], f"{where}.Seconds", allow_zero=True)
        elif f == "Timestamp":
            from .choice import parse_timestamp

            if not isinstance(state[f], str) or parse_timestamp(state[f]) is None:
                raise AslDefinitionError(  # AWS: "String does not match RFC3339 timestamp"
                    f"{where}.Timestamp: {state[f]!r} is not an RFC 3339 timestamp"
                )
        else:
            _check_path(state, f, where, nullable=False)
    elif typ == "Fail":
        for f in ("Error", "Cause"):
            if f in state and f + "Path" in state:
                raise AslDefinitionError(f"{where}.{f}: cannot be used together with {f}Path")
            if f in state and not isinstance(state[f], str):
                raise AslDefinitionError(f"{where}.{f}: must be a string")
            if language == JSONATA and f in state:
                _check_jsonata_template(state[f], f"{where}.{f}")
            if f + "Path" in state:
                v = state[f + "Path"]
                if isinstance(v, str) and is_intrinsic(v):
                    try:
                        compile_intrinsic(v)
                    except IntrinsicSyntaxError as exc:
                        raise AslDefinitionError(f"{where}.{f}Path: {exc}") from None
                else:
                    _check_path(state, f + "Path", where, nullable=False)
    elif typ == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise AslDefinitionError(f"{where}.Branches: required non-empty array")
        for i, b in enumerate(branches):
            validate_machine(
                b,
                f"{where}.Branches[{i}]",
                language=machine_language,
                outer_names=names,
                depth=depth + 1,
            )
    elif typ == "Map":
        _validate_map(state, where, language, machine_language, names, depth)


def _validate_map(
    state: dict, where: str, language: str, machine_language: str, names: frozenset, depth: int
) -> None:
    if ("Iterator" in state) == ("ItemProcessor" in state):
        raise AslDefinitionError(
            f"{where}.ItemProcessor: exactly one of ItemProcessor or Iterator is required"
        )
    if "ItemSelector" in state and "Parameters" in state:
        raise AslDefinitionError(f"{where}.ItemSelector: cannot be used together with Parameters")
    if "Items" in state:
        items = state["Items"]
        if is_expression(items):
            _check_jsonata_template(items, f"{where}.Items")
        elif isinstance(items, list):
            _check_jsonata_template(items, f"{where}.Items")
        else:
            raise AslDefinitionError(
                f"{where}.Items: must be a JSON array or a JSONata expression ({{% ... %}})"
            )
    proc_field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    proc = state[proc_field]
    _validate_distributed(state, proc, where, proc_field, language)
    if isinstance(proc, dict) and "QueryLanguage" in proc:
        raise AslDefinitionError(
            f"{where}.{proc_field}.QueryLanguage: not allowed on an ItemProcessor; set "
            "QueryLanguage on the Map state or on the states inside it"
        )
    distributed = (
        isinstance(proc, dict) and (proc.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    )
    validate_machine(
        {k: v for k, v in proc.items() if k != "ProcessorConfig"}
        if isinstance(proc, dict)
        else proc,
        f"{where}.{proc_field}",
        language=machine_language,
        # a Distributed Map's children run with no outer variables at all
        outer_names=frozenset() if distributed else names,
        depth=depth + 1,
    )
    _check_path(state, "ItemsPath", where, nullable=False)
    _check_number_or_expression(state, "MaxConcurrency", where, language, allow_zero=True)
    _check_number_or_expression(
        state, "ToleratedFailurePercentage", where, language, allow_zero=True, number=True
    )
    _check_number_or_expression(state, "ToleratedFailureCount", where, language, allow_zero=True)
    for f in (
        "MaxConcurrencyPath",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
    ):
        _check_path(state, f, where, nullable=False)


_READER_RESOURCES = ("arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2")


def _check_io_template(obj: dict, where: str, language: str) -> None:
    """An ItemReader/ResultWriter's Parameters (JSONPath) or Arguments (JSONata)."""
    field = "Arguments" if language == JSONATA else "Parameters"
    other = "Parameters" if language == JSONATA else "Arguments"
    if other in obj:
        raise AslDefinitionError(
            f"{where}.{other}: a {language} state gives this its {field}, not {other}"
        )
    if language == JSONATA:
        _check_jsonata_template(obj.get(field, {}), f"{where}.{field}")
    else:
        check_payload_template(obj.get(field, {}), f"{where}.{field}")


def _validate_distributed(
    state: dict, proc: Any, where: str, proc_field: str, language: str
) -> None:
    """ProcessorConfig, ItemReader, ItemBatcher and ResultWriter as the guide defines them."""
    config = proc.get("ProcessorConfig", {}) if isinstance(proc, dict) else {}
    mode = config.get("Mode", "INLINE")
    if mode not in ("INLINE", "DISTRIBUTED"):
        raise AslDefinitionError(
            f"{where}.{proc_field}.ProcessorConfig.Mode: must be INLINE or DISTRIBUTED"
        )
    if mode == "DISTRIBUTED" and config.get("ExecutionType", "STANDARD") not in (
        "STANDARD",
        "EXPRESS",
    ):
        raise AslDefinitionError(
            f"{where}.{proc_field}.ProcessorConfig.ExecutionType: must be STANDARD or EXPRESS"
        )
    for f in ("ItemReader", "ResultWriter", "ItemBatcher", "Label"):
        if f in state and mode != "DISTRIBUTED":
            raise AslDefinitionError(
                f"{where}.{f}: only a Map with ProcessorConfig.Mode DISTRIBUTED may have {f}"
            )
    reader = state.get("ItemReader")
    if reader is not None:
        if not isinstance(reader, dict) or reader.get("Resource") not in _READER_RESOURCES:
            raise AslDefinitionError(
                f"{where}.ItemReader.Resource: must be one of {', '.join(_READER_RESOURCES)}"
            )
        _check_io_template(reader, f"{where}.ItemReader", language)
        rc = reader.get("ReaderConfig", {})
        if rc.get("InputType", "JSON") not in ("JSON", "JSONL", "CSV", "MANIFEST"):
            raise AslDefinitionError(
                f"{where}.ItemReader.ReaderConfig.InputType: must be JSON, JSONL, CSV or MANIFEST"
            )
        if rc.get("CSVHeaderLocation") == "GIVEN" and not isinstance(rc.get("CSVHeaders"), list):
            raise AslDefinitionError(
                f"{where}.ItemReader.ReaderConfig.CSVHeaders: required list with "
                "CSVHeaderLocation GIVEN"
            )
        _check_language_fields(rc, f"{where}.ItemReader.ReaderConfig", language, "state")
        if language == JSONATA and "MaxItemsPath" in rc:
            raise AslDefinitionError(
                f"{where}.ItemReader.ReaderConfig.MaxItemsPath: not allowed in a JSONata "
                "state; give MaxItems a JSONata expression instead"
            )
        _check_number_or_expression(
            rc, "MaxItems", f"{where}.ItemReader.ReaderConfig", language, allow_zero=True
        )
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        for f in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            _check_number_or_expression(
                batcher, f, f"{where}.ItemBatcher", language, allow_zero=False
            )
            if language == JSONATA and f + "Path" in batcher:
                raise AslDefinitionError(
                    f"{where}.ItemBatcher.{f}Path: not allowed in a JSONata state; give "
                    f"{f} a JSONata expression instead"
                )
        if not any(
            f in batcher
            for f in (
                "MaxItemsPerBatch",
                "MaxInputBytesPerBatch",
                "MaxItemsPerBatchPath",
                "MaxInputBytesPerBatchPath",
            )
        ):
            raise AslDefinitionError(
                f"{where}.ItemBatcher: needs MaxItemsPerBatch or MaxInputBytesPerBatch"
            )
        if language == JSONATA:
            _check_jsonata_template(
                batcher.get("BatchInput", {}), f"{where}.ItemBatcher.BatchInput"
            )
        else:
            check_payload_template(batcher.get("BatchInput", {}), f"{where}.ItemBatcher.BatchInput")
    writer = state.get("ResultWriter")
    if writer is not None:
        if writer.get("Resource") != "arn:aws:states:::s3:putObject":
            raise AslDefinitionError(
                f"{where}.ResultWriter.Resource: must be arn:aws:states:::s3:putObject"
            )
        _check_io_template(writer, f"{where}.ResultWriter", language)
    label = state.get("Label")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= 40):
        raise AslDefinitionError(f"{where}.Label: must be a string of 1 to 40 characters")
