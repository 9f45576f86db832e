"""Definition validation, done once at construction.

Mirrors what CreateStateMachine rejects, so a broken ``statemachines/*.asl.json``
fails at load time with a message naming the state and field, not mid-run.
"""

from __future__ import annotations

import json
from typing import Any

from .choice import validate_choice_rule
from .errors import AslDefinitionError
from .intrinsics import IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from .paths import PathError, compile_path

__all__ = ["STATE_TYPES", "load_definition", "validate_machine"]

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")

_COMMON = {"Type", "Comment", "QueryLanguage"}
_IO = {"InputPath", "OutputPath"}
_FIELDS = {
    "Pass": _COMMON | _IO | {"Next", "End", "Result", "ResultPath", "Parameters"},
    "Task": _COMMON
    | _IO
    | {
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
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _IO | {"Next", "End", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON
    | _IO
    | {"Next", "End", "Branches", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Map": _COMMON
    | _IO
    | {
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


def validate_machine(machine: Any, where: str = "") -> None:
    """Validate a top-level machine or a Parallel branch / Map processor (``where`` prefixes messages)."""
    pre = f"{where}." if where else ""
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
    if machine.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise AslDefinitionError(f"{pre}QueryLanguage: only JSONPath is supported")
    if "TimeoutSeconds" in machine:
        _positive_int(machine["TimeoutSeconds"], f"{pre}TimeoutSeconds")
    for name, state in states.items():
        if len(name) > 80:
            raise AslDefinitionError(
                f"{pre}{name[:40]}...: state names are limited to 80 characters"
            )
        _validate_state(name, state, states, f"{pre}{name}")
    _check_reachable(start, states, pre)
    if not any(_terminal(s) for s in states.values()):
        raise AslDefinitionError(
            f"{where or 'definition'}: MISSING_END_STATE: the workflow does not have a "
            "terminal state (a state with End: true, a Succeed or a Fail state)"
        )


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


def _validate_retry_catch(state: dict, states: dict, where: str) -> None:
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
                nxt = r.get("Next")
                if not isinstance(nxt, str):
                    raise AslDefinitionError(f"{w}.Next: required string")
                if nxt not in states:
                    raise AslDefinitionError(f"{w}.Next: no state named {nxt!r}")
                _check_path(r, "ResultPath", w, reference=True)


def _validate_state(name: str, state: Any, states: dict, where: str) -> None:
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
    for f in ("InputPath", "OutputPath"):
        _check_path(state, f, where)
    _check_path(state, "ResultPath", where, reference=True)
    for f in ("Parameters", "ResultSelector", "ItemSelector"):
        if f in state:
            if f == "ResultSelector" and not isinstance(state[f], dict):
                raise AslDefinitionError(f"{where}.{f}: must be an object")
            check_payload_template(state[f], f"{where}.{f}")
    if typ in ("Task", "Parallel", "Map"):
        _validate_retry_catch(state, states, where)
    if typ == "Task":
        if not isinstance(state.get("Resource"), str) or not state["Resource"]:
            raise AslDefinitionError(f"{where}.Resource: required string")
        for f in ("TimeoutSeconds", "HeartbeatSeconds"):
            if f in state and f + "Path" in state:
                raise AslDefinitionError(f"{where}.{f}: cannot be used together with {f}Path")
            if f in state:
                _positive_int(state[f], f"{where}.{f}")
            _check_path(state, f + "Path", where, nullable=False)
        if (
            "TimeoutSeconds" in state
            and "HeartbeatSeconds" in state
            and state["HeartbeatSeconds"] >= state["TimeoutSeconds"]
        ):
            raise AslDefinitionError(
                f"{where}.HeartbeatSeconds: must be smaller than TimeoutSeconds"
            )
    elif typ == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise AslDefinitionError(f"{where}.Choices: required non-empty array")
        for i, rule in enumerate(choices):
            w = f"{where}.Choices[{i}]"
            validate_choice_rule(
                {k: v for k, v in rule.items() if k not in ("Next", "Comment")}
                if isinstance(rule, dict)
                else rule,
                w,
                top=True,
            )
            nxt = rule.get("Next")
            if not isinstance(nxt, str):
                raise AslDefinitionError(f"{w}.Next: required string")
            if nxt not in states:
                raise AslDefinitionError(f"{w}.Next: no state named {nxt!r}")
        if "Default" in state and state["Default"] not in states:
            raise AslDefinitionError(f"{where}.Default: no state named {state['Default']!r}")
    elif typ == "Wait":
        present = [
            f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state
        ]
        if len(present) != 1:
            raise AslDefinitionError(
                f"{where}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required (found {present or 'none'})"
            )
        f = present[0]
        if f == "Seconds":
            _positive_int(state[f], f"{where}.Seconds", allow_zero=True)
        elif f == "Timestamp":
            from .choice import parse_timestamp

            if not isinstance(state[f], str) or parse_timestamp(state[f]) is None:
                raise AslDefinitionError(
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
            validate_machine(b, f"{where}.Branches[{i}]")
    elif typ == "Map":
        if ("Iterator" in state) == ("ItemProcessor" in state):
            raise AslDefinitionError(
                f"{where}.ItemProcessor: exactly one of ItemProcessor or Iterator is required"
            )
        if "ItemSelector" in state and "Parameters" in state:
            raise AslDefinitionError(
                f"{where}.ItemSelector: cannot be used together with Parameters"
            )
        proc_field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        proc = state[proc_field]
        _validate_distributed(state, proc, where, proc_field)
        if isinstance(proc, dict) and "QueryLanguage" in proc:
            raise AslDefinitionError(
                f"{where}.{proc_field}.QueryLanguage: not allowed on an ItemProcessor; set "
                "QueryLanguage on the Map state or on the states inside it"
            )
        validate_machine(
            {k: v for k, v in proc.items() if k != "ProcessorConfig"}
            if isinstance(proc, dict)
            else proc,
            f"{where}.{proc_field}",
        )
        _check_path(state, "ItemsPath", where, nullable=False)
        if "MaxConcurrency" in state:
            _positive_int(state["MaxConcurrency"], f"{where}.MaxConcurrency", allow_zero=True)
        if "ToleratedFailurePercentage" in state:
            v = state["ToleratedFailurePercentage"]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 100:
                raise AslDefinitionError(
                    f"{where}.ToleratedFailurePercentage: must be a number between 0 and 100"
                )
        if "ToleratedFailureCount" in state:
            _positive_int(
                state["ToleratedFailureCount"], f"{where}.ToleratedFailureCount", allow_zero=True
            )
        for f in (
            "MaxConcurrencyPath",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCountPath",
        ):
            _check_path(state, f, where, nullable=False)


_READER_RESOURCES = ("arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2")


def _validate_distributed(state: dict, proc: Any, where: str, proc_field: str) -> None:
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
        check_payload_template(reader.get("Parameters", {}), f"{where}.ItemReader.Parameters")
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
        if "MaxItems" in rc:
            _positive_int(rc["MaxItems"], f"{where}.ItemReader.ReaderConfig.MaxItems", True)
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        for f in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if f in batcher:
                _positive_int(batcher[f], f"{where}.ItemBatcher.{f}")
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
        check_payload_template(batcher.get("BatchInput", {}), f"{where}.ItemBatcher.BatchInput")
    writer = state.get("ResultWriter")
    if writer is not None:
        if writer.get("Resource") != "arn:aws:states:::s3:putObject":
            raise AslDefinitionError(
                f"{where}.ResultWriter.Resource: must be arn:aws:states:::s3:putObject"
            )
        check_payload_template(writer.get("Parameters", {}), f"{where}.ResultWriter.Parameters")
    label = state.get("Label")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= 40):
        raise AslDefinitionError(f"{where}.Label: must be a string of 1 to 40 characters")
