"""TAP_SCHEMA and VOSI tables: what the catalog holds, from the catalog's own column list.

Names, types, units and descriptions come from :mod:`cloudphot.catalog.schema`, the
same dictionaries that write the Parquet schema and generate docs/catalog-columns.md,
so TAP_SCHEMA, the VOSI ``/tables`` document, the result VOTables' FIELDs and the
documentation cannot disagree. UCDs (IVOA UCD1+ words) are added here, by column
kind. TAP_SCHEMA is itself a set of Arrow tables that queries may join like any other
(``SELECT * FROM TAP_SCHEMA.columns WHERE table_name = 'phat_v2.phot_mod'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

from ..catalog.schema import COLOR_COLUMNS, PHOT_MEAS, PHOT_MOD, PHOT_PM, PHOT_VAR, PHOT_VISIT

__all__ = [
    "TAP_SCHEMA_TABLES",
    "ColumnMeta",
    "ForeignKeyMeta",
    "TableMeta",
    "adql_name",
    "all_tables",
    "catalog_tables",
    "column_meta",
    "foreign_keys",
    "tap_schema_arrow",
    "ucd_for",
    "votable_datatype",
]

#: per-filter column suffix -> UCD (the filter's band is added as a secondary word)
_PER_FILTER_UCD = {
    "rate": "phot.count",
    "raterr": "stat.error;phot.count",
    "vega": "phot.mag",
    "err": "stat.error;phot.mag",
    "chi": "stat.fit.chi2",
    "snr": "stat.snr",
    "sharp": "src.morph.param",
    "round": "src.morph.param",
    "crowd": "phot.mag;instr.det.psf",
    "flag": "meta.code.qual",
    "gst": "meta.code.qual",
}
_NAMED_UCD = {
    "ra": "pos.eq.ra;meta.main",
    "dec": "pos.eq.dec;meta.main",
    "htm9": "pos.htm",
    "pix256": "pos.healpix",
    "pix4096": "pos.healpix",
    "_healpix_29": "pos.healpix",
    "random_id": "stat.value",
    "x": "pos.cartesian.x;instr.det",
    "y": "pos.cartesian.y;instr.det",
    "ir_x": "pos.cartesian.x;instr.det",
    "ir_y": "pos.cartesian.y;instr.det",
    "objid": "meta.id;meta.main",
    "mjd": "time.epoch;obs.exposure",
    "filter": "meta.id;instr.filter",
    "exptime": "time.duration;obs.exposure",
    "image": "meta.id;obs.image",
    "exposure_id": "meta.id;obs.exposure",
    "field_id": "meta.id;obs.field",
    "field": "meta.id;obs.field",
    "brick": "meta.id;obs.field",
    "star_id": "meta.id",
    "chip": "meta.id;instr.det",
    "job_id": "meta.id;meta.software",
    "pipeline_version": "meta.version;meta.software",
    "task_options": "meta.note;meta.software",
    "nmeas": "meta.number;obs",
    "nfields": "meta.number;obs.field",
    "inside_ir": "meta.code",
    "inside_brick": "meta.code",
    "inside_chipgap": "meta.code",
    "inside_other_chipgap": "meta.code",
    "rate": "phot.count",
    "raterr": "stat.error;phot.count",
    "vega": "phot.mag",
    "err": "stat.error;phot.mag",
    "chi": "stat.fit.chi2",
    "snr": "stat.snr",
    "sharp": "src.morph.param",
    "round": "src.morph.param",
    "crowd": "phot.mag;instr.det.psf",
    "flag": "meta.code.qual",
    # phot_visit, phot_pm, phot_var
    "visit_id": "meta.id;obs.sequence",
    "nexp": "meta.number;obs.exposure",
    "mjd_min": "time.start;obs.exposure",
    "mjd_max": "time.end;obs.exposure",
    "pos_err": "stat.error;pos.eq",
    "tie_dra": "pos.eq.ra;arith.diff",
    "tie_ddec": "pos.eq.dec;arith.diff",
    "tie_nstar": "meta.number;pos.frame",
    "tie_rms": "stat.stdev;pos.eq",
    "pm_ra_cosdec": "pos.pm;pos.eq.ra",
    "pm_ra_cosdec_err": "stat.error;pos.pm;pos.eq.ra",
    "pm_dec": "pos.pm;pos.eq.dec",
    "pm_dec_err": "stat.error;pos.pm;pos.eq.dec",
    "pm_ref_epoch": "time.epoch",
    "pm_nvisit": "meta.number;obs",
    "pm_baseline": "time.interval",
    "pm_chi2": "stat.fit.chi2",
    "var_nepoch": "meta.number;obs",
    "var_nvisit": "meta.number;obs.sequence",
    "var_mjd_span": "time.interval",
    "var_mean": "phot.mag;stat.mean",
    "var_chi2": "stat.fit.chi2;src.var",
    "var_iqr": "src.var.index",
    "var_amp": "src.var.amplitude",
    "var_period": "time.period",
    "var_period_power": "stat.value;time.period",
}
#: HST wide filters -> UCD band words
_BAND = {
    "f275w": "em.opt.U",
    "f336w": "em.opt.U",
    "f475w": "em.opt.B",
    "f814w": "em.opt.I",
    "f110w": "em.IR.J",
    "f160w": "em.IR.H",
}


def ucd_for(name: str) -> str | None:
    """The UCD of a catalog column name (None when nothing fits)."""
    if name in _NAMED_UCD:
        return _NAMED_UCD[name]
    if name in COLOR_COLUMNS:
        return "phot.color"
    f, _, kind = name.partition("_")
    if f in _BAND and kind in _PER_FILTER_UCD:
        return f"{_PER_FILTER_UCD[kind]};{_BAND[f]}"
    return None


def votable_datatype(typ: pa.DataType) -> tuple[str, str | None]:
    """(VOTable datatype, arraysize) of an Arrow type, as results are written."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_boolean(typ):
        return "boolean", None
    if pa.types.is_int8(typ) or pa.types.is_uint8(typ):
        return "unsignedByte", None
    if pa.types.is_int16(typ):
        return "short", None
    if pa.types.is_int32(typ) or pa.types.is_uint16(typ):
        return "int", None
    if pa.types.is_integer(typ):
        return "long", None
    if pa.types.is_float32(typ) or pa.types.is_float16(typ):
        return "float", None
    if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "double", None
    return "char", "*"


@dataclass(frozen=True)
class ColumnMeta:
    name: str
    datatype: str
    arraysize: str | None
    unit: str
    ucd: str | None
    description: str
    indexed: bool = False
    principal: bool = False


@dataclass(frozen=True)
class TableMeta:
    schema: str
    name: str  # qualified, e.g. phat_v2.phot_mod
    description: str
    columns: tuple[ColumnMeta, ...]
    table_type: str = "table"


_INDEXED = {"_healpix_29", "objid", "ra", "dec"}
_PRINCIPAL = {"objid", "ra", "dec", "f475w_vega", "f814w_vega", "mjd", "filter", "vega", "err"}


_REGULAR = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: ADQL 2.0 reserved words (SQL-92's and ADQL's own): column names that must be delimited
ADQL_RESERVED = frozenset(
    """ABS ACOS AREA ASIN ATAN ATAN2 BOX CEILING CENTROID CIRCLE CONTAINS COORD1 COORD2
    COORDSYS COS COT DEGREES DISTANCE EXP FLOOR INTERSECTS LOG LOG10 MOD PI POINT POLYGON
    POWER RADIANS REGION RAND ROUND SIN SQRT TOP TAN TRUNCATE ABSOLUTE ACTION ADD ALL
    ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG BEGIN BETWEEN BIT
    BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHAR_LENGTH
    CHARACTER_LENGTH CHECK CLOSE COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT CONNECTION
    CONSTRAINT CONSTRAINTS CONTINUE CONVERT CORRESPONDING COUNT CREATE CROSS CURRENT
    CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE DAY DEALLOCATE
    DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS
    DISCONNECT DISTINCT DOMAIN DOUBLE DROP ELSE END END-EXEC ESCAPE EXCEPT EXCEPTION EXEC
    EXECUTE EXISTS EXTERNAL EXTRACT FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND FROM FULL GET
    GLOBAL GO GOTO GRANT GROUP HAVING HOUR IDENTITY IMMEDIATE IN INDICATOR INITIALLY INNER
    INPUT INSENSITIVE INSERT INT INTEGER INTERSECT INTERVAL INTO IS ISOLATION JOIN KEY
    LANGUAGE LAST LEADING LEFT LEVEL LIKE LOCAL LOWER MATCH MAX MIN MINUTE MODULE MONTH NAMES
    NATIONAL NATURAL NCHAR NEXT NO NOT NULL NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN
    OPTION OR ORDER OUTER OUTPUT OVERLAPS PAD PARTIAL POSITION PRECISION PREPARE PRESERVE
    PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ REAL REFERENCES RELATIVE RESTRICT REVOKE
    RIGHT ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION SELECT SESSION SESSION_USER SET SIZE
    SMALLINT SOME SPACE SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SUM SYSTEM_USER TABLE
    TEMPORARY THEN TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION
    TRANSLATE TRANSLATION TRIM TRUE UNION UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING VALUE
    VALUES VARCHAR VARYING VIEW WHEN WHENEVER WHERE WITH WORK WRITE YEAR ZONE""".split()
)


def adql_name(name: str) -> str:
    """The column name as an ADQL query writes it: delimited unless a regular identifier
    that is no reserved word (``"_healpix_29"``, ``"round"``, TAP_SCHEMA's ``"size"``)."""
    if _REGULAR.match(name) and name.upper() not in ADQL_RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def vo_unit(unit: str) -> str:
    """A unit string as astropy's VOTable writer will spell it (``pix`` -> ``pixel``), so
    that TAP_SCHEMA declares exactly what result FIELDs carry."""
    if not unit:
        return ""
    import astropy.units as u

    parsed = u.Unit(unit, parse_strict="silent")
    if isinstance(parsed, u.UnrecognizedUnit):
        return unit
    return parsed.to_string("vounit")


def _columns(cols: dict) -> tuple[ColumnMeta, ...]:
    out = []
    for name, (typ, unit, desc) in cols.items():
        dt, size = votable_datatype(typ)
        out.append(
            ColumnMeta(
                name,
                dt,
                size,
                vo_unit(unit),
                ucd_for(name),
                desc,
                name in _INDEXED,
                name in _PRINCIPAL,
            )
        )
    return tuple(out)


@lru_cache(maxsize=8)
def catalog_tables(survey: str) -> tuple[TableMeta, ...]:
    """The survey's tables as TAP publishes them."""
    return (
        TableMeta(
            survey,
            f"{survey}.phot_mod",
            "One row per object: positions and photometry per filter averaged over every "
            "field that measured it (Astro Data Lab phat_v2.phot_mod columns and order).",
            _columns(PHOT_MOD),
        ),
        TableMeta(
            survey,
            f"{survey}.phot_meas",
            "One row per object per exposure: the single-exposure measurements (light "
            "curves), with MJD, filter, exposure time, image and quality metrics.",
            _columns(PHOT_MEAS),
        ),
        TableMeta(
            survey,
            f"{survey}.phot_visit",
            "One row per object per visit per filter: the visit's exposures combined, "
            "positions tied to the catalog's frame (the paper's per-visit measurements).",
            _columns(PHOT_VISIT),
        ),
        TableMeta(
            survey,
            f"{survey}.phot_pm",
            "One row per object measured in visits far enough apart: proper motion from "
            "the frame-tied per-visit positions.",
            _columns(PHOT_PM),
        ),
        TableMeta(
            survey,
            f"{survey}.phot_var",
            "One row per object per filter: variability statistics of the single-exposure "
            "measurements (reduced chi^2, IQR, Lomb-Scargle period).",
            _columns(PHOT_VAR),
        ),
    )


def column_meta(survey: str) -> dict[str, ColumnMeta]:
    """Column name -> metadata over both catalog tables (phot_mod's wins on shared names)."""
    out: dict[str, ColumnMeta] = {}
    for t in reversed(catalog_tables(survey)):
        out.update({c.name: c for c in t.columns})
    return out


# ---------------------------------------------------------------- TAP_SCHEMA itself
def _c(name, dt, desc, size=None, ucd=None, principal=True, std=True):
    return ColumnMeta(name, dt, size, "", ucd, desc, False, principal)


TAP_SCHEMA_TABLES: tuple[TableMeta, ...] = (
    TableMeta(
        "TAP_SCHEMA",
        "TAP_SCHEMA.schemas",
        "the schemas this service publishes",
        (
            _c("schema_name", "char", "schema name, for reference to TAP_SCHEMA.tables", "*"),
            _c("utype", "char", "lists the utypes of schemas", "*"),
            _c("description", "char", "describes schemas in the tableset", "*"),
            _c("schema_index", "int", "recommended sort order when listing schemas"),
        ),
    ),
    TableMeta(
        "TAP_SCHEMA",
        "TAP_SCHEMA.tables",
        "the tables this service publishes",
        (
            _c("schema_name", "char", "the schema this table belongs to", "*"),
            _c("table_name", "char", "the fully qualified table name", "*"),
            _c("table_type", "char", "one of: table view", "*"),
            _c("utype", "char", "lists the utype of tables in the tableset", "*"),
            _c("description", "char", "describes tables in the tableset", "*"),
            _c("table_index", "int", "recommended sort order when listing tables"),
        ),
    ),
    TableMeta(
        "TAP_SCHEMA",
        "TAP_SCHEMA.columns",
        "the columns of the tables this service publishes",
        (
            _c("table_name", "char", "the table this column belongs to", "*"),
            _c("column_name", "char", "the column name", "*"),
            _c("utype", "char", "lists the utypes of columns in the tableset", "*"),
            _c("ucd", "char", "lists the UCDs of columns in the tableset", "*"),
            _c("unit", "char", "lists the unit used for column values in the tableset", "*"),
            _c("description", "char", "describes the columns in the tableset", "*"),
            _c("datatype", "char", "lists the ADQL datatype of columns in the tableset", "*"),
            _c("arraysize", "char", "lists the size of variable-length columns", "*"),
            _c("xtype", "char", "a DALI or custom extended type annotation", "*"),
            _c("size", "int", "deprecated: use arraysize"),
            _c("principal", "int", "a principal column; 1 means 1, 0 means 0"),
            _c("indexed", "int", "an indexed column; 1 means 1, 0 means 0"),
            _c("std", "int", "a standard column; 1 means 1, 0 means 0"),
            _c("column_index", "int", "recommended sort order when listing columns"),
        ),
    ),
    TableMeta(
        "TAP_SCHEMA",
        "TAP_SCHEMA.keys",
        "foreign keys between the tables this service publishes",
        (
            _c("key_id", "char", "unique key to join to TAP_SCHEMA.key_columns", "*"),
            _c("from_table", "char", "the table with the foreign key", "*"),
            _c("target_table", "char", "the table with the primary key", "*"),
            _c("utype", "char", "lists the utype of keys in the tableset", "*"),
            _c("description", "char", "describes keys in the tableset", "*"),
        ),
    ),
    TableMeta(
        "TAP_SCHEMA",
        "TAP_SCHEMA.key_columns",
        "the columns of the foreign keys",
        (
            _c("key_id", "char", "key to join to TAP_SCHEMA.keys", "*"),
            _c("from_column", "char", "column in the from_table", "*"),
            _c("target_column", "char", "column in the target_table", "*"),
        ),
    ),
)


@dataclass(frozen=True)
class ForeignKeyMeta:
    key_id: str
    from_table: str
    target_table: str
    from_column: str
    target_column: str
    description: str


def foreign_keys(survey: str) -> tuple[ForeignKeyMeta, ...]:
    """Every measurement belongs to one object; and TAP_SCHEMA's own links (TAP 1.1 §4)."""
    k = ForeignKeyMeta
    ts = "TAP_SCHEMA"
    return (
        k(
            "meas_objid",
            f"{survey}.phot_meas",
            f"{survey}.phot_mod",
            "objid",
            "objid",
            "the object a measurement belongs to",
        ),
        k(
            "tables_schema",
            f"{ts}.tables",
            f"{ts}.schemas",
            "schema_name",
            "schema_name",
            "the schema a table belongs to",
        ),
        k(
            "columns_table",
            f"{ts}.columns",
            f"{ts}.tables",
            "table_name",
            "table_name",
            "the table a column belongs to",
        ),
        k(
            "keys_from",
            f"{ts}.keys",
            f"{ts}.tables",
            "from_table",
            "table_name",
            "the table a key starts from",
        ),
        k(
            "keys_target",
            f"{ts}.keys",
            f"{ts}.tables",
            "target_table",
            "table_name",
            "the table a key points to",
        ),
        k(
            "key_columns_key",
            f"{ts}.key_columns",
            f"{ts}.keys",
            "key_id",
            "key_id",
            "the key a column pair belongs to",
        ),
    )


def all_tables(survey: str) -> tuple[TableMeta, ...]:
    return (*catalog_tables(survey), *TAP_SCHEMA_TABLES)


_ARROW = {"char": pa.string(), "int": pa.int32(), "long": pa.int64(), "short": pa.int16()}


@lru_cache(maxsize=8)
def tap_schema_arrow(survey: str) -> dict[str, pa.Table]:
    """``tap_schema.<table>`` (lower-case) -> its rows as an Arrow table."""
    tables = all_tables(survey)
    schemas = {
        survey: "the photometry database: objects (phot_mod), measurements (phot_meas), "
        "visits (phot_visit), proper motions (phot_pm) and variability (phot_var)",
        "TAP_SCHEMA": "the tables and columns this TAP service publishes (TAP 1.1)",
    }
    rows: dict[str, list[dict]] = {t.name.split(".")[1]: [] for t in TAP_SCHEMA_TABLES}
    for i, (s, d) in enumerate(schemas.items()):
        rows["schemas"].append(
            {"schema_name": s, "utype": None, "description": d, "schema_index": i}
        )
    for i, t in enumerate(tables):
        rows["tables"].append(
            {
                "schema_name": t.schema,
                "table_name": t.name,
                "table_type": t.table_type,
                "utype": None,
                "description": t.description,
                "table_index": i,
            }
        )
        for j, c in enumerate(t.columns):
            rows["columns"].append(
                {
                    "table_name": t.name,
                    "column_name": adql_name(c.name),
                    "utype": None,
                    "ucd": c.ucd,
                    "unit": c.unit or None,
                    "description": c.description,
                    "datatype": c.datatype,
                    "arraysize": c.arraysize,
                    "xtype": None,
                    "size": None,
                    "principal": int(c.principal),
                    "indexed": int(c.indexed),
                    "std": int(t.schema == "TAP_SCHEMA"),
                    "column_index": j,
                }
            )
    for k in foreign_keys(survey):
        rows["keys"].append(
            {
                "key_id": k.key_id,
                "from_table": k.from_table,
                "target_table": k.target_table,
                "utype": None,
                "description": k.description,
            }
        )
        rows["key_columns"].append(
            {"key_id": k.key_id, "from_column": k.from_column, "target_column": k.target_column}
        )
    out = {}
    for meta in TAP_SCHEMA_TABLES:
        short = meta.name.split(".")[1]
        schema = pa.schema(
            [
                pa.field(
                    c.name,
                    _ARROW[c.datatype],
                    metadata={"description": c.description},
                )
                for c in meta.columns
            ]
        )
        out[f"tap_schema.{short}"] = pa.Table.from_pylist(rows[short], schema=schema)
    return out
