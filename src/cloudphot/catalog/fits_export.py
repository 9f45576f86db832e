"""Archive FITS tables (fitsio) under MAST HLSP-style names.

MAST's High Level Science Product convention names files
``hlsp_<project>_<observatory>_<instruments>_<target>_<filters>_<version>_<product>.fits``
(lower case; several filters -> ``multi``). A catalog version's tables are
streamed partition by partition into one binary table each (fitsio appends rows),
so memory stays at one partition.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import fitsio
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..storage.objects import ObjectStore
from .build import CatalogLayout, read_manifest
from .schema import PHOT_MEAS, PHOT_MOD

__all__ = ["STRING_WIDTHS", "export_fits", "hlsp_name"]

#: fixed widths of string columns in FITS (FITS has no variable-length strings in tables)
STRING_WIDTHS = {
    "image": 64,
    "task_options": 256,
    "field_id": 32,
    "exposure_id": 16,
    "filter": 8,
    "job_id": 64,
    "pipeline_version": 16,
}


def hlsp_name(
    survey: str,
    product: str,
    version: int,
    *,
    observatory: str = "hst",
    instruments: str = "acs-wfc3",
    target: str = "m31",
    filters: str = "multi",
) -> str:
    """e.g. ``hlsp_phat_hst_acs-wfc3_m31_multi_v1_phot-mod.fits`` for survey 'phat_v2'."""
    project = re.sub(r"[^a-z0-9]", "", survey.lower().split("_")[0]) or "cloudphot"
    parts = [
        project,
        observatory,
        instruments,
        target,
        filters,
        f"v{version}",
        product.replace("_", "-"),
    ]
    return "hlsp_" + "_".join(p.lower() for p in parts) + ".fits"


def _to_numpy(table: pa.Table, columns: dict) -> np.ndarray:
    dtype, data = [], {}
    for name in columns:
        col = table.column(name).combine_chunks()
        typ = col.type
        if pa.types.is_dictionary(typ):
            col = col.cast(pa.string())
            typ = col.type
        if pa.types.is_string(typ):
            w = STRING_WIDTHS.get(name, 32)
            arr = np.asarray([(v or "")[:w] for v in col.to_pylist()], dtype=f"S{w}")
        elif pa.types.is_floating(typ):
            arr = col.to_numpy(zero_copy_only=False).astype(typ.to_pandas_dtype())
        elif pa.types.is_boolean(typ):
            arr = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), bool)
        else:
            arr = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False))
        dtype.append((name, arr.dtype))
        data[name] = arr
    out = np.empty(table.num_rows, dtype=dtype)
    for name in columns:
        out[name] = data[name]
    return out


def export_fits(
    store: ObjectStore,
    bucket: str,
    survey: str,
    *,
    version: int | None = None,
    tables: tuple[str, ...] = ("phot_mod", "phot_meas"),
    out_dir: str | Path | None = None,
) -> list[str]:
    """Write FITS tables of a catalog version to ``catalogs/<survey>/vNNNN/fits/``; return keys.

    With ``out_dir`` the files are also left there (for a local archive copy).
    """
    manifest = read_manifest(store, bucket, survey, version)
    version = int(manifest["version"])
    keys_out = []
    with tempfile.TemporaryDirectory(prefix="cloudphot-fits-") as tmp:
        for table in tables:
            columns = PHOT_MOD if table == "phot_mod" else PHOT_MEAS
            name = hlsp_name(survey, table, version)
            path = Path(out_dir or tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            header = [
                {"name": "SURVEY", "value": survey, "comment": "cloudphot survey"},
                {"name": "CATVERS", "value": version, "comment": "catalog version"},
                {"name": "CPVERS", "value": __version__, "comment": "cloudphot version"},
                {"name": "TABLE", "value": table, "comment": "phot_mod or phot_meas"},
            ]
            with fitsio.FITS(str(path), "rw", clobber=True) as fits:
                first = True
                for _p, entry in sorted(
                    manifest["tables"][table]["partitions"].items(), key=lambda kv: int(kv[0])
                ):
                    with store.local_path(bucket, entry["key"]) as src:
                        pf = pq.ParquetFile(src)
                        for batch in pf.iter_batches(batch_size=200_000):
                            arr = _to_numpy(pa.Table.from_batches([batch]), columns)
                            if first:
                                fits.write(
                                    arr,
                                    extname=table.upper(),
                                    header=header,
                                    units=[columns[c][1] for c in columns],
                                )
                                first = False
                            else:
                                fits[-1].append(arr)
                if first:  # empty table: write the structure
                    empty = pa.table({c: pa.array([], columns[c][0]) for c in columns})
                    fits.write(_to_numpy(empty, columns), extname=table.upper(), header=header)
            key = CatalogLayout(survey).version_prefix(version) + "fits/" + name
            store.put_file(bucket, key, path)
            keys_out.append(key)
    return keys_out
