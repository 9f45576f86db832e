"""Tables sent by users (TAP_UPLOAD, myDB uploads) read into Arrow, with checks.

Accepted formats, recognised by content: VOTable (astropy.io.votable), Parquet
(pyarrow) and CSV with a header line (pyarrow.csv). An upload is refused, with the
table name and the reason, when it is larger than the limit, unreadable, empty of
columns, has duplicate (case-insensitive) or unusable column names, or nested
column types the engines cannot join on.
"""

from __future__ import annotations

import functools
import io
import re
import warnings

import numpy as np
import pyarrow as pa

from ..errors import DataError, QueryRefused

__all__ = [
    "TABLE_NAME",
    "arrow_from_astropy",
    "check_table",
    "fetch_url",
    "read_table_bytes",
    "read_uploads",
]

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
            table = _with_timestamps(
                arrow_from_astropy(tables[0].to_table(use_names_over_ids=True)),
                {f.name for f in tables[0].fields if (f.xtype or "").lower() == "timestamp"},
            )
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


def _with_timestamps(table: pa.Table, names: set[str]) -> pa.Table:
    """DALI ``xtype="timestamp"`` strings as Arrow timestamps (so results say so again)."""
    import pyarrow.compute as pc

    for name in names & set(table.column_names):
        i = table.column_names.index(name)
        col = table.column(i)
        if pa.types.is_string(col.type):
            try:
                ts = pc.cast(pc.utf8_replace_slice(col, 10, 11, " "), pa.timestamp("us"))
            except pa.ArrowInvalid:
                continue  # not ISO instants after all: keep the strings
            table = table.set_column(i, name, ts)
    return table


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


def fetch_url(url: str, limit: int, *, allow_loopback: bool, timeout_s: float = 30.0) -> bytes:
    """The body at an http(s) URL, refusing what would point the service inward.

    Hosts resolving to private, link-local (cloud metadata), multicast or reserved
    addresses are refused; loopback only when ``allow_loopback`` (the service runs on
    the user's own machine). Redirects are not followed (they could lead inward).
    """
    import ipaddress
    import socket
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise QueryRefused(f"upload URL {url!r}: only http(s) URLs are fetched")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 0, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DataError(f"upload URL {url!r}: cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_loopback and allow_loopback:
            continue
        if not ip.is_global:
            raise QueryRefused(
                f"upload URL {url!r}: {parts.hostname} is a private or local address; "
                f"send the table inline (UPLOAD=name,param:part) instead"
            )

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            data = resp.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"upload URL {url!r} could not be read: {exc}") from None
    if len(data) > limit:
        raise DataError(f"upload {url!r} is larger than the {limit}-byte upload limit")
    return data


async def read_uploads(p, limit: int, *, allow_loopback: bool = False) -> dict[str, pa.Table]:
    """TAP ``UPLOAD=name,uri[;name2,uri2]`` -> ``tap_upload.name`` tables.

    ``uri`` is ``param:PART`` (a part of this multipart request) or an http(s) URL.
    """
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
            if uri.lower().startswith(("http://", "https://")):
                import anyio

                data = await anyio.to_thread.run_sync(
                    functools.partial(fetch_url, uri, limit, allow_loopback=allow_loopback)
                )
            elif uri.startswith("param:"):
                data = p.files.get(uri[len("param:") :])
                if data is None:
                    raise QueryRefused(f"UPLOAD {tname!r}: no multipart part named {uri[6:]!r}")
            else:
                raise QueryRefused(
                    f"UPLOAD {tname!r} from {uri!r}: use param:PART (a part of this "
                    f"multipart request) or an http(s) URL"
                )
            total += len(data)
            if total > limit:
                raise DataError(f"uploads are larger than the {limit}-byte upload limit")
            out[f"tap_upload.{tname.lower()}"] = read_table_bytes(data, tname, limit)
    return out
