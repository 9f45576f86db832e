"""The PSF from the data: a residual correction to the library PSF, solved from bright
isolated stars, varying over the chip, per exposure (DOLPHOT's ``PSFres``/``PSFsol``
idea, in the spatially varying form of PSFEx).

A library PSF (Tiny Tim) is never the PSF of an exposure: telescope focus breathes,
pointing jitters, the optics vary across the focal plane and the model's wings and
core are a few per cent off. Fitting it unchanged biases every flux by a few per
cent, differently across the chip. This module measures the difference on the
exposure itself::

    P(u; x, y) = P_lib(u) + sum_t p_t(X, Y) r_t(u)

where ``u`` is the offset of a pixel centre from the star, ``X, Y`` the star's chip
position scaled to [-1, 1], ``p_t`` the monomials ``1, X, Y, X^2, XY, Y^2`` up to the
chosen order, and ``r_t`` free (non-parametric) residual images on a grid of half-pixel
nodes (bilinear between nodes), solved by regularised weighted least squares from the
pixels of bright isolated stars after their neighbours' models are subtracted.

Two levels, so that few stars per exposure still give a stable PSF:

1. **pooled** over all exposures of one filter and chip (the same detector pixels see
   the same focal-plane pattern): the spatial pattern, up to second order;
2. **per exposure**, on top of the pooled model: what changes between exposures
   (breathing, jitter), constant over the chip or, with enough stars, linear/quadratic.

The solution only fixes the *shape* within the fitting stamp (a correction leaves the
stamp's total light unchanged: a rescaled PSF is the same fit with another flux); the
flux scale comes from the aperture correction (:func:`aperture_fluxes`,
:func:`fit_apcor`): bright isolated stars' light within ``APERTURE_RADIUS_PIX``
(neighbours subtracted, local sky from an annulus) over the library's encircled
energy there, against their PSF fluxes, pooled over the exposures of a filter and
chip, as a function of position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .psfgrid import PSFGrid, PSFLike

__all__ = [
    "APCOR_MAX_ERROR",
    "APERTURE_RADIUS_PIX",
    "ChipInput",
    "ChipPSF",
    "PSFSamples",
    "VaryingPSFGrid",
    "aperture_fluxes",
    "blur_templates",
    "fit_apcor",
    "isolated",
    "order_for",
    "poly_terms",
    "psf_samples",
    "psfs_from_arrays",
    "psfs_to_arrays",
    "select_psf_stars",
    "solve_blur",
    "solve_correction",
    "solve_field_psfs",
]

#: radius (pixels) of the aperture that ties the PSF flux to the library's encircled
#: energy (DOLPHOT: ``aprad``), and the sky annulus around it
APERTURE_RADIUS_PIX = 12.0
APERTURE_SKY_PIX = (14.0, 20.0)
_NODE_STEP = 0.5  # pixels between residual nodes
_NTERMS = {0: 1, 1: 3, 2: 6, 3: 10}


def poly_terms(X: NDArray, Y: NDArray, order: int) -> NDArray:
    """Monomials ``1, X, Y, X^2, XY, Y^2, X^3, ...`` up to ``order`` (0-3): shape (n, T)."""
    X = np.asarray(X, float)
    Y = np.asarray(Y, float)
    cols = [np.ones_like(X), X, Y, X * X, X * Y, Y * Y, X**3, X * X * Y, X * Y * Y, Y**3]
    return np.stack(cols[: _NTERMS[int(order)]], axis=1)


def order_for(nstars: int, *, linear: int = 60, quadratic: int = 250, cubic: int = 10**9) -> int:
    """Spatial order a number of PSF stars supports (0 below ``linear``, 1, 2 from
    ``quadratic``, 3 from ``cubic``)."""
    if nstars >= cubic:
        return 3
    return 2 if nstars >= quadratic else 1 if nstars >= linear else 0


def _chip_coords(x: NDArray, y: NDArray, shape: tuple[int, int]) -> tuple[NDArray, NDArray]:
    ny, nx = shape
    return 2.0 * np.asarray(x, float) / max(nx - 1, 1) - 1.0, 2.0 * np.asarray(y, float) / max(
        ny - 1, 1
    ) - 1.0


class VaryingPSFGrid(PSFGrid):
    """A :class:`PSFGrid` plus position-dependent correction terms (same interface).

    Parameters
    ----------
    base : PSFGrid
        The library PSF's lookup table.
    corrections : ndarray, shape (T, nphase, nphase, S, S)
        Correction stamps of each polynomial term at the base grid's phases.
    order : int
        Polynomial order of the terms (T = 1, 3 or 6).
    shape : (ny, nx)
        The chip, for the scaled coordinates.
    """

    def __init__(self, base: PSFGrid, corrections: NDArray, order: int, shape: tuple[int, int]):
        self.radius = base.radius
        self.size = base.size
        self.nphase = base.nphase
        self.fwhm_pix = base.fwhm_pix
        self.sigma2 = base.sigma2
        self.encircled = base.encircled
        self.base = base
        self.order = int(order)
        self.shape = tuple(shape)
        self.corrections = np.asarray(corrections, float)
        step = 1.0 / (self.nphase - 1)
        self.grid = base.grid
        self.dgrid_x = base.dgrid_x
        self.dgrid_y = base.dgrid_y
        self.dcorr_x = np.gradient(self.corrections, step, axis=2)
        self.dcorr_y = np.gradient(self.corrections, step, axis=1)

    def stamps(self, x: NDArray, y: NDArray, derivatives: bool = False):
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        ix = np.floor(x + 0.5).astype(int)
        iy = np.floor(y + 0.5).astype(int)
        fx, fy = x - ix, y - iy
        T = self.corrections.shape[0]
        grids = [self.grid] + list(self.corrections)
        if derivatives:
            grids += [self.dgrid_x, *self.dcorr_x, self.dgrid_y, *self.dcorr_y]
        res = self._interp(grids, fx, fy)
        coef = poly_terms(*_chip_coords(x, y, self.shape), self.order)  # (n, T)
        P = res[0] + np.einsum("nt,tnij->nij", coef, np.stack(res[1 : 1 + T]))
        if not derivatives:
            return ix, iy, P
        k = 1 + T
        dPx = res[k] + np.einsum("nt,tnij->nij", coef, np.stack(res[k + 1 : k + 1 + T]))
        k += 1 + T
        dPy = res[k] + np.einsum("nt,tnij->nij", coef, np.stack(res[k + 1 : k + 1 + T]))
        return ix, iy, P, dPx, dPy


@dataclass
class PSFSamples:
    """Pixels of PSF stars, normalised by each star's flux (flattened over stars and pixels).

    ``dx, dy``: offset of the pixel centre from the star (pixels); ``rho``: the star's
    own light (neighbours' models subtracted) over its flux, minus the current PSF;
    ``w``: weight ``flux^2 / variance``; ``X, Y``: the star's scaled chip position.
    """

    dx: NDArray
    dy: NDArray
    rho: NDArray
    w: NDArray
    X: NDArray
    Y: NDArray
    nstars: int
    stars: tuple | None = None  # (x, y, rho, w, good) per star, unflattened

    @staticmethod
    def concat(parts: list[PSFSamples]) -> PSFSamples:
        if not parts:
            e = np.empty(0)
            return PSFSamples(e, e, e, e, e, e, 0)
        cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in "dx dy rho w X Y".split()}
        return PSFSamples(nstars=sum(p.nstars for p in parts), **cat)


def select_psf_stars(
    fit,
    x: NDArray,
    y: NDArray,
    shape: tuple[int, int],
    *,
    snr_min: float = 30.0,
    crowd_max: float = 0.03,
    edge_pix: float = 6.0,
    avoid: NDArray | None = None,
    avoid_pix: float = 15.0,
) -> NDArray:
    """Indices of bright isolated stars usable for the PSF (and aperture) solution.

    S/N >= ``snr_min``, no flag (no bad or saturated pixel in the core, on the chip),
    little neighbour light (``crowd`` <= ``crowd_max`` mag), a normal shape
    (|sharp| < 0.3, round < 0.3, chi < 3), ``edge_pix`` from the chip edges (the
    stamp fits; the aperture ratios skip stars whose annulus does not), and ``avoid_pix`` from any ``avoid`` pixel
    (saturated: bleed trails and the unmodelled cores of saturated stars).
    """
    ny, nx = shape
    snr = fit.flux / np.where(fit.fluxerr > 0, fit.fluxerr, np.inf)
    ok = (
        fit.used
        & (fit.flag == 0)
        & (snr >= snr_min)
        & (np.nan_to_num(fit.crowd, nan=99) <= crowd_max)
        & (np.abs(np.nan_to_num(fit.sharp, nan=9)) < 0.3)
        & (np.nan_to_num(fit.round, nan=9) < 0.3)
        & (np.nan_to_num(fit.chi, nan=99) < 3.0)
        & (x > edge_pix)
        & (x < nx - 1 - edge_pix)
        & (y > edge_pix)
        & (y < ny - 1 - edge_pix)
    )
    if avoid is not None and avoid.any():
        from scipy.ndimage import distance_transform_edt

        far = distance_transform_edt(~avoid) > avoid_pix
        ok &= far[
            np.clip(np.round(y).astype(int), 0, ny - 1), np.clip(np.round(x).astype(int), 0, nx - 1)
        ]
    return np.flatnonzero(ok)


def psf_samples(
    image: NDArray,
    rms2: NDArray,
    bad: NDArray,
    x: NDArray,
    y: NDArray,
    flux: NDArray,
    model: NDArray,
    grid: PSFGrid,
    sel: NDArray,
    clip_sigma: float = 5.0,
    shape_tolerance: float = 0.3,
) -> PSFSamples:
    """Normalised residual pixels of the stars ``sel`` (see :class:`PSFSamples`).

    ``model`` is the full model image of the joint fit (all stars) and ``flux`` the
    fitted fluxes; each star's own light is ``image - model + flux * P``. Pixels off
    the model by more than ``clip_sigma`` times their noise plus ``shape_tolerance``
    times the star's own model there (unflagged cosmic rays, badly fitted neighbours)
    are left out.
    """
    ny, nx = image.shape
    r = grid.radius
    xs, ys, fs = np.asarray(x, float)[sel], np.asarray(y, float)[sel], np.asarray(flux, float)[sel]
    ix, iy, P = grid.stamps(xs, ys)
    jj = np.arange(-r, r + 1)
    X, Y = np.broadcast_arrays(
        ix[:, None, None] + jj[None, None, :], iy[:, None, None] + jj[None, :, None]
    )
    inside = (X >= 0) & (X < nx) & (Y >= 0) & (Y < ny)
    Xc, Yc = np.clip(X, 0, nx - 1), np.clip(Y, 0, ny - 1)
    good = inside & ~bad[Yc, Xc] & np.isfinite(image[Yc, Xc])
    resid = image[Yc, Xc] - model[Yc, Xc]
    var = rms2[Yc, Xc] + np.clip(model[Yc, Xc], 0, None)
    # the model may be off by a good fraction of the star's own light (that is what is
    # being measured); only what no PSF error explains is clipped
    good &= np.abs(resid) < clip_sigma * np.sqrt(var) + shape_tolerance * fs[:, None, None] * P
    alone = resid + fs[:, None, None] * P
    rho = alone / fs[:, None, None] - P
    w = fs[:, None, None] ** 2 / var
    dx = X - xs[:, None, None]
    dy = Y - ys[:, None, None]
    cx, cy = _chip_coords(xs, ys, image.shape)
    Xs = np.broadcast_to(cx[:, None, None], P.shape)
    Ys = np.broadcast_to(cy[:, None, None], P.shape)
    return PSFSamples(
        dx=dx[good],
        dy=dy[good],
        rho=rho[good],
        w=w[good],
        X=Xs[good],
        Y=Ys[good],
        nstars=len(sel),
        stars=(xs, ys, rho, w, good),
    )


def _node_weights(dx: NDArray, dy: NDArray, half: int):
    """Bilinear weights of each sample on a (2 half + 1)^2 node grid (step _NODE_STEP)."""
    n = 2 * half + 1
    u = dx / _NODE_STEP + half
    v = dy / _NODE_STEP + half
    u0 = np.clip(np.floor(u).astype(int), 0, n - 2)
    v0 = np.clip(np.floor(v).astype(int), 0, n - 2)
    tu = np.clip(u - u0, 0.0, 1.0)
    tv = np.clip(v - v0, 0.0, 1.0)
    idx = [v0 * n + u0, v0 * n + u0 + 1, (v0 + 1) * n + u0, (v0 + 1) * n + u0 + 1]
    wts = [(1 - tu) * (1 - tv), tu * (1 - tv), (1 - tu) * tv, tu * tv]
    return idx, wts, n


def solve_correction(
    samples: PSFSamples, radius: int, order: int, *, ridge: float = 1e-3, smooth: float = 3e-3
) -> NDArray:
    """Residual images ``r_t`` (T, n, n) on half-pixel nodes from the samples.

    Weighted least squares ``rho = sum_t p_t(X, Y) r_t(dx, dy)`` with a ridge (towards
    no correction) and a smoothness penalty (second differences between nodes), both
    relative to the mean diagonal of the normal matrix, so that nodes few stars sample
    stay near zero instead of fitting noise.
    """
    half = int(np.ceil((radius + 1) / _NODE_STEP))
    T = _NTERMS[int(order)]
    n = 2 * half + 1
    if samples.rho.size == 0:
        return np.zeros((T, n, n))
    idx, wts, n = _node_weights(samples.dx, samples.dy, half)
    terms = poly_terms(samples.X, samples.Y, order)  # (m, T)
    sw = np.sqrt(samples.w)
    rows, cols, vals = [], [], []
    m = samples.rho.size
    r = np.arange(m)
    for t in range(T):
        for i, wt in zip(idx, wts):
            rows.append(r)
            cols.append(t * n * n + i)
            vals.append(wt * terms[:, t] * sw)
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, T * n * n)
    )
    b = samples.rho * sw
    N = (A.T @ A).tocsc()
    rhs = A.T @ b
    scale = float(N.diagonal().mean()) or 1.0
    # smoothness: second differences along x and y of every term's node image
    eye = sp.identity(n, format="csr")
    d2 = sp.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    L = sp.vstack([sp.kron(eye, d2), sp.kron(d2, eye)])
    LtL = sp.block_diag([(L.T @ L)] * T, format="csc")
    reg = ridge * scale * sp.identity(T * n * n, format="csc") + smooth * scale * LtL
    from scipy.sparse.linalg import spsolve

    sol = spsolve((N + reg).tocsc(), rhs)
    return np.asarray(sol).reshape(T, n, n)


def blur_templates(grid: PSFGrid, correction: NDArray | None = None) -> NDArray:
    """Changes of a PSF under a small extra blur, as lookup tables (3, nph, nph, S, S).

    Any small change of focus, seeing or jitter between exposures convolves the PSF
    with a small kernel; to first order its effect is set by the kernel's second
    moments (first moments are a shift, the star's position): ``(Pxx + Pyy) / 2``
    (isotropic blur), ``(Pxx - Pyy) / 2`` and ``Pxy`` (elongated blur), second
    derivatives of the PSF (``grid`` plus the constant term of ``correction``) with
    respect to the star's position, on the phase grid.
    """
    P = grid.grid if correction is None else grid.grid + correction[0]
    step = 1.0 / (grid.nphase - 1)
    px = np.gradient(P, step, axis=1)
    py = np.gradient(P, step, axis=0)
    pxx = np.gradient(px, step, axis=1)
    pyy = np.gradient(py, step, axis=0)
    pxy = np.gradient(px, step, axis=0)
    return np.stack([0.5 * (pxx + pyy), 0.5 * (pxx - pyy), pxy])


def solve_blur(samples: PSFSamples, templates: NDArray, grid: PSFGrid, order: int = 0) -> NDArray:
    """Per-exposure correction as a combination of :func:`blur_templates`, its three
    coefficients polynomials of ``order`` in the chip position: (T, nph, nph, S, S).

    A handful of unknowns instead of a free image, so the few bright stars of one
    exposure determine it to high precision.
    """
    xs, ys, rho, w, good = samples.stars
    T = _NTERMS[int(order)]
    ix = np.floor(xs + 0.5).astype(int)
    iy = np.floor(ys + 0.5).astype(int)
    tm = np.stack(grid._interp(list(templates), xs - ix, ys - iy))  # (3, n, S, S)
    # the stars' scaled chip positions: per-sample X, Y are constant within a star
    n = rho.shape[0]
    counts = good.reshape(n, -1).sum(1)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    has = counts > 0
    X = np.zeros(n)
    Y = np.zeros(n)
    X[has], Y[has] = samples.X[first[has]], samples.Y[first[has]]
    terms = poly_terms(X, Y, order)  # (n, T)
    cols = [(tm[m] * terms[:, t, None, None])[good] for m in range(len(tm)) for t in range(T)]
    sw = np.sqrt(w[good])
    A = np.stack(cols, axis=1) * sw[:, None]
    N = A.T @ A
    ridge = 1e-9 * np.trace(N) / N.shape[0] * np.eye(N.shape[0])
    coef = np.linalg.solve(N + ridge, A.T @ (rho[good] * sw)).reshape(len(tm), T)
    return np.einsum("mt,mabij->tabij", coef, templates)


def correction_grids(nodes: NDArray, grid: PSFGrid) -> NDArray:
    """The node images sampled at the lookup table's phases: (T, nphase, nphase, S, S)."""
    T, n, _ = nodes.shape
    half = n // 2
    r = grid.radius
    ph = np.linspace(-0.5, 0.5, grid.nphase)
    jj = np.arange(-r, r + 1)
    # offset of stamp pixel (b, a) from a star at phase (fx, fy): (a - r - fx, b - r - fy)
    dx = jj[None, None, None, :] - ph[None, :, None, None]  # (1, nph_x, 1, S)
    dy = jj[None, None, :, None] - ph[:, None, None, None]  # (nph_y, 1, S, 1)
    dx, dy = np.broadcast_arrays(dx, dy)
    idx, wts, _ = _node_weights(dx.ravel(), dy.ravel(), half)
    out = np.zeros((T, dx.size))
    flat = nodes.reshape(T, -1)
    for i, wt in zip(idx, wts):
        out += flat[:, i] * wt[None, :]
    out = out.reshape((T,) + dx.shape)
    return normalise_corrections(out, grid)


def normalise_corrections(corr: NDArray, grid: PSFGrid) -> NDArray:
    """Remove from correction tables (T, nph, nph, S, S) what flux and position describe.

    A rescaled or shifted PSF is the same fit with another flux or position, so the
    data cannot tell them from a shape change. The corrected PSF at the chip centre,
    ``Q0 = P + corr[0]``, is shifted back to the library's centroid and rescaled to the
    library's light within the stamp; the position-dependent terms ``corr[1:]`` lose
    their components along ``Q0`` and its two position derivatives, so that to first
    order the corrected PSF keeps that light and centroid everywhere. The flux scale
    is then the aperture correction's job, and the PSF does not move (its centroid is
    the star's position in every filter).
    """
    T = corr.shape[0]
    S = grid.size
    jj = np.arange(-grid.radius, grid.radius + 1)
    ph = np.linspace(-0.5, 0.5, grid.nphase)
    step = ph[1] - ph[0]
    npx = grid.nphase
    # moments about the star: 1, x - fx, y - fy over the stamp pixels, at every phase
    mx = np.broadcast_to(np.tile(jj, S)[None, None, :] - ph[None, :, None], (npx, npx, S * S))
    my = np.broadcast_to(np.repeat(jj, S)[None, None, :] - ph[:, None, None], (npx, npx, S * S))
    mom = np.stack([np.ones_like(mx), mx, my], axis=2)  # (nph, nph, 3, S*S)
    P = grid.grid.reshape(npx, npx, S * S)
    Q0 = grid.grid + corr[0]
    basis = np.stack(
        [Q0, np.gradient(Q0, step, axis=1), np.gradient(Q0, step, axis=0)], axis=2
    ).reshape(npx, npx, 3, S * S)
    M = np.einsum("abkp,ablp->abkl", mom, basis)  # moments of Q0, dQ0/dx, dQ0/dy
    # the centre term: shift back (first moments as the library's), then rescale
    q = Q0.reshape(npx, npx, S * S)
    want = np.einsum("abkp,abp->abk", mom, P)
    # a few quasi-Newton steps (the derivative tables are one-sided at the outermost
    # phases, so one linear step leaves up to ~0.03 pix of shift there)
    for _ in range(6):
        have = np.einsum("abkp,abp->abk", mom, q)
        shift = np.linalg.solve(M[..., 1:, 1:], (have - want)[..., 1:, None])[..., 0]
        q = q - np.einsum("abk,abkp->abp", shift, basis[:, :, 1:])
        q = q * (P.sum(-1) / q.sum(-1))[..., None]
    out = np.empty((T, npx, npx, S * S))
    out[0] = q - P
    if T > 1:
        flat = corr[1:].reshape(T - 1, npx, npx, S * S)
        rhs = np.einsum("tabp,abkp->tabk", flat, mom)
        coef = np.linalg.solve(M[None], rhs[..., None])[..., 0]
        out[1:] = flat - np.einsum("tabk,abkp->tabp", coef, basis)
    return out.reshape(corr.shape)


def aperture_fluxes(
    image: NDArray,
    rms2: NDArray,
    bad: NDArray,
    x: NDArray,
    y: NDArray,
    flux: NDArray,
    model: NDArray,
    grid: PSFGrid,
    library: PSFLike,
    sel: NDArray,
    wing_flux: NDArray | None = None,
    *,
    radius: float = APERTURE_RADIUS_PIX,
    sky: tuple[float, float] = APERTURE_SKY_PIX,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Aperture fluxes of the stars ``sel``, scaled to total with the library's encircled
    energy, and their variances.

    ``image`` is the chip with the library wings of bright stars subtracted
    (:func:`.psfphot.wing_image` of ``wing_flux``, the flux each star's wing was
    rendered with): neighbours then leave little light in the aperture and annulus.
    For each star: its own light (``image - model`` plus its own model and its own
    subtracted wing; bad pixels take the model's value) summed within ``radius``
    pixels, minus the local sky (median of that light in the ``sky`` annulus) times
    the aperture area, over the library PSF's encircled energy at that radius and the
    star's sub-pixel phase (less the same annulus median of the library PSF: the
    annulus holds a little of the star's own wings). Stars with a bad pixel within 2
    pixels, more than 10 % bad pixels in the aperture or too small an annulus are
    skipped. The variance counts the pixel noise in the aperture and the annulus
    median's.

    Returns
    -------
    total, var, psf_flux, X, Y : ndarray
        Per kept star: the scaled aperture flux, its variance, the star's PSF flux and
        its scaled chip position.
    """
    ny, nx = image.shape
    R = int(np.ceil(sky[1]))
    jj = np.arange(-R, R + 1)
    r = grid.radius
    rows = []
    for i in sel:
        ix, iy = int(np.floor(x[i] + 0.5)), int(np.floor(y[i] + 0.5))
        if ix - R < 0 or iy - R < 0 or ix + R >= nx or iy + R >= ny or flux[i] <= 0:
            continue
        sl = (slice(iy - R, iy + R + 1), slice(ix - R, ix + R + 1))
        res = image[sl] - model[sl]
        b = bad[sl] | ~np.isfinite(res)
        fx, fy = x[i] - ix, y[i] - iy
        rr = np.hypot(jj[None, :] - fx, jj[:, None] - fy)
        ann = (rr >= sky[0]) & (rr <= sky[1]) & ~b
        ap = rr <= radius
        if b[ap].mean() > 0.1 or b[rr <= 2.0].any() or ann.sum() < 20:
            continue
        res = np.where(b, 0.0, res)  # bad pixels (cosmic rays, hot pixels): the model
        P = np.asarray(grid.stamps(np.array([x[i]]), np.array([y[i]]))[2][0])
        own = np.zeros_like(res)
        own[R - r : R + r + 1, R - r : R + r + 1] = flux[i] * P
        lib = np.asarray(library.stamp(float(fx), float(fy), R), float)
        if wing_flux is not None and wing_flux[i] > 0:
            wing = lib.copy()
            wing[R - r : R + r + 1, R - r : R + r + 1] = 0.0
            own += wing_flux[i] * wing
        # the annulus holds some of the star's own wings: take them out of the library's
        # encircled energy the same way the sky is taken out of the data
        na = int(ap.sum())
        v = np.asarray(rms2[sl], float)
        light = res + own
        # local sky: the annulus mean with only strong features (cosmic-ray remnants,
        # badly fitted neighbours) clipped; unresolved faint stars stay in it, as they
        # are in the aperture (a median would leave part of them there)
        la = light[ann]
        lim = 5.0 * np.sqrt(np.mean(v[ann]))
        med = float(np.median(la))
        sky_level = float(np.mean(la[np.abs(la - med) < lim]))
        lib_ann = float(np.mean(lib[ann]))
        ee = float(lib[ap].sum() - lib_ann * na)
        total = float(light[ap].sum() - sky_level * na) / ee
        # the PSF fit has no sky term: it took the same local background b into its
        # flux as b * sum(P) / sum(P^2); measured against the same background
        b_local = sky_level - flux[i] * lib_ann
        fit_flux = flux[i] - b_local * float(P.sum() / np.sum(P * P))
        var_ap = float(v[ap].sum() + np.clip(own[ap], 0, None).sum())
        var_sky = float(np.mean(v[ann])) / ann.sum() * na * na
        rows.append((total, (var_ap + var_sky) / ee**2, fit_flux, x[i], y[i]))
    if not rows:
        e = np.empty(0)
        return e, e, e, e, e
    total, var, fl, xs, ys = np.array(rows).T
    X, Y = _chip_coords(xs, ys, image.shape)
    return total, var, fl, X, Y


def isolated(
    x: NDArray, y: NDArray, flux: NDArray, sel: NDArray, radius: float, ratio: float = 0.02
) -> NDArray:
    """Which stars of ``sel`` have no neighbour brighter than ``ratio`` times their own
    flux within ``radius`` pixels (their apertures hold little but their own light)."""
    from scipy.spatial import cKDTree

    sel = np.asarray(sel, int)
    f = np.nan_to_num(np.asarray(flux, float))
    tree = cKDTree(np.c_[x, y])
    out = np.ones(len(sel), bool)
    for k, near in enumerate(tree.query_ball_point(np.c_[x[sel], y[sel]], radius)):
        i = sel[k]
        out[k] = not any(j != i and f[j] > ratio * f[i] for j in near)
    return out


#: an aperture correction is applied only when known to this fraction (1 sigma; the
#: mismatch it corrects is 1-3 %);
#: otherwise the library's encircled energy stands (apcor 1)
APCOR_MAX_ERROR = 0.01


def fit_apcor(
    total: NDArray, var: NDArray, flux: NDArray, *, clip: float = 4.0
) -> tuple[float, float, int]:
    """Aperture correction (aperture / PSF flux) of a set of stars, with its error.

    The inverse-variance weighted slope of ``total`` against ``flux`` through the
    origin (``sum(total flux / var) / sum(flux^2 / var)``), linear in the noisy
    aperture fluxes so that faint stars do not bias it (a mean of log ratios would,
    and would have to drop negative apertures), iterated with stars more than
    ``clip`` sigma off (neighbours, cosmic rays) left out; the weights favour the
    brightest stars, which the apertures measure best.

    Returns ``(apcor, error, stars used)``; ``(1, inf, n)`` with fewer than 3 stars.
    """
    total, var, flux = (np.asarray(a, float) for a in (total, var, flux))
    good = np.isfinite(total) & (var > 0) & (flux > 0)
    keep = good.copy()
    c, err = 1.0, float("inf")
    for _ in range(10):
        if keep.sum() < 3:
            return 1.0, float("inf"), int(keep.sum())
        w = flux[keep] ** 2 / var[keep]
        c = float(np.sum(total[keep] * flux[keep] / var[keep]) / w.sum())
        z = (total - c * flux) / np.sqrt(np.where(good, var, np.inf))
        # robust scale: neighbours' light makes a one-sided tail that a mean square
        # would follow; the scatter beyond the noise widens the error
        s = max(1.4826 * float(np.median(np.abs(z[keep]))), 1.0)
        err = float(s / np.sqrt(w.sum()))
        new = good & (np.abs(z) < clip * s)
        if np.array_equal(new, keep):
            break
        keep = new
    return c, err, int(keep.sum())


@dataclass
class ChipPSF:
    """The PSF solution of one exposure chip: its lookup table and flux scale.

    ``grid`` is the corrected :class:`VaryingPSFGrid` (or the library grid when too few
    stars); ``apcor_value`` the flux scale (:func:`fit_apcor`, pooled over the chip's
    group; 1 when not known to ``APCOR_MAX_ERROR``); the rest describe the solution.
    """

    grid: PSFGrid
    shape: tuple[int, int]
    apcor_value: float = 1.0
    apcor_error: float = float("inf")
    apcor_measured: float = float("nan")
    apcor_n: int = 0
    nstars: int = 0
    order: int = -1
    pooled_order: int = -1

    def apcor(self, x: NDArray, y: NDArray) -> NDArray:
        """Flux scale at chip positions (multiply PSF fluxes and their errors by it)."""
        return np.full(np.shape(x), self.apcor_value)


def _pad_terms(corr: NDArray, T: int) -> NDArray:
    out = np.zeros((T,) + corr.shape[1:])
    out[: corr.shape[0]] = corr
    return out


@dataclass
class ChipInput:
    """What the field PSF solution needs of one exposure chip (see :func:`solve_field_psfs`).

    ``image`` is the sky-subtracted chip with the outer library wings of bright stars
    subtracted (:func:`.psfphot.wing_image`), ``wing_flux`` the flux each star's wing
    was subtracted with (0 where none; the apertures add each star's own back).
    """

    group: tuple
    image: NDArray
    wing_flux: NDArray
    rms: NDArray
    bad: NDArray
    saturated: NDArray
    x: NDArray
    y: NDArray


def solve_field_psfs(
    chips: list[ChipInput],
    base: dict,
    library: dict,
    *,
    snr_min: float = 30.0,
    per_exposure: bool = True,
    progress=None,
) -> list[ChipPSF]:
    """PSF solution of every chip of a field: pooled per group, then per exposure chip.

    ``base[group]`` is the library :class:`PSFGrid` and ``library[group]`` the library
    PSF model of a group (one filter on one detector chip); ``chips`` are processed in
    order (call ``progress(done, total)`` after each pass over a chip).
    """
    from .psfphot import fit_chip

    def fit(c: ChipInput, grid: PSFGrid):
        f = fit_chip(
            c.image, c.rms, c.bad, c.x, c.y, grid, saturated=c.saturated, return_model=True
        )
        sel = select_psf_stars(f, c.x, c.y, c.image.shape, snr_min=snr_min, avoid=c.saturated)
        return f, sel

    rms2 = [None] * len(chips)
    pooled_parts: dict[tuple, list[PSFSamples]] = {}
    total = 3 * len(chips)
    done = 0
    for n, c in enumerate(chips):
        rms2[n] = np.broadcast_to(np.asarray(c.rms, float) ** 2, c.image.shape)
        f, sel = fit(c, base[c.group])
        pooled_parts.setdefault(c.group, []).append(
            psf_samples(c.image, rms2[n], c.bad, c.x, c.y, f.flux, f.model, base[c.group], sel)
        )
        done += 1
        if progress:
            progress(done, total)
    pooled: dict[tuple, tuple[NDArray, int]] = {}
    for g, parts in pooled_parts.items():
        s = PSFSamples.concat(parts)
        order = order_for(s.nstars, linear=40, quadratic=150, cubic=800)
        if s.nstars < 10:
            pooled[g] = (
                np.zeros((1,) + (base[g].nphase, base[g].nphase, base[g].size, base[g].size)),
                -1,
            )
            continue
        nodes = solve_correction(s, base[g].radius, order)
        pooled[g] = (correction_grids(nodes, base[g]), order)

    out: list[ChipPSF] = []
    ap: dict[tuple, list] = {g: [] for g in pooled}
    for n, c in enumerate(chips):
        g = c.group
        corr, porder = pooled[g]
        grid = (
            VaryingPSFGrid(base[g], corr, max(porder, 0), c.image.shape) if porder >= 0 else base[g]
        )
        f, sel = fit(c, grid)
        order = -1
        if per_exposure and len(sel) >= 10:
            s = psf_samples(c.image, rms2[n], c.bad, c.x, c.y, f.flux, f.model, grid, sel)
            order = order_for(len(sel), linear=100, quadratic=400)
            templates = blur_templates(base[g], corr if porder >= 0 else None)
            extra = solve_blur(s, templates, base[g], order)
            T = _NTERMS[max(order, max(porder, 0))]
            total_corr = _pad_terms(extra, T)
            if porder >= 0:
                total_corr = total_corr + _pad_terms(corr, T)
            grid = VaryingPSFGrid(base[g], total_corr, max(order, porder), c.image.shape)
            f, sel = fit(c, grid)
        done += 2
        if progress:
            progress(done, total)
        # aperture stars: the PSF stars whose annulus stays clear of saturated stars
        apsel = select_psf_stars(
            f,
            c.x,
            c.y,
            c.image.shape,
            snr_min=snr_min,
            avoid=c.saturated,
            avoid_pix=APERTURE_SKY_PIX[1] + 5.0,
        )
        apsel = apsel[isolated(c.x, c.y, f.flux, apsel, APERTURE_RADIUS_PIX + 2.0)]
        ap[g].append(
            aperture_fluxes(
                c.image,
                rms2[n],
                c.bad,
                c.x,
                c.y,
                f.flux,
                f.model,
                grid,
                library[g],
                apsel,
                c.wing_flux,
            )
        )
        out.append(
            ChipPSF(
                grid=grid,
                shape=c.image.shape,
                nstars=len(sel),
                order=order,
                pooled_order=porder,
            )
        )
    for g, parts in ap.items():
        total, var, fl = (np.concatenate([p[i] for p in parts]) for i in range(3))
        # one scale per group: the corrections keep the library's light within the stamp
        # everywhere, so what remains is the encircled-energy difference of the wings
        # (DOLPHOT too fits one aperture correction per image)
        value, err, nap = fit_apcor(total, var, fl)
        for c, cp in zip(chips, out):
            if c.group == g:
                cp.apcor_measured, cp.apcor_error, cp.apcor_n = value, err, nap
                cp.apcor_value = value if err <= APCOR_MAX_ERROR else 1.0
    return out


_SAVED = (
    "apcor_value",
    "apcor_error",
    "apcor_measured",
    "apcor_n",
    "nstars",
    "order",
    "pooled_order",
)


def psfs_to_arrays(psfs: list[ChipPSF]) -> dict[str, NDArray]:
    """The solutions as plain arrays (a checkpoint): per chip its correction tables
    (``corr<n>``, absent for a library grid) and the scalar fields."""
    out: dict[str, NDArray] = {k: np.array([getattr(p, k) for p in psfs]) for k in _SAVED}
    out["grid_order"] = np.array(
        [p.grid.order if isinstance(p.grid, VaryingPSFGrid) else -1 for p in psfs]
    )
    for n, p in enumerate(psfs):
        if isinstance(p.grid, VaryingPSFGrid):
            out[f"corr{n}"] = p.grid.corrections
    return out


def psfs_from_arrays(
    arrays: dict[str, NDArray], base: list[PSFGrid], shapes: list[tuple[int, int]]
) -> list[ChipPSF]:
    """Inverse of :func:`psfs_to_arrays`, given each chip's library grid and shape."""
    out = []
    for n, (g, shape) in enumerate(zip(base, shapes)):
        order = int(arrays["grid_order"][n])
        grid = g if order < 0 else VaryingPSFGrid(g, arrays[f"corr{n}"], order, shape)
        vals = {k: arrays[k][n].item() for k in _SAVED}
        out.append(ChipPSF(grid=grid, shape=tuple(shape), **vals))
    return out
