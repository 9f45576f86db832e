"""Archive files in MAST HLSP style: a field's ``st`` and ``gst`` tables and its ASTs.

Named like the PHAT HLSP, ``hlsp_<survey>_hst_<instrument>_<target>_<filters>_v<version>_
{st,gst,ast}.fits`` (lower case; instrument e.g. ``acs-wfc``, several joined with
``-``), written with fitsio: one binary-table extension named after the set, with
units (``TUNITn``) and descriptions (``TCOMMn``), and the HLSP keywords MAST asks for
in the primary header (``TELESCOP``, ``INSTRUME``, ``FILTER``, ``TARGNAME``, ``RA_TARG``,
``DEC_TARG``, ``HLSPNAME``, ``HLSPLEAD``, ``HLSPVER``, ``HLSP_LVL``, ``LICENSE``...).
``fitsverify`` finds no error or warning in them (tests/asts/test_hlsp.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..errors import DataError

__all__ = ["hlsp_name", "st_gst_tables", "write_hlsp"]

_SAFE = re.compile(r"[^a-z0-9.-]+")


def _part(text: str) -> str:
    return _SAFE.sub("-", str(text).lower()).strip("-") or "unknown"


def hlsp_name(
    survey: str, instruments: Sequence[str], target: str, filters: Sequence[str],
    version: int | str, kind: str,
) -> str:  # fmt: skip
    """``hlsp_<survey>_hst_<instrument>_<target>_<filters>_v<version>_<kind>.fits``."""
    if kind not in ("st", "gst", "ast"):
        raise ValueError(f"HLSP file kind {kind!r} is not st, gst or ast")
    inst = "-".join(dict.fromkeys(_part(i) for i in instruments)) or "unknown"
    filt = "-".join(_part(f) for f in filters)
    return (
        f"hlsp_{_part(survey)}_hst_{inst}_{_part(target)}_{filt}_v{_part(str(version))}_{kind}.fits"
    )


def st_gst_tables(catalog: Table, filters: Sequence[str]) -> dict[str, Table]:
    """The catalog's stars in the ``st`` (in any filter) and ``gst`` sets (in any filter),
    as the PHAT HLSP catalogs define them."""
    out = {}
    for kind in ("st", "gst"):
        keep = np.zeros(len(catalog), bool)
        for f in filters:
            col = f"{f.lower()}_{kind}"
            if col in catalog.colnames:
                keep |= np.asarray(catalog[col], bool)
        out[kind] = catalog[keep]
    return out


def _fits_unit(unit) -> str:
    text = str(unit or "")
    return {"e-/s": "ct/s", "deg": "deg", "pix": "pix", "mag": "mag"}.get(text, text)


def write_hlsp(
    table: Table,
    path: str | Path,
    *,
    kind: str,
    survey: str,
    target: str,
    instruments: Sequence[str],
    filters: Sequence[str],
    version: int | str = 1,
    lead: str = "cloudphot",
) -> Path:
    """Write ``table`` as an HLSP FITS file with fitsio (overwriting ``path``)."""
    import fitsio

    if kind not in ("st", "gst", "ast"):
        raise DataError(f"HLSP file kind {kind!r} is not st, gst or ast")
    path = Path(path)
    names, arrays, units, comments = [], [], [], []
    for name in table.colnames:
        col = table[name]
        arr = np.asarray(col)
        if arr.dtype.kind == "U":
            arr = arr.astype(f"S{max(1, arr.dtype.itemsize // 4)}")
        elif arr.dtype.kind == "O":
            arr = np.asarray([str(v) for v in arr], dtype="S")
        if arr.ndim != 1:
            raise DataError(f"HLSP {kind}: column {name} is not one value per row")
        names.append(name.upper())
        arrays.append(arr)
        units.append(_fits_unit(getattr(col, "unit", None)))
        comments.append(str(getattr(col, "description", "") or "")[:47])
    data = np.zeros(len(table), dtype=[(n, a.dtype) for n, a in zip(names, arrays)])
    for n, a in zip(names, arrays):
        data[n] = a
    ra = float(np.nanmedian(np.asarray(table["ra"], float))) if len(table) else 0.0
    dec = float(np.nanmedian(np.asarray(table["dec"], float))) if len(table) else 0.0
    primary = [
        {"name": "TELESCOP", "value": "HST", "comment": "telescope"},
        {"name": "INSTRUME", "value": "/".join(instruments)[:68], "comment": "instrument(s)"},
        {"name": "FILTER", "value": "/".join(filters)[:68], "comment": "filters"},
        {"name": "TARGNAME", "value": str(target)[:68], "comment": "field"},
        {"name": "RA_TARG", "value": ra, "comment": "[deg] median right ascension"},
        {"name": "DEC_TARG", "value": dec, "comment": "[deg] median declination"},
        {"name": "RADESYS", "value": "ICRS", "comment": "coordinate frame"},
        {"name": "HLSPNAME", "value": str(survey)[:68], "comment": "HLSP collection"},
        {"name": "HLSPID", "value": _part(survey).upper()[:68], "comment": "HLSP id"},
        {"name": "HLSPLEAD", "value": lead, "comment": "HLSP lead"},
        {"name": "HLSPVER", "value": f"v{version}", "comment": "HLSP version"},
        {"name": "HLSP_LVL", "value": 4 if kind == "ast" else 3, "comment": "HLSP level"},
        {"name": "HLSPSET", "value": kind, "comment": "st, gst (quality sets) or ast"},
        {"name": "LICENSE", "value": "CC BY 4.0", "comment": "license"},
        {"name": "LICENURL", "value": "https://creativecommons.org/licenses/by/4.0/"},
        {"name": "ORIGIN", "value": "cloudphot", "comment": "software that wrote it"},
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with fitsio.FITS(str(path), "rw", clobber=True) as f:
        f.write(None, header=primary)
        f.write_table(data, units=units, extname=kind.upper())
        hdu = f[-1]
        for i, c in enumerate(comments, start=1):
            if c:
                hdu.write_key(f"TCOMM{i}", c)
    return path
