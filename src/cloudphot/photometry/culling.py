"""PHAT-style quality cuts: ``st`` (star) and ``gst`` (good star) per filter.

PHAT (Dalcanton et al. 2012, ApJS 200, 18, sec. 4.2; Williams et al. 2014, ApJS
215, 9, sec. 3.5) cull a camera's filter *pair* with

- ``st``:  S/N >= 4 in both filters, (sharp1 + sharp2)**2 <= 0.075 (ACS),
  0.15 (WFC3/UVIS and WFC3/IR), and (DOLPHOT) flag <= 2 [Williams et al. 2014];
- ``gst``: ``st`` and (crowd1 + crowd2) <= 0.1 (ACS), 1.3 (UVIS), 0.48 (IR)
  [Williams et al. 2014]. Dalcanton et al. 2012 used crowding limits of
  2.25 (ACS), 1.3 (UVIS) and 2.25 (IR), as recorded in the UW pipeline's gst
  file headers (CRLIMACS/CRLIMUV/CRLIMIR).

The field catalog carries per-filter ``st``/``gst`` columns (as PHAT's
``phot_mod`` ``<filter>_gst``), so the same limits are applied per filter to
that filter's combined sharp and crowd: sharp**2 <= limit and crowd <= limit
(for a pair with equal values this is looser than the pair cut by factors 4 and
2; :func:`cull_pair` applies the published pair form exactly).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .options import PhotometryOptions

__all__ = ["cull_filter", "cull_pair", "cuts_for"]


def cuts_for(camera: str, options: PhotometryOptions | None = None) -> tuple[float, float]:
    """(sharp limit, crowd limit) for ``ACS``, ``UVIS`` or ``IR``."""
    o = options or PhotometryOptions()
    cam = camera.upper()
    if cam == "IR":
        return o.sharp_cut_ir, o.crowd_cut_ir
    if cam == "UVIS":
        return o.sharp_cut_uvis, o.crowd_cut_uvis
    return o.sharp_cut_acs, o.crowd_cut_acs


def cull_filter(
    snr: NDArray,
    sharp: NDArray,
    crowd: NDArray,
    flag: NDArray,
    camera: str,
    options: PhotometryOptions | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per-filter ``st`` and ``gst`` booleans (arrays of shape (n,))."""
    o = options or PhotometryOptions()
    sharp_lim, crowd_lim = cuts_for(camera, o)
    with np.errstate(invalid="ignore"):
        st = (
            (np.nan_to_num(snr, nan=-1) >= o.snr_min)
            & (np.nan_to_num(sharp, nan=99) ** 2 <= sharp_lim)
            & (np.asarray(flag) <= o.flag_max)
        )
        gst = st & (np.nan_to_num(crowd, nan=99) <= crowd_lim)
    return st, gst


def cull_pair(
    snr1: NDArray,
    snr2: NDArray,
    sharp1: NDArray,
    sharp2: NDArray,
    crowd1: NDArray,
    crowd2: NDArray,
    flag1: NDArray,
    flag2: NDArray,
    camera: str,
    options: PhotometryOptions | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The published two-filter form of the cuts (both filters of one camera)."""
    o = options or PhotometryOptions()
    sharp_lim, crowd_lim = cuts_for(camera, o)
    with np.errstate(invalid="ignore"):
        st = (
            (np.nan_to_num(snr1, nan=-1) >= o.snr_min)
            & (np.nan_to_num(snr2, nan=-1) >= o.snr_min)
            & (np.nan_to_num(sharp1 + sharp2, nan=99) ** 2 <= sharp_lim)
            & (np.asarray(flag1) <= o.flag_max)
            & (np.asarray(flag2) <= o.flag_max)
        )
        gst = st & (np.nan_to_num(crowd1 + crowd2, nan=99) <= crowd_lim)
    return st, gst
