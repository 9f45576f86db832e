"""Per-filter combination of measurements into field-catalog columns."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from .culling import cull_filter
from .options import PhotometryOptions

__all__ = ["ERR_BAD", "MAG_BAD", "combine_filter", "rate_to_mag"]

MAG_BAD = 99.999
"""Magnitude written when the rate is <= 0 (DOLPHOT convention)."""
ERR_BAD = 9.999
"""Magnitude error written when the rate is <= 0."""


def rate_to_mag(rate: NDArray, raterr: NDArray, zpt: NDArray | float) -> tuple[NDArray, NDArray]:
    """Vega mag and its error from a rate (e-/s) and the Vega zeropoint (mag of 1 e-/s)."""
    rate = np.asarray(rate, float)
    raterr = np.asarray(raterr, float)
    pos = np.isfinite(rate) & (rate > 0)
    safe = np.where(pos, rate, 1.0)
    mag = np.where(pos, zpt - 2.5 * np.log10(safe), MAG_BAD)
    err = np.where(pos, 2.5 / np.log(10) * raterr / safe, ERR_BAD)
    return mag, err


def _grouped_median(groups: NDArray, values: NDArray, ngroups: int) -> NDArray:
    """Median of ``values`` per group id (NaN for empty groups), without a Python loop."""
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if g.size else np.array([], int)
    counts = np.diff(np.r_[starts, g.size])
    med = np.full(ngroups, np.nan)
    med[g[starts]] = 0.5 * (v[starts + (counts - 1) // 2] + v[starts + counts // 2])
    return med


def outlier_epochs(
    star_index: NDArray,
    rate: NDArray,
    raterr: NDArray,
    use: NDArray,
    nstars: int,
    nsigma: float = 5.0,
    min_epochs: int = 4,
) -> NDArray[np.bool_]:
    """Measurements far from their own star's other measurements.

    A measurement is an outlier when ``|rate - median| > nsigma * max(1.4826 MAD,
    raterr)`` over the star's usable measurements (at least ``min_epochs`` of them).
    Scaling by the star's own spread means a variable star's light curve is never
    clipped (its MAD is its amplitude), while one bad epoch of a constant star
    (a cosmic-ray residual, a chip edge) is. Measurements stay in the measurement
    table either way; only the combined catalog value ignores them.
    """
    idx = np.flatnonzero(use)
    out = np.zeros(use.shape, bool)
    if idx.size == 0:
        return out
    s, r, e = star_index[idx], rate[idx], raterr[idx]
    med = _grouped_median(s, r, nstars)
    dev = np.abs(r - med[s])
    mad = _grouped_median(s, dev, nstars)
    n = np.bincount(s, minlength=nstars)
    scale = np.maximum(1.4826 * mad[s], e)
    out[idx] = (n[s] >= min_epochs) & (dev > nsigma * scale)
    return out


def combine_filter(
    star_index: NDArray[np.integer],
    nstars: int,
    meas: Table,
    zpt: NDArray,
    camera: str,
    options: PhotometryOptions | None = None,
) -> dict[str, NDArray]:
    """Combine one filter's measurements per star.

    Rates are first put on a common zeropoint (the median of the filter's
    per-chip Vega zeropoints ``zp_ref``: ``rate * 10**(0.4 (zp_ref - zp_i))``),
    outlier epochs are set aside (:func:`outlier_epochs`: robust, per star, so
    variable stars keep every epoch), then the rest are averaged with weights
    ``w = 1/raterr**2`` (the error-weighted mean; the
    combined ``raterr = 1/sqrt(sum w)``), and ``vega = zp_ref - 2.5 log10(rate)``.
    ``chi``, ``sharp``, ``round`` and ``crowd`` are the same weighted means;
    ``flag`` is the OR of all the filter's measurement flags; ``nmeas`` counts the
    measurements used (finite rate and error, no flag 8). ``st``/``gst`` from
    :func:`cloudphot.photometry.culling.cull_filter`.

    Parameters
    ----------
    star_index : ndarray of int, shape (m,)
        Catalog row of each measurement.
    nstars : int
        Catalog length.
    meas : astropy.table.Table
        The filter's measurements (columns rate, raterr, chi, sharp, round, crowd, flag).
    zpt : ndarray, shape (m,)
        Vega zeropoint of each measurement.
    camera : str
        ``ACS``, ``UVIS`` or ``IR`` (culling limits).

    Returns
    -------
    dict of str -> ndarray, shape (nstars,)
        Keys are the names of ``products.PER_FILTER_COLUMNS``.
    """
    zpt = np.asarray(zpt, float)
    zp_ref = float(np.median(zpt)) if len(zpt) else 0.0
    c = 10 ** (0.4 * (zp_ref - zpt))
    rate = np.asarray(meas["rate"], float) * c
    raterr = np.asarray(meas["raterr"], float) * c
    flag = np.asarray(meas["flag"], int)
    use = np.isfinite(rate) & np.isfinite(raterr) & (raterr > 0) & ((flag & 8) == 0)
    use &= ~outlier_epochs(np.asarray(star_index), rate, raterr, use, nstars)
    w = np.where(use, 1.0 / np.where(use, raterr, 1.0) ** 2, 0.0)
    sw = np.bincount(star_index, w, nstars)
    has = sw > 0
    den = np.where(has, sw, 1.0)

    def wmean(v: NDArray, ok: NDArray | None = None) -> NDArray:
        v = np.asarray(v, float)
        ok = use & np.isfinite(v) if ok is None else (use & ok)
        ww = np.where(ok, w, 0.0)
        s = np.bincount(star_index, ww, nstars)
        num = np.bincount(star_index, np.where(ok, v, 0.0) * ww, nstars)
        return np.where(s > 0, num / np.where(s > 0, s, 1.0), np.nan)

    out: dict[str, NDArray] = {}
    out["rate"] = np.where(
        has, np.bincount(star_index, np.where(use, rate, 0.0) * w, nstars) / den, np.nan
    )
    out["raterr"] = np.where(has, 1.0 / np.sqrt(den), np.nan)
    out["vega"], err = rate_to_mag(out["rate"], out["raterr"], zp_ref)
    floor = (options or PhotometryOptions()).error_floor_mag
    out["err"] = np.where(err < ERR_BAD, np.hypot(err, floor), err)
    out["chi"] = wmean(meas["chi"])
    out["snr"] = np.where(has, out["rate"] / out["raterr"], 0.0)
    out["sharp"] = wmean(meas["sharp"])
    out["round"] = wmean(meas["round"])
    crowd = np.asarray(meas["crowd"], float)
    cr = wmean(crowd, np.isfinite(crowd) & (crowd < 90))
    out["crowd"] = np.where(np.isfinite(cr), cr, MAG_BAD)
    fl = np.zeros(nstars, np.int64)
    np.bitwise_or.at(fl, star_index, flag)
    out["flag"] = fl
    out["nmeas"] = np.bincount(star_index, use.astype(float), nstars).astype(np.int32)
    st, gst = cull_filter(out["snr"], out["sharp"], out["crowd"], out["flag"], camera, options)
    out["st"] = st & has
    out["gst"] = gst & has
    return out
