"""Tables sent by users (TAP_UPLOAD, myDB uploads) read into Arrow, with checks.

Accepted formats, recognised by content: VOTable (astropy.io.votable), Parquet
(pyarrow) and CSV with a header line (pyarrow.csv). An upload is refused, with the
table name and the reason, when it is larger than the limit, unreadable, empty of
columns, has duplicate (case-insensitive) or unusable column names, or nested
column types the engines cannot join on.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pyarrow as pa

from ..errors import DataError, QueryRefused

__all__ = ["TABLE_NAME", "arrow_from_astropy", "read_table_bytes", "read_uploads"]

#: an ADQL regular identifier: what a user table may be called
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def arrow_from_astropy(t) -> pa.Table:
    """astropy Table -> Arrow, masked values as NULLs, bytes as strings."""
    cols = {}
    for name in t.colnames:
        col = t[name]
        data = np.asarray(col)
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), bool)
        if data.ndim > 1:
            raise DataError(f"column {name!r} holds arrays; upload scalar columns only")
        if data.dtype.kind == "S":
            data = np.char.decode(data, "utf-8", "replace")
        if data.dtype.kind == "O":
            data = np.asarray(
                [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in data],
                dtype=object,
            )
        cols[name] = pa.array(data, mask=mask if mask.any() else None)
    return pa.table(cols)


def read_table_bytes(data: bytes, name: str, limit: int) -> pa.Table:
    """The table an upload holds; DataError naming ``name`` and the problem otherwise."""
    if len(data) > limit:
        raise DataError(
            f"upload {name!r} is {len(data)} bytes, more than the {limit}-byte upload limit"
        )
    if not data.strip():
        raise DataError(f"upload {name!r} is empty")
    head = data.lstrip()[:200].lower()
    try:
        if data[:4] == b"PAR1":
            import pyarrow.parquet as pq

            table = pq.read_table(io.BytesIO(data))
        elif head.startswith((b"<?xml", b"<votable")) or b"<votable" in head:
            from astropy.io.votable import parse

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # VOTable spec nits are not the user's error
                vot = parse(io.BytesIO(data), verify="ignore")
            tables = list(vot.iter_tables())
            if not tables:
                raise DataError(f"upload {name!r} is a VOTable without a TABLE")
            table = arrow_from_astropy(tables[0].to_table(use_names_over_ids=True))
        else:
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(io.BytesIO(data))
    except DataError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"upload {name!r} could not be read as VOTable, Parquet or CSV: {first}"
        ) from None
    return check_table(table, name)


def check_table(table: pa.Table, name: str) -> pa.Table:
    if table.num_columns == 0:
        raise DataError(f"upload {name!r} has no columns")
    seen = set()
    for col, typ in zip(table.column_names, table.schema.types):
        if not _COLUMN.match(col):
            raise DataError(
                f"upload {name!r}: column name {col!r} is not an identifier (letters, digits, "
                f"underscore; at most 63)"
            )
        if col.lower() in seen:
            raise DataError(f"upload {name!r}: column {col!r} appears twice")
        seen.add(col.lower())
        if pa.types.is_nested(typ) or pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            raise DataError(f"upload {name!r}: column {col!r} has type {typ}; use scalars")
    return table


async def read_uploads(p, limit: int) -> dict[str, pa.Table]:
    """TAP ``UPLOAD=name,param:part[;name2,param:part2]`` -> ``tap_upload.name`` tables."""
    out: dict[str, pa.Table] = {}
    total = 0
    for spec in p.all("UPLOAD"):
        for item in filter(None, (s.strip() for s in spec.split(";"))):
            tname, sep, uri = item.partition(",")
            tname, uri = tname.strip(), uri.strip()
            if not sep or not TABLE_NAME.match(tname):
                raise QueryRefused(
                    f"UPLOAD={item!r}: use UPLOAD=name,param:part with name an identifier"
                )
            if not uri.startswith("param:"):
                raise QueryRefused(
                    f"UPLOAD {tname!r} from {uri!r}: only inline uploads (param:NAME, the "
                    f"table sent as a part of this multipart request) are accepted"
                )
            part = p.files.get(uri[len("param:") :])
            if part is None:
                raise QueryRefused(f"UPLOAD {tname!r}: no multipart part named {uri[6:]!r}")
            data = await part.read(limit + 1)
            total += len(data)
            if total > limit:
                raise DataError(f"uploads are larger than the {limit}-byte upload limit")
            out[f"tap_upload.{tname.lower()}"] = read_table_bytes(data, tname, limit)
    return out
