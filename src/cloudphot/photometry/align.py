"""Relative alignment of exposures through matched bright stars.

Each chip's bright stars are detected (DAOStarFinder) and their positions refined
by the engine's own simultaneous PSF fit (three linearised recentering passes,
neighbours fitted together), which removes the sub-pixel-phase bias of
centroids. The astrometric reference stars (from the reference exposure) are
predicted on the chip through its header WCS, matched to the nearest detection
within ``match_pix``, and the offset is fitted robustly (3-sigma clipped least
squares, iterated): a shift, or a shift plus rotation (a similarity transform
with free scale is not fitted: HST plate scales are known). The corrected WCS
maps the reference stars' sky positions to where they are measured.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from cloudphot.errors import DataError

from .detect import detect_stars
from .psfgrid import PSFGrid
from .psfphot import fit_chip

__all__ = ["Alignment", "align_chip", "apply_offset", "bright_star_positions", "fit_offset"]


@dataclass
class Alignment:
    """Fitted offset of one chip relative to the reference frame.

    ``dx``, ``dy`` (pixels) are measured minus header-predicted positions at the
    chip centre; ``rot_deg`` the fitted rotation (0 for ``shift``); ``nmatch``
    the stars used after clipping; ``rms_pix`` their residual rms; ``wcs`` the
    corrected WCS.
    """

    dx: float
    dy: float
    rot_deg: float
    nmatch: int
    rms_pix: float
    wcs: WCS


def bright_star_positions(
    image: NDArray,
    sky_rms: NDArray | float,
    bad: NDArray,
    grid: PSFGrid,
    *,
    nstars: int = 150,
    threshold_sigma: float = 5.0,
    iterations: int = 3,
) -> tuple[NDArray, NDArray, NDArray]:
    """PSF-refined positions of the brightest isolated stars on a sky-subtracted chip.

    Returns
    -------
    x, y, flux : ndarray, shape (m,)
        0-based pixel positions and fitted fluxes (image units), brightest first.
    """
    found = detect_stars(image, sky_rms, grid.fwhm_pix, threshold_sigma=threshold_sigma, mask=bad)
    if len(found) == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    x = np.asarray(found["x"], float)
    y = np.asarray(found["y"], float)
    for _ in range(iterations):
        fit = fit_chip(image, sky_rms, bad, x, y, grid, fit_positions=True, position_snr_min=20.0)
        x = x + np.nan_to_num(fit.dx)
        y = y + np.nan_to_num(fit.dy)
    ok = np.isfinite(fit.dx) & (fit.flag == 0) & np.isfinite(fit.flux)
    # isolated: no other detection within 2.5 FWHM
    tree = cKDTree(np.c_[x, y])
    nnd, _ = tree.query(np.c_[x, y], k=2)
    ok &= nnd[:, 1] > 2.5 * grid.fwhm_pix
    order = np.argsort(-np.where(ok, fit.flux, -np.inf))[: int(ok.sum())][:nstars]
    return x[order], y[order], fit.flux[order]


def fit_offset(
    xp: NDArray,
    yp: NDArray,
    xm: NDArray,
    ym: NDArray,
    *,
    mode: str = "shift",
    center: tuple[float, float] = (0.0, 0.0),
    clip: float = 3.0,
    iterations: int = 5,
) -> tuple[NDArray, float, int, float]:
    """Robust transform from predicted (xp, yp) to measured (xm, ym) positions.

    Returns
    -------
    t : ndarray, shape (2,)
        Shift (pixels) at ``center``.
    theta : float
        Rotation, radians (0 for ``mode="shift"``).
    n : int
        Stars kept after clipping.
    rms : float
        Residual rms (pixels).
    """
    u = np.asarray(xp) - center[0]
    v = np.asarray(yp) - center[1]
    du = np.asarray(xm) - np.asarray(xp)
    dv = np.asarray(ym) - np.asarray(yp)
    keep = np.ones(len(u), bool)
    t = np.zeros(2)
    theta = 0.0
    for _ in range(iterations):
        if keep.sum() < (2 if mode == "shift" else 3):
            raise DataError("too few matched stars to fit the alignment")
        if mode == "shift":
            t = np.array([np.mean(du[keep]), np.mean(dv[keep])])
            rx, ry = du - t[0], dv - t[1]
        else:  # small-angle rotation: du = tx - theta v, dv = ty + theta u
            A = np.zeros((2 * keep.sum(), 3))
            A[0::2, 0] = 1
            A[1::2, 1] = 1
            A[0::2, 2] = -v[keep]
            A[1::2, 2] = u[keep]
            b = np.empty(2 * keep.sum())
            b[0::2], b[1::2] = du[keep], dv[keep]
            p = np.linalg.lstsq(A, b, rcond=None)[0]
            t, theta = p[:2], float(p[2])
            rx, ry = du - t[0] + theta * v, dv - t[1] - theta * u
        r = np.hypot(rx, ry)
        sig = 1.4826 * np.median(r[keep]) / 1.1774 + 1e-6  # Rayleigh median -> sigma
        new = r < clip * max(sig, 0.005)
        if np.array_equal(new, keep):
            break
        keep = new
    rms = float(np.sqrt(np.mean(r[keep] ** 2) / 2))
    return t, theta, int(keep.sum()), rms


def apply_offset(wcs: WCS, t: NDArray, theta: float, center: tuple[float, float]) -> WCS:
    """Corrected WCS: new(pixel) = old(T^-1(pixel)), T = rotation about ``center`` + shift."""
    w = copy.deepcopy(wcs)
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, -s], [s, c]])
    Rinv = R.T
    crpix0 = np.asarray(w.wcs.crpix, float) - 1.0  # 0-based
    ctr = np.asarray(center, float)
    w.wcs.crpix = R @ (crpix0 - ctr) + ctr + np.asarray(t, float) + 1.0
    if theta != 0.0:
        if w.wcs.has_cd():
            w.wcs.cd = w.wcs.cd @ Rinv
        else:
            w.wcs.pc = w.wcs.get_pc() @ Rinv
    w.wcs.set()
    return w


def align_chip(
    image: NDArray,
    sky_rms: NDArray | float,
    bad: NDArray,
    wcs: WCS,
    grid: PSFGrid,
    ref_ra: NDArray,
    ref_dec: NDArray,
    *,
    mode: str = "shift",
    nstars: int = 150,
    match_pix: float = 2.0,
    min_matches: int = 5,
    name: str = "",
) -> Alignment:
    """Align one sky-subtracted chip to reference stars given in sky coordinates.

    Raises
    ------
    DataError
        Fewer than ``min_matches`` stars matched (``name`` is named in the message).
    """
    ny, nx = image.shape
    x, y, _ = bright_star_positions(image, sky_rms, bad, grid, nstars=nstars)
    xp, yp = wcs.all_world2pix(ref_ra, ref_dec, 0)
    on = (xp > -1) & (xp < nx) & (yp > -1) & (yp < ny)
    xp, yp = xp[on], yp[on]
    if len(x) == 0 or len(xp) == 0:
        raise DataError(f"{name}: no bright stars to align on")
    d, j = cKDTree(np.c_[x, y]).query(np.c_[xp, yp], distance_upper_bound=match_pix)
    m = np.isfinite(d)
    # unique matches only
    jj = j[m]
    uniq, counts = np.unique(jj, return_counts=True)
    m[m] = np.isin(jj, uniq[counts == 1])
    if m.sum() < min_matches:
        raise DataError(
            f"{name}: only {int(m.sum())} stars matched the reference within "
            f"{match_pix} pix; the header WCS is too far off or the field differs"
        )
    center = ((nx - 1) / 2, (ny - 1) / 2)
    t, theta, n, rms = fit_offset(xp[m], yp[m], x[j[m]], y[j[m]], mode=mode, center=center)
    return Alignment(
        float(t[0]),
        float(t[1]),
        float(np.degrees(theta)),
        n,
        rms,
        apply_offset(wcs, t, theta, center),
    )
