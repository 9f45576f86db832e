"""Merge field products into the survey catalog, publishing numbered versions incrementally.

Layout in the products bucket (``keys.survey_catalog(survey, v)`` = ``catalogs/<survey>/vNNNN/``)::

    catalogs/<survey>/vNNNN/phot_mod/    HATS catalog (object)
    catalogs/<survey>/vNNNN/phot_meas/   HATS catalog (source)
    catalogs/<survey>/vNNNN/phot_src/    per-field contributions of each object (internal;
                                          what an incremental build re-averages from)
    catalogs/<survey>/vNNNN/manifest.json  partitions, fields (with etags), row counts, parent
    catalogs/<survey>/LATEST.json          pointer to the newest complete version (written last)

How a build works
-----------------
1. Fields whose products are new or changed (by etag) since the latest version are
   processed in order. A changed field first has its old rows removed.
2. Each field-catalog row is matched (nearest neighbour on the unit sphere, scipy
   cKDTree, one-to-one, within ``match_radius_arcsec``) to the objects of the
   partitions it falls in *and their HEALPix neighbours*, so overlaps across a
   partition boundary still merge. Unmatched rows become new objects with a
   Gaia-style ``objid`` (see :mod:`.ids`); existing objects keep theirs.
3. Touched objects are re-averaged (DuckDB aggregation): positions weighted by the
   summed S/N^2 of the field row (position variance ~ 1/S/N^2), magnitudes by
   inverse variance (1/err^2), rates by 1/raterr^2; quality metrics are
   measurement-count-weighted means; flags are OR-ed.
4. Only partitions that gained, lost or changed objects (and phot_meas partitions
   that gained or lost measurements) are rewritten. The new version's HATS tree is
   completed by server-side copies of the unchanged partition files (S3 CopyObject,
   hard links locally: no bytes pass through the build), whose footers for
   ``_metadata`` come from two ranged reads at most, so every version is a valid,
   self-contained HATS catalog and older versions stay queryable untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..errors import ConditionFailed, DataError, ObjectNotFound, TransientError
from ..products import FIELD_COLUMNS, MEASUREMENT_COLUMNS, PER_FILTER_COLUMNS, keys
from ..storage.objects import ObjectInfo, ObjectStore
from . import ids
from .hats import (
    ROW_GROUP_ROWS,
    parquet_options,
    partition_key,
    read_parquet_footer,
    write_hats_metadata,
    write_sorted_parquet,
)
from .integrity import CHECKS, sha256_file
from .schema import (
    COLOR_COLUMNS,
    DERIVED_TABLES,
    IR_FILTERS,
    PHAT_FILTERS,
    PHOT_MEAS,
    PHOT_MOD,
    arrow_schema,
)
from .visits import DEFAULT_PM_MIN_BASELINE_DAYS, derive_tables, visit_ids

__all__ = [
    "DEFAULT_MATCH_RADIUS_ARCSEC",
    "DEFAULT_PARTITION_ORDER",
    "BuildResult",
    "CatalogLayout",
    "ConcurrentBuild",
    "build_catalog",
    "latest_version",
    "list_versions",
    "materialize_hats_tree",
    "prune_versions",
    "read_manifest",
]

#: HEALPix order of the HATS partitions. A build holds the rows of every partition a new
#: field touches in memory, so partitions must stay small at survey density: order 10
#: pixels are 3.4' (206") across, about 770k objects at PHAT's mean 18 stars/arcsec^2
#: (PHAT spans ~150 of them); order 8 (13.7') held ~12M, more than a 10 GB build has room for
DEFAULT_PARTITION_ORDER = 10
#: a partition above this many objects is reported: the next build touching it needs
#: memory in proportion (rebuild the survey with a deeper partition order)
LARGE_PARTITION_OBJECTS = 2_000_000
#: one object per 0.15" (PHAT stars at M31 density are ~0.25" apart; field-catalog
#: positions of one star agree to a few mas)
DEFAULT_MATCH_RADIUS_ARCSEC = 0.15
TABLES = ("phot_mod", "phot_meas", "phot_src")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogLayout:
    """Keys of one survey's catalog in the products bucket."""

    survey: str

    @property
    def root(self) -> str:
        return f"catalogs/{self.survey}/"

    @property
    def latest(self) -> str:
        return self.root + "LATEST.json"

    def version_prefix(self, version: int) -> str:
        return keys.survey_catalog(self.survey, version)

    def manifest(self, version: int) -> str:
        return self.version_prefix(version) + "manifest.json"

    def table_prefix(self, version: int, table: str) -> str:
        return self.version_prefix(version) + table + "/"


@dataclass
class BuildResult:
    survey: str
    version: int
    parent: int | None
    fields_added: list[str] = field(default_factory=list)
    fields_refreshed: list[str] = field(default_factory=list)
    rewritten: dict[str, list[int]] = field(default_factory=dict)
    copied: dict[str, list[int]] = field(default_factory=dict)
    n_objects: int = 0
    n_measurements: int = 0
    seconds: float = 0.0
    #: phot_mod partitions holding more than LARGE_PARTITION_OBJECTS objects (npix -> rows)
    large_partitions: dict[int, int] = field(default_factory=dict)
    #: rows of phot_visit, phot_pm and phot_var
    derived_rows: dict[str, int] = field(default_factory=dict)
    #: the visits' frame ties: visits tied and not, median and largest residual rms (mas)
    frame_tie: dict[str, float | None] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.version != self.parent

    def as_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "survey",
                "version",
                "parent",
                "fields_added",
                "fields_refreshed",
                "rewritten",
                "copied",
                "n_objects",
                "n_measurements",
                "seconds",
                "large_partitions",
                "derived_rows",
                "frame_tie",
            )
        }


class ConcurrentBuild(TransientError):
    """Another build claimed or published the version this one was making (retry later:
    the next attempt starts from the version the other build published)."""


#: a claim on a version number older than this is a crashed build's (never published):
#: another build may take the number over (the build Lambda runs at most 15 minutes)
CLAIM_LEASE_S = 2 * 3600


def _parse_latest(data: bytes, where: str) -> int:
    try:
        v = json.loads(data)["version"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"version {v!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{where} is not a catalog version pointer ({exc}); it should read "
            f'{{"version": N}} with N the newest complete version under its folder'
        ) from None
    return int(v)


def latest_version(store: ObjectStore, bucket: str, survey: str) -> int | None:
    """Newest complete version, or None before the first build."""
    key = CatalogLayout(survey).latest
    try:
        return _parse_latest(store.get_bytes(bucket, key), f"s3://{bucket}/{key}")
    except ObjectNotFound:
        return None


def _latest_with_etag(
    store: ObjectStore, bucket: str, survey: str
) -> tuple[int | None, str | None]:
    """(latest version, the pointer's etag): what publication's compare-and-swap expects.

    The etag is read first: if the pointer moves between the two reads, the version
    read is newer than the etag and the final swap fails (safe), never the reverse.
    """
    key = CatalogLayout(survey).latest
    try:
        etag = store.head(bucket, key).etag
        return _parse_latest(store.get_bytes(bucket, key), f"s3://{bucket}/{key}"), etag
    except ObjectNotFound:
        return None, None


@contextlib.contextmanager
def _claimed(store: ObjectStore, bucket: str, layout: CatalogLayout, version: int):
    """Hold the claim on ``version`` for the block; a build that fails releases it
    (by marking it released: the build's role may write ``catalogs/`` but not delete)."""
    build_id = _claim(store, bucket, layout, version)
    try:
        yield build_id
    except BaseException:
        key = layout.version_prefix(version) + "_claim.json"
        with contextlib.suppress(Exception):
            info = store.head(bucket, key)
            if json.loads(store.get_bytes(bucket, key)).get("build") == build_id:
                body = json.dumps({"build": build_id, "released": True}).encode()
                store.put_bytes_if(bucket, key, body, etag=info.etag)
        raise


def _claim(store: ObjectStore, bucket: str, layout: CatalogLayout, version: int) -> str:
    """Claim ``version`` for this build (a conditional create); return the claim's id.

    Of two builds starting from the same parent exactly one gets the number; the other
    raises :class:`ConcurrentBuild` before writing anything. A claim older than
    :data:`CLAIM_LEASE_S` is a crashed build's (its version was never published: the
    pointer is older) and is taken over (compare-and-swap on the claim itself).
    """
    key = layout.version_prefix(version) + "_claim.json"
    build_id = uuid.uuid4().hex
    body = json.dumps({"build": build_id, "started": time.time()}).encode()
    try:
        store.put_bytes_if(bucket, key, body, etag=None, content_type="application/json")
        return build_id
    except ConditionFailed:
        pass
    info: ObjectInfo | None = None
    try:
        info = store.head(bucket, key)
        held = json.loads(store.get_bytes(bucket, key))
        age = float("inf") if held.get("released") else time.time() - float(held["started"])
    except ObjectNotFound:
        age, info = float("inf"), None  # released meanwhile
    except (ValueError, KeyError, TypeError):
        age = float("inf")  # unreadable: no live build wrote it
    if age < CLAIM_LEASE_S:
        raise ConcurrentBuild(
            f"catalog {layout.survey}: another build is making version {version} "
            f"(claimed {age:.0f} s ago at s3://{bucket}/{key}); retry after it publishes"
        )
    try:
        store.put_bytes_if(
            bucket, key, body, etag=info.etag if info else None, content_type="application/json"
        )
    except ConditionFailed:
        raise ConcurrentBuild(
            f"catalog {layout.survey}: another build took over version {version} first"
        ) from None
    _log.warning(
        "catalog %s: took over version %d from a build that claimed it %.0f s ago and "
        "never published",
        layout.survey,
        version,
        age,
    )
    return build_id


def read_manifest(store: ObjectStore, bucket: str, survey: str, version: int | None = None) -> dict:
    """The manifest of ``version`` (default: latest); DataError when there is none."""
    if version is None:
        version = latest_version(store, bucket, survey)
        if version is None:
            raise DataError(f"survey {survey!r} has no catalog yet: run 'cloudphot catalog build'")
    try:
        return json.loads(store.get_bytes(bucket, CatalogLayout(survey).manifest(version)))
    except ObjectNotFound:
        raise DataError(f"survey {survey!r} has no catalog version {version}") from None


# --------------------------------------------------------------------------- helpers
_SRC_FILTER_COLS = [(f, c) for f in PHAT_FILTERS for c in PER_FILTER_COLUMNS]
_SRC_TYPES = {"f4": pa.float32(), "i2": pa.int16(), "i4": pa.int32(), "?": pa.bool_()}


def _src_schema() -> pa.Schema:
    fields = [
        pa.field("objid", pa.int64()),
        pa.field("field_id", pa.string()),
        pa.field("star_id", pa.int64()),
        pa.field("ra", pa.float64()),
        pa.field("dec", pa.float64()),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("nexp", pa.int32()),
    ]
    fields += [
        pa.field(f"{f.lower()}_{c}", _SRC_TYPES[PER_FILTER_COLUMNS[c][0]])
        for f, c in _SRC_FILTER_COLS
    ]
    fields.append(pa.field("_healpix_29", pa.int64()))
    return pa.schema(fields)


SRC_SCHEMA = _src_schema()


def _brick_field(field_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PHAT brick and field numbers from ids like 'b15_f09' (0 when the id has another form)."""
    uniq, inv = np.unique(np.asarray(field_ids, dtype=object).astype(str), return_inverse=True)
    b = np.zeros(len(uniq), np.int16)
    f = np.zeros(len(uniq), np.int16)
    for i, s in enumerate(uniq):
        m = re.fullmatch(r"b(\d+)_f(\d+)", s)
        if m:
            b[i], f[i] = int(m.group(1)), int(m.group(2))
    return b[inv], f[inv]


def _field_filters(table: pa.Table, field_id: str) -> list[str]:
    filters = sorted({n[:-5].upper() for n in table.column_names if n.endswith("_vega")})
    unknown = [f for f in filters if f not in PHAT_FILTERS]
    if unknown:
        raise DataError(
            f"field {field_id}: filters {unknown} are not in the survey's "
            f"phot_mod schema ({PHAT_FILTERS})"
        )
    missing = [c for c in FIELD_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"field {field_id}: catalog lacks columns {missing}")
    return filters


def _to_src(table: pa.Table, filters: list[str]) -> dict[str, np.ndarray]:
    n = table.num_rows
    out: dict[str, np.ndarray] = {}
    for fld in SRC_SCHEMA:
        name = fld.name
        if name in ("objid", "_healpix_29"):
            continue
        if name in table.column_names:
            col = table.column(name)
            out[name] = (
                col.to_numpy(zero_copy_only=False)
                if not pa.types.is_string(col.type)
                else np.asarray(col.to_pylist(), dtype=object)
            )
        else:  # filter absent in this field: NaN (stored as NULL), 0, False
            out[name] = _empty(fld.type, n)
    return out


def _empty(typ: pa.DataType, n: int) -> np.ndarray:
    if pa.types.is_floating(typ):
        return np.full(n, np.nan)
    if pa.types.is_boolean(typ):
        return np.zeros(n, bool)
    if pa.types.is_string(typ):
        return np.full(n, "", dtype=object)
    return np.zeros(n, np.int64)


def _chord(radius_arcsec: float) -> float:
    return 2 * np.sin(np.radians(radius_arcsec / 3600) / 2)


# --------------------------------------------------------------------------- the build
class _State:
    """All src rows of the loaded partitions, as numpy columns, plus bookkeeping."""

    def __init__(self, store, bucket, layout, prev, order, tmp: Path):
        self.store, self.bucket, self.layout, self.prev = store, bucket, layout, prev
        self.order = order
        self.tmp = tmp
        self.cols: dict[str, np.ndarray] = {f.name: _empty(f.type, 0) for f in SRC_SCHEMA}
        self.npix = np.empty(0, np.int64)  # partition of each row (its object's position)
        self.loaded: set[int] = set()
        self.dirty: set[int] = set()
        #: objects of a field being refreshed, kept as match candidates so that
        #: re-reduced stars get their old objid back
        self.ghosts = (np.empty(0, np.int64), np.empty(0), np.empty(0))

    def prev_partitions(self, table: str) -> dict[str, dict]:
        return (self.prev or {}).get("tables", {}).get(table, {}).get("partitions", {})

    def load(self, pixels) -> None:
        todo = sorted({int(p) for p in pixels} - self.loaded)
        parts = []
        for p in todo:
            self.loaded.add(p)
            entry = self.prev_partitions("phot_src").get(str(p))
            if entry:
                with _verified(self.store, self.bucket, entry) as path:
                    parts.append((p, pq.read_table(path)))
        for p, t in parts:
            self.append({n: _np(t.column(n)) for n in t.column_names}, np.full(t.num_rows, p))

    def append(self, cols: dict[str, np.ndarray], npix: np.ndarray) -> None:
        n = len(npix)
        for name in self.cols:
            v = cols[name] if name in cols else _empty(SRC_SCHEMA.field(name).type, n)
            self.cols[name] = np.concatenate([self.cols[name], v])
        self.npix = np.concatenate([self.npix, np.asarray(npix, np.int64)])

    def remove(self, mask: np.ndarray) -> np.ndarray:
        """Drop rows; return the objids they belonged to."""
        gone = self.cols["objid"][mask]
        self.dirty.update(int(p) for p in self.npix[mask])
        keep = ~mask
        self.cols = {k: v[keep] for k, v in self.cols.items()}
        self.npix = self.npix[keep]
        return gone

    def objects(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(objid, ra, dec) of loaded objects and ghosts (for matching)."""
        u, ra, dec = self._objects()
        g = ~np.isin(self.ghosts[0], u)
        return (
            np.concatenate([u, self.ghosts[0][g]]),
            np.concatenate([ra, self.ghosts[1][g]]),
            np.concatenate([dec, self.ghosts[2][g]]),
        )

    def _objects(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Loaded objects, at the unweighted mean position of their rows."""
        if len(self.npix) == 0:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        oid = self.cols["objid"].astype(np.int64)
        u, inv = np.unique(oid, return_inverse=True)
        cnt = np.bincount(inv)
        xyz = ids.radec_to_xyz(self.cols["ra"].astype(float), self.cols["dec"].astype(float))
        m = np.stack([np.bincount(inv, xyz[:, i]) for i in range(3)], axis=1) / cnt[:, None]
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        ra = np.degrees(np.arctan2(m[:, 1], m[:, 0])) % 360
        dec = np.degrees(np.arcsin(np.clip(m[:, 2], -1, 1)))
        return u, ra, dec


def _np(col) -> np.ndarray:
    if pa.types.is_string(col.type):
        return np.asarray(col.to_pylist(), dtype=object)
    if pa.types.is_floating(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    return col.to_numpy(zero_copy_only=False)


def _match_field(state: _State, src: dict[str, np.ndarray], radius_arcsec: float) -> np.ndarray:
    """objid for each row of one field catalog (existing objects or new ones)."""
    from scipy.spatial import cKDTree

    ra = src["ra"].astype(float)
    dec = src["dec"].astype(float)
    n = len(ra)
    order = state.order
    rowpix = ids.healpix_nest(ra, dec, order)
    hp = ids._healpix(order)
    upix = np.unique(rowpix)
    neigh = np.asarray(hp.neighbours(upix)).ravel()
    state.load(np.concatenate([upix, neigh[neigh >= 0]]))
    objid = np.full(n, -1, np.int64)
    o_id, o_ra, o_dec = state.objects()
    if len(o_id):
        tree = cKDTree(ids.radec_to_xyz(o_ra, o_dec))
        d, j = tree.query(
            ids.radec_to_xyz(ra, dec), k=1, distance_upper_bound=_chord(radius_arcsec)
        )
        ok = np.isfinite(d)
        # one-to-one: the nearest row wins an object, the others become new objects
        cand = np.flatnonzero(ok)
        cand = cand[np.argsort(d[cand], kind="stable")]
        _, first = np.unique(j[cand], return_index=True)
        win = cand[first]
        objid[win] = o_id[j[win]]
    new = objid < 0
    if new.any():
        p12 = ids.pix4096_nest(ra[new], dec[new])
        existing = o_id[np.isin(ids.objid_pix4096(o_id), p12)] if len(o_id) else o_id
        base: dict[int, int] = {}
        for e in existing:
            p = int(e) >> ids.OBJID_SERIAL_BITS
            base[p] = max(base.get(p, 0), (int(e) & (2**ids.OBJID_SERIAL_BITS - 1)) + 1)
        serial = np.empty(len(p12), np.int64)
        srt = np.argsort(p12, kind="stable")
        ps = p12[srt]
        start = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
        rank = np.arange(len(ps)) - np.repeat(start, np.diff(np.r_[start, len(ps)]))
        serial[srt] = rank + np.array([base.get(int(p), 0) for p in ps], np.int64)
        objid[new] = ids.make_objid(p12, serial)
    return objid


def _reassign_partitions(state: _State, touched: set[int]) -> None:
    """Move the rows of touched objects to the partition of the objects' current position."""
    if not touched or len(state.npix) == 0:
        return
    oid = state.cols["objid"].astype(np.int64)
    sel = np.isin(oid, np.fromiter(touched, np.int64))
    if not sel.any():
        return
    _u, inv = np.unique(oid[sel], return_inverse=True)
    xyz = ids.radec_to_xyz(
        state.cols["ra"][sel].astype(float), state.cols["dec"][sel].astype(float)
    )
    m = np.stack([np.bincount(inv, xyz[:, i]) for i in range(3)], axis=1)
    ra = np.degrees(np.arctan2(m[:, 1], m[:, 0])) % 360
    dec = np.degrees(np.arcsin(np.clip(m[:, 2] / np.linalg.norm(m, axis=1), -1, 1)))
    newpix = ids.healpix_nest(ra, dec, state.order)[inv]
    state.dirty.update(int(p) for p in state.npix[sel])
    state.dirty.update(int(p) for p in newpix)
    missing = {int(p) for p in newpix} - state.loaded
    state.npix[np.flatnonzero(sel)] = newpix
    if missing:
        state.load(missing)


def _src_table(state: _State, sel: np.ndarray) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array(state.cols[f.name][sel], type=f.type, from_pandas=True) for f in SRC_SCHEMA],
        schema=SRC_SCHEMA,
    ).sort_by("_healpix_29")


def _file_by_stored_position(state: _State, order: int) -> dict[int, tuple[pa.Table, pa.Table]]:
    """(phot_src, phot_mod) tables of every dirty partition, each object filed in the
    partition of the position its phot_mod row stores.

    An object found in another partition moves there with all its rows (that partition
    is loaded if need be, and becomes dirty); its position does not change by moving,
    so each object moves at most once. Legacy (format 1) partitions a build loads are
    healed the same way.
    """
    shift = 2 * (29 - order)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order=false")
    mods: dict[int, tuple[pa.Table, pa.Table]] = {}
    pending = set(state.dirty)
    try:
        while pending:
            p = min(pending)
            pending.discard(p)
            sel = state.npix == p
            if not sel.any():
                mods.pop(p, None)
                continue
            src_t = _src_table(state, sel)
            mod_t = _mod_table(con, src_t)
            home = mod_t.column("_healpix_29").to_numpy() >> shift
            off = home != p
            if not off.any():
                mods[p] = (src_t, mod_t)
                continue
            dest = dict(zip(mod_t.column("objid").to_numpy()[off].tolist(), home[off].tolist()))
            rows = np.flatnonzero(sel)  # (loading appends rows: these indices stay)
            targets = {int(q) for q in dest.values()}
            state.load(targets - state.loaded)
            row_oid = state.cols["objid"][rows].astype(np.int64)
            move = np.isin(row_oid, np.fromiter(dest, np.int64))
            state.npix[rows[move]] = [dest[int(o)] for o in row_oid[move]]
            state.dirty |= targets
            pending |= targets | {p}
            for q in targets:
                mods.pop(q, None)
    finally:
        con.close()
    return mods


def _mod_sql() -> str:
    """DuckDB aggregation from src rows (table ``src``) to one row per object."""
    agg = [
        "objid",
        "ref_ra + sum(wpos * (((ra - ref_ra + 540) % 360) - 180)) / sum(wpos) AS ra",
        "sum(wpos * dec) / sum(wpos) AS dec",
        "arg_min(x, field_id) AS x",
        "arg_min(y, field_id) AS y",
        "min(field_id) AS field_id",
        "sum(nexp)::INTEGER AS nmeas",
        "count(DISTINCT field_id)::SMALLINT AS nfields",
    ]
    for f in PHAT_FILTERS:
        p = f.lower()
        wr = f"CASE WHEN {p}_raterr > 0 THEN 1.0 / ({p}_raterr::DOUBLE * {p}_raterr) END"
        wm = f"CASE WHEN {p}_vega < 90 AND {p}_err > 0 THEN 1.0 / ({p}_err::DOUBLE * {p}_err) END"
        # measurement-count weights; fields that did not detect the star (nmeas 0) carry
        # no weight, and when no field did, the plain mean of the catalogs' values is kept
        n = f"coalesce({p}_nmeas, 1)"
        agg += [
            f"(sum({wr} * {p}_rate) / sum({wr}))::FLOAT AS {p}_rate",
            f"(1 / sqrt(sum({wr})))::FLOAT AS {p}_raterr",
            f"coalesce(sum({wm} * {p}_vega) / sum({wm}), 99.999)::FLOAT AS {p}_vega",
            f"coalesce(1 / sqrt(sum({wm})), 9.999)::FLOAT AS {p}_err",
            f"coalesce(sum({p}_chi * {n}) / nullif(sum(CASE WHEN {p}_chi IS NOT NULL THEN {n} END), 0), avg({p}_chi))::FLOAT AS {p}_chi",
            f"coalesce(sum({p}_sharp * {n}) / nullif(sum(CASE WHEN {p}_sharp IS NOT NULL THEN {n} END), 0), avg({p}_sharp))::FLOAT AS {p}_sharp",
            f"coalesce(sum({p}_round * {n}) / nullif(sum(CASE WHEN {p}_round IS NOT NULL THEN {n} END), 0), avg({p}_round))::FLOAT AS {p}_round",
            f"coalesce(sum({p}_crowd * {n}) / nullif(sum(CASE WHEN {p}_crowd IS NOT NULL THEN {n} END), 0), avg({p}_crowd))::FLOAT AS {p}_crowd",
            f"bit_or({p}_flag)::SMALLINT AS {p}_flag",
            f"coalesce(bool_or({p}_gst), false) AS {p}_gst",
            f"coalesce(sum({p}_nmeas), 0) AS {p}_n",
        ]
    wpos = " + ".join(
        f"coalesce({f.lower()}_snr::DOUBLE * {f.lower()}_snr, 0)" for f in PHAT_FILTERS
    )
    return (
        f"SELECT {', '.join(agg)} FROM (SELECT *, {wpos} + 1e-9 AS wpos, "
        f"first_value(ra) OVER (PARTITION BY objid ORDER BY field_id) AS ref_ra FROM src) "
        f"GROUP BY objid, ref_ra"
    )


def _mod_table(con, src: pa.Table) -> pa.Table:
    """phot_mod rows (schema order) for the objects in ``src``."""
    con.register("src", src)
    agg = con.sql(_mod_sql()).to_arrow_table()
    con.unregister("src")
    ra = agg.column("ra").to_numpy() % 360
    dec = agg.column("dec").to_numpy()
    objid = agg.column("objid").to_numpy()
    n = agg.num_rows
    fid = np.asarray(agg.column("field_id").to_pylist(), dtype=object)
    brick, fnum = _brick_field(fid)
    vals: dict[str, object] = {
        "ra": ra,
        "dec": dec,
        "htm9": ids.htm9(ra, dec),
        "pix256": ids.pix256_ring(ra, dec),
        "pix4096": ids.pix4096_nest(ra, dec),
        "random_id": ids.random_id(objid),
        "ir_x": np.full(n, np.nan),
        "ir_y": np.full(n, np.nan),
        "inside_brick": np.ones(n, bool),
        "inside_chipgap": np.zeros(n, bool),
        "inside_other_chipgap": np.zeros(n, bool),
        "field": fnum,
        "brick": brick,
        "_healpix_29": ids.healpix29(ra, dec),
    }
    inside_ir = np.zeros(n, bool)
    for f in IR_FILTERS:
        inside_ir |= agg.column(f"{f.lower()}_n").to_numpy() > 0
    vals["inside_ir"] = inside_ir
    for f in PHAT_FILTERS:
        p = f.lower()
        rate = agg.column(f"{p}_rate")
        raterr = agg.column(f"{p}_raterr")
        vals[f"{p}_snr"] = pa.compute.divide(rate, raterr)
    for name, (blue, red) in COLOR_COLUMNS.items():
        b = agg.column(f"{blue.lower()}_vega").to_numpy()
        r = agg.column(f"{red.lower()}_vega").to_numpy()
        vals[name] = np.where((b < 90) & (r < 90), b - r, 99.999).astype(np.float32)
    schema = arrow_schema(PHOT_MOD)
    arrays = []
    for fld in schema:
        v = vals[fld.name] if fld.name in vals else agg.column(fld.name)
        arrays.append(
            pa.array(v).cast(fld.type) if not isinstance(v, pa.ChunkedArray) else v.cast(fld.type)
        )
    return pa.Table.from_arrays(arrays, schema=schema).sort_by("_healpix_29")


def _meas_table(meas: pa.Table, objid_of_star: np.ndarray, prov: dict) -> pa.Table:
    """phot_meas rows for one field's measurements (schema order)."""
    n = meas.num_rows
    star = meas.column("star_id").to_numpy()
    ra = meas.column("ra").to_numpy()
    dec = meas.column("dec").to_numpy()
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"field {meas.column('field_id')[i].as_py()}: {int(bad.sum())} measurements have "
            f"no valid position (ra, dec), e.g. exposure {meas.column('exposure_id')[i].as_py()} "
            f"star {int(star[i])}: ({ra[i]}, {dec[i]}); re-run the field's photometry "
            f"(its measurements product is damaged)"
        )
    brick, fnum = _brick_field(
        np.asarray(meas.column("field_id").to_pylist(), dtype=object)
        if n < 1_000_000
        else np.full(n, meas.column("field_id")[0].as_py(), dtype=object)
    )
    vals = {
        "objid": objid_of_star[star],
        "visit_id": visit_ids(meas.column("exposure_id").to_numpy(zero_copy_only=False)),
        "brick": brick,
        "field": fnum,
        "job_id": pa.array(np.full(n, prov.get("job_id", "")), pa.string()).dictionary_encode(),
        "pipeline_version": pa.array(
            np.full(n, prov.get("pipeline_version", "")), pa.string()
        ).dictionary_encode(),
        "task_options": pa.array(
            np.full(n, prov.get("task_options", "")), pa.string()
        ).dictionary_encode(),
        "pix4096": ids.pix4096_nest(ra, dec),
        "_healpix_29": ids.healpix29(ra, dec),
    }
    schema = arrow_schema(PHOT_MEAS)
    arrays = []
    for fld in schema:
        v = vals.get(fld.name)
        if v is None:
            v = meas.column(fld.name)
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            arrays.append(
                v.cast(pa.string()) if pa.types.is_dictionary(v.type) else v.cast(fld.type)
            )
        else:
            arrays.append(pa.array(v).cast(fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _provenance(path: Path) -> dict:
    md = pq.read_schema(path).metadata or {}
    raw = md.get(b"cloudphot.provenance")
    return json.loads(raw) if raw else {}


def build_catalog(
    store: ObjectStore,
    bucket: str,
    survey: str,
    field_ids: list[str] | None = None,
    *,
    partition_order: int | None = None,
    match_radius_arcsec: float = DEFAULT_MATCH_RADIUS_ARCSEC,
    row_group_rows: int = ROW_GROUP_ROWS,
    tmp_dir: str | Path | None = None,
    pm_min_baseline_days: float = DEFAULT_PM_MIN_BASELINE_DAYS,
    rebuild: bool = False,
) -> BuildResult:
    """Publish a new catalog version containing ``field_ids`` (default: every field in the bucket).

    Idempotent: fields whose products are unchanged since the latest version are
    skipped, and with nothing new no version is written (the result's ``version``
    is then the latest one). ``partition_order`` sets a new survey's HATS partitioning
    (default :data:`DEFAULT_PARTITION_ORDER`); an existing survey keeps its own.
    ``pm_min_baseline_days``: objects whose visits span less get no proper motion.
    ``rebuild``: merge every field (default: all in the bucket) from its products into
    a new version without reading any earlier version's files (the way back from a
    corrupt file that ``cloudphot catalog verify`` found).
    """
    t0 = time.perf_counter()
    layout = CatalogLayout(survey)
    parent, latest_etag = _latest_with_etag(store, bucket, survey)
    prev = read_manifest(store, bucket, survey, parent) if parent is not None else None
    if prev is not None:
        partition_order = prev["partition_order"]  # a survey keeps its partitioning
    elif partition_order is None:
        partition_order = DEFAULT_PARTITION_ORDER
    if rebuild:
        prev = None
    if field_ids is None:
        field_ids = sorted(
            {
                i.key.split("/")[1]
                for i in store.list(bucket, "fields/")
                if i.key.endswith("/catalog.parquet")
            }
        )
    prev_fields = (prev or {}).get("fields", {})
    todo: list[tuple[str, dict]] = []
    for fid in field_ids:
        try:
            etags: dict[str, str | None] = {
                "catalog": store.head(bucket, keys.field_catalog(fid)).etag
            }
        except ObjectNotFound as exc:
            raise DataError(f"field {fid} has no products yet ({exc})") from exc
        try:  # optional: archival catalogs (e.g. published PHAT bricks) have no epochs
            etags["measurements"] = store.head(bucket, keys.field_measurements(fid)).etag
        except ObjectNotFound:
            etags["measurements"] = None
        if prev_fields.get(fid, {}).get("etags") != etags:
            todo.append((fid, etags))
    result = BuildResult(survey=survey, version=parent or 0, parent=parent)
    if not todo:
        result.version = parent if parent is not None else 0
        if prev:
            result.n_objects = prev["tables"]["phot_mod"]["nrows"]
            result.n_measurements = prev["tables"]["phot_meas"]["nrows"]
        result.seconds = time.perf_counter() - t0
        return result
    version = (parent or 0) + 1
    with _claimed(store, bucket, layout, version):
        result.version = version
        fields_meta = {k: dict(v) for k, v in prev_fields.items()}

        with tempfile.TemporaryDirectory(prefix="cloudphot-build-", dir=tmp_dir) as tmps:
            tmp = Path(tmps)
            state = _State(store, bucket, layout, prev, partition_order, tmp)
            meas_dirty: set[int] = set()
            meas_drop: set[str] = set()
            meas_frag: dict[int, list[Path]] = {}
            for fid, etags in todo:
                if fid in prev_fields:  # refresh: forget the field's old rows first
                    result.fields_refreshed.append(fid)
                    state.load(prev_fields[fid]["src_partitions"])
                    mask = state.cols["field_id"] == fid
                    state.ghosts = (
                        state.cols["objid"][mask].astype(np.int64),
                        state.cols["ra"][mask].astype(float),
                        state.cols["dec"][mask].astype(float),
                    )
                    gone = state.remove(mask)
                    _reassign_partitions(state, {int(g) for g in gone})
                    meas_dirty.update(prev_fields[fid]["meas_partitions"])
                    meas_drop.add(fid)
                else:
                    result.fields_added.append(fid)
                with store.local_path(bucket, keys.field_catalog(fid)) as path:
                    cat = pq.read_table(path)
                filters = _field_filters(cat, fid)
                src = _to_src(cat, filters)
                objid = _match_field(state, src, match_radius_arcsec)
                src["objid"] = objid
                state.ghosts = (np.empty(0, np.int64), np.empty(0), np.empty(0))
                rowpix = ids.healpix_nest(
                    src["ra"].astype(float), src["dec"].astype(float), partition_order
                )
                src["_healpix_29"] = ids.healpix29(
                    src["ra"].astype(float), src["dec"].astype(float)
                )
                state.append(src, rowpix)
                _reassign_partitions(state, {int(o) for o in objid})
                # measurements: objid by star_id, split into partition fragments on local disk
                star = cat.column("star_id").to_numpy()
                lookup = np.full(int(star.max()) + 1 if len(star) else 0, -1, np.int64)
                lookup[star] = objid
                if etags["measurements"] is None:
                    fields_meta[fid] = {
                        "etags": etags,
                        "meas_partitions": [],
                        "job_id": None,
                        "pipeline_version": None,
                        "task_options": None,
                    }
                    continue
                with store.local_path(bucket, keys.field_measurements(fid)) as path:
                    prov = _provenance(path)
                    pf = pq.ParquetFile(path)
                    missing = [c for c in MEASUREMENT_COLUMNS if c not in pf.schema_arrow.names]
                    if missing:
                        raise DataError(f"field {fid}: measurements lack columns {missing}")
                    mparts: set[int] = set()
                    for bi, batch in enumerate(pf.iter_batches(batch_size=1_000_000)):
                        mt = _meas_table(pa.Table.from_batches([batch]), lookup, prov)
                        mpix = mt.column("_healpix_29").to_numpy() >> (2 * (29 - partition_order))
                        for p in np.unique(mpix):
                            frag = tmp / "meas" / f"{int(p)}" / f"{fid}-{bi}.parquet"
                            frag.parent.mkdir(parents=True, exist_ok=True)
                            pq.write_table(mt.filter(pa.array(mpix == p)), frag)
                            meas_frag.setdefault(int(p), []).append(frag)
                            mparts.add(int(p))
                meas_dirty.update(mparts)
                fields_meta[fid] = {
                    "etags": etags,
                    "meas_partitions": sorted(mparts),
                    "job_id": prov.get("job_id"),
                    "pipeline_version": prov.get("pipeline_version"),
                    "task_options": prov.get("task_options"),
                }
            # ---- each object in the partition of the position phot_mod stores (HATS:
            # a row lives where its _healpix_29 points; the S/N^2-weighted mean of an
            # object's field rows can cross an edge its plain mean did not)
            mods = _file_by_stored_position(state, partition_order)
            # which src partitions does each field now touch (for a later refresh)
            fid_arr = state.cols["field_id"].astype(str)
            for fid in fields_meta:
                if fid in dict(todo) or any(
                    p in state.dirty for p in fields_meta[fid].get("src_partitions", [])
                ):
                    in_loaded = {int(p) for p in np.unique(state.npix[fid_arr == fid])}
                    old = set(fields_meta[fid].get("src_partitions", [])) - state.loaded
                    fields_meta[fid]["src_partitions"] = sorted(in_loaded | old)

            con = duckdb.connect()
            con.execute("SET preserve_insertion_order=false")
            manifest_tables: dict[str, dict] = {}
            vp = layout.version_prefix(version)
            # ---- phot_src and phot_mod: the dirty partitions
            src_parts: dict[int, pq.FileMetaData] = {}
            mod_parts: dict[int, pq.FileMetaData] = {}
            entries: dict[str, dict[str, dict]] = {t: {} for t in TABLES}
            for p in sorted(mods):
                src_t, mod_t = mods.pop(p)
                for table, tbl in (("phot_src", src_t), ("phot_mod", mod_t)):
                    local = tmp / "out" / table / f"{p}.parquet"
                    local.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(
                        tbl, local, row_group_size=row_group_rows, **parquet_options(tbl.schema)
                    )
                    key = vp + f"{table}/" + partition_key(partition_order, p)
                    md = pq.read_metadata(local)
                    (src_parts if table == "phot_src" else mod_parts)[p] = md
                    entries[table][str(p)] = _publish(
                        store,
                        bucket,
                        key,
                        local,
                        md.num_rows,
                        version,
                        state.prev_partitions(table).get(str(p)),
                    )
            # ---- phot_meas: dirty partitions = old file (minus refreshed fields) + fragments
            meas_parts: dict[int, pq.FileMetaData] = {}
            for p in sorted(meas_dirty):
                sources = []
                prev_entry = state.prev_partitions("phot_meas").get(str(p))
                with _maybe_local(store, bucket, prev_entry) as oldpath:
                    if oldpath is not None:
                        old_sql = f"SELECT * FROM read_parquet('{oldpath}')"
                        if meas_drop:  # (never "NOT IN (NULL)": that keeps no rows at all)
                            drop = ", ".join(f"'{f}'" for f in sorted(meas_drop))
                            old_sql += f" WHERE field_id NOT IN ({drop})"
                        sources.append(old_sql)
                    frags = meas_frag.get(p, [])
                    if frags:
                        sources.append(
                            "SELECT * FROM read_parquet(["
                            + ", ".join(f"'{f}'" for f in frags)
                            + "])"
                        )
                    local = tmp / "out" / "phot_meas" / f"{p}.parquet"
                    md = write_sorted_parquet(
                        con,
                        " UNION ALL BY NAME ".join(sources),
                        local,
                        schema=arrow_schema(PHOT_MEAS),
                        tie_break=("field_id", "exposure_id", "star_id"),
                        row_group_rows=row_group_rows,
                    )
                if md.num_rows == 0:
                    continue
                key = vp + "phot_meas/" + partition_key(partition_order, p)
                meas_parts[p] = md
                entries["phot_meas"][str(p)] = _publish(
                    store, bucket, key, local, md.num_rows, version, prev_entry
                )
            con.close()
            result.rewritten = {t: sorted(int(k) for k in entries[t]) for t in TABLES}
            # ---- unchanged partitions: shared with the version that wrote them
            footers = {"phot_src": src_parts, "phot_mod": mod_parts, "phot_meas": meas_parts}
            result.copied = {t: [] for t in TABLES}
            for table in TABLES:
                rewritten = state.dirty if table != "phot_meas" else meas_dirty
                for sp, entry in state.prev_partitions(table).items():
                    p = int(sp)
                    if p in rewritten:
                        continue
                    # shared, not copied: the manifest names the earlier version's object
                    entries[table][sp] = {"written_in": version, **entry}
                    _link_into_tree(
                        store, bucket, entry["key"], vp + f"{table}/", partition_order, p
                    )
                    footers[table][p] = read_parquet_footer(store, bucket, entry["key"])
                    result.copied[table].append(p)
            # ---- phot_visit, phot_pm, phot_var: derived from the whole version (see .visits)
            derived = _write_derived(
                store,
                bucket,
                vp,
                tmp,
                entries,
                footers,
                partition_order,
                version,
                row_group_rows,
                pm_min_baseline_days,
                state.prev_partitions,
            )
            result.derived_rows = {t: int(pq.read_metadata(f).num_rows) for t, f in derived.items()}
            result.frame_tie = _frame_tie_summary(derived["phot_visit"])
            # ---- HATS metadata, manifest, and LATEST last (the success marker)
            for table, ctype, cols in (
                ("phot_mod", "object", PHOT_MOD),
                ("phot_meas", "source", PHOT_MEAS),
                ("phot_src", "source", None),
                ("phot_visit", "source", DERIVED_TABLES["phot_visit"]),
                ("phot_pm", "object", DERIVED_TABLES["phot_pm"]),
                ("phot_var", "source", DERIVED_TABLES["phot_var"]),
            ):
                hats_files: list[dict] = []
                nrows = write_hats_metadata(
                    store,
                    bucket,
                    layout.table_prefix(version, table),
                    name=f"{survey}_{table}",
                    catalog_type=ctype,
                    order=partition_order,
                    schema=arrow_schema(cols) if cols else SRC_SCHEMA,
                    partitions=footers[table],
                    extra={"cloudphot_catalog_version": str(version)},
                    written=hats_files,
                )
                manifest_tables[table] = {
                    "nrows": nrows,
                    "prefix": layout.table_prefix(version, table),
                    "files": hats_files,
                    "partitions": dict(sorted(entries[table].items(), key=lambda kv: int(kv[0]))),
                }
        result.large_partitions = {
            int(p): int(e["nrows"])
            for p, e in manifest_tables["phot_mod"]["partitions"].items()
            if int(e["nrows"]) > LARGE_PARTITION_OBJECTS
        }
        if result.large_partitions:
            _log.warning(
                "catalog %s v%d: partitions %s hold more than %d objects each; a build "
                "touching them needs memory in proportion: rebuild the survey with a "
                "deeper partition order (now %d)",
                survey,
                version,
                sorted(result.large_partitions),
                LARGE_PARTITION_OBJECTS,
                partition_order,
            )
        result.n_objects = manifest_tables["phot_mod"]["nrows"]
        result.n_measurements = manifest_tables["phot_meas"]["nrows"]
        manifest = {
            "survey": survey,
            "version": version,
            "parent": parent,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "pipeline_version": __version__,
            "partition_order": partition_order,
            # format 2: every object filed by its stored position (issue 15.2); a survey
            # begun before keeps format 1 (its untouched partitions may not be), and
            # the readers widen cones by LEGACY_FILING_SLACK_ARCSEC for it
            "format": 2 if prev is None or int(prev.get("format", 1)) >= 2 else 1,
            "match_radius_arcsec": match_radius_arcsec,
            "fields": fields_meta,
            "tables": manifest_tables,
            "pm_min_baseline_days": pm_min_baseline_days,
            "frame_tie": result.frame_tie,
        }
        # publication: the manifest (of the version this build claimed), then the pointer
        # swapped from the state the build started from; a build that lost the race
        # publishes nothing (its files stay unreferenced under the version it claimed)
        store.put_bytes(
            bucket,
            layout.manifest(version),
            json.dumps(manifest, indent=1).encode(),
            content_type="application/json",
        )
        try:
            store.put_bytes_if(
                bucket,
                layout.latest,
                json.dumps({"version": version}).encode(),
                etag=latest_etag,
                content_type="application/json",
            )
        except ConditionFailed as exc:
            raise ConcurrentBuild(
                f"catalog {survey}: another build published while this one made version "
                f"{version} from v{parent}; nothing was published ({exc})"
            ) from None
        result.seconds = time.perf_counter() - t0
        return result


def _link_into_tree(store, bucket: str, key: str, table_prefix: str, order: int, p: int) -> None:
    """Complete a version's HATS tree with a shared partition where that costs nothing.

    The manifest names the object that holds a partition, whichever version wrote it
    (DuckDB and Athena read through it). HATS readers (LSDB) open a table's own
    ``dataset/`` tree instead: the local store links the shared file there (a hard
    link: no bytes, no space). On S3 a copy would be billed as a whole new object, so
    none is made (see :func:`materialize_hats_tree`).
    """
    if getattr(store, "copies_are_free", False):
        dst = table_prefix + partition_key(order, p)
        if dst != key:
            store.copy(bucket, key, dst)


def list_versions(store: ObjectStore, bucket: str, survey: str) -> list[int]:
    """Published versions that still have a manifest (pruning removes old ones)."""
    latest = latest_version(store, bucket, survey)
    if latest is None:
        return []
    root = CatalogLayout(survey).root
    found = set()
    for info in store.list(bucket, root):
        m = re.fullmatch(re.escape(root) + r"v(\d{4,})/manifest\.json", info.key)
        if m and int(m.group(1)) <= latest:
            found.add(int(m.group(1)))
    return sorted(found)


def prune_versions(store: ObjectStore, bucket: str, survey: str, keep: int) -> dict:
    """Delete all but the newest ``keep`` versions, and every object only they used.

    An object a kept version's manifest names (a shared partition written by an older
    version) stays where it is; the older version's manifest, metadata and the files
    no kept version names go. Returns ``{"versions": [...], "objects": n, "bytes": n}``.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise DataError(f"--keep must be a whole number of versions >= 1, not {keep!r}")
    versions = list_versions(store, bucket, survey)
    kept, gone = versions[-keep:], versions[:-keep]
    if not gone:
        return {"versions": [], "objects": 0, "bytes": 0}
    layout = CatalogLayout(survey)
    needed = set()
    for v in kept:
        m = read_manifest(store, bucket, survey, v)
        needed |= {e["key"] for t in m["tables"].values() for e in t["partitions"].values()}
    n = size = 0
    for v in gone:
        for info in list(store.list(bucket, layout.version_prefix(v))):
            if info.key not in needed:
                store.delete(bucket, info.key)
                n += 1
                size += info.size
    return {"versions": gone, "objects": n, "bytes": size}


def materialize_hats_tree(store: ObjectStore, bucket: str, manifest: dict) -> int:
    """Copy a version's shared partitions into its own HATS tree (server-side on S3:
    billed storage) so that HATS readers can open it; return the objects copied."""
    n = 0
    for t in manifest["tables"].values():
        for sp, e in t["partitions"].items():
            order = int(e.get("order", manifest["partition_order"]))
            dst = t["prefix"] + partition_key(order, int(e.get("pixel", sp)))
            if dst != e["key"] and not store.exists(bucket, dst):
                store.copy(bucket, e["key"], dst)
                n += 1
    return n


def _publish(
    store,
    bucket: str,
    key: str,
    local: Path,
    nrows: int,
    version: int,
    prev: dict | None = None,
) -> dict:
    """Upload one partition file; its manifest entry (key, rows, SHA-256, size, version).

    A file with the bytes of the previous version's partition (``prev``, same SHA-256)
    is not uploaded: the entry shares the earlier object.
    """
    sha = sha256_file(local)
    if prev is not None and prev.get("sha256") == sha:
        table_prefix = key[: key.index("dataset/")]
        order_pix = key.rsplit("Norder=", 1)[1]
        order = int(order_pix.split("/")[0])
        pix = int(order_pix.rsplit("Npix=", 1)[1].split(".")[0])
        _link_into_tree(store, bucket, prev["key"], table_prefix, order, pix)
        return {"written_in": version, **prev}
    store.put_file(bucket, key, local, sha256=sha)
    return {
        "key": key,
        "nrows": int(nrows),
        "written_in": version,
        "sha256": sha,
        "size": local.stat().st_size,
    }


def _write_derived(
    store,
    bucket,
    vp,
    tmp,
    entries,
    footers,
    order,
    version,
    row_group_rows,
    min_baseline_days,
    prev_parts,
) -> dict[str, Path]:
    """Derive phot_visit/phot_pm/phot_var from this version's phot_meas and phot_mod and
    write them as HATS partitions at the survey's order (all rewritten: see .visits)."""
    with contextlib.ExitStack() as stack:
        local = {
            t: [
                str(stack.enter_context(_verified(store, bucket, e)))
                for _, e in sorted(entries[t].items(), key=lambda kv: int(kv[0]))
            ]
            for t in ("phot_meas", "phot_mod")
        }
        con = duckdb.connect()
        try:
            files = derive_tables(
                con,
                local["phot_meas"],
                local["phot_mod"],
                tmp / "derived",
                min_baseline_days=min_baseline_days,
            )
        finally:
            con.close()
    for table, path in files.items():
        entries[table], footers[table] = {}, {}
        tbl = pq.read_table(path)
        pix = tbl.column("_healpix_29").to_numpy() >> (2 * (29 - order))
        starts = np.r_[0, np.flatnonzero(np.diff(pix)) + 1]
        for a, b in zip(starts, np.r_[starts[1:], len(pix)]):
            if a == b:
                continue
            p = int(pix[a])
            part = tbl.slice(a, b - a)
            local_path = tmp / "out" / table / f"{p}.parquet"
            local_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                part, local_path, row_group_size=row_group_rows, **parquet_options(part.schema)
            )
            key = vp + f"{table}/" + partition_key(order, p)
            footers[table][p] = pq.read_metadata(local_path)
            entries[table][str(p)] = _publish(
                store,
                bucket,
                key,
                local_path,
                part.num_rows,
                version,
                prev_parts(table).get(str(p)),
            )
    return files


def _frame_tie_summary(visit_file: Path) -> dict[str, float | None]:
    """How well the visits tied to the catalog's frame (reported in the manifest)."""
    con = duckdb.connect()
    try:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE n > 0), count(*) FILTER (WHERE n = 0), "
            "median(r), max(r) FROM (SELECT field_id, visit_id, filter, "
            "max(tie_nstar) AS n, max(tie_rms) AS r FROM read_parquet(?) GROUP BY ALL)",
            [str(visit_file)],
        ).fetchone()
    finally:
        con.close()
    tied, untied, med, mx = row or (0, 0, None, None)
    return {
        "visits_tied": int(tied or 0),
        "visits_untied": int(untied or 0),
        "median_rms_mas": round(float(med), 3) if med is not None else None,
        "max_rms_mas": round(float(mx), 3) if mx is not None else None,
    }


@contextlib.contextmanager
def _verified(store, bucket: str, entry: dict):
    """``store.local_path`` of a manifest entry's file, checked against its SHA-256.

    A build reads earlier partitions to merge them into new files; an unchecked read
    would launder a corrupted file into a new version with a fresh, valid checksum.
    """
    with store.local_path(bucket, entry["key"]) as path:
        if entry.get("sha256"):
            CHECKS.verify(
                str(path), entry["sha256"], entry.get("size"), f"s3://{bucket}/{entry['key']}"
            )
        yield path


class _maybe_local:
    """:func:`_verified` when a manifest entry is given, else a context yielding None."""

    def __init__(self, store, bucket, entry):
        self._cm = _verified(store, bucket, entry) if entry else None

    def __enter__(self):
        return self._cm.__enter__() if self._cm else None

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc) if self._cm else False
