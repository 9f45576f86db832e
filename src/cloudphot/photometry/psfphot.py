"""Simultaneous PSF photometry of all stars on one chip.

Method (chosen for accuracy *and* speed in crowded fields): every star's PSF
stamp (radius ``r``) is a column of one sparse design matrix over the chip's
good pixels, so the fluxes of all stars -- neighbours included -- are the exact
weighted linear least-squares solution, solved through the sparse normal
equations (SuperLU). Optionally each star also gets the two linearised position
columns ``f * dP/dx`` and ``f * dP/dy`` (still one linear system), which gives
small position corrections; the field driver averages those over all exposures
in the reference frame and refits with fixed positions (DOLPHOT-like: positions
are common to all exposures, fluxes per exposure). A full 512x512 chip with ~2000
stars takes ~0.1 s (fluxes) to ~0.4 s (fluxes + positions). photutils'
``PSFPhotometry`` with a ``SourceGrouper`` instead runs a nonlinear optimiser per
group of neighbours, whose groups percolate into very large ones in crowded
fields; we did not benchmark it here, but its per-star Python-level cost is far
above the budget of ~2-3k stars x ~30 exposures in a minute or two.

Pixel weights are 1/variance with variance = sky rms^2 + max(model, 0)
(electrons; gain 1 because images are in electrons): the first solve uses the
data instead of the model, the second the first solve's model, so the weights
do not correlate with the pixel noise (no flux bias for faint stars).

Quality metrics (per star, on its own stamp):

- ``chi``: sqrt of the PSF-weighted mean of (residual^2 / variance); ~1 for a
  good fit, larger for bad ones (DOLPHOT's chi has the same meaning).
- ``sharp`` and ``round``: the residual (data - full model) plus the star's own
  model is fitted with ``f (a P + s T_s + e1 T_1 + e2 T_2)`` where, for a PSF of
  Gaussian-equivalent width sigma, ``T_s = P (r^2/sigma^2 - 2)`` is the change of
  P when its width grows by a fraction s and ``T_1 = P (x^2 - y^2)/sigma^2``,
  ``T_2 = P 2xy/sigma^2`` are elongations. ``sharp = -s`` (0 for a perfect star,
  > 0 too sharp -- cosmic rays, hot pixels --, < 0 too broad -- galaxies,
  blends) and ``round = sqrt(e1^2 + e2^2)`` (0 round). Both are fractional
  width changes, so a star 10% broader than the PSF has sharp ~ -0.1.
- ``crowd``: ``2.5 log10(f_nosub / f)``, where ``f_nosub`` is the flux the
  star would get if its neighbours were not subtracted (its PSF-weighted
  projection of the neighbours' model added back). 99.999 when f <= 0.
- ``flag`` bits (DOLPHOT): 1 stamp extends off the chip; 2 more than
  ``max_bad_fraction`` of the core pixels (within 1.5 FWHM) bad or cosmic;
  4 a saturated pixel in the core (saturated pixels are left out of the fit,
  so the star is measured on its wings); 8 more than half of the core bad, or
  the central pixel bad (saturation excepted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.linalg import spsolve

from .psfgrid import PSFGrid, PSFLike

__all__ = ["ChipFit", "fit_chip", "own_wing", "wing_fluxes", "wing_image"]


@dataclass
class ChipFit:
    """Results of :func:`fit_chip`, one entry per input star (arrays of shape (n,)).

    ``flux``/``fluxerr`` in electrons (infinite-aperture PSF flux); ``dx``, ``dy``
    position corrections (pixels) and their errors (NaN when positions were not
    fitted); ``used`` is False for stars with no good pixels. ``shift_x``,
    ``shift_y`` are the linear position parameters themselves (flux times shift,
    electrons x pixels) and ``shift_var`` their variance: unlike ``dx = shift_x /
    flux`` they stay well-behaved at low S/N, so many exposures of a faint star can
    be combined into one position (:func:`cloudphot.photometry.field.reduce_field`).
    """

    flux: NDArray
    fluxerr: NDArray
    dx: NDArray
    dy: NDArray
    poserr: NDArray
    chi: NDArray
    sharp: NDArray
    round: NDArray
    crowd: NDArray
    flag: NDArray
    used: NDArray
    model: NDArray | None = None
    shift_x: NDArray | None = None
    shift_y: NDArray | None = None
    shift_var: NDArray | None = None


def _solve(A: sp.csr_matrix, b: NDArray) -> tuple[NDArray, NDArray]:
    """Weighted LSQ through the normal equations; returns (solution, 1/diag(N))."""
    AT = A.T.tocsr()
    N = (AT @ A).tocsr()
    rhs = AT @ b
    diag = N.diagonal()
    # a 1e-9 relative ridge keeps coincident stars (a singular N) solvable
    N = (N + sp.diags(1e-9 * diag)).tocsc()
    ok = diag > 0
    sol = np.zeros(A.shape[1])
    if ok.all():
        sol = spsolve(N, rhs)
    else:
        idx = np.flatnonzero(ok)
        sol[idx] = spsolve(N[idx][:, idx].tocsc(), rhs[idx])
    inv = np.where(ok, 1.0 / np.where(ok, diag, 1.0), np.inf)
    return np.atleast_1d(sol), inv


def fit_chip(
    image: NDArray[np.floating],
    sky_rms: NDArray[np.floating] | float,
    bad: NDArray[np.bool_],
    x: NDArray[np.floating],
    y: NDArray[np.floating],
    grid: PSFGrid,
    *,
    saturated: NDArray[np.bool_] | None = None,
    fit_positions: bool = False,
    position_snr_min: float = 8.0,
    max_bad_fraction: float = 0.2,
    return_model: bool = False,
) -> ChipFit:
    """Fit the fluxes (and optionally position corrections) of all stars jointly.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Sky-subtracted image, electrons.
    sky_rms : ndarray or float
        Sky (+ read) noise per pixel, electrons.
    bad : ndarray of bool, shape (ny, nx)
        Pixels excluded from the fit (DQ bad, saturated, cosmic rays).
    x, y : ndarray, shape (n,)
        Star positions on this chip, 0-based pixels. Stars whose stamp misses
        the chip entirely get ``used = False``.
    grid : PSFGrid
        PSF lookup table; its radius is the fitting radius.
    saturated : ndarray of bool, optional
        Saturated pixels (flag 4).
    fit_positions : bool
        Also fit linearised position corrections for stars with S/N >=
        ``position_snr_min`` (others keep their positions).
    max_bad_fraction : float
        Flag-2 threshold.
    return_model : bool
        Keep the model image (electrons) in the result.

    Returns
    -------
    ChipFit
    """
    image = np.asarray(image, float)
    ny, nx = image.shape
    n = len(x)
    r = grid.radius
    rms2 = np.broadcast_to(np.asarray(sky_rms, float) ** 2, image.shape)
    good_img = ~np.asarray(bad, bool) & np.isfinite(image)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]

    ix, iy, P, dPx, dPy = grid.stamps(x, y, derivatives=True)
    X = ix[:, None, None] + xx
    Y = iy[:, None, None] + yy
    inside = (X >= 0) & (X < nx) & (Y >= 0) & (Y < ny)
    Xc = np.clip(X, 0, nx - 1)
    Yc = np.clip(Y, 0, ny - 1)
    good = inside & good_img[Yc, Xc]
    pix = Yc * nx + Xc
    data = image[Yc, Xc]
    used = good.reshape(n, -1).any(axis=1)

    def design(var_st: NDArray, with_pos: NDArray | None):
        w = np.where(good, 1.0 / np.sqrt(var_st), 0.0)
        blocks = [(np.arange(n), P, np.arange(n))]
        ncols = n
        if with_pos is not None:
            k = np.flatnonzero(with_pos)
            blocks += [
                (k, dPx[k], n + np.arange(len(k))),
                (k, dPy[k], n + len(k) + np.arange(len(k))),
            ]
            ncols = n + 2 * len(k)
        rows, cidx, vals = [], [], []
        for src, stamp, ci in blocks:
            g = good[src]
            rows.append(pix[src][g])
            cidx.append(np.broadcast_to(ci[:, None, None], g.shape)[g])
            vals.append((stamp * w[src])[g])
        # rows of the design matrix: the chip's pixels any stamp touches, in pixel order
        # (what np.unique(..., return_inverse=True) gives, by a dense mark and running
        # count over the chip instead of a sort: O(pixels) not O(n log n))
        allrows = np.concatenate(rows)
        mark = np.zeros(ny * nx, bool)
        mark[allrows] = True
        upix = np.flatnonzero(mark)
        rinv = (np.cumsum(mark, dtype=np.int64) - 1)[allrows]
        A = sp.csr_matrix(
            (np.concatenate(vals), (rinv, np.concatenate(cidx))), shape=(len(upix), ncols)
        )
        return A, upix

    # pixel variance image used for the weights
    def solve(var_img: NDArray, with_pos: NDArray | None):
        A, upix = design(var_img.ravel()[pix], with_pos)
        b = image.ravel()[upix] / np.sqrt(var_img.ravel()[upix])
        sol, inv = _solve(A, b)
        return sol, inv

    def model_image(flux: NDArray, extra: NDArray | None = None, with_pos=None) -> NDArray:
        m = np.zeros(ny * nx)
        contrib = flux[:, None, None] * P
        if extra is not None:
            k = np.flatnonzero(with_pos)
            nk = len(k)
            contrib[k] += extra[:nk, None, None] * dPx[k] + extra[nk:, None, None] * dPy[k]
        np.add.at(m, pix[inside], contrib[inside])
        return m.reshape(ny, nx)

    var0 = rms2 + np.clip(image, 0, None)
    var0 = np.where(np.isfinite(var0) & (var0 > 0), var0, np.nanmedian(rms2) + 1.0)
    sol, inv = solve(var0, None)
    flux = sol[:n]
    var1 = rms2 + np.clip(model_image(flux), 0, None)
    var1 = np.where(var1 > 0, var1, np.nanmedian(rms2) + 1.0)

    dx = np.full(n, np.nan)
    dy = np.full(n, np.nan)
    poserr = np.full(n, np.nan)
    shift_x = shift_y = shift_var = None
    if fit_positions:
        snr0 = flux / np.sqrt(inv[:n])
        with_pos = used & (snr0 >= position_snr_min)
        sol, inv = solve(var1, with_pos)
        flux = sol[:n]
        k = np.flatnonzero(with_pos)
        nk = len(k)
        a, b = sol[n : n + nk], sol[n + nk :]
        fk = np.where(flux[k] > 0, flux[k], np.nan)
        dx[k] = np.clip(a / fk, -0.5, 0.5)
        dy[k] = np.clip(b / fk, -0.5, 0.5)
        poserr[k] = np.sqrt(0.5 * (inv[n : n + nk] + inv[n + nk :])) / np.abs(fk)
        shift_x, shift_y, shift_var = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        shift_x[k], shift_y[k] = a, b
        shift_var[k] = 0.5 * (inv[n : n + nk] + inv[n + nk :])
        mod = model_image(flux, sol[n:], with_pos)
        fluxerr = np.sqrt(inv[:n])
    else:
        sol, inv = solve(var1, None)
        flux = sol[:n]
        fluxerr = np.sqrt(inv[:n])
        mod = model_image(flux)
    flux = np.where(used, flux, np.nan)
    fluxerr = np.where(used, fluxerr, np.nan)

    # ---- metrics on each star's stamp -----------------------------------
    var_st = np.where(inside, var1[Yc, Xc], np.inf)
    wgt = np.where(good, 1.0 / var_st, 0.0)
    resid = np.where(good, data - mod[Yc, Xc], 0.0)
    fP = np.nan_to_num(flux)[:, None, None] * P
    Pw = np.clip(P, 0.0, None)  # a corrected PSF may dip below zero in its outskirts
    sw = np.sum(Pw * good, axis=(1, 2))
    chi = np.sqrt(np.sum(Pw * good * resid**2 * wgt, axis=(1, 2)) / np.where(sw > 0, sw, np.nan))

    s2 = grid.sigma2
    # templates relative to the star's own (sub-pixel) centre
    cx = (np.asarray(x) - ix)[:, None, None]
    cy = (np.asarray(y) - iy)[:, None, None]
    rx = xx - cx
    ry = yy - cy
    Ts = P * ((rx**2 + ry**2) / s2 - 2.0)
    T1 = P * (rx**2 - ry**2) / s2
    T2 = P * 2 * rx * ry / s2
    T = np.stack([P, Ts, T1, T2], axis=1)  # (n, 4, S, S)
    target = resid + fP  # the star alone, neighbours subtracted
    M = np.einsum("nasy,nbsy,nsy->nab", T, T, wgt)
    v = np.einsum("nasy,nsy,nsy->na", T, target, wgt)
    M += (
        np.eye(4)[None]
        * 1e-12
        * np.maximum(np.trace(M, axis1=1, axis2=2), 1e-30)[:, None, None]
        / 4
    )
    coef = np.linalg.solve(M, v[..., None])[..., 0]
    amp = np.where(np.abs(coef[:, 0]) > 0, coef[:, 0], np.nan)
    sharp = -coef[:, 1] / amp
    rnd = np.hypot(coef[:, 2], coef[:, 3]) / np.abs(amp)

    nb = np.sum((mod[Yc, Xc] - fP) * P * wgt, axis=(1, 2))
    pp = np.sum(P * P * wgt, axis=(1, 2))
    f_nosub = np.nan_to_num(flux) + nb / np.where(pp > 0, pp, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        crowd = np.where((flux > 0) & (f_nosub > 0), 2.5 * np.log10(f_nosub / flux), 99.999)

    core = (rx**2 + ry**2) <= (1.5 * grid.fwhm_pix) ** 2
    core &= inside  # pixels off the chip are flag 1, not bad pixels
    satpix = (
        (np.asarray(saturated, bool)[Yc, Xc] & inside)
        if saturated is not None
        else np.zeros_like(inside)
    )
    ncore = core.sum(axis=(1, 2))
    # saturated pixels give flag 4 only: the star is still measured on its wings
    badcore = np.where(
        ncore > 0, np.sum(core & ~good & ~satpix, axis=(1, 2)) / np.maximum(ncore, 1), 1.0
    )
    flag = np.zeros(n, np.int16)
    flag |= np.where(~inside.all(axis=(1, 2)), 1, 0).astype(np.int16)
    flag |= np.where(badcore > max_bad_fraction, 2, 0).astype(np.int16)
    flag |= np.where((satpix & core).any(axis=(1, 2)), 4, 0).astype(np.int16)
    centre_bad = ~good[:, r, r] & ~satpix[:, r, r]
    flag |= np.where((badcore > 0.5) | centre_bad | (ncore == 0), 8, 0).astype(np.int16)

    return ChipFit(
        flux=flux,
        fluxerr=fluxerr,
        dx=dx,
        dy=dy,
        poserr=poserr,
        chi=np.where(used, chi, np.nan),
        sharp=np.where(used, sharp, np.nan),
        round=np.where(used, rnd, np.nan),
        crowd=np.where(used, crowd, 99.999),
        flag=flag,
        used=used,
        model=mod if return_model else None,
        shift_x=shift_x,
        shift_y=shift_y,
        shift_var=shift_var,
    )


def wing_image(
    shape: tuple[int, int],
    x: NDArray,
    y: NDArray,
    flux: NDArray,
    psf: PSFLike,
    fit_radius: int,
    *,
    wing_radius: int = 25,
    sky_rms: float = 1.0,
    min_peak_rms: float = 0.5,
) -> NDArray:
    """The light of bright stars *outside* their fitting stamps (electrons).

    HST PSFs have wide wings (a few % of the light beyond 5 pixels) that the
    ``(2r+1)``-pixel fitting stamps leave out; around a bright or saturated
    star they are an unmodelled, sloping background that makes its fainter
    neighbours too bright and too broad (seen on the simulator's fields: +0.1
    to +0.5 mag 15-40 pixels from a saturated star). This image, subtracted
    before the final fits, removes them -- DOLPHOT does the same with a larger
    PSF radius for bright stars. Only stars whose wing just outside the stamp
    exceeds ``min_peak_rms`` times the sky rms are rendered.

    Parameters
    ----------
    shape : (ny, nx)
    x, y, flux : ndarray, shape (n,)
        Positions (0-based pixels) and fitted fluxes (electrons).
    psf : PSFLike
        The PSF model (its ``stamp`` must accept ``wing_radius``).
    fit_radius : int
        Half-size of the fitting stamps (their box is left out).
    wing_radius : int
        Half-size of the rendered wings (pixels).
    sky_rms : float
        Sky noise (electrons), for the selection.
    min_peak_rms : float
        Selection threshold.

    Returns
    -------
    ndarray, shape ``shape``
    """
    ny, nx = shape
    out = np.zeros(shape)
    R = int(max(wing_radius, fit_radius + 1))
    wf = wing_fluxes(flux, psf, fit_radius, R, sky_rms=sky_rms, min_peak_rms=min_peak_rms)
    for i in np.flatnonzero(wf):
        ix, iy = int(np.floor(x[i] + 0.5)), int(np.floor(y[i] + 0.5))
        st = wf[i] * own_wing(psf, float(x[i] - ix), float(y[i] - iy), fit_radius, R)
        x0, y0 = ix - R, iy - R
        xs0, ys0 = max(x0, 0), max(y0, 0)
        xs1, ys1 = min(x0 + 2 * R + 1, nx), min(y0 + 2 * R + 1, ny)
        if xs1 <= xs0 or ys1 <= ys0:
            continue
        out[ys0:ys1, xs0:xs1] += st[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    return out


def wing_fluxes(
    flux: NDArray,
    psf: PSFLike,
    fit_radius: int,
    wing_radius: int,
    *,
    sky_rms: float = 1.0,
    min_peak_rms: float = 0.5,
    max_stars: int = 500,
) -> NDArray:
    """The flux of each star whose wings :func:`wing_image` renders (0 for the others):
    the ``max_stars`` brightest whose PSF just outside the stamp exceeds
    ``min_peak_rms`` times the sky rms."""
    flux = np.nan_to_num(np.asarray(flux, float))
    out = np.zeros_like(flux)
    R = int(max(wing_radius, fit_radius + 1))
    edge = float(np.asarray(psf.stamp(0.0, 0.0, R), float)[R, R + fit_radius + 1])
    if not len(flux) or edge <= 0:
        return out
    sel = np.flatnonzero(flux * edge > min_peak_rms * sky_rms)
    sel = sel[np.argsort(-flux[sel])][:max_stars]
    out[sel] = flux[sel]
    return out


def own_wing(psf: PSFLike, fx: float, fy: float, fit_radius: int, radius: int) -> NDArray:
    """A unit-flux star's PSF out to ``radius`` with its fitting-stamp box zeroed: what
    :func:`wing_image` subtracts of it (its centre pixel at ``(radius, radius)``)."""
    st = np.asarray(psf.stamp(fx, fy, radius), float).copy()
    r, f = radius, fit_radius
    st[r - f : r + f + 1, r - f : r + f + 1] = 0.0
    return st
