"""Query results and errors as VOTable, CSV, FITS or Parquet (TAP ``FORMAT``/``RESPONSEFORMAT``).

VOTables are built with astropy.io.votable, field by field, so that each FIELD has
the datatype TAP_SCHEMA declares (``boolean`` rather than astropy's default
``bit``, ``char`` with ``arraysize="*"``) and the unit, UCD and description of the
catalog column it comes from. The TAP status travels as DALI says: an ``INFO
name="QUERY_STATUS"`` in the results RESOURCE, ``OK`` before the table, ``OVERFLOW``
after it when MAXREC cut the result short, ``ERROR`` with the reason in an error
document.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from ..errors import QueryRefused
from .tap_schema import ColumnMeta, votable_datatype

__all__ = [
    "FORMATS",
    "OutputFormat",
    "error_votable",
    "output_format",
    "serialize",
    "votable_bytes",
]

VOTABLE_MIME = "application/x-votable+xml"


@dataclass(frozen=True)
class OutputFormat:
    name: str
    mime: str
    serialization: str | None = None  # VOTable only: binary2 | tabledata


FORMATS = {
    "votable": OutputFormat("votable", VOTABLE_MIME, "binary2"),
    "votable/b2": OutputFormat("votable", VOTABLE_MIME, "binary2"),
    "votable/td": OutputFormat("votable", VOTABLE_MIME, "tabledata"),
    "csv": OutputFormat("csv", "text/csv"),
    "fits": OutputFormat("fits", "application/fits"),
    "parquet": OutputFormat("parquet", "application/vnd.apache.parquet"),
}
_ALIASES = {
    VOTABLE_MIME: "votable",
    "application/x-votable+xml;serialization=binary2": "votable/b2",
    "application/x-votable+xml;serialization=tabledata": "votable/td",
    "application/x-votable+xml;serialization=td": "votable/td",
    "text/xml": "votable",
    "application/xml": "votable",
    "votable/binary2": "votable/b2",
    "votable/tabledata": "votable/td",
    "text/csv": "csv",
    "text/csv;header=present": "csv",
    "application/fits": "fits",
    "image/fits": "fits",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}


def output_format(value: str | None) -> OutputFormat:
    """The format a FORMAT/RESPONSEFORMAT value names (default VOTable BINARY2)."""
    if value is None or not value.strip():
        return FORMATS["votable"]
    key = "".join(value.split()).lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise QueryRefused(
            f"RESPONSEFORMAT={value!r} is not offered; use votable (or votable/td), csv, "
            f"fits or parquet"
        )
    return FORMATS[key]


# ---------------------------------------------------------------- VOTable
def _new_resource(votable: VOTableFile, status: str, message: str | None = None) -> Resource:
    res = Resource()
    res.type = "results"
    votable.resources.append(res)
    info = Info(name="QUERY_STATUS", value=status)
    if message:
        info.content = message
    res.infos.append(info)
    return res


def _column_values(col: pa.ChunkedArray | pa.Array, datatype: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) as numpy for one Arrow column, NULLs masked."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    mask = (
        np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
        if col.null_count
        else np.zeros(len(col), bool)
    )
    if pa.types.is_timestamp(col.type):
        text = [None if v is None else v.isoformat() for v in col.to_pylist()]
        values = np.asarray([t or "" for t in text], dtype=object)
    elif datatype == "char":
        values = np.asarray(col.fill_null("").to_pylist(), dtype=object)
    elif datatype == "boolean":
        values = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), bool)
    elif pa.types.is_decimal(col.type):
        values = np.asarray(col.cast(pa.float64()).fill_null(0).to_numpy(), float)
    elif pa.types.is_integer(col.type):
        values = col.fill_null(0).to_numpy(zero_copy_only=False)
    else:
        values = col.to_numpy(zero_copy_only=False)
    return values, mask


def votable_bytes(
    table: pa.Table,
    meta: Mapping[str, ColumnMeta] | None = None,
    *,
    overflow: bool = False,
    serialization: str = "binary2",
    infos: Mapping[str, str] | None = None,
) -> bytes:
    """A TAP result VOTable: QUERY_STATUS OK, the table, and OVERFLOW after it if cut."""
    meta = meta or {}
    votable = VOTableFile(version="1.4")
    res = _new_resource(votable, "OK")
    for k, v in (infos or {}).items():
        res.infos.append(Info(name=k, value=str(v)))
    tab = TableElement(votable)
    res.tables.append(tab)
    names, seen = [], set()
    for name, typ in zip(table.column_names, table.schema.types):
        # FIELD IDs must be unique and XML names: derived ones get a suffix
        uid, n = name, 1
        while uid.lower() in seen:
            n += 1
            uid = f"{name}_{n}"
        seen.add(uid.lower())
        names.append(uid)
        dt, size = votable_datatype(typ)
        m = meta.get(name)
        kw = {}
        if m is not None and m.datatype == dt:
            kw = {"unit": m.unit or None, "ucd": m.ucd}
        if pa.types.is_timestamp(typ):
            kw["xtype"] = "timestamp"
        f = Field(votable, name=name, ID=_xml_id(uid), datatype=dt, arraysize=size, **kw)
        if m is not None and m.datatype == dt and m.description:
            f.description = m.description
        tab.fields.append(f)
    tab.create_arrays(table.num_rows)
    for field, col in zip(tab.fields, table.columns):
        values, mask = _column_values(col, field.datatype)
        tab.array.data[field.ID] = values
        tab.array.mask[field.ID] = mask
    buf = io.BytesIO()
    votable.to_xml(buf, tabledata_format=serialization)
    out = buf.getvalue()
    if overflow:
        # DALI puts the OVERFLOW status after the TABLE; astropy writes a RESOURCE's
        # INFOs before its tables only, so it is added to the (one) table's end here
        out = out.replace(
            b"</TABLE>", b'</TABLE>\n  <INFO name="QUERY_STATUS" value="OVERFLOW"/>', 1
        )
    return out


def _xml_id(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
    return out if out and (out[0].isalpha() or out[0] == "_") else f"c_{out}"


def error_votable(message: str) -> bytes:
    """A DALI error document: QUERY_STATUS ERROR with the reason as its content."""
    votable = VOTableFile(version="1.4")
    _new_resource(votable, "ERROR", message)
    buf = io.BytesIO()
    votable.to_xml(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- others
def _fits_bytes(table: pa.Table, meta: Mapping[str, ColumnMeta], overflow: bool) -> bytes:
    from ..catalog.api import arrow_to_astropy

    t = arrow_to_astropy(table)
    for name in t.colnames:
        if t[name].dtype.kind == "U":
            t[name] = np.char.encode(np.asarray(t[name]), "utf-8")
        m = meta.get(name)
        if m is not None and m.unit and t[name].unit is None:
            t[name].unit = m.unit
    t.meta.clear()
    t.meta["OVERFLOW"] = bool(overflow)
    buf = io.BytesIO()
    t.write(buf, format="fits")
    return buf.getvalue()


def serialize(
    table: pa.Table,
    fmt: OutputFormat,
    meta: Mapping[str, ColumnMeta] | None = None,
    *,
    overflow: bool = False,
    infos: Mapping[str, str] | None = None,
) -> bytes:
    """The result in ``fmt`` (CSV and Parquet cannot say OVERFLOW: the HTTP header does)."""
    meta = meta or {}
    if fmt.name == "votable":
        return votable_bytes(
            table,
            meta,
            overflow=overflow,
            serialization=fmt.serialization or "binary2",
            infos=infos,
        )
    if fmt.name == "csv":
        buf = io.BytesIO()
        plain = pa.table(
            [
                c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                for c in table.columns
            ],
            names=table.column_names,
        )
        pacsv.write_csv(plain, buf)
        return buf.getvalue()
    if fmt.name == "parquet":
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    return _fits_bytes(table, meta, overflow)
