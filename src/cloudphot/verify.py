"""Recovered versus injected: how good is a field catalog, measured against the truth.

Used by ``cloudphot demo``, the science tests and the accuracy benchmark, so they
all report the same numbers the same way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

__all__ = [
    "SCORE_BINS",
    "FieldAccuracy",
    "FilterAccuracy",
    "compare_to_truth",
    "match_catalog",
    "match_one_to_one",
    "score_catalog",
]

PIXEL_SCALE_ARCSEC = 0.05  # ACS/WFC; positions errors are reported in these pixels


@dataclass
class FilterAccuracy:
    filter: str
    n_st: int
    n_gst: int
    n_bright: int  # gst stars with S/N > 50 matched to a constant star
    median_abs_dmag: float  # bright stars, mag
    median_dmag: float  # bright stars (bias), mag
    robust_scatter: float  # 1.4826 * MAD of dmag, bright stars


@dataclass
class FieldAccuracy:
    field_id: str
    n_catalog: int
    n_truth: int
    n_matched: int
    median_position_error_pix: float  # bright gst stars, after removing the frame offset
    frame_offset_pix: tuple[float, float] = (float("nan"), float("nan"))
    median_absolute_position_error_pix: float = float("nan")  # including the frame offset
    filters: list[FilterAccuracy] = field(default_factory=list)
    cepheids: list[dict] = field(default_factory=list)  # per variable: measured / covering

    @property
    def cepheids_complete(self) -> bool:
        return all(c["n_measured"] >= c["n_covering"] for c in self.cepheids)


def match_catalog(
    catalog: Table, truth: Table, radius_arcsec: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest truth star of each catalog star within ``radius_arcsec``.

    Returns (catalog indices, truth indices) of the matched pairs, each truth star
    used at most once (the closest catalog star wins).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if len(catalog) == 0 or len(truth) == 0:
        return np.array([], int), np.array([], int)
    c = SkyCoord(np.asarray(catalog["ra"]) * u.deg, np.asarray(catalog["dec"]) * u.deg)
    t = SkyCoord(np.asarray(truth["ra"]) * u.deg, np.asarray(truth["dec"]) * u.deg)
    idx, sep, _ = c.match_to_catalog_sky(t)
    ok = sep.arcsec < radius_arcsec
    ci, ti, d = np.nonzero(ok)[0], idx[ok], sep.arcsec[ok]
    order = np.argsort(d)
    _, first = np.unique(ti[order], return_index=True)
    keep = order[first]
    return ci[keep], ti[keep]


def compare_to_truth(
    catalog: Table,
    measurements: Table,
    truth: Table,
    exposures_truth: Table,
    filters: list[str],
    *,
    field_id: str = "",
    snr_bright: float = 50.0,
) -> FieldAccuracy:
    ci, ti = match_catalog(catalog, truth)
    variable = (
        np.asarray(truth["is_variable"], bool)[ti]
        if "is_variable" in truth.colnames
        else np.zeros(len(ti), bool)
    )
    dra = (np.asarray(catalog["ra"])[ci] - np.asarray(truth["ra"])[ti]) * np.cos(
        np.radians(np.asarray(truth["dec"])[ti])
    )
    ddec = np.asarray(catalog["dec"])[ci] - np.asarray(truth["dec"])[ti]
    pos_pix = np.hypot(dra, ddec) * 3600 / PIXEL_SCALE_ARCSEC

    bright_any = np.zeros(len(ci), bool)
    out = FieldAccuracy(
        field_id=field_id,
        n_catalog=len(catalog),
        n_truth=len(truth),
        n_matched=len(ci),
        median_position_error_pix=float("nan"),
    )
    for f in filters:
        p = f.lower()
        gst = np.asarray(catalog[f"{p}_gst"], bool)
        st = np.asarray(catalog[f"{p}_st"], bool)
        snr = np.asarray(catalog[f"{p}_snr"], float)
        bright = gst[ci] & (snr[ci] > snr_bright) & ~variable
        bright_any |= bright
        dmag = (
            np.asarray(catalog[f"{p}_vega"], float)[ci] - np.asarray(truth[f"{p}_vega"], float)[ti]
        )
        d = dmag[bright]
        mad = float(np.median(np.abs(d - np.median(d)))) if d.size else float("nan")
        out.filters.append(
            FilterAccuracy(
                filter=f,
                n_st=int(st.sum()),
                n_gst=int(gst.sum()),
                n_bright=int(bright.sum()),
                median_abs_dmag=float(np.median(np.abs(d))) if d.size else float("nan"),
                median_dmag=float(np.median(d)) if d.size else float("nan"),
                robust_scatter=1.4826 * mad,
            )
        )
    if bright_any.any():
        # The catalog frame is tied to the header WCS of the reference exposure, whose
        # pointing error (unknown without an external astrometric reference such as
        # Gaia) shifts every position alike. Report that common offset separately
        # from the measurement precision.
        scale = 3600 / PIXEL_SCALE_ARCSEC
        off_x = float(np.median(dra[bright_any])) * scale
        off_y = float(np.median(ddec[bright_any])) * scale
        resid = np.hypot(dra[bright_any] * scale - off_x, ddec[bright_any] * scale - off_y)
        out.frame_offset_pix = (off_x, off_y)
        out.median_position_error_pix = float(np.median(resid))
        out.median_absolute_position_error_pix = float(np.median(pos_pix[bright_any]))

    # Cepheids: measured in every exposure whose chip covers them?
    if "is_variable" in truth.colnames and len(exposures_truth):
        star_of_truth = {
            int(truth["star_id"][t]): int(catalog["star_id"][c]) for c, t in zip(ci, ti)
        }
        meas_count: dict[int, set[str]] = {}
        for sid, exp in zip(
            np.asarray(measurements["star_id"]), np.asarray(measurements["exposure_id"])
        ):
            meas_count.setdefault(int(sid), set()).add(str(exp))
        for row in truth[np.asarray(truth["is_variable"], bool)]:
            tid = int(row["star_id"])
            covering = {
                str(e)
                for e in exposures_truth["exposure_id"][
                    np.asarray(exposures_truth["star_id"]) == tid
                ]
            }
            sid = star_of_truth.get(tid)
            measured: set[str] = meas_count.get(sid, set()) if sid is not None else set()
            out.cepheids.append(
                {
                    "star_id": tid,
                    "period_d": float(row["period_d"]),
                    "detected": sid is not None,
                    "objid_in_field": sid,
                    "n_covering": len(covering),
                    "n_measured": len(measured & covering),
                }
            )
    return out


#: magnitude bins of :func:`score_catalog` (the first collects everything brighter than 21)
SCORE_BINS = (14.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0)


def match_one_to_one(xd, yd, xt, yt, radius: float = 1.0):
    """Pairs (detection index, truth index, distance) within ``radius``, closest pairs
    first, each detection and each truth star used at most once."""
    from scipy.spatial import cKDTree

    xd, yd, xt, yt = (np.asarray(a, float) for a in (xd, yd, xt, yt))
    empty = (np.array([], int), np.array([], int), np.array([]))
    if len(xd) == 0 or len(xt) == 0:
        return empty
    sm = cKDTree(np.c_[xd, yd]).sparse_distance_matrix(
        cKDTree(np.c_[xt, yt]), radius, output_type="ndarray"
    )
    if len(sm) == 0:
        return empty
    sm = sm[np.argsort(sm["v"], kind="stable")]
    used_d = np.zeros(len(xd), bool)
    used_t = np.zeros(len(xt), bool)
    di, ti, dd = [], [], []
    for i, j, v in zip(sm["i"], sm["j"], sm["v"]):
        if not used_d[i] and not used_t[j]:
            used_d[i] = used_t[j] = True
            di.append(i)
            ti.append(j)
            dd.append(v)
    return np.array(di, int), np.array(ti, int), np.array(dd)


def _chip_mapping(truth: Table, rows: Table):
    """Affine map (ra, dec) -> true (x, y) of one exposure chip, fitted on its truth rows
    (exact to << 0.01 pix over a chip: a TAN projection is locally affine)."""
    ra0, dec0 = float(np.median(rows["ra"])), float(np.median(rows["dec"]))
    cosd = np.cos(np.radians(dec0))

    def plane(ra, dec):
        dra = (np.asarray(ra, float) - ra0 + 180.0) % 360.0 - 180.0
        return dra * cosd * 3600.0, (np.asarray(dec, float) - dec0) * 3600.0

    u, v = plane(rows["ra"], rows["dec"])
    A = np.c_[u, v, u * u, u * v, v * v, np.ones_like(u)]
    cx = np.linalg.lstsq(A, np.asarray(rows["x"], float), rcond=None)[0]
    cy = np.linalg.lstsq(A, np.asarray(rows["y"], float), rcond=None)[0]

    def to_pix(ra, dec):
        a, b = plane(ra, dec)
        B = np.c_[a, b, a * a, a * b, b * b, np.ones_like(a)]
        return B @ cx, B @ cy

    return to_pix


def score_catalog(
    catalog: Table,
    truth: Table,
    exposures_truth: Table,
    filters: list[str],
    *,
    quality: str = "gst",
    bins=SCORE_BINS,
    match_pix: float = 1.0,
    margin_pix: float = 10.0,
) -> list[dict]:
    """Recovered versus injected, per filter and magnitude bin, on one reference chip.

    The same scorer is used for cloudphot's catalogs and for a peer's (DOLPHOT), so the
    numbers compare. Per filter, the scored area is the first exposure of that filter
    (its first chip), inset by ``margin_pix``; positions are compared in that chip's
    true pixels (catalog ra/dec mapped through an affine fit to the truth rows of the
    chip, after removing the catalog's median frame offset, which no pipeline can know
    without an external astrometric reference). Detections and injected stars are
    matched one-to-one within ``match_pix`` (closest first).

    Parameters
    ----------
    catalog : Table
        ``ra``, ``dec`` and per filter ``<f>_vega``, ``<f>_err`` and, unless ``quality``
        is ``"all"``, a boolean ``<f>_<quality>``.
    quality : {"gst", "st", "all"}
        Which detections of a filter count: the quality set, or every detection with a
        finite magnitude.

    Returns
    -------
    list of dict
        One row per filter and bin: ``filter, lo, hi, n_true, completeness, bias``
        (median measured - true magnitude of matched constant stars), ``scatter``
        (1.4826 MAD), ``err_calib`` (1.4826 MAD of (dmag - median) / err), ``n_dmag``,
        ``pos_err`` (median, pixels), ``n_det`` (detections by measured magnitude),
        ``n_false`` (of those, unmatched) and ``false_frac``.
    """
    out: list[dict] = []
    variable = (
        np.asarray(truth["is_variable"], bool)
        if "is_variable" in truth.colnames
        else np.zeros(len(truth), bool)
    )
    tindex = {int(s): i for i, s in enumerate(np.asarray(truth["star_id"]))}
    et_filter = np.asarray(exposures_truth["filter"]).astype(str)  # bytes after a FITS read
    et_exposure = np.asarray(exposures_truth["exposure_id"]).astype(str)
    et_chip = np.asarray(exposures_truth["chip"])
    for f in filters:
        p = f.lower()
        this = np.flatnonzero(et_filter == f)
        if this.size == 0:
            continue
        ref, chip = et_exposure[this[0]], et_chip[this[0]]
        rows = exposures_truth[this[(et_exposure[this] == ref) & (et_chip[this] == chip)]]
        ti_all = np.array([tindex[int(s)] for s in rows["star_id"]], int)
        rr = Table(
            {"ra": truth["ra"][ti_all], "dec": truth["dec"][ti_all], "x": rows["x"], "y": rows["y"]}
        )
        to_pix = _chip_mapping(truth, rr)
        tx_all, ty_all = np.asarray(rows["x"], float), np.asarray(rows["y"], float)
        xmax, ymax = float(np.max(tx_all)), float(np.max(ty_all))
        inside_t = (
            (tx_all > margin_pix)
            & (tx_all < xmax - margin_pix)
            & (ty_all > margin_pix)
            & (ty_all < ymax - margin_pix)
        )
        ti = ti_all[inside_t]
        tx, ty = tx_all[inside_t], ty_all[inside_t]
        tmag = np.asarray(truth[f"{p}_vega"], float)[ti]
        mag = np.asarray(catalog[f"{p}_vega"], float)
        err = np.asarray(catalog[f"{p}_err"], float)
        ok = np.isfinite(mag) & (mag < 90)
        if quality != "all":
            ok &= np.asarray(catalog[f"{p}_{quality}"], bool)
        cx, cy = to_pix(np.asarray(catalog["ra"])[ok], np.asarray(catalog["dec"])[ok])
        cmag, cerr = mag[ok], err[ok]
        # the catalog's frame offset (bright matches within 2 pix), then the real match
        di, tj, _ = match_one_to_one(cx, cy, tx, ty, 2 * match_pix)
        bright = tmag[tj] < np.percentile(tmag[tj], 30) if len(tj) else np.array([], bool)
        if bright.sum() >= 3:
            cx = cx - np.median(cx[di[bright]] - tx[tj[bright]])
            cy = cy - np.median(cy[di[bright]] - ty[tj[bright]])
        inside_d = (
            (cx > margin_pix)
            & (cx < xmax - margin_pix)
            & (cy > margin_pix)
            & (cy < ymax - margin_pix)
        )
        di, tj, dist = match_one_to_one(cx, cy, tx, ty, match_pix)
        found = np.zeros(len(tx), bool)
        found[tj] = True
        matched_d = np.zeros(len(cx), bool)
        matched_d[di] = True
        dm = cmag[di] - tmag[tj]
        z = dm / np.where(cerr[di] > 0, cerr[di], np.nan)
        const = ~variable[ti[tj]]
        for lo, hi in itertools.pairwise(bins):
            inb = (tmag >= lo) & (tmag < hi)
            mb = (tmag[tj] >= lo) & (tmag[tj] < hi) & const
            d, zz = dm[mb], z[mb]
            zz = zz[np.isfinite(zz)]
            db = inside_d & (cmag >= lo) & (cmag < hi)
            med = float(np.median(d)) if d.size else float("nan")
            row = {
                "filter": f,
                "lo": lo,
                "hi": hi,
                "n_true": int(inb.sum()),
                "completeness": float(found[inb].mean()) if inb.any() else float("nan"),
                "bias": med,
                "scatter": float(1.4826 * np.median(np.abs(d - med))) if d.size else float("nan"),
                "n_dmag": int(d.size),
                "err_calib": (
                    float(1.4826 * np.median(np.abs(zz - np.median(zz))))
                    if zz.size >= 5
                    else float("nan")
                ),
                "pos_err": float(np.median(dist[mb])) if mb.any() else float("nan"),
                "n_det": int(db.sum()),
                "n_false": int((db & ~matched_d).sum()),
            }
            row["false_frac"] = row["n_false"] / row["n_det"] if row["n_det"] else float("nan")
            out.append(row)
    return out
