"""How a state's input becomes what it works on, and its result its output, per query language.

The executor runs states; these two classes say what the fields mean. Both answer
the same questions (what a Task is invoked with, what the output and the variable
assignments are once the result is known, what a Map iterates over, ...):

- :class:`JsonPathFlow` — the five I/O fields (InputPath, Parameters,
  ResultSelector, ResultPath, OutputPath), ``...Path`` fields, intrinsics, and
  ``Assign`` with ``.$`` keys whose ``$`` is the state's result (developer guide,
  "Passing data between states with variables": Assign is evaluated after
  ResultSelector, before ResultPath and OutputPath).
- :class:`JsonataFlow` — ``Arguments`` and ``Output`` templates whose
  ``{% %}`` strings are JSONata with ``$states`` (``input``, ``result``,
  ``errorOutput``, ``context``) and the variables in scope (developer guide,
  "Transforming data with JSONata"); numeric and timestamp fields may be
  expressions. A Task, Parallel or Map without ``Arguments``/``Items`` works on
  the state input, like JSONPath without Parameters.

Every value of one Assign is computed here, before any is bound, so all of them
see the variables as they were when the state was entered.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any

from .choice import _evaluate as _evaluate_rule
from .choice import parse_timestamp
from .errors import SpecRuntimeError, StatesError
from .intrinsics import compile_intrinsic, is_intrinsic
from .jsonata_eval import QUERY_ERROR, evaluate, evaluate_template, is_expression
from .paths import NotFound, ResultPathMismatch, compile_path, set_reference_path
from .variables import path_document

__all__ = ["JsonPathFlow", "JsonataFlow", "dumps"]

_INT_TEXT = re.compile(r"^\s*-?\d+\s*$")
_FLOAT_TEXT = re.compile(r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _no_choice(name: str) -> SpecRuntimeError:
    return SpecRuntimeError(
        "States.NoChoiceMatched",
        f"No Choice Rule matched the input of state '{name}' and it has no Default",
    )


def _seconds_until(ts: _dt.datetime) -> float:
    return (ts - _dt.datetime.now(_dt.UTC)).total_seconds()


class JsonPathFlow:
    """JSONPath states (the default query language)."""

    language = "JSONPath"

    def __init__(self, strict_spec: bool = False):
        self.strict_spec = strict_spec

    # ------------------------------------------------------------ primitives
    @staticmethod
    def select(path_text, data, ctx):
        """A ``...Path`` field's value (``null`` selects ``{}``), AWS's causes on a miss."""
        if path_text is None:
            return {}
        p = compile_path(path_text)
        doc = path_document(p, data, ctx)
        try:
            return p.read(doc)
        except NotFound:
            raise StatesError("States.Runtime", not_found_cause(p, doc)) from None

    def payload(self, template: Any, data: Any, ctx: dict, field: str) -> Any:
        """Evaluate a Parameters / ResultSelector / ItemSelector / Assign template."""
        if isinstance(template, dict):
            out = {}
            for k, v in template.items():
                if k.endswith(".$") and isinstance(v, str):
                    key = k[:-2]
                    if is_intrinsic(v):
                        out[key] = compile_intrinsic(v)(data, ctx, self.strict_spec)
                    else:
                        p = compile_path(v)
                        doc = path_document(p, data, ctx)
                        try:
                            out[key] = p.read(doc)
                        except NotFound:
                            raise SpecRuntimeError(
                                "States.ParameterPathFailure",
                                f"The JSONPath '{v}' specified for the field '{k}' could not be "
                                f"found in the input '{dumps(doc)}'",
                            ) from None
                else:
                    out[k] = self.payload(v, data, ctx, field)
            return out
        if isinstance(template, list):
            return [self.payload(v, data, ctx, field) for v in template]
        return template

    def input_path(self, state: dict, data: Any, ctx: dict) -> Any:
        return self.select(state["InputPath"], data, ctx) if "InputPath" in state else data

    def output_path(self, state: dict, data: Any, ctx: dict) -> Any:
        return self.select(state["OutputPath"], data, ctx) if "OutputPath" in state else data

    @staticmethod
    def result_path(state_or_catcher: dict, raw_input: Any, result: Any) -> Any:
        if "ResultPath" not in state_or_catcher:
            return result
        rp = state_or_catcher["ResultPath"]
        if rp is None:
            return raw_input
        try:
            return set_reference_path(raw_input, compile_path(rp), result)
        except ResultPathMismatch:
            raise StatesError(
                "States.ResultPathMatchFailure",
                f'Unable to apply ResultPath "{rp}" to input "{dumps(raw_input)}"',
            ) from None

    def assign(self, block: dict | None, doc: Any, ctx: dict) -> dict | None:
        """The values an Assign binds; ``$`` is ``doc`` (the state's result)."""
        if block is None:
            return None
        return self.payload(block, doc, ctx, "Assign")

    # ------------------------------------------------------------ states
    def state_input(self, state: dict, data: Any, ctx: dict) -> Any:
        """What Task/Parallel/Map work from: the input after InputPath."""
        return self.input_path(state, data, ctx)

    def arguments(self, state: dict, eff: Any, ctx: dict) -> Any:
        """A Task's or Parallel's input: Parameters applied, or the effective input."""
        if "Parameters" not in state:
            return eff
        return self.payload(state["Parameters"], eff, ctx, "Parameters")

    def finish(self, state: dict, data: Any, eff: Any, result: Any, ctx: dict):
        """(output, assignments) of a Task/Parallel/Map once its result is known."""
        if "ResultSelector" in state:
            result = self.payload(state["ResultSelector"], result, ctx, "ResultSelector")
        assigned = self.assign(state.get("Assign"), result, ctx)
        out = self.result_path(state, data, result)
        return self.output_path(state, out, ctx), assigned

    def catch(self, catcher: dict, data: Any, error_output: dict, ctx: dict):
        assigned = self.assign(catcher.get("Assign"), error_output, ctx)
        return self.result_path(catcher, data, error_output), assigned

    def pass_state(self, state: dict, data: Any, ctx: dict, check) -> tuple[Any, dict | None]:
        eff = self.input_path(state, data, ctx)
        if "Parameters" in state:
            eff = self.payload(state["Parameters"], eff, ctx, "Parameters")
            check(eff)
        result = state.get("Result", eff)
        assigned = self.assign(state.get("Assign"), result, ctx)
        out = self.result_path(state, data, result)
        return self.output_path(state, out, ctx), assigned

    def choice(self, name: str, state: dict, data: Any, ctx: dict):
        """(output, next state, assignments); a matched rule's Assign replaces the state's."""
        eff = self.input_path(state, data, ctx)
        for rule in state["Choices"]:
            if _evaluate_rule(rule, eff, ctx):
                block = rule.get("Assign", state.get("Assign"))
                return self.output_path(state, eff, ctx), rule["Next"], self.assign(block, eff, ctx)
        if "Default" in state:
            assigned = self.assign(state.get("Assign"), eff, ctx)
            return self.output_path(state, eff, ctx), state["Default"], assigned
        raise _no_choice(name)

    def passthrough(self, state: dict, data: Any, ctx: dict):
        """Wait and Succeed: (effective input, output, assignments)."""
        eff = self.input_path(state, data, ctx)
        return eff, self.output_path(state, eff, ctx), self.assign(state.get("Assign"), eff, ctx)

    def fail(self, state: dict, data: Any, ctx: dict) -> tuple[str | None, str | None]:
        return self._fail_field(state, "Error", data, ctx), self._fail_field(
            state, "Cause", data, ctx
        )

    def _fail_field(self, state, field, data, ctx):
        if field in state:
            return state[field]
        text = state.get(field + "Path")
        if text is None:
            return None
        if is_intrinsic(text):
            value = compile_intrinsic(text)(data, ctx, self.strict_spec)
        else:
            p = compile_path(text)
            doc = path_document(p, data, ctx)
            try:
                value = p.read(doc)
            except NotFound:
                raise StatesError(
                    "States.Runtime",
                    f"The JSONPath '{text}' specified for the field '{field}Path' could not "
                    f"be found in the input '{dumps(doc)}'",
                ) from None
        if not isinstance(value, str):
            raise StatesError(
                "States.Runtime",
                f"The {field}Path '{text}' must resolve to a string, got {dumps(value)}",
            )
        return value

    def wait_seconds(self, state: dict, eff: Any, ctx: dict) -> float:
        if "Seconds" in state:
            return float(state["Seconds"])
        if "Timestamp" in state:
            at = parse_timestamp(state["Timestamp"])
            if at is None:  # refused when the definition was validated
                raise StatesError(
                    "States.Runtime", f"Timestamp {state['Timestamp']!r} is not RFC 3339"
                )
            return _seconds_until(at)
        field = "SecondsPath" if "SecondsPath" in state else "TimestampPath"
        p = compile_path(state[field])
        try:
            value = p.read(path_document(p, eff, ctx))
        except NotFound:
            raise StatesError(
                "States.Runtime",
                f"The {field} parameter does not reference an input value: {state[field]}",
            ) from None
        shown = f"{state[field]} == {value if isinstance(value, str) else dumps(value)}"
        if field == "SecondsPath":
            if not isinstance(value, int) or isinstance(value, bool):
                raise StatesError(
                    "States.Runtime",
                    f"The SecondsPath parameter cannot be parsed as a long value: {shown}",
                )
            if value < 0:
                raise StatesError(
                    "States.Runtime",
                    f"The SecondsPath parameter references a negative value: {shown}",
                )
            return float(value)
        ts = parse_timestamp(value) if isinstance(value, str) else None
        if ts is None:
            raise StatesError(
                "States.Runtime",
                f"The TimestampPath parameter does not reference a valid ISO-8601 "
                f"extended offset date-time format string: {shown}",
            )
        return _seconds_until(ts)

    def task_number(self, state, field, params, data, ctx) -> float | None:
        """TimeoutSeconds / HeartbeatSeconds, or their ``...Path`` read from the state input."""
        if field in state:
            return float(state[field])
        if field + "Path" not in state:
            return None
        text = state[field + "Path"]
        value = self.select(text, params, ctx)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise StatesError(
                "States.Runtime",
                f"The {field}Path '{text}' must reference a positive integer, got {dumps(value)}",
            )
        return float(value)

    # ------------------------------------------------------------ Map
    def map_items(self, state: dict, eff: Any, ctx: dict) -> list:
        items = self.select(state.get("ItemsPath", "$"), eff, ctx)
        if not isinstance(items, list):
            raise StatesError(
                "States.Runtime", f"Map state input must be an array but was: {dumps(items)}"
            )
        return items

    def item_input(self, state: dict, eff: Any, item: Any, item_ctx: dict) -> Any:
        selector_field = "ItemSelector" if "ItemSelector" in state else "Parameters"
        selector = state.get(selector_field)
        if selector is None:
            return item
        return self.payload(selector, eff, item_ctx, selector_field)

    def count(self, obj: dict, field: str, eff: Any, ctx: dict, default=None):
        """MaxConcurrency, ToleratedFailure*, MaxItems, MaxItemsPerBatch, ...: the field
        itself, or its ``...Path`` read and checked as AWS checks it."""
        if field + "Path" in obj:
            return self._int_from_path(obj, field + "Path", eff, ctx)
        return obj.get(field, default)

    def _int_from_path(self, obj, field, eff, ctx):
        """An integer (a float for the percentage) read from a ``...Path`` field; a
        numeric string is taken (recorded: "1" works); the sign is checked by the
        caller with AWS's own wording."""
        value = self.select(obj[field], eff, ctx)
        want_float = field == "ToleratedFailurePercentagePath"
        if isinstance(value, str) and (_FLOAT_TEXT if want_float else _INT_TEXT).match(value):
            value = float(value) if want_float else int(value)
        ok = isinstance(value, (int, float) if want_float else int) and not isinstance(value, bool)
        if not ok:
            shown = value if isinstance(value, str) else dumps(value)
            raise StatesError(
                "States.Runtime",
                f'The {field} field refers to value "{shown}" which is not a valid '
                f"{'float' if want_float else 'integer'}: {obj[field]}",
            )
        if field == "MaxConcurrencyPath" and value < 0:
            raise StatesError("States.Runtime", "MaxConcurrency cannot be negative.")
        return value

    def io_arguments(self, obj: dict, eff: Any, ctx: dict, field: str) -> Any:
        """An ItemReader's / ResultWriter's Parameters, a batcher's BatchInput."""
        return self.payload(obj.get(field, {}), eff, ctx, field)

    def io_field(self) -> str:
        return "Parameters"


class JsonataFlow:
    """JSONata states: Arguments, Output, Assign, Items, Condition and expressions."""

    language = "JSONata"

    def __init__(self, strict_spec: bool = False):
        self.strict_spec = strict_spec

    @staticmethod
    def bindings(ctx, **states) -> dict[str, Any]:
        """The variables in scope, and ``$states`` (input, result, errorOutput, context)."""
        variables = getattr(ctx, "variables", None)
        out = variables.visible() if variables is not None else {}
        states["context"] = dict(ctx)
        out["states"] = states
        return out

    @staticmethod
    def value(template: Any, field: str, b: dict) -> Any:
        return evaluate_template(template, field, b)

    def assign(self, block: dict | None, b: dict) -> dict | None:
        if block is None:
            return None
        return {k: evaluate_template(v, f"Assign/{k}", b) for k, v in block.items()}

    def _output(self, obj: dict, default: Any, b: dict) -> Any:
        return evaluate_template(obj["Output"], "Output", b) if "Output" in obj else default

    # ------------------------------------------------------------ states
    def state_input(self, state: dict, data: Any, ctx: dict) -> Any:
        return data

    def arguments(self, state: dict, eff: Any, ctx: dict) -> Any:
        if "Arguments" not in state:
            return eff
        return evaluate_template(state["Arguments"], "Arguments", self.bindings(ctx, input=eff))

    def finish(self, state: dict, data: Any, eff: Any, result: Any, ctx: dict):
        b = self.bindings(ctx, input=data, result=result)
        return self._output(state, result, b), self.assign(state.get("Assign"), b)

    def catch(self, catcher: dict, data: Any, error_output: dict, ctx: dict):
        b = self.bindings(ctx, input=data, errorOutput=error_output)
        return self._output(catcher, error_output, b), self.assign(catcher.get("Assign"), b)

    def pass_state(self, state: dict, data: Any, ctx: dict, check) -> tuple[Any, dict | None]:
        b = self.bindings(ctx, input=data)
        return self._output(state, data, b), self.assign(state.get("Assign"), b)

    def choice(self, name: str, state: dict, data: Any, ctx: dict):
        """A matched rule's Output and Assign replace the state's (recorded: a rule's
        "Condition Output block" when it matches, the state's when Default is taken)."""
        b = self.bindings(ctx, input=data)
        for rule in state["Choices"]:
            cond = rule["Condition"]
            if is_expression(cond):
                cond = evaluate(cond, "Condition", b)
                if not isinstance(cond, bool):
                    raise _type_error(rule["Condition"], "Condition", "boolean", cond)
            if cond:
                out_obj = rule if "Output" in rule else state
                block = rule.get("Assign", state.get("Assign"))
                return self._output(out_obj, data, b), rule["Next"], self.assign(block, b)
        if "Default" in state:
            return (
                self._output(state, data, b),
                state["Default"],
                self.assign(state.get("Assign"), b),
            )
        raise _no_choice(name)

    def passthrough(self, state: dict, data: Any, ctx: dict):
        b = self.bindings(ctx, input=data)
        return data, self._output(state, data, b), self.assign(state.get("Assign"), b)

    def fail(self, state: dict, data: Any, ctx: dict) -> tuple[str | None, str | None]:
        b = self.bindings(ctx, input=data)
        out = []
        for field in ("Error", "Cause"):
            value = state.get(field)
            if is_expression(value):
                value = evaluate(value, field, b)
                if not isinstance(value, str):
                    raise _type_error(state[field], field, "string", value)
            out.append(value)
        return out[0], out[1]

    def wait_seconds(self, state: dict, eff: Any, ctx: dict) -> float:
        b = self.bindings(ctx, input=eff)
        if "Seconds" in state:
            value = state["Seconds"]
            if is_expression(value):
                value = evaluate(value, "Seconds", b)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise _type_error(state["Seconds"], "Seconds", "non-negative integer", value)
            return float(value)
        value = state["Timestamp"]
        if is_expression(value):
            value = evaluate(value, "Timestamp", b)
        ts = parse_timestamp(value) if isinstance(value, str) else None
        if ts is None:  # AWS's wording (recorded)
            shown = value if isinstance(value, str) else dumps(value)
            raise StatesError(
                QUERY_ERROR,
                "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                f"date-time format string: {shown}",
            )
        return _seconds_until(ts)

    def task_number(self, state, field, params, data, ctx) -> float | None:
        if field not in state:
            return None
        value = state[field]
        if is_expression(value):
            value = evaluate(value, field, self.bindings(ctx, input=data))
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise _type_error(state[field], field, "positive integer", value)
        return float(value)

    # ------------------------------------------------------------ Map
    def map_items(self, state: dict, eff: Any, ctx: dict) -> list:
        if "Items" not in state:
            if not isinstance(eff, list):  # recorded: an error of this state's query
                raise StatesError(
                    QUERY_ERROR, f"Map state input must be an array but was: {dumps(eff)}"
                )
            return eff
        template = state["Items"]
        items = evaluate_template(template, "Items", self.bindings(ctx, input=eff))
        if not isinstance(items, list):
            raise _type_error(template, "Items", "array", items)
        return items

    def item_input(self, state: dict, eff: Any, item: Any, item_ctx: dict) -> Any:
        if "ItemSelector" not in state:
            return item
        b = self.bindings(item_ctx, input=eff)
        return evaluate_template(state["ItemSelector"], "ItemSelector", b)

    def count(self, obj: dict, field: str, eff: Any, ctx: dict, default=None):
        value = obj.get(field, default)
        if not is_expression(value):
            return value
        value = evaluate(value, field, self.bindings(ctx, input=eff))
        want_number = field == "ToleratedFailurePercentage"
        ok = isinstance(value, (int, float) if want_number else int) and not isinstance(value, bool)
        if not ok:
            raise _type_error(obj[field], field, "number" if want_number else "integer", value)
        return value

    def io_arguments(self, obj: dict, eff: Any, ctx: dict, field: str) -> Any:
        field = "Arguments" if field == "Parameters" else field
        return evaluate_template(obj.get(field, {}), field, self.bindings(ctx, input=eff))

    def io_field(self) -> str:
        return "Arguments"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_error(template: Any, field: str, expected: str, value: Any) -> StatesError:
    """AWS's wording for a result of the wrong type (recorded for Items)."""
    body = template[2:-2].strip() if is_expression(template) else dumps(template)
    err = StatesError(
        QUERY_ERROR,
        f"The JSONata expression '{body}' specified for the field '{field}' returned an "
        f"unexpected result type. Expected '{expected}', but was '{_type_name(value)}' "
        f"for value: {dumps(value)}",
    )
    err.location = field
    return err


def not_found_cause(p, doc) -> str:
    """AWS's (Jayway JsonPath's) words: a missing leaf has "No results", a missing
    intermediate property is a "Missing property" at the prefix that failed."""
    node, depth = doc, 0
    for kind, arg in p.segments:
        ok = (kind == "key" and isinstance(node, dict) and arg in node) or (
            kind == "index" and isinstance(node, list) and -len(node) <= arg < len(node)
        )
        if not ok:
            break
        node, depth = node[arg], depth + 1
    if depth < len(p.segments) - 1:
        prefix = "$" + "".join(
            f"['{a}']" if k == "key" else f"[{a}]" for k, a in p.segments[: depth + 1]
        )
        return f"Invalid path '{p.text}' : Missing property in path {prefix}"
    return f"Invalid path '{p.text}' : No results for path: {_bracket(p.text)}"


def _bracket(path_text: str) -> str:
    """Render ``$.a.b`` as ``$['a']['b']`` the way the error causes do."""
    p = compile_path(path_text)
    out = "$"
    for seg in p.segments:
        if seg[0] == "key":
            out += f"['{seg[1]}']"
        elif seg[0] == "index":
            out += f"[{seg[1]}]"
        else:
            return path_text
    return out
