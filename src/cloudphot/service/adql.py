"""ADQL 2.0/2.1 to the catalog's checked SQL dialect (PostgreSQL + Q3C + ADQL circles).

A TAP query in ADQL is translated here, then goes through the same allow-list check
and spatial rewrite as every other query (:func:`cloudphot.catalog.query.check_and_rewrite`),
so this module adds no way around the checker: its output is plain SQL that the
checker parses again. What ADQL has and the checker's dialect does not:

- ``SELECT TOP n`` and ``OFFSET`` (read with sqlglot's T-SQL dialect, written as
  ``LIMIT``/``OFFSET``);
- ``LOG(x)`` is the natural logarithm in ADQL (PostgreSQL's is decimal),
  ``TRUNCATE`` and ``CEILING`` are PostgreSQL's ``TRUNC`` and ``CEIL``;
- the geometry functions. ``CONTAINS(POINT, CIRCLE)`` and ``DISTANCE`` are the
  checker's own; ``INTERSECTS(region, POINT)`` is ``CONTAINS(POINT, region)`` (ADQL
  2.0 §2.4.13); ``BOX`` and ``POLYGON`` become the circle that bounds them (so the
  HEALPix index prunes partitions and row groups) AND an exact test in the gnomonic
  (tangent-plane) projection about the region's centre, where great circles are
  straight lines: a point-in-polygon crossing count for ``POLYGON``, a rectangle for
  ``BOX``; ``COORD1``/``COORD2`` of a ``POINT`` are its coordinates, ``COORDSYS`` is
  'ICRS'; ``DISTANCE(ra1, dec1, ra2, dec2)`` (ADQL 2.1) is ``DISTANCE`` of two POINTs.

Written here rather than taken from a library: the ADQL parsers for Python
(``queryparser-python3``, ``adql`` in DaCHS) translate to PostgreSQL + pgSphere or
MySQL, which our engines (DuckDB, Athena) do not have; sqlglot already parses
everything ADQL adds to SQL-92 but the geometry, which this module rewrites.

``BOX(frame, ra, dec, width, height)`` is read as ADQL 2.0 describes it, a box whose
sides are great-circle arcs: its width and height are the angles between opposite
sides measured through the centre along the RA and Dec directions (the tangent-plane
rectangle ``|x| <= tan(width/2)``, ``|y| <= tan(height/2)``). Regions must lie within
a hemisphere of their centre; larger ones are refused.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from ..catalog import shapes
from ..errors import QueryRefused

__all__ = [
    "ADQL_LANGS",
    "SQL_LANGS",
    "apply_row_limit",
    "mydb_names",
    "split_into",
    "to_checked_sql",
]

#: LANG values read as ADQL (case-insensitive), and as the native SQL dialect
ADQL_LANGS = frozenset({"adql", "adql-2.0", "adql-2.1"})
SQL_LANGS = frozenset({"sql", "postgresql", "postgres", "pgsql"})

_TOP = re.compile(r"^\s*SELECT\s+(ALL\s+|DISTINCT\s+)?TOP\s+\d+\s", re.IGNORECASE)
_GEOMETRY = ("point", "circle", "box", "polygon", "region", "centroid", "area")


def _refuse(msg: str) -> QueryRefused:
    return QueryRefused(f"query refused: {msg}")


def _fname(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Contains):
        return "contains"
    return None


def _const(node: exp.Expr) -> float | None:
    """Numeric value of a constant expression (literals, + - * /, parentheses, minus)."""
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(shapes.number(node))
    if isinstance(node, exp.Paren):
        return _const(node.this)
    if isinstance(node, exp.Neg):
        v = _const(node.this)
        return None if v is None else -v
    ops = {exp.Add: float.__add__, exp.Sub: float.__sub__, exp.Mul: float.__mul__}
    for cls, op in ops.items():
        if isinstance(node, cls):
            a, b = _const(node.this), _const(node.expression)
            return None if a is None or b is None else op(a, b)
    if isinstance(node, exp.Div):
        a, b = _const(node.this), _const(node.expression)
        return None if a is None or b is None or b == 0 else a / b
    return None


def _geom_args(node: exp.Expr, what: str) -> list[exp.Expr]:
    """Arguments of a geometry constructor, without its optional coordinate system."""
    args = list(node.expressions)
    if args and isinstance(args[0], exp.Literal) and args[0].is_string:
        frame = args[0].this.strip().upper()
        if frame not in ("", "ICRS", "J2000", "ICRS GEOCENTER", "UNKNOWNFRAME"):
            raise _refuse(f"{what.upper()} in coordinate system {frame!r}: the catalog is ICRS")
        args = args[1:]
    return args


def _consts(args: list[exp.Expr], what: str) -> list[float]:
    vals = [_const(a) for a in args]
    if any(v is None or not math.isfinite(v) for v in vals):
        raise _refuse(f"{what.upper()} takes numeric constants (degrees) here")
    return [float(v) for v in vals]  # type: ignore[arg-type]


# ---------------------------------------------------------------- spherical helpers
def _unit(ra: float, dec: float) -> tuple[float, float, float]:
    a, d = math.radians(ra), math.radians(dec)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def _radec(v: tuple[float, float, float]) -> tuple[float, float]:
    x, y, z = v
    n = math.sqrt(x * x + y * y + z * z)
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(
        math.asin(max(-1.0, min(1.0, z / n)))
    )


def _sep_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    u, v = _unit(*a), _unit(*b)
    dot = sum(p * q for p, q in zip(u, v))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot))))


def _gnomonic(ra: float, dec: float, ra0: float, dec0: float) -> tuple[float, float]:
    a, d, a0, d0 = map(math.radians, (ra, dec, ra0, dec0))
    cosc = math.sin(d0) * math.sin(d) + math.cos(d0) * math.cos(d) * math.cos(a - a0)
    if cosc <= 1e-9:
        raise _refuse("a POLYGON or BOX must lie within 90 degrees of its centre")
    x = math.cos(d) * math.sin(a - a0) / cosc
    y = (math.cos(d0) * math.sin(d) - math.sin(d0) * math.cos(d) * math.cos(a - a0)) / cosc
    return x, y


def _lit(v: float) -> str:
    return repr(float(v))


def _tangent_sql(ra: str, dec: str, ra0: float, dec0: float) -> tuple[str, str, str]:
    """SQL for (cos c, x, y): the gnomonic projection of column pair (ra, dec) about (ra0, dec0)."""
    s0, c0 = _lit(math.sin(math.radians(dec0))), _lit(math.cos(math.radians(dec0)))
    da = f"radians(({ra}) - {_lit(ra0)})"
    cosc = f"({s0} * sin(radians({dec})) + {c0} * cos(radians({dec})) * cos({da}))"
    x = f"(cos(radians({dec})) * sin({da}) / {cosc})"
    y = f"(({c0} * sin(radians({dec})) - {s0} * cos(radians({dec})) * cos({da})) / {cosc})"
    return cosc, x, y


def _region_predicate(point: exp.Expr, region: exp.Expr) -> exp.Expr:
    """A WHERE predicate equivalent to ``CONTAINS(point, region) = 1``."""
    kind = _fname(region)
    p = _geom_args(point, "point")
    if len(p) != 2:
        raise _refuse("POINT takes ('ICRS', ra, dec)")
    if kind == "circle":
        c = _geom_args(region, "circle")
        if len(c) != 3:
            raise _refuse("CIRCLE takes ('ICRS', ra, dec, radius)")
        circle = exp.Anonymous(this="CIRCLE", expressions=[a.copy() for a in c])
        return exp.EQ(
            this=exp.Contains(
                this=exp.Anonymous(this="POINT", expressions=[a.copy() for a in p]),
                expression=circle,
            ),
            expression=exp.Literal.number(1),
        )
    ra, dec = (a.sql(dialect=shapes.POSTGRES) for a in p)
    if kind == "box":
        vals = _consts(_geom_args(region, "box"), "box")
        if len(vals) != 4:
            raise _refuse("BOX takes ('ICRS', ra, dec, width, height)")
        ra0, dec0, w, h = vals
        if not (-90 <= dec0 <= 90) or not (0 <= w < 180 and 0 <= h < 180):
            raise _refuse(f"BOX centre dec={dec0} or size {w} x {h} deg is out of range")
        tx, ty = math.tan(math.radians(w / 2)), math.tan(math.radians(h / 2))
        # the bounding circle reaches the corners: angle from the centre to (tx, ty)
        radius = math.degrees(math.atan(math.hypot(tx, ty)))
        cosc, x, y = _tangent_sql(ra, dec, ra0, dec0)
        exact = f"{cosc} > 0 AND abs({x}) <= {_lit(tx)} AND abs({y}) <= {_lit(ty)}"
        centre = (ra0 % 360.0, dec0)
    elif kind == "polygon":
        vals = _consts(_geom_args(region, "polygon"), "polygon")
        if len(vals) < 6 or len(vals) % 2:
            raise _refuse("POLYGON takes ('ICRS', ra1, dec1, ra2, dec2, ra3, dec3, ...)")
        verts = [(vals[i] % 360.0, vals[i + 1]) for i in range(0, len(vals), 2)]
        if any(not -90 <= d <= 90 for _, d in verts):
            raise _refuse("POLYGON vertex declinations must be within [-90, 90]")
        units = [_unit(*v) for v in verts]
        centre = _radec(tuple(sum(u[k] for u in units) for k in range(3)))  # type: ignore[arg-type]
        plane = [_gnomonic(r, d, *centre) for r, d in verts]
        radius = max(_sep_deg(centre, v) for v in verts)
        cosc, x, y = _tangent_sql(ra, dec, *centre)
        # crossing number of a ray from the point towards +x: odd means inside
        crossings = []
        for (xi, yi), (xj, yj) in zip(plane, plane[1:] + plane[:1]):
            if yi == yj:
                continue
            crossings.append(
                f"CASE WHEN (({_lit(yi)} > {y}) <> ({_lit(yj)} > {y})) AND ({x} < "
                f"{_lit((xj - xi) / (yj - yi))} * ({y} - {_lit(yi)}) + {_lit(xi)}) "
                f"THEN 1 ELSE 0 END"
            )
        if not crossings:
            raise _refuse("POLYGON has no extent (all vertices on one parallel line)")
        exact = f"{cosc} > 0 AND ({' + '.join(crossings)}) % 2 = 1"
    else:
        raise _refuse(
            f"CONTAINS/INTERSECTS of {region.sql()[:40]}: the region must be a CIRCLE, "
            f"BOX or POLYGON"
        )
    if radius >= 90:
        raise _refuse("a POLYGON or BOX must lie within 90 degrees of its centre")
    # a hair wider than the corners, so the index ranges never cut off a vertex
    bound = (
        f"CONTAINS(POINT('ICRS', {ra}, {dec}), CIRCLE('ICRS', {_lit(centre[0])}, "
        f"{_lit(centre[1])}, {_lit(radius * (1 + 1e-9) + 1e-12)})) = 1"
    )
    return exp.paren(sqlglot.parse_one(f"{bound} AND {exact}", read="postgres"))


def _geometry_test(node: exp.Expr) -> exp.Expr | None:
    """``CONTAINS(..) = 1``/``INTERSECTS(..) = 0`` etc. as predicates; None if not one."""
    if not isinstance(node, exp.EQ):
        return None
    for fn, other in ((node.this, node.expression), (node.expression, node.this)):
        kind = _fname(fn)
        if kind not in ("contains", "intersects") or _const(other) not in (0.0, 1.0):
            continue
        if isinstance(fn, exp.Contains):
            a, b = fn.this, fn.expression
        else:
            if len(fn.expressions) != 2:
                raise _refuse(f"{kind.upper()} takes two geometries")
            a, b = fn.expressions
        if kind == "intersects" and _fname(b) == "point":
            a, b = b, a  # INTERSECTS(region, POINT) = CONTAINS(POINT, region)
        if _fname(a) != "point":
            raise _refuse(
                f"{kind.upper()} is supported with a POINT and a CIRCLE, BOX or POLYGON "
                f"(e.g. CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.68, 41.27, 0.01)) = 1)"
            )
        test = _region_predicate(a, b)
        return test if _const(other) == 1.0 else exp.not_(test)
    return None


def _translate(node: exp.Expr) -> exp.Expr:
    test = _geometry_test(node)
    if test is not None:
        return test
    if isinstance(node, exp.Log) and node.args.get("expression") is None:
        return exp.Ln(this=node.this)  # ADQL LOG is the natural logarithm
    name = _fname(node)
    if name in ("coord1", "coord2") and isinstance(node, exp.Anonymous):
        (pt,) = node.expressions or [None]
        if pt is None or _fname(pt) != "point":
            raise _refuse(f"{name.upper()} takes a POINT")
        args = _geom_args(pt, "point")
        return args[0 if name == "coord1" else 1].copy()
    if name == "coordsys":
        return exp.Literal.string("ICRS")
    if name == "distance" and isinstance(node, exp.Anonymous) and len(node.expressions) == 4:
        a, b, c, d = (e.copy() for e in node.expressions)
        return exp.Anonymous(
            this="DISTANCE",
            expressions=[
                exp.Anonymous(this="POINT", expressions=[a, b]),
                exp.Anonymous(this="POINT", expressions=[c, d]),
            ],
        )
    if isinstance(node, exp.Anonymous) and name == "truncate":
        return exp.Anonymous(this="TRUNC", expressions=[e.copy() for e in node.expressions])
    return node


def _check_leftover_geometry(tree: exp.Expr) -> None:
    for node in tree.walk():
        name = _fname(node)
        if name in ("box", "polygon", "region", "centroid", "area", "intersects"):
            raise _refuse(
                f"{node.sql()[:60]}: ADQL geometry is supported in WHERE as "
                f"CONTAINS(POINT(...), CIRCLE|BOX|POLYGON(...)) = 1 or INTERSECTS(...) = 1, "
                f"and DISTANCE(POINT, POINT) anywhere; select ra and dec rather than a POINT"
            )
        if name in ("point", "circle") and isinstance(node.parent, exp.Select):
            raise _refuse(
                f"{node.sql()[:60]}: geometry values cannot be returned; select the "
                f"ra and dec columns instead"
            )


def _dialect(query: str) -> str:
    return "tsql" if _TOP.match(query) else "postgres"


def _tokens(query: str, dialect: str) -> list:
    try:
        return Dialect.get_or_raise(dialect).tokenize(query)
    except sqlglot.errors.TokenError as exc:
        raise _refuse(f"could not parse it as ADQL ({str(exc).splitlines()[0]})") from None


def _parse(query: str, tokens: list | None = None) -> exp.Expr:
    dialect = _dialect(query)
    try:
        if tokens is None:
            tokens = _tokens(query, dialect)
        parsed = Dialect.get_or_raise(dialect).parser().parse(tokens, query)
        statements = [s for s in parsed if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = str(exc).splitlines()[0]
        raise _refuse(f"could not parse it as ADQL ({first})") from None
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements given; send exactly one SELECT")
    tree = statements[0]
    if dialect == "tsql":
        # T-SQL sorts NULLs first; ADQL leaves it to the service: keep the engines' default
        for o in tree.find_all(exp.Ordered):
            if o.args.get("nulls_first") and not o.args.get("desc"):
                o.set("nulls_first", False)
    return tree


def apply_row_limit(tree: exp.Expr, limit: int) -> exp.Expr:
    """Cap the outermost query at ``limit`` rows (a smaller LIMIT/TOP of its own wins)."""
    if not isinstance(tree, exp.Query):
        return tree
    current = tree.args.get("limit")
    if current is not None and current.expression is not None:
        n = _const(current.expression)
        if n is not None and n <= limit:
            return tree
    return tree.limit(limit, copy=False)


@lru_cache(maxsize=512)
def to_checked_sql(query: str, lang: str, row_limit: int | None = None) -> str:
    """The SQL (PostgreSQL dialect) the catalog checker receives for a TAP query.

    ``lang`` is a TAP ``LANG`` value: ADQL (``ADQL``, ``ADQL-2.0``, ``ADQL-2.1``) is
    translated; the native dialect (``SQL``/``PostgreSQL``) is passed through, only
    capped. ``row_limit`` caps the outermost query (TAP's MAXREC plus one, so that an
    overflow is seen without reading more). Cached: a TAP client repeats its queries,
    and asks the same question of new places (new numbers, one shape: see
    :mod:`cloudphot.catalog.shapes`).
    """
    if not query or not query.strip():
        raise _refuse("the query is empty (QUERY=...)")
    lang_l = lang.strip().lower()
    if lang_l not in ADQL_LANGS | SQL_LANGS:
        raise _refuse(f"LANG={lang!r} is not supported; use ADQL (2.0 or 2.1) or SQL (PostgreSQL)")
    adql = lang_l in ADQL_LANGS
    dialect = _dialect(query)
    tokens = _tokens(query, dialect)
    shape = shapes.shape_of(tokens, dialect, adql, row_limit)
    with _SHAPES_LOCK:
        fixed = _FIXED.get(shape.key)
        text = (
            None
            if fixed is None
            else _SHAPES.get((shape.key, shapes.fixed_subkey(fixed, shape.numbers)))
        )
    if text is None:
        tree = _parse(query, tokens)
        try:
            with shapes.Recording(shape, tree) as rec:
                text = _checked(tree, adql, row_limit, shapes.POSTGRES)
        except sqlglot.errors.SqlglotError:  # markers sqlglot cannot carry: no shape plan
            return _checked(_parse(query, tokens), adql, row_limit, "postgres")
        with _SHAPES_LOCK:
            fixed = _FIXED[shape.key] = _FIXED.get(shape.key, frozenset()) | rec.fixed
            _SHAPES[(shape.key, shapes.fixed_subkey(fixed, shape.numbers))] = text
            while len(_SHAPES) > 512:
                _SHAPES.popitem(last=False)
            while len(_FIXED) > 2048:
                _FIXED.pop(next(iter(_FIXED)))
    out = shapes.fill(text, {"L": shape.numbers})
    if shapes.VERIFY:
        expect = _checked(_parse(query, tokens), adql, row_limit, "postgres")
        if out != expect:
            raise AssertionError(f"shape plan differs for {query!r}:\n{out}\n{expect}")
    return out


_SHAPES: OrderedDict[tuple, str] = OrderedDict()
_FIXED: dict[tuple, frozenset[int]] = {}
_SHAPES_LOCK = threading.Lock()


def _checked(tree: exp.Expr, adql: bool, row_limit: int | None, dialect) -> str:
    if adql:
        tree = tree.transform(_translate)
        _check_leftover_geometry(tree)
    if row_limit is not None:
        tree = apply_row_limit(tree, row_limit)
    return tree.sql(dialect=dialect)


_MYDB = re.compile(r'\bmydb\s*"?\s*\.\s*"?([A-Za-z][A-Za-z0-9_]*)', re.IGNORECASE)


def mydb_names(query: str) -> set[str]:
    """Personal table names a query text mentions (``mydb.x``), lower-case."""
    return {m.lower() for m in _MYDB.findall(query)}


def split_into(query: str) -> tuple[str, str | None]:
    """``SELECT ... INTO mydb.name ...`` -> (the query without INTO, ``name``).

    Only ``mydb.<name>`` is a place results may go; any other INTO target is left in
    the query, where the checker refuses it (the catalog is read-only).
    """
    if not re.search(r"\binto\b", query, re.IGNORECASE):
        return query, None
    try:
        tree = _parse(query)
    except QueryRefused:
        return query, None
    into = tree.args.get("into") if isinstance(tree, exp.Select) else None
    target = into.this if into is not None else None
    if not isinstance(target, exp.Table) or (target.args.get("db") is None):
        return query, None
    if target.args["db"].name.lower() != "mydb" or target.args.get("catalog") is not None:
        return query, None
    tree.set("into", None)
    return tree.sql(dialect="postgres"), target.name.lower()
