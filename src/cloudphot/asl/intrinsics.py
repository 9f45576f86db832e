"""ASL intrinsic functions (``States.Format(...)`` and friends).

A small recursive-descent parser turns the call text into a tree once (cached);
evaluation resolves path arguments against the state input or the context
object. Failures raise ``StatesError('States.IntrinsicFailure', cause)`` with the
function name in the cause, as Step Functions does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from .errors import SpecRuntimeError, StatesError
from .paths import NotFound, PathError, compile_path
from .variables import path_document

__all__ = ["FUNCTIONS", "IntrinsicSyntaxError", "compile_intrinsic", "is_intrinsic"]

_FAIL = "States.IntrinsicFailure"
_MAX_STRING = 10_000


class IntrinsicSyntaxError(ValueError):
    """The intrinsic call text is malformed (a definition error)."""


def is_intrinsic(text: Any) -> bool:
    """True if ``text`` is a ``States.X(...)`` call."""
    return isinstance(text, str) and text.startswith("States.") and text.rstrip().endswith(")")


class _Call:
    __slots__ = ("args", "name")

    def __init__(self, name: str, args: list):
        self.name = name
        self.args = args


class _Path:
    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


class _Lit:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_NUM = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_NAME = re.compile(r"States\.[A-Za-z0-9]+")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def err(self, msg: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{msg} at position {self.i} in intrinsic {self.text!r}")

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\n":
            self.i += 1

    def call(self) -> _Call:
        m = _NAME.match(self.text, self.i)
        if not m:
            raise self.err("expected States.<Function>")
        name = m.group(0)[len("States.") :]
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"unknown intrinsic function States.{name} in {self.text!r}")
        self.i = m.end()
        if self.i >= len(self.text) or self.text[self.i] != "(":
            raise self.err("expected '('")
        self.i += 1
        args: list = []
        self.ws()
        if self.i < len(self.text) and self.text[self.i] == ")":
            self.i += 1
            return _Call(name, args)
        while True:
            self.ws()
            args.append(self.arg())
            self.ws()
            if self.i >= len(self.text):
                raise self.err("missing ')'")
            ch = self.text[self.i]
            self.i += 1
            if ch == ")":
                return _Call(name, args)
            if ch != ",":
                raise self.err(f"unexpected {ch!r}")

    def arg(self):
        t, i = self.text, self.i
        if i >= len(t):
            raise self.err("missing argument")
        ch = t[i]
        if ch == "'":
            return _Lit(self.string())
        if t.startswith("States.", i):
            return self.call()
        if ch == "$":
            j, depth, quote = i, 0, None
            while j < len(t):
                c = t[j]
                if quote:
                    if c == "\\":
                        j += 2
                        continue
                    if c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c in "[(":
                    depth += 1
                elif c in "])":
                    if depth == 0:
                        break
                    depth -= 1
                elif c == "," and depth == 0:
                    break
                j += 1
            text = t[i:j].strip()
            try:
                path = compile_path(text)
            except PathError as exc:
                raise IntrinsicSyntaxError(f"{exc} in intrinsic {t!r}") from None
            self.i = j
            return _Path(path)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if t.startswith(word, i):
                self.i = i + len(word)
                return _Lit(val)
        m = _NUM.match(t, i)
        if m:
            self.i = m.end()
            s = m.group(0)
            return _Lit(float(s) if (m.group(1) or m.group(2)) else int(s))
        raise self.err(f"unexpected {ch!r}")

    def string(self) -> str:
        # Keeps the escapes \{ \} for States.Format, which needs to tell literal braces apart.
        t = self.text
        self.i += 1
        buf = []
        while self.i < len(t):
            c = t[self.i]
            if c == "\\" and self.i + 1 < len(t):
                nxt = t[self.i + 1]
                if nxt == '"':
                    raise self.err(
                        "a backslash-escaped '\"' is not allowed in an intrinsic string "
                        "(only ' { } \\ are escaped)"
                    )
                buf.append("\\" + nxt if nxt in "{}" else nxt)
                self.i += 2
                continue
            if c == "'":
                self.i += 1
                return "".join(buf)
            buf.append(c)
            self.i += 1
        raise self.err("unterminated string")


@functools.lru_cache(maxsize=2048)
def compile_intrinsic(text: str) -> Callable[..., Any]:
    """Parse ``text`` once; return ``f(input, context, strict=False) -> value``.

    ``strict`` follows the ASL spec where AWS differs (States.JsonMerge deep mode).
    """
    p = _Parser(text.strip())
    tree = p.call()
    p.ws()
    if p.i != len(p.text):
        raise p.err("trailing characters")
    return lambda data, ctx, strict=False: _eval(tree, data, ctx, strict)


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\\{", "{").replace("\\}", "}")
    return value


def _eval(node, data, ctx, strict=False):
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _Path):
        doc = path_document(node.path, data, ctx)
        try:
            return node.path.read(doc)
        except NotFound:
            raise StatesError(
                "States.Runtime",
                f"The JSONPath '{node.path.text}' could not be found in the input "
                f"'{json.dumps(doc, separators=(',', ':'))}'",
            ) from None
    raw_format = node.name == "Format"
    args = []
    for i, a in enumerate(node.args):
        v = _eval(a, data, ctx, strict)
        if isinstance(a, _Lit) and not (raw_format and i == 0):
            v = _unescape(v)
        args.append(v)
    try:
        if node.name == "JsonMerge" and len(args) == 3 and args[2] is True and not strict:
            raise _ArgError("deep merge (true) is not supported by AWS Step Functions; use false")
        return FUNCTIONS[node.name](*args)
    except StatesError:
        raise
    except _ArgError as exc:
        raise SpecRuntimeError(_FAIL, f"Invalid arguments in States.{node.name}: {exc}") from None
    except TypeError as exc:
        raise SpecRuntimeError(
            _FAIL, f"Invalid number of arguments in States.{node.name}: {exc}"
        ) from None


class _ArgError(Exception):
    pass


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise _ArgError(msg)


def _is_int(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()
    )


def _json(v) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _format(template, *values):
    _need(isinstance(template, str), "the format string must be a string")
    out, k, i = [], 0, 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template) and template[i + 1] in "{}":
            out.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            _need(
                k < len(values),
                "the number of arguments does not match the number of {} placeholders",
            )
            v = values[k]
            out.append(_java_text(v))
            k += 1
            i += 2
            continue
        out.append(c)
        i += 1
    _need(k == len(values), "the number of arguments does not match the number of {} placeholders")
    return "".join(out)


def _java_text(v, top: bool = True) -> str:
    """A value as AWS's States.Format prints it: JSON scalars as JSON (strings bare),
    objects and arrays as Java's Map/List toString (recorded: ``{Arg1=1, Arg2=[]}``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_java_text(x, False)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_java_text(x, False) for x in v) + "]"
    return _json(v)


def _half_up(v) -> int:
    """AWS rounds non-integer MathAdd operands half up (recorded: -1.5 -> -1, 2.5 -> 3)."""
    return math.floor(v + 0.5)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _string_to_json(s):
    _need(isinstance(s, str), "the argument must be a string")
    if not s.strip():
        return None  # recorded: "" and " " give null
    try:
        return json.loads(s)
    except ValueError as exc:
        raise _ArgError(f"not valid JSON: {exc}") from None


def _array_partition(arr, size):
    _need(isinstance(arr, list), "the first argument must be an array")
    _need(_is_int(size) and size > 0, "the chunk size must be a positive integer")
    size = int(size)
    return [arr[i : i + size] for i in range(0, len(arr), size)]


def _array_contains(arr, value):
    _need(isinstance(arr, list), "the first argument must be an array")
    return any(_json_equal(x, value) for x in arr)


def _json_equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _array_range(start, end, step):
    _need(all(_is_int(x) for x in (start, end, step)), "start, end and step must be integers")
    start, end, step = int(start), int(end), int(step)
    _need(step != 0, "the step must not be 0")
    count = max(0, (end - start) // step + 1)
    _need(count <= 1000, "the range exceeds the limit of 1000 elements")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(arr, index):
    _need(isinstance(arr, list), "the first argument must be an array")
    _need(_is_int(index) and index >= 0, "the index must be a non-negative integer")
    _need(
        int(index) < len(arr),
        f"index {int(index)} is out of bounds for an array of length {len(arr)}",
    )
    return arr[int(index)]


def _array_length(arr):
    _need(isinstance(arr, list), "the argument must be an array")
    return len(arr)


def _array_unique(arr):
    _need(isinstance(arr, list), "the argument must be an array")
    seen, out = set(), []
    for x in arr:
        # JSON equality: 1 == 1.0, but true != 1 and "1" != 1; objects compare by content
        key: tuple[str, Any]
        if isinstance(x, bool) or x is None:
            key = ("lit", x)
        elif isinstance(x, (int, float)):
            key = ("num", float(x))
        else:
            key = ("json", json.dumps(x, sort_keys=True, separators=(",", ":")))
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _b64encode(s):
    _need(isinstance(s, str), "the argument must be a string")
    _need(len(s) <= _MAX_STRING, f"the input exceeds {_MAX_STRING} characters")
    return base64.b64encode(s.encode()).decode()


def _b64decode(s):
    _need(isinstance(s, str), "the argument must be a string")
    _need(len(s) <= _MAX_STRING, f"the input exceeds {_MAX_STRING} characters")
    try:
        return base64.b64decode(s, validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _ArgError(f"not valid base64: {exc}") from None


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(data, algorithm):
    _need(algorithm in _HASHES, f"the algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else _json(data)
    _need(len(text) <= _MAX_STRING, f"the input exceeds {_MAX_STRING} characters")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(a, b, deep):
    _need(isinstance(a, dict) and isinstance(b, dict), "both arguments must be objects")
    _need(isinstance(deep, bool), "the third argument must be true (deep) or false (shallow)")
    if not deep:
        return {**a, **b}
    out = dict(a)
    for k, v in b.items():  # spec: deep mode merges nested objects recursively
        out[k] = (
            _json_merge(out[k], v, True)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else v
        )
    return out


def _math_random(start, end, seed=None):
    _need(_is_number(start) and _is_number(end), "start and end must be numbers")
    start, end = _half_up(start), _half_up(end)
    _need(start < end, "start must be less than end")
    _need(seed is None or _is_number(seed), "the seed must be a number")
    rng = random.Random(_half_up(seed)) if seed is not None else random
    return rng.randrange(start, end)


def _math_add(a, b):
    _need(_is_number(a) and _is_number(b), "both arguments must be numbers")
    return _half_up(a) + _half_up(b)


def _string_split(s, delims):
    _need(isinstance(s, str) and isinstance(delims, str), "both arguments must be strings")
    if not delims:
        return [s]
    parts = re.split("[" + re.escape(delims) + "]", s)
    return [p for p in parts if p != ""]


def _array(*items):
    return list(items)


def _uuid():
    return str(uuid.uuid4())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Format": _format,
    "StringToJson": _string_to_json,
    "JsonToString": _json,
    "Array": _array,
    "ArrayPartition": _array_partition,
    "ArrayContains": _array_contains,
    "ArrayRange": _array_range,
    "ArrayGetItem": _array_get_item,
    "ArrayLength": _array_length,
    "ArrayUnique": _array_unique,
    "Base64Encode": _b64encode,
    "Base64Decode": _b64decode,
    "Hash": _hash,
    "JsonMerge": _json_merge,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
    "StringSplit": _string_split,
    "UUID": _uuid,
}
