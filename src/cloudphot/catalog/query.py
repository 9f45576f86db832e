"""Read-only SQL over the catalog: parse, check, rewrite spatial functions, run on DuckDB.

The pipeline for one query string:

1. **Parse** with sqlglot (PostgreSQL dialect, as Data Lab users write it). Not
   parseable, empty, or more than one statement: refused.
2. **Check** against allow-lists: the statement must be a query (SELECT / set
   operation / WITH); every table must be ``<survey>.phot_mod`` or
   ``<survey>.phot_meas`` (or a CTE); every function must be on the function
   allow-list. Anything else (DDL, DML, COPY, ATTACH, INSTALL/LOAD, PRAGMA, SET,
   SELECT INTO, table functions such as read_csv/read_parquet/glob, httpfs URLs)
   is refused with :class:`~cloudphot.errors.QueryRefused` naming what and why.
3. **Rewrite** the spatial functions of Q3C and ADQL:
   ``q3c_radial_query(ra, dec, ra0, dec0, r)`` and
   ``CONTAINS(POINT(..ra, dec), CIRCLE(.., ra0, dec0, r)) = 1`` become
   ``_healpix_29`` range predicates covering the cone (so DuckDB skips row groups
   by their min/max statistics) AND the exact great-circle distance <= r; the
   table is also narrowed to the HATS partitions the cone touches.
   ``q3c_dist`` and ``DISTANCE`` become the haversine distance in degrees;
   ``q3c_join(ra1, dec1, ra2, dec2, r)`` becomes a declination band (a range join)
   AND the exact distance.
4. **Run** on the engine's DuckDB connection (one per catalog version, reused by
   its queries together with their cached checked plans and the partitions' Parquet
   footers) that can read only the catalog's folder
   (``allowed_directories`` + ``enable_external_access=false`` +
   ``lock_configuration``: defence in depth behind the parser), with a row limit
   (a larger explicit LIMIT is refused; otherwise the result is truncated and
   flagged) and a timeout (``interrupt()`` from a timer).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
import operator
import os
import re
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..errors import ConfigError, DataError, QueryRefused
from ..storage.objects import ObjectStore
from . import covers, ids, integrity, shapes
from .build import read_manifest
from .schema import DERIVED_TABLES, PHOT_MEAS, PHOT_MOD, arrow_schema

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_S",
    "TABLES",
    "Cone",
    "IdPixels",
    "QueryEngine",
    "QueryFailed",
    "QueryResult",
    "QueryStream",
    "QueryTimeout",
    "Rewritten",
    "check_and_rewrite",
    "check_cone",
    "manifest_partitions",
    "partitions_touched",
    "read_query",
    "restriction_ranges",
    "unique_names",
]

TABLES = ("phot_mod", "phot_meas", *DERIVED_TABLES)
# DuckDB warns that Arrow from an executed statement copies its rows: for the bounded
# results the engine runs that way (:meth:`QueryEngine.stream`) the copy is the cheap part
warnings.filterwarnings(
    "ignore", message="Arrow output on a DB-API result makes an extra copy", category=UserWarning
)
DEFAULT_MAX_ROWS = 100_000
DEFAULT_TIMEOUT_S = 60.0
MAX_SQL_CHARS = 20_000
#: checked and rewritten queries kept per engine (one catalog version)
PLAN_CACHE_SIZE = 256


class QueryTimeout(QueryRefused):
    """The query ran longer than the per-query timeout and was interrupted."""


class QueryFailed(DataError):
    """The query was allowed but the engine rejected it (unknown column, type error...)."""


#: sqlglot function classes that may appear in a query (pure, read-only computations)
ALLOWED_FUNCTIONS = frozenset(
    [
        "Abs",
        "Acos",
        "Asin",
        "Atan",
        "Atan2",
        "Avg",
        "BitwiseOrAgg",
        "BitwiseAndAgg",
        "BitwiseXorAgg",
        "Case",
        "Cast",
        "TryCast",
        "Cbrt",
        "Ceil",
        "Coalesce",
        "Concat",
        "Corr",
        "Cos",
        "Cot",
        "Count",
        "CountIf",
        "Degrees",
        "Exp",
        "FirstValue",
        "LastValue",
        "Floor",
        "Greatest",
        "If",
        "Lag",
        "Lead",
        "Least",
        "Length",
        "Ln",
        "Log",
        "Log2",
        "Log10",
        "LogicalOr",
        "LogicalAnd",
        "Lower",
        "Max",
        "Median",
        "Min",
        "Ntile",
        "Nullif",
        "PercentileCont",
        "PercentileDisc",
        "Pi",
        "Pow",
        "Radians",
        "Rand",
        "Rank",
        "DenseRank",
        "PercentRank",
        "CumeDist",
        "Round",
        "RowNumber",
        "Sign",
        "Sin",
        "Sqrt",
        "Stddev",
        "StddevPop",
        "StddevSamp",
        "Substring",
        "Sum",
        "Tan",
        "Trunc",
        "Upper",
        "Variance",
        "VariancePop",
        "ArgMax",
        "ArgMin",
        "ApproxDistinct",
        "Quantile",
        "Mod",
        "IsNan",
        "IsInf",
        "NthValue",
        "CovarPop",
        "CovarSamp",
        "StrPosition",
        "Div",
        "SafeDivide",
        "Anonymous",
        "Contains",
        "And",
        "Or",
        "Xor",
        "Collate",
        "RegexpLike",
        "RegexpILike",
    ]
)

#: names of unparsed (``Anonymous``) functions that are allowed
ALLOWED_ANONYMOUS = frozenset(
    [
        "q3c_radial_query",
        "q3c_dist",
        "q3c_join",
        "point",
        "circle",
        "contains",
        "distance",
        "log10",
        "log2",
        "mod",
        "isnan",
        "isfinite",
        "bit_and",
        "bit_or",
        "bit_xor",
        "stddev_pop",
        "var_pop",
        "var_samp",
        "arg_min",
        "arg_max",
        "degrees",
        "radians",
        "cot",
    ]
)

#: node types refused anywhere in a query, with the reason shown to the user
_REFUSED_NODES: dict[type, str] = {
    exp.Into: "SELECT ... INTO writes a table; the catalog is read-only",
}
for _name, _why in {
    "Insert": "INSERT",
    "Update": "UPDATE",
    "Delete": "DELETE",
    "Merge": "MERGE",
    "Create": "CREATE",
    "Drop": "DROP",
    "Alter": "ALTER",
    "Copy": "COPY",
    "Command": "this command",
    "Pragma": "PRAGMA",
    "Set": "SET",
    "Use": "USE",
    "Transaction": "transactions",
    "Commit": "COMMIT",
    "Rollback": "ROLLBACK",
    "Attach": "ATTACH",
    "Detach": "DETACH",
    "Install": "INSTALL",
    "Load": "LOAD",
    "LoadData": "LOAD DATA",
    "Cache": "CACHE",
    "Uncache": "UNCACHE",
    "Refresh": "REFRESH",
    "Describe": "DESCRIBE",
    "Show": "SHOW",
    "Export": "EXPORT",
    "TruncateTable": "TRUNCATE",
}.items():
    if hasattr(exp, _name):
        _REFUSED_NODES[getattr(exp, _name)] = (
            f"{_why} is not allowed: the catalog is read-only and accepts only SELECT queries"
        )
_REFUSED_TYPES = tuple(_REFUSED_NODES)


#: cones at least this wide (5") are covered at 2 orders deeper than
#: :func:`.covers.cover_order` (pixels ~1/4 of the radius, not ~1): the cover's overshoot
#: beyond the cone then meets fewer 20,000-row row groups, which DuckDB decodes whole
#: (dense field, 10" cones: 3.8 -> 2.9 row groups, ~25 % less DuckDB time; 1' ~10 %).
#: Smaller cones sit inside one or two row groups either way, so they keep the cheaper cover
FINE_COVER_DEG = 5.0 / 3600


@dataclass
class Cone:
    ra_deg: float
    dec_deg: float
    radius_deg: float
    #: conservative covers by slack (arcsec): one per query, for its SQL and its partitions
    _covers: dict = field(default_factory=dict, repr=False, compare=False)

    def ranges(self, slack_arcsec: float = 0.0) -> np.ndarray:
        """Half-open ``_healpix_29`` ranges ``(n, 2)`` of the cone widened by ``slack_arcsec``."""
        hit = self._covers.get(slack_arcsec)
        if hit is None:
            r = self.radius_deg + slack_arcsec / 3600
            order = covers.cover_order(r)
            if r >= FINE_COVER_DEG:
                order = min(order + 2, covers.MAX_ORDER)
            pix = covers.cone_cover(self.ra_deg, self.dec_deg, r, order)
            hit = self._covers[slack_arcsec] = covers.merged_ranges29(order, pix)
        return hit


@dataclass
class IdPixels:
    """Level-12 pixels encoded in the objids a query asks for (``objid = n`` / ``IN (...)``)."""

    pix4096: frozenset


@dataclass(frozen=True)
class _IdSpec:
    """The objid literals of ``objid = n`` / ``IN (...)``: their pixels for each query."""

    literals: tuple

    def resolve(self, values=None) -> IdPixels:
        return IdPixels(
            frozenset(int(shapes.number(e, values)) >> ids.OBJID_SERIAL_BITS for e in self.literals)
        )


def _objid_pixels(term: exp.Expression) -> tuple[str, IdPixels | _IdSpec] | None:
    """(qualifier, pixels) when ``term`` pins objid to integer constants.

    While a shape is planned, the pixels are a spec evaluated per query. (Whether a
    literal is all digits is part of the shape's key, so reading that is no read.)
    """
    if isinstance(term, exp.Paren):
        term = term.this
    found = None
    if isinstance(term, exp.EQ):
        for a, b in ((term.this, term.expression), (term.expression, term.this)):
            if (
                _column(a, "objid")
                and isinstance(b, exp.Literal)
                and not b.is_string
                and b.this.isdigit()
            ):
                found = a.table, (b,)
                break
    elif (
        isinstance(term, exp.In)
        and _column(term.this, "objid")
        and not term.args.get("query")
        and term.expressions
        and all(
            isinstance(e, exp.Literal) and not e.is_string and e.this.isdigit()
            for e in term.expressions
        )
    ):
        found = term.this.table, tuple(term.expressions)
    if found is None:
        return None
    spec = _IdSpec(found[1])
    return found[0], spec if shapes.current() is not None else spec.resolve()


@dataclass
class Rewritten:
    """A checked query, rewritten for DuckDB, with the table references still symbolic."""

    expression: exp.Expression
    #: id(table node) -> (table name, cone or objid restriction or None; their specs
    #: while a shape is planned)
    tables: dict[int, tuple[str, Cone | IdPixels | None]] = field(default_factory=dict)
    limit: int | None = None
    #: the shape's plan being made (:func:`check_and_rewrite` with a shape)
    recording: shapes.Recording | None = None

    def sql(self) -> str:
        return self.expression.sql(dialect="duckdb")


def _refuse(msg: str, sql: str) -> QueryRefused:
    return QueryRefused(f"query refused: {msg}")


# ---------------------------------------------------------------- constant evaluation
def _div(a: float, b: float) -> float:
    """IEEE division: 0/0 is NaN and x/0 infinite, so such radii are seen and refused."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


_BINOPS = {
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
    exp.Div: _div,
}


def _const(node: exp.Expression, values=None) -> float | None:
    """Value of a numeric constant expression, or None when it is not one.

    Literals, + - * / (IEEE: 0/0 is NaN), parentheses, unary minus, and casts of
    strings to numbers (``'NaN'::float8``, ``CAST('Infinity' AS DOUBLE)``). ``values``:
    a query's numbers, for the slots of its shape's plan (:func:`.shapes.number`).
    """
    if isinstance(node, exp.Literal):
        if not node.is_string:
            return float(shapes.number(node, values))
        return None
    if isinstance(node, exp.Paren):
        return _const(node.this, values)
    if isinstance(node, exp.Neg):
        v = _const(node.this, values)
        return None if v is None else -v
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.is_type(*exp.DataType.NUMERIC_TYPES):
        if isinstance(node.this, exp.Literal) and node.this.is_string:
            try:
                return float(node.this.this)
            except ValueError:
                return None
        return _const(node.this, values)
    for cls, op in _BINOPS.items():
        if isinstance(node, cls):
            a, b = _const(node.this, values), _const(node.expression, values)
            if a is None or b is None:
                return None
            try:
                return op(a, b)
            except OverflowError:
                return math.inf
    return None


# ---------------------------------------------------------------- SQL builders
@functools.cache
def _dist_template() -> exp.Expression:
    """The distance as a tree, parsed once on first use (for arguments that are not plain)."""
    return sqlglot.parse_one(
        "degrees(2 * asin(least(1.0, sqrt(power(sin(radians((__dec2__) - (__dec1__)) / 2), 2) + "
        "cos(radians(__dec1__)) * cos(radians(__dec2__)) * "
        "power(sin(radians((__ra2__) - (__ra1__)) / 2), 2)))))",
        read="duckdb",
    )


_DIST_TEXT = (
    "DEGREES(2 * ASIN(LEAST(1.0, SQRT(POWER(SIN(RADIANS(({dec2}) - ({dec1})) / 2), 2) + "
    "COS(RADIANS({dec1})) * COS(RADIANS({dec2})) * POWER(SIN(RADIANS(({ra2}) - ({ra1})) / 2), 2)))))"
)


def _simple(node: exp.Expression) -> bool:
    """A column or a number: SQL text that DuckDB and Trino read alike."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    return isinstance(node, exp.Column) or (isinstance(node, exp.Literal) and not node.is_string)


def _dist_deg(ra1, dec1, ra2, dec2) -> exp.Expression:
    """Haversine great-circle distance in degrees (stable at small separations).

    For columns and numbers (nearly every use) the formula is one ``Var`` node of SQL
    text: ~60 nodes less to copy, walk and generate per distance, which was most of a
    cone's planning time. Other arguments fill a template tree parsed once, so the
    dialect translations (Athena's) still reach inside them.
    """
    args = {"ra1": ra1, "dec1": dec1, "ra2": ra2, "dec2": dec2}
    if all(_simple(a) for a in args.values()):
        return exp.Var(
            this=_DIST_TEXT.format(**{k: a.sql(dialect=shapes.DUCKDB) for k, a in args.items()})
        )
    fill_args = {f"__{k}__": a for k, a in args.items()}

    def fill(node):
        if isinstance(node, exp.Column) and not node.table and node.name in fill_args:
            return fill_args[node.name].copy()
        return node

    return _dist_template().copy().transform(fill, copy=False)


def _column(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() == name


def _cone_predicate(ra_col: exp.Column, dec_col: exp.Column, cone: Cone) -> str:
    """Index ranges on ``_healpix_29`` (same table qualifier as ``ra``) AND exact distance.

    The ranges alone (no enclosing BETWEEN): DuckDB pushes an OR of ranges on one column
    into the Parquet scan, and an enclosing range let through ~15x the rows (NESTED
    order puts a cone's pixels far apart). SQL text, as :func:`_dist_deg`'s.
    """
    qual = ra_col.table
    hp = exp.column("_healpix_29", table=qual).sql(dialect="duckdb") if qual else "_healpix_29"
    ranges = " OR ".join(f"{hp} BETWEEN {lo} AND {hi}" for lo, hi in covers.capped(cone.ranges()))
    dist = _dist_deg(
        ra_col,
        dec_col,
        exp.Literal.number(repr(cone.ra_deg)),
        exp.Literal.number(repr(cone.dec_deg)),
    )
    return f"({ranges}) AND {dist.sql(dialect='duckdb')} <= {cone.radius_deg!r}"


@dataclass(frozen=True)
class _ConeSpec:
    """A cone test on the ra/dec columns with constant centre and radius (trees).

    While a shape is planned its predicate is a marker, computed for each query of the
    shape from that query's numbers (and checked: a NaN radius is refused every time).
    """

    what: str
    ra: exp.Column
    dec: exp.Column
    args: tuple

    def resolve(self, values=None) -> Cone:
        c = [_const(a, values) for a in self.args]
        check_cone(self.what, *c, "")
        return Cone(c[0] % 360, c[1], c[2])


def _point_args(node: exp.Expression, what: str, sql: str) -> list[exp.Expression]:
    """Arguments of ADQL POINT/CIRCLE without the optional coordinate-system string."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == what):
        raise _refuse(f"expected {what.upper()}(...) here, got {node.sql()}", sql)
    args = list(node.expressions)
    if args and isinstance(args[0], exp.Literal) and args[0].is_string:
        frame = args[0].this.strip().upper()
        if frame not in ("", "ICRS", "J2000"):
            raise _refuse(f"coordinate system {frame!r}: the catalog is ICRS", sql)
        args = args[1:]
    return args


def check_cone(what: str, ra0: float | None, dec0: float | None, r: float | None, sql: str):
    """Refuse a cone whose constant centre or radius is not on the sphere (None: not a constant).

    PostgreSQL raises for 0/0; DuckDB's NaN compares above every number, so a NaN radius
    would select every row, and a NaN or out-of-range centre would select garbage.
    """
    if ra0 is not None and not math.isfinite(ra0):
        raise _refuse(f"{what}: the centre's RA is {ra0}; a cone needs a finite RA in degrees", sql)
    if dec0 is not None and not -90 <= dec0 <= 90:
        raise _refuse(
            f"{what}: the centre's Dec is {dec0} deg, outside the sphere (-90 to 90 degrees)", sql
        )
    if r is not None and not 0 <= r <= 180:
        why = (
            "NaN (0/0?)"
            if math.isnan(r)
            else "negative"
            if r < 0
            else "infinite"
            if math.isinf(r)
            else "above 180 degrees (arcseconds? divide by 3600)"
        )
        raise _refuse(
            f"{what}: the radius is {r} deg, {why}; a cone's radius is an angle from 0 to "
            f"180 degrees",
            sql,
        )


_ROW_GUARD = (
    "CASE WHEN {bad} THEN error('{what}: a row''s cone centre or radius is not on the sphere "
    "(RA not finite, Dec outside -90..90, or radius NaN, negative, infinite or above 180 "
    "degrees)') ELSE {test} END"
)


@functools.cache
def _guard_template(what: str, ra_bad: bool, dec_bad: bool, r_bad: bool) -> exp.Expression:
    """The run-time guard as a tree with ``__ra0__``... placeholders, parsed once."""
    bad = []
    if ra_bad:
        bad.append("NOT isfinite(CAST((__ra0__) AS DOUBLE))")
    if dec_bad:
        bad.append("NOT ((__dec0__) BETWEEN -90 AND 90)")
    if r_bad:
        bad.append("NOT ((__r__) BETWEEN 0 AND 180)")
    return sqlglot.parse_one(
        _ROW_GUARD.format(bad=" OR ".join(bad), what=what, test="__test__"), read="duckdb"
    )


def _row_guarded(test, what: str, ra0, dec0, r, consts) -> exp.Expression:
    """``test``, raising at run time for rows whose non-constant centre or radius is not valid."""
    flags = (consts[0] is None, consts[1] is None, r is not None and consts[2] is None)
    if not any(flags):
        return test
    parts = {"__ra0__": ra0, "__dec0__": dec0, "__r__": r, "__test__": test}

    def fill(node):
        if isinstance(node, exp.Column) and not node.table and node.name in parts:
            return parts[node.name].copy()
        return node

    return exp.paren(_guard_template(what, *flags).copy().transform(fill, copy=False))


def _radial(what: str, args: list[exp.Expression], sql: str, cones: list) -> exp.Expression:
    """Replacement for a cone test on (ra, dec) around a centre with a radius (degrees)."""
    ra, dec, ra0, dec0, r = args
    rec = shapes.current()
    # while a shape is planned, a constant cone is a parameter, not a read of its numbers
    c = [_const(x, rec.shape.numbers if rec else None) for x in (ra0, dec0, r)]
    check_cone(what, *c, sql)
    if None not in c and _column(ra, "ra") and _column(dec, "dec"):
        spec = _ConeSpec(what, ra, dec, (ra0, dec0, r))
        if rec is None:
            restriction = spec.resolve()
            text = _cone_predicate(ra, dec, restriction)
        else:
            restriction, text = spec, shapes.marker("C", len(rec.cones))
            rec.cones.append(spec)
        pred = exp.Paren(this=exp.Var(this=text))
        cones.append((ra.table, restriction, pred))
        return pred
    # centre or columns not constant/indexed: exact distance only (still correct)
    c = [_const(x) for x in (ra0, dec0, r)]
    radius = exp.Literal.number(repr(c[2])) if c[2] is not None else r.copy()
    test = exp.paren(exp.LTE(this=_dist_deg(ra, dec, ra0, dec0), expression=radius))
    return _row_guarded(test, what, ra0, dec0, r, c)


# ---------------------------------------------------------------- check + rewrite
_TOP = re.compile(r"^\s*SELECT\s+(ALL\s+|DISTINCT\s+)?TOP\s+\d+\s", re.IGNORECASE)


#: deepest parenthesis nesting accepted: sqlglot parses recursively (~22 Python frames a
#: level), and a query must stay well inside the interpreter's limit from any caller
MAX_NESTING = 20
#: first keywords of the statements a query may be (SELECT, WITH ..., DuckDB's FROM-first)
_STARTS = frozenset({"SELECT", "WITH", "FROM", "TABLE", "L_PAREN"})
#: why a statement that is not a query is refused, by its first keyword
_COMMANDS = {
    "INSTALL": "extensions cannot be installed (the engine has no network or file access)",
    "LOAD": "extensions cannot be loaded (the engine has no network or file access)",
    "FORCE": "extensions cannot be installed (the engine has no network or file access)",
    "ATTACH": "no other database can be attached (the engine reads only the catalog)",
    "DETACH": "no database can be detached (the engine reads only the catalog)",
    "COPY": "queries cannot write or read files (the catalog is read-only)",
    "EXPORT": "queries cannot write files (the catalog is read-only)",
    "IMPORT": "queries cannot read files (the engine reads only the catalog)",
    "SET": "the engine's settings are fixed",
    "RESET": "the engine's settings are fixed",
    "PRAGMA": "the engine's settings are fixed",
    "CALL": "procedures and table functions cannot be called",
    "EXPLAIN": "query plans name the engine's internal files",
    "VALUES": "a VALUES list is not a query of the catalog; SELECT from its tables",
    **{
        w: "the catalog is read-only"
        for w in (
            "INSERT UPDATE DELETE MERGE UPSERT REPLACE CREATE DROP ALTER TRUNCATE RENAME "
            "COMMENT GRANT REVOKE VACUUM ANALYZE CHECKPOINT BEGIN START COMMIT ROLLBACK "
            "ABORT END USE PREPARE EXECUTE DEALLOCATE"
        ).split()
    },
}
#: why any other statement is refused
_NOT_A_QUERY = "it is not a query of the catalog's tables"


def _tokens(sql: str, dialect: str) -> list:
    from sqlglot.dialects.dialect import Dialect

    try:
        return Dialect.get_or_raise(dialect).tokenize(sql)
    except sqlglot.errors.TokenError as exc:
        raise _refuse(f"could not read it: {str(exc).splitlines()[0]}", sql) from None


def _prescan(tokens: list, sql: str, survey: str) -> None:
    """Refusals decided on the tokens alone: what the statement is, and how deeply it nests.

    Before parsing, so that a command is refused by its own name (sqlglot reads
    ``INSTALL httpfs`` as a column with an alias) and a deeply nested query never
    reaches the recursive parser.
    """
    if not tokens:
        raise _refuse("the query is empty (only comments)", sql)
    first = tokens[0]
    if first.token_type.name not in _STARTS:
        word = first.text.upper()
        if word == "FORCE" and len(tokens) > 1:
            word = f"FORCE {tokens[1].text.upper()}"
        why = _COMMANDS.get(word.split()[0], _NOT_A_QUERY)
        raise _refuse(
            f"{word} is not allowed: {why}; send one read-only SELECT query "
            f"(SELECT, WITH ... SELECT, or a UNION of them)",
            sql,
        )
    # parentheses and CASE ... END open a level, a run of NOTs nests one per NOT: counted
    # here, so the refusal does not depend on how much stack the caller has left
    depth = deepest = nots = 0
    for i, tok in enumerate(tokens):
        name = tok.token_type.name
        nots = nots + 1 if name == "NOT" else 0
        deepest = max(deepest, depth + nots)
        if name in ("L_PAREN", "CASE"):
            depth += 1
            deepest = max(deepest, depth)
        elif name in ("R_PAREN", "END"):
            depth -= 1
        elif (
            name in ("FROM", "JOIN")
            and i + 2 < len(tokens)
            and tokens[i + 2].token_type.name == "L_PAREN"
            and tokens[i + 1].token_type.name not in ("L_PAREN", "SELECT", "WITH", "VALUES")
        ):
            raise _refuse(
                f"table function {tokens[i + 1].text}() is not allowed (no file, network or "
                f"system access): query {survey}.phot_mod or {survey}.phot_meas",
                sql,
            )
    if deepest > MAX_NESTING:
        raise _refuse(
            f"the query nests parentheses, CASE or NOT {deepest} deep, more than the "
            f"{MAX_NESTING} accepted; flatten it (a WITH clause instead of nested subqueries)",
            sql,
        )


def check_and_rewrite(
    sql: str,
    survey: str,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    extra_tables: frozenset[str] = frozenset(),
    tokens: tuple[str, list] | None = None,
    shape: shapes.Shape | None = None,
) -> Rewritten:
    """Parse, allow-list check and rewrite ``sql``; raise QueryRefused with the reason.

    ``extra_tables`` are lower-case qualified names (``tap_schema.columns``,
    ``mydb.mine``) allowed besides the catalog's: tables the caller supplies itself
    (see :meth:`QueryEngine.run`), recorded in ``Rewritten.extra``. ``tokens``: what
    :func:`read_query` gave for ``sql``; with ``shape`` (of those tokens) the plan is
    made for the shape, with markers (``Rewritten.recording``; see :mod:`.shapes`).
    """
    try:
        dialect, toks = tokens if tokens is not None else read_query(sql)
        return _check_and_rewrite(sql, toks, dialect, survey, max_rows, extra_tables, shape)
    except RecursionError:
        raise _refuse(
            "the query nests expressions too deeply to be read (long chains of nested CASE, "
            "NOT or function calls); flatten it, e.g. with a WITH clause",
            sql,
        ) from None


def _function_name(node: exp.Func, dialect: str) -> str:
    """The function as the user spelled it (``version``, not sqlglot's CURRENT_VERSION)."""
    if isinstance(node, exp.Anonymous):
        return node.name
    return node.sql(dialect=dialect).split("(")[0].strip().lower() or type(node).__name__


def read_query(sql: str) -> tuple[str, list]:
    """(sqlglot dialect, tokens) of a query; refuses an empty, overlong or unreadable one."""
    if not sql or not sql.strip():
        raise _refuse("the query is empty", sql)
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(f"the query is longer than {MAX_SQL_CHARS} characters", sql)
    # ADQL's SELECT TOP n is T-SQL syntax: such queries are read with sqlglot's T-SQL
    # dialect (TOP becomes LIMIT); everything else as PostgreSQL, as Data Lab users write it
    dialect = "tsql" if _TOP.match(sql) else "postgres"
    return dialect, _tokens(sql, dialect)


def _parse_problem(exc: sqlglot.errors.ParseError) -> str:
    """What the parser found wrong and where, in words: not sqlglot's class names and
    token reprs ("Required keyword: 'expression' missing for <class '...BitwiseRightShift'>")."""
    err = (getattr(exc, "errors", None) or [{}])[0]
    text = str(err.get("description") or str(exc).splitlines()[0])
    text = re.sub(r" for <class '[^']*'>", "", text)
    text = re.sub(r"<Token token_type: [\w.]+, text: ([^,]*),[^>]*>", r"'\1'", text)
    text = re.sub(r"Required keyword: '(\w+)' missing", r"an \1 is missing", text)
    where = ""
    if err.get("line"):
        where = f" (line {err['line']}, column {err.get('col', '?')}"
        near = str(err.get("highlight") or "").strip()
        where += f", at {near!r})" if near else ", at the end)"
    return text[:1].lower() + text[1:] + where


def _check_and_rewrite(
    sql: str,
    tokens: list,
    dialect: str,
    survey: str,
    max_rows: int,
    extra_tables: frozenset[str],
    shape: shapes.Shape | None,
) -> Rewritten:
    _prescan(tokens, sql, survey)
    try:
        parsed = sqlglot.Dialect.get_or_raise(dialect).parser().parse(tokens, sql)
        statements = [s for s in parsed if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise _refuse(f"could not parse it as a SELECT query: {_parse_problem(exc)}", sql) from None
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements given; send exactly one SELECT", sql)
    tree = statements[0]
    if shape is None:
        return _checked(tree, tokens, dialect, sql, survey, max_rows, extra_tables)
    with shapes.Recording(shape, tree) as rec:
        result = _checked(tree, tokens, dialect, sql, survey, max_rows, extra_tables)
    result.recording = rec
    return result


def _checked(tree, tokens, dialect, sql, survey, max_rows, extra_tables) -> Rewritten:
    # one walk of the tree collects everything the checks below look at
    tables, funcs, cte_names = [], [], set()
    for node in tree.walk():
        why = _REFUSED_NODES.get(type(node))
        if why is None and isinstance(node, _REFUSED_TYPES):
            why = next(w for c, w in _REFUSED_NODES.items() if isinstance(node, c))
        if why is not None:
            raise _refuse(why, sql)
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Func):
            funcs.append(node)
        elif isinstance(node, exp.CTE):
            cte_names.add(node.alias_or_name.lower())
    if not isinstance(tree, exp.Query):
        raise _refuse(
            f"{tokens[0].text.upper()} is not allowed: send one read-only SELECT query", sql
        )
    result = Rewritten(expression=tree)
    for node in tables:
        qualified = _qualified(node)
        if qualified in extra_tables:
            node.meta["extra"] = qualified  # swapped for the supplied table by the engine
            continue
        _check_table(node, survey, cte_names, sql)
    for node in funcs:
        name = type(node).__name__
        if (name == "Anonymous" and node.name.lower() not in ALLOWED_ANONYMOUS) or (
            name != "Anonymous" and name not in ALLOWED_FUNCTIONS
        ):
            raise _refuse(
                f"function {_function_name(node, dialect)}() is not on the allow-list "
                f"(no file, network or system functions)",
                sql,
            )
    # row limit on the outermost query
    limit = tree.args.get("limit")
    if limit is not None:
        n = _const(limit.expression) if limit.expression is not None else None
        if n is None or not 0 <= n < math.inf:
            raise _refuse("LIMIT must be a number of rows (0 or more)", sql)
        if n > max_rows:
            raise _refuse(
                f"LIMIT {int(n)} exceeds the per-query row limit of {max_rows} rows; "
                f"page with ORDER BY ... LIMIT {max_rows} OFFSET ...",
                sql,
            )
        result.limit = int(n)
    _rewrite_spatial(result, sql)
    _rewrite_float_averages(result.expression)
    return result


@functools.cache
def _empty_relation(table: str) -> str:
    """SQL of ``table``'s columns with no rows, typed as DuckDB reads its Parquet (no
    file: the engine's connections may read only the catalog's directory)."""
    columns = {"phot_mod": PHOT_MOD, "phot_meas": PHOT_MEAS, **DERIVED_TABLES}[table]
    with duckdb.connect() as con:
        rel = con.from_arrow(arrow_schema(columns).empty_table())
        typed = zip(rel.columns, rel.types)
        cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in typed)
    return f"(SELECT {cols} LIMIT 0)"


#: floating-point columns of the catalog tables (AVG over them is rewritten, see below)
_FLOAT_COLUMNS = frozenset(
    name
    for cols in (PHOT_MOD, PHOT_MEAS, *DERIVED_TABLES.values())
    for name, (typ, *_rest) in cols.items()
    if pa.types.is_floating(typ)
)


def _rewrite_float_averages(tree: exp.Expression) -> None:
    """``avg(c)`` of a floating-point catalog column becomes ``CAST(sum(c) AS DOUBLE) / count(c)``.

    DuckDB's avg of doubles sums with error compensation, which makes the seed paper's
    GROUP BY pix4096 about 25% slower than a plain sum; PostgreSQL's avg of float8 is a
    plain sum too. The two differ by ~1e-13 of the value (for ra, nano-arcseconds), less
    than parallel aggregation's own run-to-run rounding. NULLs are skipped by both, and an
    empty group still gives NULL (NULL / 0). Not applied to DISTINCT or window averages.
    The CAST keeps the division real on Athena, where sum/count of integers would truncate.
    """
    for node in list(tree.find_all(exp.Avg)):
        col = node.this
        if (
            isinstance(col, exp.Column)
            and col.name.lower() in _FLOAT_COLUMNS
            and not isinstance(node.parent, exp.Window)
        ):
            total = exp.Cast(this=exp.Sum(this=col.copy()), to=exp.DataType.build("double"))
            node.replace(exp.Paren(this=exp.Div(this=total, expression=exp.Count(this=col.copy()))))


def _qualified(node: exp.Table) -> str | None:
    """``schema.table`` in lower case for a two-part table name, else None."""
    db = node.args.get("db")
    if (
        db is None
        or node.args.get("catalog") is not None
        or not isinstance(node.this, exp.Identifier)
    ):
        return None
    return f"{db.name.lower()}.{node.name.lower()}"


def _check_table(node: exp.Table, survey: str, cte_names: set[str], sql: str) -> None:
    if not isinstance(node.this, exp.Identifier):
        raise _refuse(
            f"table functions such as {node.this.sql()[:40]} are not allowed: query "
            f"{survey}.phot_mod or {survey}.phot_meas",
            sql,
        )
    name = node.name.lower()
    if node.args.get("catalog") is not None:
        raise _refuse(f"{node.sql()}: three-part names are not allowed", sql)
    db = node.args.get("db")
    if db is None and name in cte_names:
        return
    if name not in TABLES or (db is not None and db.name.lower() != survey.lower()):
        raise _refuse(
            f"table {node.sql()} is not in the catalog; the tables are "
            + ", ".join(f"{survey}.{t}" for t in TABLES),
            sql,
        )


def _rewrite_spatial(result: Rewritten, sql: str) -> None:
    tree = result.expression
    cones: list[tuple[str, Cone, exp.Expression]] = []

    def transform(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous):
            fname = node.name.lower()
            args = list(node.expressions)
            if fname == "q3c_radial_query":
                if len(args) != 5:
                    raise _refuse("q3c_radial_query takes (ra, dec, ra0, dec0, radius_deg)", sql)
                return _radial("q3c_radial_query", args, sql, cones)
            if fname == "q3c_dist":
                if len(args) != 4:
                    raise _refuse("q3c_dist takes (ra1, dec1, ra2, dec2)", sql)
                return _dist_deg(*args)
            if fname == "q3c_join":
                if len(args) != 5:
                    raise _refuse("q3c_join takes (ra1, dec1, ra2, dec2, radius_deg)", sql)
                ra1, dec1, ra2, dec2, r = args
                # a constant radius is evaluated with real division, as q3c_radial_query's
                # is: 1/3600 must not become 0 on engines with integer division (Athena)
                rv = _const(r)
                check_cone("q3c_join", None, None, rv, sql)
                radius = exp.Literal.number(repr(rv)) if rv is not None else r
                d1 = dec1.copy() if _simple(dec1) else exp.paren(dec1.copy())
                band = exp.Between(
                    this=dec2.copy(),
                    low=exp.Sub(this=d1.copy(), expression=exp.paren(radius.copy())),
                    high=exp.Add(this=d1, expression=exp.paren(radius.copy())),
                )
                test = exp.paren(
                    exp.and_(
                        band,
                        exp.LTE(this=_dist_deg(ra1, dec1, ra2, dec2), expression=radius.copy()),
                    )
                )
                return _row_guarded(test, "q3c_join", None, None, r, (0.0, 0.0, rv))
            if fname == "distance":
                if len(args) != 2:
                    raise _refuse("DISTANCE takes two POINTs", sql)
                p1, p2 = (_point_args(a, "point", sql) for a in args)
                if len(p1) != 2 or len(p2) != 2:
                    raise _refuse("POINT takes ('ICRS', ra, dec)", sql)
                return _dist_deg(p1[0], p1[1], p2[0], p2[1])
        if isinstance(node, exp.EQ):
            sides = (node.this, node.expression)
            for a, b in (sides, sides[::-1]):
                if isinstance(a, exp.Contains) and _const(b) is not None:
                    p = _point_args(a.this, "point", sql)
                    c = _point_args(a.expression, "circle", sql)
                    if len(p) != 2 or len(c) != 3:
                        raise _refuse(
                            "use CONTAINS(POINT('ICRS', ra, dec), "
                            "CIRCLE('ICRS', ra0, dec0, radius_deg)) = 1",
                            sql,
                        )
                    test = _radial("CONTAINS(POINT, CIRCLE)", [p[0], p[1], *c], sql, cones)
                    return test if _const(b) == 1 else exp.not_(test)
        return node

    new = tree.transform(transform, copy=False)  # the tree is this call's own parse
    leftovers = [
        n
        for n in new.walk()
        if isinstance(n, (exp.Contains,))
        or (
            isinstance(n, exp.Anonymous)
            and n.name.lower() in ("point", "circle", "contains", "q3c_radial_query", "q3c_join")
        )
    ]
    if leftovers:
        raise _refuse(
            f"{leftovers[0].sql()[:60]}: POINT/CIRCLE/CONTAINS are supported as "
            f"CONTAINS(POINT(...), CIRCLE(...)) = 1 in WHERE",
            sql,
        )
    result.expression = new
    # which table does each cone constrain? only when the cone is a top-level AND term
    # of its SELECT's WHERE (otherwise it filters but must not narrow the partitions)
    cte_names = {c.alias_or_name.lower() for c in new.find_all(exp.CTE)}
    for sel in new.find_all(exp.Select):
        where = sel.args.get("where")
        if where is None:
            continue
        terms = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
        tables = [t for t in sel.find_all(exp.Table) if t.parent_select is sel]
        for qual, cone, pred in cones:
            # flatten() unwraps parentheses: the term may be the predicate's inside
            if not any(t is pred or t is pred.this for t in terms):
                continue
            for t in tables:
                if _is_catalog_table(t, cte_names) and (
                    (qual and qual.lower() == t.alias_or_name.lower())
                    or (not qual and len(tables) == 1)
                ):
                    result.tables[id(t)] = (t.name.lower(), cone)
        # objid = n / objid IN (...): the ids carry their level-12 pixel, so only the
        # partitions holding those pixels (and their neighbours, for objects that moved
        # across a partition edge when re-averaged) can hold the rows
        for term in terms:
            found = _objid_pixels(term)
            if found is None:
                continue
            qual, pixels = found
            for t in tables:
                if (
                    _is_catalog_table(t, cte_names)
                    and id(t) not in result.tables
                    and (
                        (qual and qual.lower() == t.alias_or_name.lower())
                        or (not qual and len(tables) == 1)
                    )
                ):
                    result.tables[id(t)] = (t.name.lower(), pixels)
    for t in new.find_all(exp.Table):
        if _is_catalog_table(t, cte_names):
            result.tables.setdefault(id(t), (t.name.lower(), None))


def _extra_name(qualified: str) -> str:
    """The DuckDB view name a supplied table is registered under for one query."""
    return "__extra__" + qualified.replace(".", "__")


def _is_catalog_table(t: exp.Table, cte_names: set[str]) -> bool:
    if t.meta.get("extra"):
        return False
    return t.name.lower() in TABLES and (
        t.args.get("db") is not None or t.name.lower() not in cte_names
    )


# ---------------------------------------------------------------- partition pruning
#: how far an object's rows may lie from the position its objid encodes (where it was
#: first seen): each field row joins an object within the build's match radius
#: (0.15") of the object's mean position, so the mean moves a fraction of that per
#: field; 2" is over ten match radii
OBJID_DRIFT_ARCSEC = 2.0
#: manifests before format 2 (a fixed partition order) filed an object under its
#: unweighted mean position but stored (and indexed) the weighted one, so an object on
#: a partition edge could sit in the neighbouring file (issue 15.2); cones read the
#: partitions within this much more of their edge on such catalogs
LEGACY_FILING_SLACK_ARCSEC = 2.0


def restriction_ranges(restriction: Cone | IdPixels, *, slack_arcsec: float = 0.0) -> np.ndarray:
    """Half-open ``_healpix_29`` ranges ``(n, 2)`` holding every row a restriction can select.

    A cone's conservative cover (:mod:`.covers`), widened by ``slack_arcsec``; for the
    :class:`IdPixels` of an objid list, the pixels within :data:`OBJID_DRIFT_ARCSEC`
    of the level-12 pixels the ids encode.
    """
    if isinstance(restriction, IdPixels):
        return _objid_ranges(restriction.pix4096)
    return restriction.ranges(slack_arcsec)


@functools.lru_cache(maxsize=4096)
def _objid_ranges(pix4096: frozenset) -> np.ndarray:
    """The ranges of :func:`restriction_ranges` for objids (kept: light curves repeat)."""
    pix = np.fromiter(pix4096, np.int64)
    pix = pix[(pix >= 0) & (pix < 12 * 4**12)]
    cover = covers.pixels_cover(pix, 12, OBJID_DRIFT_ARCSEC / 3600, 12)
    out = covers.merged_ranges29(12, cover)
    out.flags.writeable = False
    return out


def partitions_touched(
    available, order, restriction: Cone | IdPixels | None, *, slack_arcsec: float = 0.0
) -> list[int]:
    """HATS partitions a cone or objid list can have rows in (conservative; exact cut follows).

    Parameters
    ----------
    available
        Pixel numbers of the partitions that exist (an iterable of int).
    order
        HEALPix order of the partitions: one int, or one per pixel of ``available``
        (HATS catalogs partitioned adaptively mix orders).
    restriction
        ``None`` (every partition), a :class:`Cone`, or the :class:`IdPixels` of an
        objid list.
    slack_arcsec
        Widen a cone by this much (rows filed a little off their position, see
        :data:`LEGACY_FILING_SLACK_ARCSEC`).

    Returns
    -------
    list of int
        The touched partitions among ``available``, sorted.
    """
    have = np.asarray(sorted({int(p) for p in available}), np.int64)
    if restriction is None:
        return have.tolist()
    ranges = restriction_ranges(restriction, slack_arcsec=slack_arcsec)
    orders = np.broadcast_to(np.asarray(order, np.int64), have.shape)
    return have[covers.ranges_touch(ranges, orders, have)].tolist()


def manifest_partitions(manifest: dict, table: str) -> list[tuple[int, int, dict]]:
    """``(order, pixel, entry)`` of every partition of ``table`` in a version's manifest.

    Format 2 manifests name each partition's order and pixel (adaptive, mixed-order
    partitioning); format 1 keyed partitions by pixel at the one ``partition_order``.
    """
    legacy = manifest.get("partition_order")
    out = []
    for pid, e in manifest["tables"][table]["partitions"].items():
        if "order" in e:
            out.append((int(e["order"]), int(e["pixel"]), e))
        else:
            out.append((int(legacy), int(pid), e))
    return out


class _PartitionFiles:
    """The partition files of one table, and which of them a restriction can touch."""

    def __init__(self, parts: list[tuple[int, int, str]]):
        parts = sorted(parts, key=lambda t: t[1] << 2 * (29 - t[0]))
        self.orders = np.array([k for k, _, _ in parts], np.int64)
        self.pixels = np.array([p for _, p, _ in parts], np.int64)
        self.paths = [f for _, _, f in parts]

    def select(self, restriction, slack_arcsec: float) -> list[str]:
        if restriction is None:
            return list(self.paths)
        ranges = restriction_ranges(restriction, slack_arcsec=slack_arcsec)
        hit = covers.ranges_touch(ranges, self.orders, self.pixels)
        return [self.paths[i] for i in np.flatnonzero(hit)]


# ---------------------------------------------------------------- execution
def unique_names(names: list[str]) -> list[str]:
    """Column names made unique as DuckDB's and pandas' clients do: ``objid, objid_1, ...``.

    A self-join or ``SELECT objid, objid`` gives two columns of one name; astropy
    Tables, FITS and VOTable need distinct ones. The first keeps its name, each repeat
    takes the first ``_N`` suffix no other column has.
    """
    taken = set(names)
    if len(taken) == len(names):
        return list(names)
    out, seen = [], set()
    for name in names:
        if name in seen:
            k = 1
            while f"{name}_{k}" in taken:
                k += 1
            name = f"{name}_{k}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    #: the SQL the engine ran (DuckDB's, or Athena's)
    sql: str
    version: int
    #: Athena only: the query execution id and the bytes it scanned (what Athena bills)
    execution_id: str | None = None
    scanned_bytes: int | None = None


class _Deadline:
    """A call due at ``when`` (monotonic), unless cancelled first."""

    __slots__ = ("cancelled", "fired", "fn", "when")

    def __init__(self, when: float, fn):
        self.when, self.fn, self.cancelled, self.fired = when, fn, False, False

    def __lt__(self, other: _Deadline) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        self.cancelled = True


class _Deadlines:
    """One thread that interrupts queries past their timeout, for every engine.

    A ``threading.Timer`` per query starts a thread per query, and ``start()`` waits
    until it runs: 3 ms of a small query's time through the service on this loaded VM.
    """

    def __init__(self):
        self._cv = threading.Condition()
        self._heap: list[_Deadline] = []
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, fn) -> _Deadline:
        d = _Deadline(time.monotonic() + float(seconds), fn)
        with self._cv:
            heapq.heappush(self._heap, d)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cloudphot-query-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is d:
                self._cv.notify()
        return d

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap or self._heap[0].when > now:
                    # cancelled deadlines are dropped when they come up, or every minute
                    self._cv.wait(min(60.0, self._heap[0].when - now) if self._heap else 60.0)
                    continue
                due = heapq.heappop(self._heap)
                due.fired = True
            if not due.cancelled:
                with contextlib.suppress(Exception):  # a closed connection has nothing to stop
                    due.fn()


_DEADLINES = _Deadlines()


@dataclass
class _ShapePlan:
    """One shape's DuckDB SQL with markers, and how to fill them for one query."""

    text: str
    #: the specs of marker C0, C1...: cone predicates
    cones: list[_ConeSpec]
    #: (table, restriction or its spec) of marker S0, S1...: the tables' partition lists
    sources: list[tuple[str, object]]
    #: the outermost LIMIT (a fixed number of the shape), or None
    limit: int | None = None

    def sql(self, numbers: tuple[str, ...], engine: QueryEngine) -> str:
        resolved: dict[int, Cone | IdPixels] = {}

        def resolve(spec):
            if not isinstance(spec, (_ConeSpec, _IdSpec)):
                return spec
            hit = resolved.get(id(spec))
            if hit is None:
                hit = resolved[id(spec)] = spec.resolve(numbers)
            return hit

        cones = [_cone_predicate(s.ra, s.dec, resolve(s)) for s in self.cones]
        sources = [engine._source(table, resolve(spec)) for table, spec in self.sources]
        return shapes.fill(self.text, {"L": numbers, "C": cones, "S": sources})


class QueryEngine:
    """Queries one catalog version (default: the latest) of a survey through DuckDB.

    Local backend only: DuckDB reads the partition files where the local object
    store keeps them. On AWS the same checked, rewritten query runs on Athena over
    the Glue tables (:mod:`.athena_sql`, :class:`cloudphot.aws.athena.AthenaQueryEngine`).
    """

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        survey: str,
        *,
        version: int | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        threads: int = 2,
        memory_limit: str = "2GB",
    ):
        if not hasattr(store, "path_of"):
            raise ConfigError(
                "the DuckDB query engine needs the local object store; on AWS "
                "query through Athena (Catalog does so with CLOUDPHOT_BACKEND=aws)"
            )
        self.store, self.bucket, self.survey = store, bucket, survey
        self.manifest = read_manifest(store, bucket, survey, version)
        self.version = int(self.manifest["version"])
        self.max_rows, self.timeout_s = int(max_rows), float(timeout_s)
        #: the fixed partition order of a format-1 catalog (None when orders are mixed)
        self.order = self.manifest.get("partition_order")
        self.root = Path(store.path_of(bucket, "catalogs")).resolve()
        self._root_text = str(self.root)
        self._parts = {
            table: _PartitionFiles(
                [
                    (k, p, self._local_path(e["key"]))
                    for k, p, e in manifest_partitions(self.manifest, table)
                ]
            )
            for table in TABLES
            if table in self.manifest["tables"]
        }
        #: path -> (SHA-256, size, key) of every partition file the manifest checksums:
        #: each is verified the first time this process reads it (see .integrity)
        self._checksums = {
            self._local_path(e["key"]): (
                e["sha256"],
                e.get("size"),
                e["key"],
            )
            for t in TABLES
            if t in self.manifest["tables"]
            for _, _, e in manifest_partitions(self.manifest, t)
            if e.get("sha256")
        }
        legacy = int(self.manifest.get("format", 1)) < 2
        self._cone_slack = {
            t: LEGACY_FILING_SLACK_ARCSEC if legacy and t == "phot_mod" else 0.0 for t in TABLES
        }
        self._con = self._connect(threads, memory_limit)
        #: query string -> DuckDB SQL, and (shape, fixed numbers) -> the shape's plan:
        #: only queries that passed the checks are stored, and one engine serves one
        #: catalog version, so a hit is exactly what planning would produce again
        self._plans: OrderedDict[tuple, str] = OrderedDict()
        self._shapes: OrderedDict[tuple, _ShapePlan] = OrderedDict()
        #: shape key -> the numbers its plans read (their values are part of the key)
        self._fixed: dict[tuple, frozenset[int]] = {}
        self._plans_lock = threading.Lock()
        #: one query at a time on the shared connection (a DuckDB connection is not
        #: thread-safe, and a cursor would lose the Parquet footer cache setting)
        self._run_lock = threading.Lock()

    def _local_path(self, key: str) -> str:
        """The resolved path of a catalog object ``key``, as DuckDB is allowed to read it.

        The catalog root is resolved once (:attr:`root`) and keys under it are joined to
        it as text: resolving every partition's path (a few syscalls per path component)
        cost 200 ms of CPU per engine on the 593-partition sparse sky, a third of a
        one-shot ``cloudphot query``'s own time. A key with an empty, ``.`` or ``..``
        part, or outside ``catalogs/``, is resolved the careful way.
        """
        head, _, rest = key.partition("/")
        parts = rest.split("/")
        if head != "catalogs" or not rest or any(x in ("", ".", "..") for x in parts):
            return str(Path(self.store.path_of(self.bucket, key)).resolve())
        return os.path.join(self._root_text, *parts)

    def _connect(self, threads: int, memory_limit: str):
        con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": threads,
                "memory_limit": memory_limit,
            }
        )
        root = str(self.root).replace("'", "''")
        con.execute(f"SET allowed_directories=['{root}/']")
        con.execute("SET enable_external_access=false")
        # keep the partitions' Parquet footers in memory between queries (DuckDB checks
        # each file's modification time): a scan then no longer re-reads and decodes
        # them, which was most of a small query's cost
        con.execute("SET parquet_metadata_cache=true")
        con.execute("SET lock_configuration=true")
        return con

    def close(self) -> None:
        self._con.close()

    def partition_files(self, table: str) -> dict[tuple[int, int], str]:
        """``(order, pixel) -> path`` of every partition of ``table`` in this version."""
        parts = self._parts[table]
        return dict(zip(zip(parts.orders.tolist(), parts.pixels.tolist()), parts.paths))

    def files(self, table: str, cone: Cone | IdPixels | None = None) -> list[str]:
        """Partition files of ``table``, narrowed to those a cone or objids touch (HATS-style)."""
        slack = self._cone_slack[table] if isinstance(cone, Cone) else 0.0
        files = self._parts[table].select(cone, slack)
        self.verify(files)
        return files

    def verify(self, paths: list[str]) -> None:
        """Check partition files against the manifest's SHA-256 (each once per process).

        Raises :class:`~.integrity.CorruptCatalogFile` naming the object.
        """
        for path in paths:
            rec = self._checksums.get(path)
            if rec is not None:
                sha, size, key = rec
                integrity.CHECKS.verify(path, sha, size, f"s3://{self.bucket}/{key}")

    def _source(self, table: str, cone: Cone | None) -> str:
        if table not in self._parts:
            raise QueryRefused(
                f"catalog version {self.version} of {self.survey} predates table {table}: "
                f"run 'cloudphot catalog build' with this cloudphot to publish a version "
                f"that has it"
            )
        files = self.files(table, cone)
        if not files:  # keep the columns, return no rows
            every = self.files(table)
            if not every:  # published empty (phot_pm of a field with no motions): no file
                return _empty_relation(table)
            lst = "'" + every[0].replace("'", "''") + "'"
            return f"(SELECT * FROM read_parquet([{lst}], hive_partitioning = false) LIMIT 0)"
        # the table function itself, not a subquery of it: binding the subquery's
        # SELECT * of ~90 columns cost ~0.7 ms of a 1" cone's ~12 ms in DuckDB
        lst = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{lst}], hive_partitioning = false)"

    def to_duckdb(self, sql: str, extra: frozenset[str] = frozenset()) -> str:
        """The DuckDB SQL that :meth:`run` executes (useful for EXPLAIN and tests).

        Plans are cached per query string and per *shape* (the query with its numbers
        as parameters, :mod:`.shapes`), with the set of supplied tables; refused
        queries never are. A new cone centre or objid of a known shape costs a
        tokenization, its cover and its partition list, not a parse.
        """
        return self._planned(sql, extra)[0]

    def _planned(self, sql: str, extra: frozenset[str]) -> tuple[str, int | None]:
        """(DuckDB SQL, the outermost LIMIT or None) of a query, from the caches if there."""
        key = (sql, extra)
        with self._plans_lock:
            hit = self._plans.get(key)
            if hit is not None:
                self._plans.move_to_end(key)
                return hit
        dialect, tokens = read_query(sql)
        shape = shapes.shape_of(tokens, dialect, extra)
        with self._plans_lock:
            fixed = self._fixed.get(shape.key)
            skey = None if fixed is None else (shape.key, shapes.fixed_subkey(fixed, shape.numbers))
            plan = None if skey is None else self._shapes.get(skey)
            if plan is not None:
                self._shapes.move_to_end(skey)
        if plan is None:
            plan = self._shape_plan(sql, (dialect, tokens), shape, extra)
        if plan is not None:
            text, limit = plan.sql(shape.numbers, self), plan.limit
        else:
            text, rw = self._plan(sql, extra)
            limit = rw.limit
        if shapes.VERIFY:
            expect = self._plan(sql, extra)[0]
            if text != expect:
                raise AssertionError(f"shape plan differs for {sql!r}:\n{text}\n{expect}")
        with self._plans_lock:
            self._plans[key] = text, limit
            while len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return text, limit

    def _shape_plan(self, sql: str, tokens, shape: shapes.Shape, extra) -> _ShapePlan | None:
        """Plan ``shape`` (with ``sql``'s numbers) and keep it; None if it cannot be one.

        A plan whose markers sqlglot cannot carry through (the text of a user's
        subtree parsed again somewhere) is made the ordinary way instead: slower, but
        never wrong. Refusals propagate: the checks are the same.
        """
        try:
            rw = check_and_rewrite(
                sql,
                self.survey,
                max_rows=self.max_rows,
                extra_tables=extra,
                tokens=tokens,
                shape=shape,
            )
        except sqlglot.errors.SqlglotError:
            return None
        rec = rw.recording
        sources: list[tuple[str, object]] = []
        text = self._generate(rw, sources, lambda i: shapes.marker("S", i))
        for i in range(len(sources)):  # the generator quoted them as table names
            text = text.replace(f'"{shapes.marker("S", i)}"', shapes.marker("S", i))
        plan = _ShapePlan(text, list(rec.cones), sources, rw.limit)
        with self._plans_lock:
            fixed = self._fixed.get(shape.key, frozenset()) | rec.fixed
            self._fixed[shape.key] = fixed
            while len(self._fixed) > 4 * PLAN_CACHE_SIZE:
                self._fixed.pop(next(iter(self._fixed)))
            self._shapes[(shape.key, shapes.fixed_subkey(fixed, shape.numbers))] = plan
            while len(self._shapes) > PLAN_CACHE_SIZE:
                self._shapes.popitem(last=False)
        return plan

    def _plan(self, sql: str, extra: frozenset[str] = frozenset()) -> tuple[str, Rewritten]:
        """The ordinary plan of ``sql`` (no shape): the reference the shape plans match."""
        rw = check_and_rewrite(sql, self.survey, max_rows=self.max_rows, extra_tables=extra)
        sources: list[tuple[str, object]] = []
        token = uuid.uuid4().hex
        text = self._generate(rw, sources, lambda i: f"__src_{i}_{token}")
        for i, (table, restriction) in enumerate(sources):
            text = text.replace(f'"__src_{i}_{token}"', self._source(table, restriction))
        return text, rw

    @staticmethod
    def _generate(rw: Rewritten, sources: list, name) -> str:
        """``rw`` as DuckDB SQL with each catalog table a quoted ``name(i)`` (``sources[i]``).

        Catalog tables become placeholders, replaced in the generated text by their
        read_parquet subqueries: parsing and regenerating a list of hundreds of files
        through sqlglot was most of a small query's planning time.
        """

        def swap(node):
            if isinstance(node, exp.Table) and node.meta.get("extra"):
                return exp.Table(
                    this=exp.to_identifier(_extra_name(node.meta["extra"]), quoted=True),
                    alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)),
                )
            if isinstance(node, exp.Table) and id(node) in rw.tables:
                src = name(len(sources))
                sources.append(rw.tables[id(node)])
                return exp.Table(
                    this=exp.to_identifier(src, quoted=True),
                    alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)),
                )
            return node

        return rw.expression.transform(swap, copy=False).sql(dialect=shapes.DUCKDB)

    def run(
        self,
        sql: str,
        *,
        tables: Mapping[str, pa.Table] | None = None,
        timeout_s: float | None = None,
        max_rows: int | None = None,
    ) -> QueryResult:
        """Check, rewrite and execute; raise QueryRefused / QueryTimeout / QueryFailed.

        ``tables`` maps lower-case qualified names (``tap_schema.columns``) to Arrow
        tables the query may read besides the catalog (TAP_SCHEMA, uploads, personal
        tables); they are visible to this query only. ``timeout_s`` and ``max_rows``
        (at most the engine's) override the engine's limits for this query.
        """
        with self.stream(sql, tables=tables, timeout_s=timeout_s, max_rows=max_rows) as result:
            table = pa.Table.from_batches(list(result), schema=result.schema)
        return QueryResult(
            table=table, truncated=result.truncated, sql=result.sql, version=self.version
        )

    @contextlib.contextmanager
    def stream(
        self,
        sql: str,
        *,
        tables: Mapping[str, pa.Table] | None = None,
        timeout_s: float | None = None,
        max_rows: int | None = None,
        batch_rows: int = 8192,
    ) -> Iterator[QueryStream]:
        """The result of ``sql`` as Arrow record batches, while DuckDB produces them.

        ``with engine.stream(sql) as s: for batch in s: ...``: the CLI prints a large
        page as it comes instead of holding it (and an astropy Table of it). The
        connection stays with this query until the block ends. Arguments as :meth:`run`.
        """
        tables = dict(tables or {})
        duck_sql, limit = self._planned(sql, frozenset(tables))
        rows = self.max_rows if max_rows is None else min(int(max_rows), self.max_rows)
        timeout_s = timeout_s or self.timeout_s
        with self._run_lock:
            for name, table in tables.items():
                self._con.register(_extra_name(name), table)
            timer = _DEADLINES.after(timeout_s, self._con.interrupt)
            reader = None
            try:
                with self._translated(timer, timeout_s):
                    reader = _arrow_stream(self._con, duck_sql, limit, rows, batch_rows)
                yield QueryStream(self, reader, duck_sql, timer, timeout_s, rows)
            finally:
                timer.cancel()
                if reader is not None:
                    reader.close()  # an open result would block the next registration
                for name in tables:
                    self._con.unregister(_extra_name(name))

    def interrupt(self) -> None:
        """Stop the query running now, if any (it raises QueryTimeout): UWS ABORT."""
        self._con.interrupt()

    @staticmethod
    @contextlib.contextmanager
    def _translated(timer: _Deadline, timeout_s: float):
        """DuckDB's errors as cloudphot's: a timeout, or the engine's own message."""
        try:
            yield
        except duckdb.InterruptException:
            raise QueryTimeout(
                f"query refused: it ran longer than the {timeout_s:g} s "
                f"per-query timeout and was stopped (a cartesian join? add a "
                f"join condition or a cone restriction)"
            ) from None
        except duckdb.Error as exc:
            if timer.fired and "interrupt" in str(exc).lower():
                raise QueryTimeout(
                    f"query refused: it ran longer than the {timeout_s:g} s "
                    f"per-query timeout and was stopped"
                ) from None
            raise QueryFailed(f"query failed: {str(exc).splitlines()[0]}") from None


def _arrow_stream(con, sql: str, limit: int | None, rows: int, batch_rows: int):
    """A streaming Arrow reader of ``sql``'s result, run at once.

    DuckDB's Python package (2.x) runs a statement as a stream through the
    connection's ``_submit``; its public ways each cost more: a relation
    (``con.sql``) binds the statement on its own first (~2 ms of CPU per query, a
    third of a 1" cone on the sparse sky), and ``execute`` materialises the result and
    copies it to Arrow. So ``_submit`` when the connection has it; otherwise (other
    DuckDB versions) ``execute`` for a bounded result, a relation for a stream.
    """
    submit = getattr(con, "_submit", None)
    if submit is not None:
        return submit(sql, None, "stream", batch_rows).arrow_reader()
    if limit is not None and limit <= rows + 1:
        return con.execute(sql).to_arrow_reader(batch_rows)
    return con.sql(sql).to_arrow_reader(batch_rows)


class QueryStream:
    """Record batches of one running query, at most ``max_rows`` rows.

    ``schema`` has unique column names (:func:`unique_names`); after the batches are
    exhausted, ``truncated`` says whether the row limit cut the result.
    """

    def __init__(self, engine, reader, sql: str, timer, timeout_s: float, max_rows: int):
        self._reader, self._timer, self._timeout_s = reader, timer, timeout_s
        self._translated = engine._translated
        self.sql, self.max_rows = sql, max_rows
        self.schema = reader.schema
        names = unique_names(self.schema.names)
        if names != self.schema.names:
            self.schema = pa.schema([f.with_name(n) for f, n in zip(self.schema, names)])
        self.truncated = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        left = self.max_rows
        with self._translated(self._timer, self._timeout_s):
            for batch in self._reader:
                if batch.num_rows > left:
                    self.truncated = True
                    batch = batch.slice(0, left)
                left -= batch.num_rows
                if batch.num_rows:
                    yield pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
                if self.truncated or left == 0:
                    # one more row means the limit cut the result
                    if not self.truncated and next(iter(self._reader), None) is not None:
                        self.truncated = True
                    return
