"""Visits, proper motions and variability: the tables a build derives from ``phot_meas``.

``phot_visit``
    One row per object x visit x filter x field: the visit's exposures combined
    (magnitudes by inverse variance, positions by S/N^2), then **frame-tied**: each
    (field, visit, filter)'s positions are shifted onto the catalog's own frame, the
    ``phot_mod`` positions of its bright stars (S/N >= :data:`TIE_MIN_SNR`). The shift
    is the S/N^2-weighted mean offset of those stars after clipping (median, then
    3 sigma: moving stars and blends drop out); the same stars calibrate the visit's
    astrometric noise, ``sigma^2 = (c / (S/N))^2 + f^2``, from the median absolute
    deviations of the offsets of the fainter and brighter halves of the field's tie
    stars in that filter (a photon term and a floor: PSF residuals), so ``pos_err`` is
    measured, not assumed.
``phot_pm``
    A weighted straight-line fit of the tied positions against time, per object, over
    every filter's visits, where those span at least ``min_baseline_days`` (closed-form
    sums in SQL; the reference epoch is the weighted mean epoch, where position and
    motion are uncorrelated). The errors are scaled by the fit's reduced chi^2 when
    that exceeds 1 (an error floor the 1/(S/N) model misses: PSF residuals, blends).
    The pieces of one moving star that detection on the stacked reference split
    (:func:`split_pieces`) are fitted as one track, their light centroid
    (:func:`motion_tracks`), with the difference from each piece's own fit added to
    its errors.
``phot_var``
    Per object and filter, over the single-exposure measurements: the reduced chi^2
    against a constant (errors combined with the filter's repeatability floor, the
    lower quartile of the excess scatter of stars measured better than
    :data:`FLOOR_MAX_ERR`), the
    inter-quartile range (in mag, and in units of the expected
    noise: a robust index that one outlier cannot raise), the peak-to-peak range, and for
    objects that vary (chi^2 >= :data:`PERIOD_MIN_CHI2`, 10+ epochs) the Lomb-Scargle
    best period (:func:`best_period`, astropy).

The tables are recomputed from the whole version's ``phot_meas`` at every build, in
DuckDB (aggregations that spill to disk, not Python loops): the frame tie of a visit
depends on every object of the visit and a motion on every visit of an object, so an
incremental update would need the same reads. Only the period search runs per object,
and only for the few objects that vary.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from . import ids
from .schema import PHOT_PM, PHOT_VAR, PHOT_VISIT, arrow_schema

__all__ = [
    "DEFAULT_PM_MIN_BASELINE_DAYS",
    "PERIOD_MIN_CHI2",
    "TIE_MIN_SNR",
    "TIE_MIN_STARS",
    "best_period",
    "derive_tables",
    "visit_ids",
]

#: visits closer together than this give no proper motion (configurable per build)
DEFAULT_PM_MIN_BASELINE_DAYS = 180.0
#: stars at least this bright (in the visit) tie the visit's frame and calibrate its noise
TIE_MIN_SNR = 20.0
#: a visit with fewer tie stars is left untied (tie_nstar 0) and not used for motions
TIE_MIN_STARS = 5
#: pieces of one moving star (split at detection) lie this close together (arcsec)...
SPLIT_MAX_SEP_ARCSEC = 0.15
#: ...and the share of their light one holds follows time this closely (|correlation|)
SPLIT_MIN_CORR = 0.8
#: ...over at least this many common (visit, filter) measurements (uncorrelated shares
#: reach |r| >= 0.8 by chance with probability ~0.2 over 4 points, ~0.017 over 8)
SPLIT_MIN_VISITS = 8
#: objects below this reduced chi^2 are not searched for a period
PERIOD_MIN_CHI2 = 3.0
PERIOD_MIN_EPOCHS = 10
#: stars with median errors below this (mag) measure a filter's repeatability floor
FLOOR_MAX_ERR = 0.02
_MAS = 3.6e6  # mas per degree
_YEAR = 365.25
#: an HST rootname: instrument, program (3), visit (2), exposure (2), transmission
_ROOTNAME = re.compile(r"^[a-z0-9]([a-z0-9]{3})([a-z0-9]{2})[a-z0-9]{2}[a-z0-9_]$")
#: usable single-exposure measurements for variability (as lightcurve.usable, plus flags)
_USABLE = "vega < 90 AND err > 0 AND err < 1 AND isfinite(vega) AND isfinite(err) AND flag <= 1"


def visit_ids(exposure_ids) -> np.ndarray:
    """The HST visit (``pppss``: program + visit) of each rootname ``ipppssoot``.

    An exposure id that is not a 9-character rootname (another observatory, a file
    renamed by hand) is its own visit: exposures are never combined on a guess.
    """
    uniq, inv = np.unique(np.asarray(exposure_ids, dtype=object).astype(str), return_inverse=True)
    out = np.empty(len(uniq), dtype=object)
    for i, e in enumerate(uniq):
        m = _ROOTNAME.match(e)
        out[i] = m.group(1) + m.group(2) if m else e
    return out[inv]


def _read(files: list[str]) -> str:
    lst = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{lst}], hive_partitioning = false)"


def _visit_sql(meas: str, mod: str) -> str:
    """phot_visit rows, tied; ``meas``/``mod`` are read_parquet() sources."""
    dra = "(((v.ra - m.ra + 540) % 360) - 180) * cos(radians(m.dec)) * 3.6e6"
    return f"""
WITH raw AS (
  SELECT objid, field_id, visit_id, filter,
    count(*)::INTEGER AS nexp,
    sum(w * mjd) / sum(w) AS mjd, min(mjd) AS mjd_min, max(mjd) AS mjd_max,
    ref_ra + sum(w * (((ra - ref_ra + 540) % 360) - 180)) / sum(w) AS ra,
    sum(w * dec) / sum(w) AS dec,
    sum(w) AS s2,
    sum(wr * rate) / sum(wr) AS rate, 1 / sqrt(sum(wr)) AS raterr,
    coalesce(sum(wm * vega) / sum(wm), 99.999) AS vega,
    coalesce(1 / sqrt(sum(wm)), 9.999) AS err,
    avg(chi) AS chi, avg(sharp) AS sharp, avg("round") AS "round", avg(crowd) AS crowd,
    bit_or(flag)::SMALLINT AS flag
  FROM (SELECT *,
      CASE WHEN snr > 0 AND isfinite(snr) THEN snr::DOUBLE * snr ELSE 1e-9 END AS w,
      CASE WHEN raterr > 0 THEN 1 / (raterr::DOUBLE * raterr) END AS wr,
      CASE WHEN vega < 90 AND err > 0 THEN 1 / (err::DOUBLE * err) END AS wm,
      min(ra) OVER (PARTITION BY objid, field_id, visit_id, filter) AS ref_ra
    FROM {meas})
  GROUP BY objid, field_id, visit_id, filter, ref_ra
), off AS (
  SELECT v.*, sqrt(v.s2) AS sn, {dra} AS dx, (v.dec - m.dec) * 3.6e6 AS dy
  FROM raw v JOIN (SELECT objid, ra, dec FROM {mod}) m USING (objid)
), med AS (
  SELECT field_id, visit_id, filter, median(dx) AS mx, median(dy) AS my
  FROM off WHERE sn >= {TIE_MIN_SNR} GROUP BY ALL
), halves AS (
  -- the noise of the field's visits in this filter, sigma^2 = (c / sn)^2 + f^2, from the
  -- offsets of the fainter and brighter tie stars (split at their median S/N): c the
  -- photon term, f a floor (PSF residuals); one pair per field and filter, from all its
  -- visits' stars, since a visit's hundred stars leave the split too noisy
  SELECT o.field_id, o.filter,
    sn >= median(sn) OVER (PARTITION BY o.field_id, o.filter) AS bright,
    abs(dx - mx) AS rx, abs(dy - my) AS ry, sn
  FROM off o JOIN med USING (field_id, visit_id, filter) WHERE sn >= {TIE_MIN_SNR}
), h AS (
  SELECT field_id, filter,
    (1.4826 * (median(rx) FILTER (WHERE NOT bright) + median(ry) FILTER (WHERE NOT bright))
      / 2) ^ 2 AS ma, median(sn) FILTER (WHERE NOT bright) AS sa,
    (1.4826 * (median(rx) FILTER (WHERE bright) + median(ry) FILTER (WHERE bright)) / 2) ^ 2
      AS mb, median(sn) FILTER (WHERE bright) AS sb
  FROM halves GROUP BY ALL
), scale AS (
  SELECT field_id, filter,
    CASE WHEN sa < sb AND ma > mb THEN sqrt((ma - mb) / (1 / (sa * sa) - 1 / (sb * sb)))
      ELSE sqrt(least(ma, mb)) * coalesce(least(sa, sb), 0) END AS c,
    CASE WHEN sa < sb AND ma > mb
      THEN sqrt(greatest(mb - (ma - mb) / (1 / (sa * sa) - 1 / (sb * sb)) / (sb * sb), 0))
      ELSE 0 END AS f
  FROM h
), tie AS (
  SELECT o.field_id, o.visit_id, o.filter, any_value(c) AS c, any_value(f) AS f,
    sum(s2 * dx) / sum(s2) AS tx, sum(s2 * dy) / sum(s2) AS ty, sum(s2) AS ts2,
    count(*)::INTEGER AS n
  FROM off o JOIN med USING (field_id, visit_id, filter) JOIN scale USING (field_id, filter)
  WHERE sn >= {TIE_MIN_SNR} AND c > 0
    AND abs(dx - mx) <= 3 * sqrt(c * c / s2 + f * f)
    AND abs(dy - my) <= 3 * sqrt(c * c / s2 + f * f)
  GROUP BY ALL HAVING count(*) >= {TIE_MIN_STARS}
), tied AS (
  SELECT o.*, coalesce(-t.tx, 0) AS tie_dra, coalesce(-t.ty, 0) AS tie_ddec,
    coalesce(t.n, 0) AS tie_nstar, t.c, t.f, t.ts2
  FROM off o LEFT JOIN tie t USING (field_id, visit_id, filter)
), resid AS (
  SELECT field_id, visit_id, filter,
    sqrt(avg(((dx + tie_dra) ^ 2 + (dy + tie_ddec) ^ 2) / 2)) AS tie_rms
  FROM tied WHERE tie_nstar > 0 AND sn >= {TIE_MIN_SNR}
    AND abs(dx + tie_dra) <= 3 * sqrt(c * c / s2 + f * f)
    AND abs(dy + tie_ddec) <= 3 * sqrt(c * c / s2 + f * f)
  GROUP BY ALL
)
SELECT objid,
  ra + tie_dra / 3.6e6 / cos(radians(dec)) AS ra, dec + tie_ddec / 3.6e6 AS dec,
  CASE WHEN tie_nstar > 0 THEN sqrt(c * c / s2 + f * f + c * c / ts2) END AS pos_err,
  filter, visit_id, field_id, nexp, mjd, mjd_min, mjd_max, rate, raterr, vega, err,
  rate / raterr AS snr, chi, sharp, "round", crowd, flag, tie_dra, tie_ddec, tie_nstar,
  tie_rms
FROM tied LEFT JOIN resid USING (field_id, visit_id, filter)
"""


#: columns of phot_visit a proper-motion track needs
_TRACK_COLUMNS = (
    "objid",
    "field_id",
    "visit_id",
    "filter",
    "ra",
    "dec",
    "pos_err",
    "rate",
    "mjd",
    "tie_nstar",
)


class _Groups:
    """Union-find over row indices (the pieces of one star)."""

    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return int(i)

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def split_pieces(visit: pa.Table) -> list[list[int]]:
    """Groups of objids that are pieces of one moving star (see :func:`motion_tracks`).

    Two objects of one field are pieces of one star when they lie within
    :data:`SPLIT_MAX_SEP_ARCSEC` and the share of their light that one holds changes
    steadily with time: |correlation of ``rate_a / (rate_a + rate_b)`` with the
    epoch| >= :data:`SPLIT_MIN_CORR` over at least :data:`SPLIT_MIN_VISITS` common
    (visit, filter) measurements. Two stars that stand still keep their shares (only
    noise and variability move them, neither of which trends over eight visits); a
    star whose smeared image on the stacked reference was detected as two or three
    objects hands its light from one to the next as it moves.
    """
    from scipy.spatial import cKDTree

    cols = {c: visit.column(c).to_numpy(zero_copy_only=False) for c in _TRACK_COLUMNS}
    ok = (cols["tie_nstar"] > 0) & np.isfinite(cols["rate"]) & np.isfinite(cols["mjd"])
    objid = cols["objid"].astype(np.int64)
    field = cols["field_id"].astype(str)
    key = np.char.add(np.char.add(cols["visit_id"].astype(str), "|"), cols["filter"].astype(str))
    groups: list[list[int]] = []
    for f in np.unique(field):
        sel = np.flatnonzero((field == f) & ok)
        if len(sel) == 0:
            continue
        ids, inv = np.unique(objid[sel], return_inverse=True)
        n = np.bincount(inv)
        dec = np.bincount(inv, cols["dec"][sel]) / n
        ra0 = cols["ra"][sel][np.unique(inv, return_index=True)[1]]
        dra = (((cols["ra"][sel] - ra0[inv] + 540) % 360) - 180) * np.cos(np.radians(dec[inv]))
        x = (ra0 * np.cos(np.radians(dec)) + np.bincount(inv, dra) / n) * 3600
        pairs = cKDTree(np.c_[x, dec * 3600]).query_pairs(
            SPLIT_MAX_SEP_ARCSEC, output_type="ndarray"
        )
        if len(pairs) == 0:
            continue
        # only the rows of objects in a pair are looked at one by one (a few per cent of
        # a crowded field's objects have a neighbour this close)
        paired = np.zeros(len(ids), bool)
        paired[pairs.ravel()] = True
        rows: dict[int, dict[str, int]] = {}
        for r, k in zip(sel[paired[inv]].tolist(), inv[paired[inv]].tolist()):
            rows.setdefault(k, {})[str(key[r])] = r
        uf = _Groups(len(ids))
        linked = False
        for a, b in pairs:
            ra_, rb_ = rows.get(int(a), {}), rows.get(int(b), {})
            common = [k for k in ra_ if k in rb_]
            if len(common) < SPLIT_MIN_VISITS:
                continue
            i, j = np.array([ra_[k] for k in common]), np.array([rb_[k] for k in common])
            fa, fb = np.clip(cols["rate"][i], 0, None), np.clip(cols["rate"][j], 0, None)
            tot = fa + fb
            use = tot > 0
            if use.sum() < SPLIT_MIN_VISITS:
                continue
            share, t = fa[use] / tot[use], cols["mjd"][i][use]
            if np.ptp(t) <= 0 or np.ptp(share) <= 0:
                continue
            if abs(np.corrcoef(t, share)[0, 1]) >= SPLIT_MIN_CORR:
                uf.union(int(a), int(b))
                linked = True
        if not linked:
            continue
        roots: dict[int, list[int]] = {}
        for k in range(len(ids)):
            roots.setdefault(uf.find(k), []).append(int(ids[k]))
        groups += [g for g in roots.values() if len(g) > 1]
    return groups


def _with_split_error(pm: pa.Table, own: pa.Table) -> pa.Table:
    """A split star's motion errors, honest: each piece's own fit (from its own
    positions) differs from the track's by how much combining the pieces changed the
    answer, an uncertainty of the combination the track's statistical error does not
    hold; it is added in quadrature, per axis."""
    oid = pm.column("objid").to_numpy()
    own_id = own.column("objid").to_numpy()
    where = {int(o): i for i, o in enumerate(own_id)}
    idx = np.array([where.get(int(o), -1) for o in oid], dtype=np.int64)
    hit = idx >= 0
    cols = {}
    for axis in ("pm_ra_cosdec", "pm_dec"):
        err = pm.column(axis + "_err").to_numpy(zero_copy_only=False).astype(float)
        diff = np.zeros(len(oid))
        diff[hit] = (
            pm.column(axis).to_numpy(zero_copy_only=False).astype(float)[hit]
            - own.column(axis).to_numpy(zero_copy_only=False).astype(float)[idx[hit]]
        )
        cols[axis + "_err"] = np.sqrt(err * err + np.nan_to_num(diff) ** 2)
    for name, values in cols.items():
        i = pm.schema.get_field_index(name)
        pm = pm.set_column(i, name, pa.array(values, pm.schema.field(name).type))
    return pm


def motion_tracks(
    visit: pa.Table, groups: list[list[int]] | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The per-visit positions proper motions are fitted to: phot_visit's, except that
    the pieces of one moving star (:func:`split_pieces`) are one track.

    The engine detects stars on a stack of every exposure, where a star that moved
    ~100 mas over the baseline is smeared and may be found as two or three objects;
    each piece then holds the star only in the visits it lies near, and its own
    positions (pulled toward the middle, at low S/N elsewhere) give a motion that is
    short, with errors far too small. The star's position in a visit is the light
    centroid of its pieces (weights: their non-negative rates) with the error of that
    weighted mean; every piece gets the track (and so the star's motion).
    Returns the tracks and the objids of the pieces (``groups``: split_pieces's, if
    already found).
    """
    if groups is None:
        groups = split_pieces(visit)
    if not groups:
        return visit, np.zeros(0, np.int64)
    cols = {c: visit.column(c).to_numpy(zero_copy_only=False) for c in _TRACK_COLUMNS}
    objid = cols["objid"].astype(np.int64)
    member = np.isin(objid, np.fromiter((i for g in groups for i in g), np.int64))
    keep = visit.filter(pa.array(~member))
    out: dict[str, list] = {c: [] for c in _TRACK_COLUMNS}
    for g in groups:
        rows = np.flatnonzero(np.isin(objid, np.asarray(g, np.int64)) & (cols["tie_nstar"] > 0))
        per: dict[tuple, list[int]] = {}
        for k in rows.tolist():
            per.setdefault(
                (cols["field_id"][k], cols["visit_id"][k], cols["filter"][k]), []
            ).append(k)
        for (fid, vid, filt), rs in per.items():
            r = np.asarray(rs)
            w = np.clip(cols["rate"][r], 0, None)
            e = cols["pos_err"][r].astype(float)
            if w.sum() <= 0 or not np.all(np.isfinite(e) & (e > 0)):
                continue
            w = w / w.sum()
            dra = ((cols["ra"][r] - cols["ra"][r[0]] + 540) % 360) - 180
            ra = float(cols["ra"][r[0]] + np.sum(w * dra))
            dec = float(np.sum(w * cols["dec"][r]))
            err = float(np.sqrt(np.sum(w * w * e * e)))
            mjd = float(np.sum(w * cols["mjd"][r]))
            for oid in g:
                for c, v in zip(
                    _TRACK_COLUMNS,
                    (
                        oid,
                        fid,
                        vid,
                        filt,
                        ra % 360,
                        dec,
                        err,
                        float(np.sum(cols["rate"][r])),
                        mjd,
                        int(np.max(cols["tie_nstar"][r])),
                    ),
                ):
                    out[c].append(v)
    merged = pa.table(
        {c: pa.array(out[c], type=visit.schema.field(c).type) for c in _TRACK_COLUMNS}
    )
    pieces = np.fromiter((i for g in groups for i in g), np.int64)
    return pa.concat_tables([keep.select(list(_TRACK_COLUMNS)), merged]), pieces


def _pm_sql(visit: str, mod: str, min_baseline_days: float) -> str:
    """phot_pm rows: a weighted linear fit per object (closed-form sums)."""
    dra = "(((v.ra - m.ra + 540) % 360) - 180) * cos(radians(m.dec)) * 3.6e6"
    return f"""
WITH p AS (
  SELECT v.objid, m.ra AS ra0, m.dec AS dec0, v.mjd,
    (v.mjd - 51544.5) / {_YEAR} AS t, {dra} AS x, (v.dec - m.dec) * 3.6e6 AS y,
    1 / (v.pos_err::DOUBLE * v.pos_err) AS w
  FROM {visit} v JOIN (SELECT objid, ra, dec FROM {mod}) m USING (objid)
  WHERE v.tie_nstar > 0 AND v.pos_err > 0 AND isfinite(v.pos_err)
), s AS (
  SELECT objid, any_value(ra0) AS ra0, any_value(dec0) AS dec0, count(*) AS n,
    count(DISTINCT mjd) AS nt, max(mjd) - min(mjd) AS baseline,
    sum(w) AS sw, sum(w * t) AS st, sum(w * t * t) AS stt,
    sum(w * x) AS sx, sum(w * t * x) AS stx, sum(w * x * x) AS sxx,
    sum(w * y) AS sy, sum(w * t * y) AS sty, sum(w * y * y) AS syy
  FROM p GROUP BY objid
), f AS (
  SELECT *, sw * stt - st * st AS d,
    (sw * stx - st * sx) / (sw * stt - st * st) AS pmx,
    (sw * sty - st * sy) / (sw * stt - st * st) AS pmy
  FROM s WHERE nt >= 2 AND baseline >= {float(min_baseline_days)}
)
SELECT objid,
  ra0 + (sx / sw) / 3.6e6 / cos(radians(dec0)) AS ra, dec0 + (sy / sw) / 3.6e6 AS dec,
  pmx AS pm_ra_cosdec, sqrt(sw / d * greatest(chi2, 1)) AS pm_ra_cosdec_err,
  pmy AS pm_dec, sqrt(sw / d * greatest(chi2, 1)) AS pm_dec_err,
  51544.5 + {_YEAR} * st / sw AS pm_ref_epoch, n::INTEGER AS pm_nvisit,
  baseline AS pm_baseline, chi2 AS pm_chi2
FROM (SELECT *, CASE WHEN n > 2 THEN greatest(
    (sxx - sx * sx / sw - pmx * pmx * d / sw) + (syy - sy * sy / sw - pmy * pmy * d / sw), 0
  ) / (2 * n - 4) END AS chi2 FROM f WHERE d > 0)
"""


def _summed_light_sql(meas: str, pieces: str) -> str:
    """phot_meas's columns variability reads, with the pieces of each split star
    (``pieces``: objid, grp) replaced by their summed light per exposure and filter,
    given to every piece (magnitudes from each exposure's zero point, which the
    pieces' own rows carry as vega + 2.5 log10(rate))."""
    cols = "objid, filter, visit_id, mjd, vega, err, flag"
    return f"""(
  SELECT {cols} FROM {meas} WHERE objid NOT IN (SELECT objid FROM {pieces})
  UNION ALL
  SELECT p.objid, s.filter, s.visit_id, s.mjd,
    CASE WHEN s.rate > 0 AND s.zpt IS NOT NULL THEN s.zpt - 2.5 * log10(s.rate) ELSE 99.999
      END AS vega,
    CASE WHEN s.rate > 0 THEN 1.0857362 * s.raterr / s.rate ELSE 9.999 END AS err, s.flag
  FROM (
    SELECT q.grp, m.exposure_id, m.filter, any_value(m.visit_id) AS visit_id,
      any_value(m.mjd) AS mjd, sum(m.rate) AS rate, sqrt(sum(m.raterr * m.raterr)) AS raterr,
      median(m.vega + 2.5 * log10(m.rate)) FILTER (WHERE m.rate > 0 AND m.vega < 90) AS zpt,
      max(m.flag) AS flag
    FROM {meas} m JOIN {pieces} q USING (objid)
    GROUP BY q.grp, m.exposure_id, m.filter
  ) s JOIN {pieces} p USING (grp)
)"""


def _var_sql(meas: str, mod: str) -> str:
    return f"""
WITH u AS (SELECT * FROM {meas} WHERE {_USABLE}),
s AS (
  SELECT objid, filter, count(*) AS n, count(DISTINCT visit_id) AS nv,
    max(mjd) - min(mjd) AS span,
    sum(vega / (err::DOUBLE * err)) / sum(1 / (err::DOUBLE * err)) AS mean,
    quantile_cont(vega, 0.75) - quantile_cont(vega, 0.25) AS iqr, median(err) AS merr,
    max(vega) - min(vega) AS amp
  FROM u GROUP BY objid, filter
), fl AS (
  -- the filter's repeatability floor: the median scatter of well-measured stars beyond
  -- their errors (PSF residuals the errors do not carry), so bright constant stars
  -- do not outrank faint variables
  -- (the lower quartile, and only from 20 or more stars: the brightest stars of a field
  -- are often its Cepheids)
  SELECT filter, CASE WHEN count(*) FILTER (WHERE merr < {FLOOR_MAX_ERR} AND n >= 5) >= 20
    THEN quantile_cont(sqrt(greatest((iqr / 1.349) ^ 2 - merr * merr, 0)), 0.25)
      FILTER (WHERE merr < {FLOOR_MAX_ERR} AND n >= 5) ELSE 0 END AS floor
  FROM s GROUP BY filter
), c AS (
  SELECT u.objid, u.filter, any_value(fl.floor) AS floor,
    sum((u.vega - s.mean) ^ 2 / (u.err::DOUBLE * u.err + fl.floor * fl.floor)) AS chi2
  FROM u JOIN s USING (objid, filter) JOIN fl USING (filter) GROUP BY u.objid, u.filter
)
SELECT objid, m.ra, m.dec, filter, n::INTEGER AS var_nepoch, nv::INTEGER AS var_nvisit,
  span AS var_mjd_span, mean AS var_mean,
  CASE WHEN n > 1 THEN chi2 / (n - 1) END AS var_chi2, iqr AS var_iqr,
  CASE WHEN n > 3 THEN iqr / (1.349 * sqrt(merr * merr + floor * floor)) END AS var_iqr_norm,
  amp AS var_amp
FROM s JOIN c USING (objid, filter) JOIN (SELECT objid, ra, dec FROM {mod}) m USING (objid)
"""


def _finish(table: pa.Table, columns: dict) -> pa.Table:
    """Add the spatial indexes, order the columns as the schema does, sort by _healpix_29."""
    ra = table.column("ra").to_numpy(zero_copy_only=False).astype(float)
    dec = table.column("dec").to_numpy(zero_copy_only=False).astype(float)
    bad = ~(np.isfinite(ra) & np.isfinite(dec))
    if bad.any():  # phot_meas and phot_mod hold only finite positions: a bug, not data
        raise DataError(f"{int(bad.sum())} derived rows without a finite position")
    extra = {
        "pix4096": ids.pix4096_nest(ra % 360, dec),
        "_healpix_29": ids.healpix29(ra % 360, dec),
    }
    schema = arrow_schema(columns)
    arrays = []
    for f in schema:
        if f.name in extra:
            arrays.append(pa.array(extra[f.name]).cast(f.type))
        elif f.name == "ra":
            arrays.append(pa.array(ra % 360).cast(f.type))
        elif f.name in table.column_names:
            arrays.append(table.column(f.name).cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
    out = pa.Table.from_arrays(arrays, schema=schema)
    return out.sort_by([("_healpix_29", "ascending"), ("objid", "ascending")])


def best_period(
    mjd: np.ndarray, mag: np.ndarray, err: np.ndarray, *, min_d: float = 1.0, max_d: float = 100.0
) -> tuple[float, float]:
    """(period in days, power) of the highest Lomb-Scargle peak of one filter's light curve.

    astropy's fast (Press & Rybicki) one-term periodogram, 10 samples per peak: ~0.1 s
    a star on this machine, where :func:`.lightcurve.find_period`'s two-term model takes
    seconds (it stays the tool for one star's careful period). NaN when the baseline is
    shorter than ``min_d``.
    """
    from astropy.timeseries import LombScargle

    span = float(np.max(mjd) - np.min(mjd)) if len(mjd) else 0.0
    max_d = min(max_d, span)
    if max_d <= min_d:
        return float("nan"), float("nan")
    ls = LombScargle(mjd, mag, err)
    freq, power = ls.autopower(
        minimum_frequency=1 / max_d,
        maximum_frequency=1 / min_d,
        samples_per_peak=10,
        method="fast",
    )
    k = int(np.argmax(power))
    return float(1 / freq[k]), float(power[k])


def _periods(con, meas: str, var: pa.Table) -> pa.Table:
    """Add var_period / var_period_power for the objects that vary."""
    n = var.num_rows
    period = np.full(n, np.nan)
    power = np.full(n, np.nan)
    chi2 = var.column("var_chi2").to_numpy(zero_copy_only=False).astype(float)
    nep = var.column("var_nepoch").to_numpy()
    cand = np.flatnonzero((np.nan_to_num(chi2) >= PERIOD_MIN_CHI2) & (nep >= PERIOD_MIN_EPOCHS))
    if len(cand):
        objid = var.column("objid").to_numpy()[cand]
        filt = np.asarray(var.column("filter").to_pylist(), dtype=object)[cand].astype(str)
        con.register("_cand", pa.table({"objid": objid, "filter": filt}))
        lc = con.sql(
            f"SELECT objid, filter, mjd, vega, err FROM {meas} JOIN _cand USING (objid, filter) "
            f"WHERE {_USABLE} ORDER BY objid, filter, mjd"
        ).to_arrow_table()
        con.unregister("_cand")
        lo = lc.column("objid").to_numpy()
        lf = np.asarray(lc.column("filter").to_pylist(), dtype=object).astype(str)
        t, y, dy = (lc.column(c).to_numpy().astype(float) for c in ("mjd", "vega", "err"))
        new = np.r_[True, (lo[1:] != lo[:-1]) | (lf[1:] != lf[:-1])]
        starts = np.flatnonzero(new)
        ends = np.r_[starts[1:], len(lo)]
        where = {(int(lo[a]), lf[a]): (a, b) for a, b in zip(starts, ends)}
        for i, o, f in zip(cand, objid, filt):
            a, b = where.get((int(o), f), (0, 0))
            if b - a >= PERIOD_MIN_EPOCHS:
                period[i], power[i] = best_period(t[a:b], y[a:b], dy[a:b])
    var = var.append_column("var_period", pa.array(period, pa.float32(), from_pandas=True))
    return var.append_column("var_period_power", pa.array(power, pa.float32(), from_pandas=True))


def derive_tables(
    con,
    meas_files: list[str],
    mod_files: list[str],
    out_dir: Path,
    *,
    min_baseline_days: float = DEFAULT_PM_MIN_BASELINE_DAYS,
) -> dict[str, Path]:
    """Write phot_visit, phot_pm and phot_var of one version to ``out_dir/<table>.parquet``.

    ``con`` is a DuckDB connection; ``meas_files``/``mod_files`` the version's
    phot_meas and phot_mod partition files. Returns table name -> file (rows sorted by
    ``_healpix_29``), which the build splits into HATS partitions.
    """
    if not np.isfinite(min_baseline_days) or min_baseline_days < 0:
        raise DataError(
            f"the proper-motion baseline must be a number of days >= 0, got {min_baseline_days!r}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    empty = not meas_files or not mod_files

    def put(name: str, table: pa.Table, cols: dict) -> pa.Table:
        table = _finish(table, cols)
        out[name] = out_dir / f"{name}.parquet"
        pq.write_table(table, out[name])
        return table

    if empty:
        for name, cols in (
            ("phot_visit", PHOT_VISIT),
            ("phot_pm", PHOT_PM),
            ("phot_var", PHOT_VAR),
        ):
            put(name, arrow_schema(cols).empty_table(), cols)
        return out
    meas, mod = _read(meas_files), _read(mod_files)
    put("phot_visit", con.sql(_visit_sql(meas, mod)).to_arrow_table(), PHOT_VISIT)
    visits = pq.read_table(out["phot_visit"], columns=list(_TRACK_COLUMNS))
    groups = split_pieces(visits)
    tracks, pieces = motion_tracks(visits, groups)

    def fit(table: pa.Table) -> pa.Table:
        con.register("cloudphot_pm_tracks", table)
        try:
            return con.sql(_pm_sql("cloudphot_pm_tracks", mod, min_baseline_days)).to_arrow_table()
        finally:
            con.unregister("cloudphot_pm_tracks")

    pm = fit(tracks)
    if len(pieces):
        own = fit(visits.filter(pa.compute.is_in(visits.column("objid"), pa.array(pieces))))
        pm = _with_split_error(pm, own)
    put("phot_pm", pm, PHOT_PM)
    var_meas = meas
    if groups:
        # a split star's variability is that of its summed light: each piece alone
        # gains what the next loses as it moves, and would look variable
        con.register(
            "cloudphot_pieces",
            pa.table(
                {
                    "objid": pa.array([o for g in groups for o in g], pa.int64()),
                    "grp": pa.array([k for k, g in enumerate(groups) for _ in g], pa.int64()),
                }
            ),
        )
        var_meas = _summed_light_sql(meas, "cloudphot_pieces")
    try:
        var = con.sql(_var_sql(var_meas, mod)).to_arrow_table()
        put("phot_var", _periods(con, var_meas, var), PHOT_VAR)
    finally:
        if groups:
            con.unregister("cloudphot_pieces")
    return out
