"""The catalog's queries for Athena: the same checks and rewrites, over the Glue tables.

A user's query goes through :func:`~.query.check_and_rewrite` exactly as for the
local DuckDB engine (the allow-list, the refusals, the row limit, the Q3C/ADQL
spatial rewrites). Then, instead of ``read_parquet`` over the local partition
files, every catalog table becomes a subquery over the Glue table that
``template.yaml`` defines (``"<database>"."phot_mod"``, external Parquet with
partition projection on ``version``, ``norder`` and ``dir``)::

    (SELECT "ra", "dec", ... FROM "phat_v2"."phot_mod"
     WHERE "version" = 3 AND "norder" = 8 AND "dir" IN (0)) AS phot_mod

- ``version`` pins the catalog version being queried; a version that shares
  unchanged partitions with the versions that wrote them (its manifest names those
  objects) reads ``version IN (...)`` of those versions and ``"$path" IN (...)`` of
  exactly its objects (:func:`shared_source`);
- the columns are exactly the schema's, so ``SELECT *`` returns the columns it
  returns locally, not the partition keys;
- ``dir IN (...)`` names the HATS directories of the version's partitions, or for
  a cone or an objid list that restricts the table, of the partitions it touches
  (the partitions the local engine reads), so Athena lists only those prefixes,
  not every Dir the projection could produce.

The result is Trino SQL (Athena engine version 3). Functions whose Trino spelling
sqlglot does not produce are translated here (``log(x)`` is ``log10``, ``cot``,
``isfinite``, ``isinf``, ``~*``); ``median``, ``quantile`` and
``percentile_cont/disc`` become Trino's ``approx_percentile`` (Athena has no
exact percentile); ``bit_xor`` is refused (Athena's Trino has no
``bitwise_xor_agg``). Without a LIMIT, ``max_rows + 1`` rows are asked for, so a
truncated result is detected as locally.

Nothing here talks to AWS: :class:`cloudphot.aws.athena.AthenaQueryEngine` runs
the SQL.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from ..errors import QueryRefused
from .query import (
    DEFAULT_MAX_ROWS,
    LEGACY_FILING_SLACK_ARCSEC,
    TABLES,
    Cone,
    Rewritten,
    check_and_rewrite,
    partitions_touched,
)
from .schema import DERIVED_TABLES, PHOT_MEAS, PHOT_MOD

__all__ = ["DIALECT", "PARTITION_KEYS", "athena_sql", "glue_source", "hats_dir"]

#: sqlglot dialect of the SQL sent to Athena (engine version 3 is Trino)
DIALECT = "trino"
#: partition keys of the Glue tables (template.yaml PartitionKeys), in order
PARTITION_KEYS = ("version", "norder", "dir")
_COLUMNS = {
    "phot_mod": tuple(PHOT_MOD),
    "phot_meas": tuple(PHOT_MEAS),
    **{t: tuple(cols) for t, cols in DERIVED_TABLES.items()},
}


def hats_dir(npix: int) -> int:
    """HATS directory number of a partition pixel (``Dir=`` in its key)."""
    return int(npix) // 10000 * 10000


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _eq(name: str, value: int) -> exp.Expression:
    return exp.EQ(this=exp.column(_ident(name)), expression=exp.Literal.number(int(value)))


_VERSION_IN_KEY = re.compile(r"/v(\d{4,})/")


def _in(name: str, values) -> exp.Expression:
    lits = [
        exp.Literal.string(v) if isinstance(v, str) else exp.Literal.number(int(v)) for v in values
    ]
    return exp.In(this=exp.column(_ident(name)), expressions=lits)


def shared_source(
    database: str, table: str, order: int, files: list[tuple[int, str]], bucket: str
) -> exp.Select:
    """The Glue table read through a manifest that shares files across versions.

    ``files`` are ``(npix, key)`` of the partitions to read, each where the version
    that wrote it put it: the partition keys name those versions and directories (so
    Athena lists only their prefixes) and ``"$path"`` the objects themselves, so a
    superseded file of an earlier version in the same directory is never read.
    """
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a catalog table")
    if not files:
        cond: exp.Expr = exp.false()
    else:
        versions = set()
        for _, key in files:
            m = _VERSION_IN_KEY.search(key)
            if m is None:
                raise ValueError(f"partition key {key!r} names no catalog version")
            versions.add(int(m.group(1)))
        cond = exp.and_(
            _in("version", sorted(versions)),
            _eq("norder", order),
            _in("dir", sorted({hats_dir(p) for p, _ in files})),
            _in("$path", sorted(f"s3://{bucket}/{k}" for _, k in files)),
        )
    return (
        exp.select(*[exp.column(_ident(c)) for c in _COLUMNS[table]])
        .from_(exp.Table(this=_ident(table), db=_ident(database)))
        .where(cond)
    )


def glue_source(
    database: str, table: str, version: int, order: int, partitions: list[int] | None = None
) -> exp.Select:
    """``SELECT <schema columns> FROM "<database>"."<table>" WHERE version/norder[/dir]``.

    Parameters
    ----------
    database, table
        Glue database (the survey) and table (``phot_mod`` or ``phot_meas``).
    version
        Catalog version (the ``version`` partition key).
    order
        HEALPix order of the catalog's partitions (the ``norder`` key).
    partitions
        Partition pixels the query can touch; ``None`` means all. An empty list
        selects nothing (the columns stay).
    """
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a catalog table")
    cond: exp.Expr = exp.and_(_eq("version", version), _eq("norder", order))
    if partitions is not None:
        dirs = sorted({hats_dir(p) for p in partitions})
        if dirs:
            cond = exp.and_(
                cond,
                exp.In(
                    this=exp.column(_ident("dir")),
                    expressions=[exp.Literal.number(d) for d in dirs],
                ),
            )
        else:
            cond = exp.and_(cond, exp.false())
    return (
        exp.select(*[exp.column(_ident(c)) for c in _COLUMNS[table]])
        .from_(exp.Table(this=_ident(table), db=_ident(database)))
        .where(cond)
    )


# ---------------------------------------------------------------- Trino spellings
def _refuse(msg: str) -> QueryRefused:
    return QueryRefused(f"query refused: {msg}")


def _approx_percentile(value: exp.Expression, q: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="APPROX_PERCENTILE", expressions=[value.copy(), q.copy()])


def _to_trino(node: exp.Expression) -> exp.Expression:
    """One node in the spelling Athena's Trino knows, where sqlglot's differs or is missing."""
    if isinstance(node, exp.Log) and node.args.get("expression") is None:
        # PostgreSQL's (and DuckDB's) one-argument log is base 10; Trino's log needs two
        return exp.Anonymous(this="LOG10", expressions=[node.this.copy()])
    if isinstance(node, exp.Cot):
        return exp.paren(
            exp.Div(this=exp.Literal.number("1e0"), expression=exp.Tan(this=node.this.copy()))
        )
    if isinstance(node, exp.IsInf):
        return exp.Anonymous(this="IS_INFINITE", expressions=[node.this.copy()])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "error":
        # the run-time refusal of a row's invalid cone (query._row_guarded): Trino's fail()
        return exp.Anonymous(this="FAIL", expressions=[e.copy() for e in node.expressions])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite":
        return exp.Anonymous(this="IS_FINITE", expressions=[e.copy() for e in node.expressions])
    if isinstance(node, exp.RegexpILike):
        pattern = exp.func("CONCAT", exp.Literal.string("(?i)"), node.expression.copy())
        return exp.RegexpLike(this=node.this.copy(), expression=pattern)
    if isinstance(node, exp.Median):
        return _approx_percentile(node.this, exp.Literal.number("0.5"))
    if isinstance(node, exp.Quantile):
        return _approx_percentile(node.this, node.args["quantile"])
    if isinstance(node, exp.WithinGroup) and isinstance(
        node.this, (exp.PercentileCont, exp.PercentileDisc)
    ):
        order = node.expression
        keys = order.expressions if isinstance(order, exp.Order) else []
        if len(keys) != 1:
            raise _refuse(
                "percentile_cont/percentile_disc need WITHIN GROUP (ORDER BY one expression)"
            )
        key = keys[0]
        value = key.this if isinstance(key, exp.Ordered) else key
        q = node.this.this
        if isinstance(key, exp.Ordered) and key.args.get("desc"):
            q = exp.Sub(this=exp.Literal.number(1), expression=q.copy())
        return _approx_percentile(value, q)
    if isinstance(node, exp.BitwiseXorAgg) or (
        isinstance(node, exp.Anonymous) and node.name.lower() == "bit_xor"
    ):
        raise _refuse(
            "bit_xor() is not available on Athena (engine version 3 has no bitwise_xor_agg)"
        )
    return node


def athena_sql(
    sql: str,
    manifest: dict,
    *,
    survey: str,
    database: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    bucket: str | None = None,
) -> tuple[str, Rewritten]:
    """The Trino SQL Athena runs for ``sql`` on the catalog version ``manifest`` describes.

    Parameters
    ----------
    sql
        The user's query (PostgreSQL / ADQL flavoured, as for the local engine).
    manifest
        The catalog version's manifest (:func:`~.build.read_manifest`): its
        ``version``, ``partition_order`` and the partitions of each table.
    survey
        The survey name users write in queries (``phat_v2.phot_mod``).
    database
        Glue database holding the tables (default: the survey, as template.yaml names it).
    max_rows
        Row limit: a larger explicit LIMIT is refused, no LIMIT fetches ``max_rows + 1``.
    bucket
        The products bucket, needed when the version shares partition files with
        earlier versions (its manifest names objects under their prefixes).

    Returns
    -------
    (str, Rewritten)
        The SQL, and the checked, rewritten query (which tables a cone or objids restrict).

    Raises
    ------
    QueryRefused
        Whatever :func:`~.query.check_and_rewrite` refuses, and functions Athena lacks.
    """
    database = database or survey
    version = int(manifest["version"])
    order = int(manifest["partition_order"])
    rw = check_and_rewrite(sql, survey, max_rows=max_rows)
    available = {
        t: [int(p) for p in manifest["tables"][t]["partitions"]]
        for t in TABLES
        if t in manifest["tables"]
    }
    # rows a format-1 build filed off their position (issue 15.2): as the local engine
    legacy = int(manifest.get("format", 1)) < 2
    #: npix -> key of each table's partitions whose object another version wrote
    keys = {
        t: {int(p): e["key"] for p, e in manifest["tables"][t]["partitions"].items()}
        for t in available
    }
    shared = {
        t: any(not k.startswith(manifest["tables"][t]["prefix"]) for k in keys[t].values())
        for t in available
    }
    if any(shared.values()) and bucket is None:
        raise ValueError("a version sharing partitions with earlier ones needs the bucket")

    def swap(node):
        if isinstance(node, exp.Table) and id(node) in rw.tables:
            table, restriction = rw.tables[id(node)]
            if table not in available:
                raise _refuse(
                    f"catalog version {version} predates table {table}: rebuild the catalog "
                    f"with this cloudphot to publish a version that has it"
                )
            # every query names the HATS directories it may read, those of the
            # version's partitions when nothing narrows them: the projection would
            # otherwise enumerate every possible Dir of the order (1,259 at order 10)
            # and Athena would list each prefix
            parts = (
                available[table]
                if restriction is None
                else partitions_touched(
                    available[table],
                    order,
                    restriction,
                    slack_arcsec=LEGACY_FILING_SLACK_ARCSEC
                    if legacy and table == "phot_mod" and isinstance(restriction, Cone)
                    else 0.0,
                )
            )
            source = (
                shared_source(
                    database, table, order, [(p, keys[table][p]) for p in parts], str(bucket)
                )
                if shared[table]
                else glue_source(database, table, version, order, parts)
            )
            return exp.Subquery(
                this=source,
                alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)),
            )
        return node

    out = rw.expression.transform(swap, copy=False)
    out = out.transform(_to_trino, copy=False)
    if out.args.get("limit") is None:
        out.set("limit", exp.Limit(expression=exp.Literal.number(max_rows + 1)))
    rw.expression = out
    try:
        text = out.sql(dialect=DIALECT, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise _refuse(f"Athena (Trino) cannot run it: {str(exc).splitlines()[0]}") from None
    return text, rw
