"""Python API: the catalog as astropy Tables.

>>> from cloudphot.catalog.api import Catalog
>>> cat = Catalog("./cloudphot-work")
>>> cat.query("SELECT * FROM phat_v2.phot_mod LIMIT 100")
>>> cat.cone(10.68, 41.27, radius_arcsec=2)
>>> cat.lightcurve(objid)

Every call goes through the same checked, rewritten, read-only SQL path as
``cloudphot query`` (:mod:`.query`), so the Python API is no back door. The
platform's query engine runs it: DuckDB over the workspace's Parquet locally, and
with ``backend="aws"`` settings (``CLOUDPHOT_BACKEND=aws``) Athena over the deployed
Glue tables (:mod:`cloudphot.aws.athena`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, DataError
from ..platform import Platform, QueryEngine, open_platform
from ..settings import Settings
from ..storage.objects import ObjectStore
from .build import BuildResult, build_catalog, list_versions, read_manifest
from .query import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, TABLES, check_cone, unique_names
from .query import QueryEngine as DuckDBQueryEngine
from .schema import DERIVED_TABLES, PHOT_MEAS, PHOT_MOD

if TYPE_CHECKING:  # astropy is imported when a Table is made (a slow import, see .commands)
    from astropy.table import Table

__all__ = ["Catalog", "arrow_to_astropy"]

_ALL_COLUMNS = [*DERIVED_TABLES.values(), PHOT_MEAS, PHOT_MOD]  # phot_mod's win
_UNITS = {k: v[1] for cols in _ALL_COLUMNS for k, v in cols.items()}
_DOCS = {k: v[2] for cols in _ALL_COLUMNS for k, v in cols.items()}


_UNIT_OBJECTS: dict[str, object] = {}


def _unit(text: str | None):
    if not text:
        return None
    unit = _UNIT_OBJECTS.get(text)
    if unit is None:
        import astropy.units as u

        unit = _UNIT_OBJECTS[text] = u.Unit(text)
    return unit


def arrow_to_astropy(table: pa.Table) -> Table:
    """Arrow -> astropy Table; NULLs become masked values; known columns get units.

    Built in one ``Table(...)`` call from plain numpy (masked) arrays, with units parsed
    once per process: making a MaskedColumn per column, and units from their strings,
    cost three times the query for a 94-column cone.
    Repeated column names (a self-join) get suffixes (:func:`~.query.unique_names`).
    """
    from astropy.table import Table

    cols, units, descs = [], [], []
    for name, col in zip(table.column_names, table.columns):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            data = np.asarray(col.fill_null("").to_numpy(zero_copy_only=False).astype(str))
        elif col.null_count and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
            # keep the integer type (Arrow would give float64 with NaN, and objids above
            # 2**53 would lose digits); the mask below marks the NULLs
            data = col.fill_null(False if pa.types.is_boolean(col.type) else 0).to_numpy(
                zero_copy_only=False
            )
        else:
            data = col.to_numpy(zero_copy_only=False)
        if col.null_count:
            mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
            if data.dtype == object:
                data = np.where(mask, 0, data).astype(float)
            data = np.ma.MaskedArray(data, mask=mask)
        cols.append(data)
        units.append(_unit(_UNITS.get(name)))
        descs.append(_DOCS.get(name))
    if not cols:
        return Table()
    names = unique_names(table.column_names)
    return Table(cols, names=names, units=units, descriptions=descs, copy=False)


class Catalog:
    """One survey's photometry database in a workspace, a Settings or a Platform.

    ``store``: read and write through this object store instead of the platform's.
    """

    def __init__(
        self,
        workdir_or_settings: str | os.PathLike | Settings | Platform | None = None,
        *,
        store: ObjectStore | None = None,
        version: int | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        if isinstance(workdir_or_settings, Platform):
            self.platform = workdir_or_settings
        elif isinstance(workdir_or_settings, Settings):
            self.platform = open_platform(workdir_or_settings)
        else:
            self.platform = open_platform(Settings.from_env(home=workdir_or_settings))
        self.settings = self.platform.settings
        self.store = store if store is not None else self.platform.objects
        self.bucket = self.settings.bucket("products")
        self.survey = self.settings.survey
        self.version = version
        self.max_rows, self.timeout_s = max_rows, timeout_s
        self._engine: QueryEngine | None = None

    # ------------------------------------------------------------------ plumbing
    @property
    def engine(self) -> QueryEngine:
        """The platform's engine: DuckDB over the local partitions, Athena on AWS.

        Both have ``run(sql) -> QueryResult``, ``version`` and ``close()``.
        """
        if self._engine is None:
            self._engine = self.platform.query_engine(
                objects=self.store,
                version=self.version,
                max_rows=self.max_rows,
                timeout_s=self.timeout_s,
            )
        return self._engine

    def build(
        self, field_ids: list[str] | None = None, *, partition_order: int | None = None, **kwargs
    ) -> BuildResult:
        """Build or refresh the catalog from the field products (a new version if anything changed).

        ``partition_order`` applies to a new survey only (default: the settings', else 10).
        """
        if partition_order is None:
            partition_order = self.settings.catalog_partition_order
        result = build_catalog(
            self.store,
            self.bucket,
            self.survey,
            field_ids,
            partition_order=partition_order,
            **kwargs,
        )
        if self._engine is not None and self.version is None:
            self._engine.close()
            self._engine = None
        return result

    def versions(self) -> list[int]:
        """Published versions still stored (``cloudphot catalog prune`` removes old ones)."""
        return list_versions(self.store, self.bucket, self.survey)

    def manifest(self) -> dict:
        return read_manifest(self.store, self.bucket, self.survey, self.version)

    # ------------------------------------------------------------------ queries
    def query(self, sql: str) -> Table:
        """Run one read-only SQL query.

        ``meta`` (FITS-safe keys) records the catalog version (``CATVERS``), whether
        the row limit truncated the result (``TRUNC``) and the query (``QUERY``); on
        AWS also Athena's query execution id (``ATHENAID``) and the bytes it scanned
        (``SCANBYTE``, what Athena bills).
        """
        res = self.engine.run(sql)
        t = arrow_to_astropy(res.table)
        t.meta.update({"CATVERS": res.version, "TRUNC": res.truncated, "QUERY": sql})
        if res.execution_id is not None:
            t.meta["ATHENAID"] = res.execution_id
        if res.scanned_bytes is not None:
            t.meta["SCANBYTE"] = res.scanned_bytes
        return t

    def cone(
        self,
        ra_deg: float,
        dec_deg: float,
        radius_arcsec: float,
        *,
        table: str = "phot_mod",
        columns: str = "*",
    ) -> Table:
        """Objects (or measurements) within ``radius_arcsec``, nearest first, with ``dist_arcsec``."""
        return self.query(
            self.cone_sql(ra_deg, dec_deg, radius_arcsec, table=table, columns=columns)
        )

    def cone_sql(
        self,
        ra_deg: float,
        dec_deg: float,
        radius_arcsec: float,
        *,
        table: str = "phot_mod",
        columns: str = "*",
    ) -> str:
        """The query :meth:`cone` runs (DataError for a centre or radius off the sphere)."""
        if table not in TABLES:
            raise DataError(f"cone searches run on {', '.join(TABLES)}, not {table!r}")
        r = float(radius_arcsec) / 3600.0
        ra, dec = float(ra_deg), float(dec_deg)
        check_cone("cone", ra, dec, r, "")
        return (
            f"SELECT {columns}, q3c_dist(ra, dec, {ra!r}, {dec!r}) * 3600 AS dist_arcsec "
            f"FROM {self.survey}.{table} WHERE q3c_radial_query(ra, dec, {ra!r}, {dec!r}, {r!r}) "
            f"ORDER BY dist_arcsec"
        )

    def nearest_objid(self, ra_deg: float, dec_deg: float, radius_arcsec: float = 1.0) -> int:
        t = self.cone(ra_deg, dec_deg, radius_arcsec, columns="objid")
        if len(t) == 0:
            raise DataError(f'no object within {radius_arcsec}" of ({ra_deg}, {dec_deg})')
        return int(t["objid"][0])

    def lightcurve(self, objid: int, filter: str | None = None) -> Table:
        """All measurements of one object, by time (``objid`` prunes like a position)."""
        where = f"objid = {int(objid)}"
        if filter:
            if not filter.isalnum():
                raise DataError(f"filter name {filter!r} is not a filter")
            where += f" AND filter = '{filter.upper()}'"
        return self.query(
            f"SELECT objid, mjd, filter, vega, err, snr, flag, exptime, image, "
            f"ra, dec FROM {self.survey}.phot_meas WHERE {where} ORDER BY mjd"
        )

    def crossmatch(self, ra_deg, dec_deg, radius_arcsec: float = 1.0) -> Table:
        """Nearest phot_mod object within ``radius_arcsec`` of each position (a 1:1 upload match).

        Positions are bucketed by HEALPix pixel at the deepest order whose pixels are
        still larger than the radius, expanded to their 8 neighbours, and hash-joined
        to the catalog on ``_healpix_29 >> shift`` (an equi-join, so DuckDB scales it
        to millions of positions); exact distances then pick the nearest. Returns
        ``index`` (row of the input), ``objid``, ``dist_arcsec``; unmatched rows are absent.

        Local backend only: it reads the partition files directly.
        """
        engine = self.engine
        if not isinstance(engine, DuckDBQueryEngine):
            prefix = self.manifest()["tables"]["phot_mod"].get("prefix", "")
            raise ConfigError(
                "crossmatch reads the catalog's partition files directly and runs only on the "
                "local backend. On AWS: for many positions open the HATS catalog "
                f"s3://{self.bucket}/{prefix} with LSDB (lsdb.read_hats(...).crossmatch(...)); "
                "for a few, Catalog.cone / nearest_objid per position; to match the catalog's "
                "tables with each other, q3c_join in a query"
            )
        import duckdb

        from . import ids

        ra = np.asarray(ra_deg, float)
        dec = np.asarray(dec_deg, float)
        r = float(radius_arcsec)
        if not 0 < r <= 600:
            raise DataError("crossmatch radius must be in (0, 600] arcsec")
        order = int(min(20, np.floor(np.log2(58.6 * 3600 / r / 1.5))))
        hp = ids._healpix(order)
        pix = ids.healpix_nest(ra, dec, order)
        neigh = np.asarray(hp.neighbours(pix)).T  # (n, 8)
        idx = np.repeat(np.arange(len(ra)), 9)
        allpix = np.concatenate([pix[:, None], neigh], axis=1).ravel()
        keep = allpix >= 0
        import pyarrow as pa

        upload = pa.table(
            {
                "idx": idx[keep],
                "pix": allpix[keep],
                "ura": np.repeat(ra, 9)[keep],
                "udec": np.repeat(dec, 9)[keep],
            }
        )
        files = engine.files("phot_mod")
        shift = 2 * (29 - order)
        con = duckdb.connect(config={"threads": 2})
        try:
            con.register("upload", upload)
            lst = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            res = con.sql(
                f"WITH m AS (SELECT objid, ra, dec, _healpix_29 >> {shift} AS pix FROM "
                f"read_parquet([{lst}], hive_partitioning = false)), "
                f"j AS (SELECT u.idx, m.objid, degrees(2 * asin(least(1.0, sqrt(power(sin(radians("
                f"m.dec - u.udec) / 2), 2) + cos(radians(u.udec)) * cos(radians(m.dec)) * "
                f"power(sin(radians(m.ra - u.ura) / 2), 2))))) * 3600 AS dist_arcsec "
                f"FROM upload u JOIN m USING (pix)) "
                f"SELECT idx AS index, arg_min(objid, dist_arcsec) AS objid, min(dist_arcsec) AS "
                f"dist_arcsec FROM j WHERE dist_arcsec <= {r!r} GROUP BY idx ORDER BY idx"
            ).to_arrow_table()
        finally:
            con.close()
        return arrow_to_astropy(res)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
