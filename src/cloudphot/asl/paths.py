"""The JSONPath subset of the Amazon States Language.

Written here rather than using jsonpath-ng because ASL needs things jsonpath-ng
does not give directly: the *definite* / *indefinite* distinction (a definite
path yields one value or "not found", an indefinite one a list of matches),
reference paths that may only name keys and indices, copy-on-write assignment
for ResultPath (no deep copy of the whole document), and speed (paths are
compiled once per definition and cached; jsonpath-ng's ply parser is ~100x
slower per parse). Supported: ``$``, ``.name``, ``['name']``, ``[n]`` (negative
too), ``[*]``/``.*``, unions ``[0,2]``/``['a','b']``, slices ``[a:b:c]``, deep
scan ``..name``, and filters ``[?(@.x > 1 && @.y == 'a')]``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = [
    "CompiledPath",
    "NotFound",
    "PathError",
    "compile_path",
    "is_path",
    "read_path",
    "set_reference_path",
]


class PathError(ValueError):
    """The path string itself is malformed (a definition error)."""


class NotFound(LookupError):
    """A definite path matched nothing in the document."""


def _scan_name(body: str, i: int) -> tuple[str, int]:
    """A dot-notation name up to the next unescaped '.' or '['; '\\x' stands for x (spec: $.store\\.book)."""
    buf = []
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\" and i + 1 < n:
            buf.append(body[i + 1])
            i += 2
            continue
        if c in ".[":
            break
        buf.append(c)
        i += 1
    return "".join(buf), i


def is_path(value: Any) -> bool:
    """True if ``value`` is a string that looks like a JSONPath (``$`` or ``$...``)."""
    return isinstance(value, str) and value.startswith("$")


class CompiledPath:
    """A parsed path: ``segments`` plus whether it is definite and/or a reference path."""

    __slots__ = ("context", "definite", "reference", "segments", "text", "variable")

    def __init__(
        self, text: str, segments: list[tuple], context: bool, variable: str | None = None
    ):
        self.text = text
        self.segments = segments
        self.context = context
        self.variable = variable  # ``$name...`` reads the workflow variable ``name``
        self.reference = all(s[0] in ("key", "index") for s in segments)
        self.definite = self.reference

    def read(self, document: Any) -> Any:
        """Value at this path; list of matches if indefinite; raise NotFound if definite and missing."""
        if self.definite:
            node = document
            for kind, arg in self.segments:
                if kind == "key":
                    if not isinstance(node, dict) or arg not in node:
                        raise NotFound(self.text)
                    node = node[arg]
                else:
                    if not isinstance(node, list) or not -len(node) <= arg < len(node):
                        raise NotFound(self.text)
                    node = node[arg]
            return node
        nodes = [document]
        for seg in self.segments:
            nodes = _step(nodes, seg)
        return nodes


def _children(node: Any) -> list:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return node
    return []


def _descendants(node: Any, out: list) -> None:
    # iterative to survive deeply nested documents
    stack = [node]
    while stack:
        cur = stack.pop()
        out.append(cur)
        kids = _children(cur)
        stack.extend(reversed(kids))


def _step(nodes: list, seg: tuple) -> list:
    kind = seg[0]
    out: list = []
    if kind == "key":
        for n in nodes:
            if isinstance(n, dict) and seg[1] in n:
                out.append(n[seg[1]])
    elif kind == "index":
        for n in nodes:
            if isinstance(n, list) and -len(n) <= seg[1] < len(n):
                out.append(n[seg[1]])
    elif kind == "wild":
        for n in nodes:
            out.extend(_children(n))
    elif kind == "union":
        for n in nodes:
            for item in seg[1]:
                if isinstance(item, str):
                    if isinstance(n, dict) and item in n:
                        out.append(n[item])
                elif isinstance(n, list) and -len(n) <= item < len(n):
                    out.append(n[item])
    elif kind == "slice":
        for n in nodes:
            if isinstance(n, list):
                out.extend(n[slice(seg[1], seg[2], seg[3])])
    elif kind == "deep":
        every: list = []
        for n in nodes:
            _descendants(n, every)
        if seg[1] is None:
            out = [c for n in every for c in _children(n)]
        else:
            out = [n[seg[1]] for n in every if isinstance(n, dict) and seg[1] in n]
    elif kind == "filter":
        for n in nodes:
            for c in _children(n):
                if seg[1](c):
                    out.append(c)
    return out


# --------------------------------------------------------------------- parsing


def _parse_quoted(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    i += 1
    buf = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(buf), i + 1
        buf.append(ch)
        i += 1
    raise PathError(f"unterminated string in path {text!r}")


def _parse_int(tok: str, text: str) -> int:
    try:
        return int(tok.strip())
    except ValueError:
        raise PathError(f"bad index {tok.strip()!r} in path {text!r}") from None


_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\))|(?P<rel>@(?:\.[A-Za-z0-9_\-$]+|\[[^\]]*\])*)"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<kw>true|false|null))"
)

_MISSING = object()


def _compile_filter(expr: str, text: str):
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _FILTER_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise PathError(f"cannot parse filter {expr!r} in path {text!r}")
        pos = m.end()
        if m.group("op"):
            tokens.append(("op", m.group("op")))
        elif m.group("rel"):
            rel = compile_path("$" + m.group("rel")[1:])
            if not rel.definite:
                raise PathError(f"filter operand must be a definite path in {text!r}")
            tokens.append(("rel", rel))
        elif m.group("num"):
            num = m.group("num")
            tokens.append(("lit", float(num) if any(c in num for c in ".eE") else int(num)))
        elif m.group("str"):
            tokens.append(("lit", _parse_quoted(m.group("str"), 0)[0]))
        else:
            tokens.append(("lit", {"true": True, "false": False, "null": None}[m.group("kw")]))
    idx = [0]

    def peek():
        return tokens[idx[0]] if idx[0] < len(tokens) else (None, None)

    def operand():
        kind, val = peek()
        idx[0] += 1
        if kind == "rel":
            return lambda node: _safe_read(val, node)
        if kind == "lit":
            return lambda node: val
        raise PathError(f"expected operand in filter {expr!r} of path {text!r}")

    def primary():
        kind, val = peek()
        if (kind, val) == ("op", "("):
            idx[0] += 1
            inner = disjunction()
            if peek() != ("op", ")"):
                raise PathError(f"unbalanced parentheses in filter of path {text!r}")
            idx[0] += 1
            return inner
        if (kind, val) == ("op", "!"):
            idx[0] += 1
            inner = primary()
            return lambda node: not inner(node)
        left = operand()
        kind, op = peek()
        if kind == "op" and op in _COMPARE:
            idx[0] += 1
            right = operand()
            cmp = _COMPARE[op]
            return lambda node: cmp(left(node), right(node))
        return lambda node: left(node) is not _MISSING

    def conjunction():
        parts = [primary()]
        while peek() == ("op", "&&"):
            idx[0] += 1
            parts.append(primary())
        return parts[0] if len(parts) == 1 else (lambda node: all(p(node) for p in parts))

    def disjunction():
        parts = [conjunction()]
        while peek() == ("op", "||"):
            idx[0] += 1
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda node: any(p(node) for p in parts))

    fn = disjunction()
    if idx[0] != len(tokens):
        raise PathError(f"unexpected tokens in filter {expr!r} of path {text!r}")
    return fn


def _safe_read(path: CompiledPath, node: Any) -> Any:
    try:
        return path.read(node)
    except NotFound:
        return _MISSING


def _ordered(a: Any, b: Any, op) -> bool:
    if a is _MISSING or b is _MISSING:
        return False
    num = (int, float)
    if (
        isinstance(a, num)
        and isinstance(b, num)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return op(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return op(a, b)
    return False


_COMPARE: dict[str, Any] = {
    "==": lambda a, b: (
        (a is not _MISSING and type(a) is type(b) and a == b)
        or (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and a == b
        )
    ),
    "!=": lambda a, b: not _COMPARE["=="](a, b),
    "<": lambda a, b: _ordered(a, b, lambda x, y: x < y),
    "<=": lambda a, b: _ordered(a, b, lambda x, y: x <= y),
    ">": lambda a, b: _ordered(a, b, lambda x, y: x > y),
    ">=": lambda a, b: _ordered(a, b, lambda x, y: x >= y),
}


def _variable_name(text: str) -> str | None:
    """The ``name`` of a variable path ``$name``, ``$name.a`` or ``$name[0]`` (else None)."""
    end = 1
    while end < len(text) and text[end] not in ".[":
        end += 1
    name = text[1:end]
    return name if name.isidentifier() else None


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> CompiledPath:
    """Parse ``text`` (``$...``, ``$$...`` or a variable ``$name...``) once; raise
    PathError when malformed."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathError(f"path must start with '$': {text!r}")
    context = text.startswith("$$")
    variable = None if context or len(text) < 2 else _variable_name(text)
    if variable is not None:
        body = text[1 + len(variable) :]
    else:
        body = text[2:] if context else text[1:]
    segs: list[tuple] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == ".":
            if i + 1 < n and body[i + 1] == ".":
                i += 2
                if i < n and body[i] == "*":
                    segs.append(("deep", None))
                    i += 1
                    continue
                name, end = _scan_name(body, i)
                if end == i:
                    raise PathError(f"empty name after '..' in path {text!r}")
                segs.append(("deep", name))
                i = end
                continue
            i += 1
            if i < n and body[i] == "*":
                segs.append(("wild",))
                i += 1
                continue
            name, end = _scan_name(body, i)
            if end == i:
                raise PathError(f"empty name in path {text!r}")
            if name == "length()" and end == n:
                raise PathError(f"length() is not supported in path {text!r}")
            segs.append(("key", name))
            i = end
        elif ch == "[":
            i += 1
            if i < n and body[i] == "?":
                if body[i : i + 2] != "?(":
                    raise PathError(f"filter must be [?(...)] in path {text!r}")
                depth = 0
                j = i + 1
                while j < n:
                    if body[j] in "'\"":
                        _, j = _parse_quoted(body, j)
                        continue
                    if body[j] == "(":
                        depth += 1
                    elif body[j] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j >= n or body[j + 1 : j + 2] != "]":
                    raise PathError(f"unterminated filter in path {text!r}")
                segs.append(("filter", _compile_filter(body[i + 2 : j], text)))
                i = j + 2
                continue
            items: list = []
            raw_start = i
            if i < n and body[i] in "'\"":
                while True:
                    name, i = _parse_quoted(body, i)
                    items.append(name)
                    while i < n and body[i] == " ":
                        i += 1
                    if i < n and body[i] == ",":
                        i += 1
                        while i < n and body[i] == " ":
                            i += 1
                        if i < n and body[i] in "'\"":
                            continue
                        raise PathError(f"bad union in path {text!r}")
                    break
                if i >= n or body[i] != "]":
                    raise PathError(f"missing ']' in path {text!r}")
                i += 1
                segs.append(("key", items[0]) if len(items) == 1 else ("union", tuple(items)))
                continue
            j = body.find("]", i)
            if j < 0:
                raise PathError(f"missing ']' in path {text!r}")
            inner = body[raw_start:j].strip()
            i = j + 1
            if inner == "*":
                segs.append(("wild",))
            elif ":" in inner:
                parts = inner.split(":")
                if len(parts) > 3:
                    raise PathError(f"bad slice [{inner}] in path {text!r}")
                vals = [(_parse_int(p, text) if p.strip() else None) for p in parts]
                while len(vals) < 3:
                    vals.append(None)
                if vals[2] == 0:
                    raise PathError(f"slice step cannot be 0 in path {text!r}")
                segs.append(("slice", vals[0], vals[1], vals[2]))
            elif "," in inner:
                segs.append(("union", tuple(_parse_int(p, text) for p in inner.split(","))))
            else:
                segs.append(("index", _parse_int(inner, text)))
        else:
            raise PathError(
                f"unexpected {ch!r} at position {i + (2 if context else 1)} in path {text!r}"
            )
    return CompiledPath(text, segs, context, variable)


def read_path(text: str, document: Any) -> Any:
    """Convenience: compile and read (raises NotFound / PathError)."""
    return compile_path(text).read(document)


class ResultPathMismatch(LookupError):
    """ResultPath could not be applied (an intermediate node is not an object)."""


def set_reference_path(document: Any, path: CompiledPath, value: Any) -> Any:
    """Return a copy of ``document`` with ``value`` placed at reference ``path``.

    Only the containers along the path are copied (copy-on-write), so the rest of
    the document is shared, never mutated. Missing keys are created as objects.
    """
    if not path.reference:
        raise PathError(f"{path.text!r} is not a reference path")
    if not path.segments:
        return value

    def put(node: Any, k: int) -> Any:
        kind, arg = path.segments[k]
        last = k == len(path.segments) - 1
        if kind == "key":
            if node is _MISSING:
                node = {}
            if not isinstance(node, dict):
                raise ResultPathMismatch(path.text)
            new = dict(node)
            new[arg] = value if last else put(node.get(arg, _MISSING), k + 1)
            return new
        if not isinstance(node, list) or not -len(node) <= arg < len(node):
            raise ResultPathMismatch(path.text)
        items = list(node)
        items[arg] = value if last else put(node[arg], k + 1)
        return items

    return put(document, 0)


__all__.append("ResultPathMismatch")
