"""JSONata expressions (``"{% ... %}"``) in JSONata states, with Step Functions' additions.

Evaluation is jsonata-python's (a maintained pure-Python port of jsonata-java;
Step Functions runs JSONata 2.0.6). ``tests/asl/test_jsonata_docs.py`` holds it to
the JSONata documentation's worked examples and records where it differs. What
this module adds or corrects, and why:

- AWS's functions (developer guide, "JSONata functions provided by Step
  Functions"): ``$partition``, ``$range``, ``$hash``, ``$random([seed])``,
  ``$uuid``, ``$parse``; ``$eval`` is not available on AWS, so it is unbound here.
- null versus undefined: jsonata-python binds a Python ``None`` variable as
  *undefined*, so JSON nulls are bound as JSONata null, and results keep the two
  apart, so "returned nothing (undefined)" is reported where AWS reports it.
- one evaluation, one instance: jsonata-python keeps a per-thread copy of the
  first expression a thread evaluated (its ``$now()`` would read that copy's
  stale timestamp), so each evaluation runs on a shallow copy of its own.
- numbers: JSONata numbers are doubles; integral results become ints so JSON
  shows ``7``, not ``7.0``, as JavaScript's JSON does.
- jsonata-python is imported on first use, so code that only evaluates JSONPath
  (the event registry's Choice rules in a Lambda layer) does not need it.
- Python errors escaping jsonata-python (``$number("x")`` raises ValueError)
  become query errors instead of crashing the interpreter; ``$number`` of a
  non-numeric string gives JSONata's own D3030.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import random
import re
import uuid
from typing import Any, TypeGuard

from .errors import StatesError

__all__ = [
    "JsonataSyntaxError",
    "compile_expression",
    "evaluate",
    "evaluate_template",
    "expression_body",
    "is_expression",
    "template_expressions",
]

QUERY_ERROR = "States.QueryEvaluationError"
EVALUATION_TIMEOUT_MS = 10_000
_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
# the strings JSONata's $number casts (jsonata-js functions.js): decimal JSON numbers
# and the 0x / 0B / 0O prefixes; anything else is D3030
_NUMBER = re.compile(
    r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([Ee][-+]?[0-9]+)?$|^0(x[0-9a-fA-F]+|B[01]+|O[0-7]+)$"
)
_SAFE_INT = 2**53


@functools.cache
def _lib():
    """(jsonata module, JException class, Utils class), imported once on first use."""
    import jsonata
    import jsonata.timebox
    from jsonata import jexception
    from jsonata.utils import Utils

    return jsonata, jexception.JException, Utils


class JsonataSyntaxError(ValueError):
    """The expression does not parse (a definition error)."""


def is_expression(value: Any) -> TypeGuard[str]:
    """True for a string that is a JSONata expression: ``{%`` first, ``%}`` last
    (a space before ``{%`` makes it a literal string, as recorded on AWS)."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def expression_body(value: str) -> str:
    return value[2:-2].strip()


class _QueryError(Exception):
    """Raised by the functions AWS adds, with a JSONata-style code and message."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _partition(array, size):
    if not isinstance(size, (int, float)) or size != int(size) or size <= 0:
        raise _QueryError("D3098", "$partition: the chunk size must be a positive integer")
    size = int(size)
    items = list(array)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _range(start, end, step):
    for v in (start, end, step):
        if v != int(v):
            raise _QueryError("D3099", "$range: start, end and step must be integers")
    start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise _QueryError("D3099", "$range: the step cannot be 0")
    stop = end + (1 if step > 0 else -1)
    # a JSONata sequence: a single value comes out as that value (recorded: [1] -> 1)
    return _lib()[2].create_sequence_from_iter(list(range(start, stop, step)))


def _hash(data, algorithm):
    name = _HASHES.get(algorithm)
    if name is None:
        raise _QueryError(
            "D3097",
            f"$hash: unsupported algorithm {algorithm!r}; use one of {', '.join(_HASHES)}",
        )
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def _random(seed=None):
    if seed is None or seed is _lib()[2].NULL_VALUE:
        return random.random()
    # seeded values repeat for one seed, as on AWS; AWS's own sequence is not known
    return random.Random(json.dumps(seed, sort_keys=True, default=str)).random()


def _uuid():
    return str(uuid.uuid4())


def _parse(text):
    try:
        return _to_jsonata(json.loads(text))
    except ValueError as exc:
        raise _QueryError("D3096", f"$parse: the argument is not JSON: {exc}") from None


def _number(arg=None):
    if arg is None:
        return None
    if isinstance(arg, str) and not _NUMBER.match(arg):
        raise _QueryError("D3030", f'Unable to cast value to a number: "{arg}"')
    return _lib()[0].functions.Functions.number(arg)


@functools.cache
def _aws_functions() -> dict:
    jsonata = _lib()[0]

    def function(fn, signature: str):
        return jsonata.Jsonata.JFunction(jsonata.Jsonata.JLambda(fn), signature)

    return {
        "partition": function(_partition, "<an:a>"),
        "range": function(_range, "<nnn:a>"),
        "hash": function(_hash, "<ss:s>"),
        "random": function(_random, "<j?:n>"),
        "uuid": function(_uuid, "<:s>"),
        "parse": function(_parse, "<s:j>"),
        "number": function(_number, "<(nsb)-:n>"),
    }


@functools.lru_cache(maxsize=2048)
def compile_expression(body: str):
    """Parse an expression (without ``{% %}``) once; raise JsonataSyntaxError."""
    jsonata, jexception, _ = _lib()
    try:
        expr = jsonata.Jsonata(body)
    except jexception as exc:
        raise JsonataSyntaxError(f"{exc.error}: {exc}") from None
    except Exception as exc:  # the parser's own crashes on odd input
        raise JsonataSyntaxError(f"{type(exc).__name__}: {exc}") from None
    expr.set_output_convert_nulls(False)
    for name, fn in _aws_functions().items():
        expr.register_function(name, fn)
    return expr


def _to_jsonata(value: Any) -> Any:
    """JSON null as JSONata null (a bare Python None would be undefined)."""
    return _lib()[2].NULL_VALUE if value is None else value


def _from_jsonata(value: Any) -> Any:
    """JSONata result as plain JSON: nulls, sequences, integral doubles."""
    if value is _lib()[2].NULL_VALUE:
        return None
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _SAFE_INT:
            return int(value)
        return value
    if isinstance(value, dict):  # a None here is a JSON null passed through from the input
        return {k: _from_jsonata(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonata(v) for v in value]
    return value


def _is_json(value: Any) -> bool:
    if value is _lib()[2].NULL_VALUE or value is None:
        return True
    if isinstance(value, bool | str | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_is_json(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    return False


def _query_error(body: str, field: str, what: str) -> StatesError:
    err = StatesError(
        QUERY_ERROR, f"The JSONata expression '{body}' specified for the field '{field}' {what}"
    )
    err.location = field
    return err


def evaluate(text: str, field: str, bindings: dict[str, Any], document: Any = None) -> Any:
    """Evaluate one ``{% ... %}`` string; ``bindings`` maps variable names (without
    ``$``) to JSON values, ``states`` among them. ``document`` is the context ``$``
    (Step Functions gives none: expressions read ``$states.input``; the tests of
    the JSONata documentation's examples give one).

    Raises StatesError ``States.QueryEvaluationError`` with AWS's wording when the
    expression fails, returns nothing, or returns something that is not JSON.
    """
    jsonata, jexception, _ = _lib()
    body = expression_body(text)
    compiled = compile_expression(body)
    inst = copy.copy(compiled)  # its own timestamp and evaluation state
    frame = inst.create_frame(inst.environment)
    for name, v in bindings.items():
        frame.bind(name, _to_jsonata(v))
    frame.bind("eval", None)  # not available on AWS: calling it is T1006, as for any unbound name
    # a runaway expression (JSONata optimises tail calls, so endless recursion loops
    # forever) must not hang the execution: ours, AWS's own limit is not documented
    _lib()[0].timebox.Timebox(frame, EVALUATION_TIMEOUT_MS, None)
    previous = getattr(jsonata.Jsonata.CURRENT, "jsonata", None)
    jsonata.Jsonata.CURRENT.jsonata = inst
    try:
        result = inst.evaluate(document, frame)
    except jexception as exc:
        raise _query_error(
            body, field, f"threw an error during evaluation. {exc.error}: {exc}"
        ) from None
    except _QueryError as exc:
        raise _query_error(
            body, field, f"threw an error during evaluation. {exc.code}: {exc}"
        ) from None
    except RecursionError:
        raise _query_error(
            body, field, "threw an error during evaluation. U1001: Stack overflow error"
        ) from None
    except Exception as exc:  # a crash inside jsonata-python is still this query's failure
        raise _query_error(
            body, field, f"threw an error during evaluation. {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if previous is None:
            del jsonata.Jsonata.CURRENT.jsonata
        else:
            jsonata.Jsonata.CURRENT.jsonata = previous
    if result is None:
        raise _query_error(body, field, "returned nothing (undefined).")
    if not _is_json(result):
        raise _query_error(body, field, "returned an unsupported result type.")
    return _from_jsonata(result)


def evaluate_template(template: Any, field: str, bindings: dict[str, Any]) -> Any:
    """A JSON value in which every ``{% %}`` string (at any depth) is evaluated;
    ``field`` names the place in causes (``Output/result``, as AWS names it)."""
    if isinstance(template, str):
        return evaluate(template, field, bindings) if is_expression(template) else template
    if isinstance(template, dict):
        return {k: evaluate_template(v, f"{field}/{k}", bindings) for k, v in template.items()}
    if isinstance(template, list):
        return [evaluate_template(v, f"{field}[{i}]", bindings) for i, v in enumerate(template)]
    return template


def template_expressions(template: Any, field: str):
    """Yield ``(field, body)`` for every expression in a template (for validation)."""
    if isinstance(template, str):
        if is_expression(template):
            yield field, expression_body(template)
    elif isinstance(template, dict):
        for k, v in template.items():
            yield from template_expressions(v, f"{field}/{k}")
    elif isinstance(template, list):
        for i, v in enumerate(template):
            yield from template_expressions(v, f"{field}[{i}]")
