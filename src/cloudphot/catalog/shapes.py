"""Plans kept per query *shape*: the query's tokens, with its numbers as parameters.

A TAP client asks the same question about new places: every cone centre and every
objid makes a new query string, and parsing, checking and rewriting each one again
with sqlglot was most of a small query's time. So a query is tokenized (by the
planner's own tokenizer), its number tokens become *slots*, and a shape is planned
once, with every slotted number printed as a marker in the generated SQL; the next
query of that shape is the stored text with the markers replaced by its own numbers.

Two kinds of number are not plain parameters:

- numbers the planner *read* (a LIMIT checked against the row limit, the corners of
  an ADQL BOX, the ``1`` of ``CONTAINS(...) = 1``): they steered the plan, so their
  values are part of the key (:attr:`Recording.fixed`);
- cone centres and radii and objids, which become index ranges and partition lists:
  the planner records how to compute those (its ``ConeSpec``/``IdSpec``) and
  recomputes, and re-checks, them for every query.

A number the parser did not turn into one literal node of the same text (``.5``
becomes ``0.5``) is fixed too. Written here because sqlglot has no parameterised
plans; the markers are printed by dialect subclasses whose only change is how a
slotted literal is written, so every ``.sql()`` of a user's subtree (the distance
formula's text, for one) carries markers rather than baked-in values.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import Token, TokenType

__all__ = [
    "DUCKDB",
    "POSTGRES",
    "VERIFY",
    "Recording",
    "Shape",
    "current",
    "fill",
    "fixed_subkey",
    "marker",
    "number",
    "shape_of",
]

SLOT = "cloudphot_slot"
#: plan every query both ways and fail on a difference (the test suite sets it)
VERIFY = False
_MARK = re.compile("\x00([LCS])([0-9]+)\x00")


def marker(kind: str, i: int) -> str:
    """Placeholder text for literal slot ``L``, cone predicate ``C`` or table source ``S``."""
    return f"\x00{kind}{i}\x00"


def fill(text: str, values: dict[str, Sequence[str]]) -> str:
    """``text`` with each marker replaced by ``values[kind][i]``."""
    return _MARK.sub(lambda m: values[m.group(1)][int(m.group(2))], text)


def _literal_sql(base: Callable, self, expression: exp.Literal) -> str:
    slot = expression.meta_get(SLOT)
    return base(self, expression) if slot is None else marker("L", slot)


class _ShapeDuckDB(DuckDB):
    """DuckDB as sqlglot writes it, but slotted numbers as markers."""

    # sqlglot declares Dialect.Generator as a class variable, which mypy refuses as a base
    class Generator(DuckDB.Generator):  # type: ignore[valid-type, misc]
        def literal_sql(self, expression: exp.Literal) -> str:
            return _literal_sql(DuckDB.Generator.literal_sql, self, expression)


class _ShapePostgres(Postgres):
    """PostgreSQL as sqlglot writes it, but slotted numbers as markers."""

    class Generator(Postgres.Generator):  # type: ignore[valid-type, misc]
        def literal_sql(self, expression: exp.Literal) -> str:
            return _literal_sql(Postgres.Generator.literal_sql, self, expression)


DUCKDB = _ShapeDuckDB()
POSTGRES = _ShapePostgres()


@dataclass(frozen=True)
class Shape:
    """A query's tokens with its numbers taken out (``key``), and those numbers."""

    key: tuple
    numbers: tuple[str, ...]
    starts: dict[int, int] = field(compare=False, hash=False)


def shape_of(tokens: list[Token], *context) -> Shape:
    """The shape of a tokenized query; ``context`` joins the key (dialect, tables...).

    A number's kind (digits only, or not) stays in the key: whether ``objid = n``
    names an objid, or a division is integral, depends on it.
    """
    key: list = list(context)
    numbers: list[str] = []
    starts: dict[int, int] = {}
    for tok in tokens:
        if tok.token_type == TokenType.NUMBER:
            starts[tok.start] = len(numbers)
            numbers.append(tok.text)
            key.append((TokenType.NUMBER, tok.text.isdigit(), tuple(tok.comments)))
        else:
            key.append((tok.token_type, tok.text, tuple(tok.comments)))
    return Shape(tuple(key), tuple(numbers), starts)


_CURRENT: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "cloudphot_shape_recording", default=None
)


class Recording:
    """One plan being made for a shape: which numbers it read (``fixed``).

    ``with Recording(shape, tree) as rec:`` slots the tree's number literals and
    makes :func:`number` note what the planner reads.
    """

    def __init__(self, shape: Shape, tree: exp.Expr):
        self.shape = shape
        self.fixed: set[int] = set(range(len(shape.numbers)))
        for node in tree.find_all(exp.Literal):
            if node.is_string:
                continue
            start = node.meta_get("start")
            slot = shape.starts.get(start) if start is not None else None
            if slot is not None and node.this == shape.numbers[slot]:
                node.meta[SLOT] = slot
                self.fixed.discard(slot)
        #: specs of the cones whose predicates are markers ``C0``, ``C1``... in the plan
        self.cones: list = []
        self._token: contextvars.Token[Recording | None] | None = None

    def __enter__(self) -> Recording:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)


def current() -> Recording | None:
    """The plan being recorded in this context, if any."""
    return _CURRENT.get()


def number(node: exp.Literal, values: Sequence[str] | None = None) -> str:
    """The text of a number literal, noted as read by the plan being made.

    With ``values`` (a query's numbers), a slotted literal reads its slot's value:
    how a cone or objid spec is evaluated for each query of a shape.
    """
    slot = node.meta_get(SLOT)
    if slot is None:
        return node.this
    if values is not None:
        return values[slot]
    rec = _CURRENT.get()
    if rec is not None:
        rec.fixed.add(slot)
    return node.this


def fixed_subkey(fixed: frozenset[int], numbers: Sequence[str]) -> tuple:
    """The values of a shape's fixed numbers in one query: the second half of its key."""
    return tuple((i, numbers[i]) for i in sorted(fixed))
