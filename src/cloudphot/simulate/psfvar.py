"""The PSF the simulator draws stars with when the engine must not know it.

Photometry measured on stars drawn with the very PSF the engine fits (the "inverse
crime") says little about real data. In ``mismatched`` mode the simulator draws every
star with a *true* PSF that differs from the library model
(:func:`cloudphot.psf.psf_for`, which the engine fits) the way HST PSFs differ from
Tiny Tim models:

- a fixed **residual pattern** the library lacks: 4 % of the light in a scattered halo
  (Gaussian, sigma 4 pix) and a trefoil (three-fold) core distortion, as mirror-pad
  aberrations give;
- **focal-plane variation** across the detector: a focus (isotropic blur) term
  quadratic in position, two astigmatism (elongated blur) terms and a varying trefoil,
  smooth but not polynomial functions of the position in the whole detector
  (chips of a camera share one focal plane); on a simulated sub-array the pattern
  spans the sub-array, so small test fields show the whole range;
- **variation between exposures**: focus breathing (a random focus offset per
  exposure) and pointing jitter (a blur of random size and direction).

All of it is a linear combination of ``K`` basis effective PSFs built once per filter
from the library model by convolution on its oversampled grid (blur and trefoil
kernels conserve flux and keep the light centroid where the truth table puts the
star)::

    P(u; exposure, x, y) = B0(u) + sum_k c_k(exposure, x, y) * (B_k(u) - B0(u))

clipped at zero, with B0 the library PSF plus the fixed residual pattern. The bases
sit interleaved on one 16x oversampled render grid, so drawing a star costs the same
four gathers whatever ``K`` is (:meth:`PSFBasis.render`). ``matched`` mode is the
same renderer with ``K = 1`` and B0 the library PSF itself.

Amplitudes (``PSFVariation``): the focus term changes the core width by about +-8 %,
astigmatism elongates it by up to ~7 %, jitter blurs by up to 0.25 pix; fluxes of a
fixed-library PSF fit are off by a few per cent, position dependent, which is the
size of the Tiny Tim mismatch seen on real ACS data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cloudphot.psf import PSFModel, psf_for

__all__ = [
    "BASIS_NAMES",
    "PSFBasis",
    "PSFVariation",
    "exposure_psf_terms",
    "psf_basis",
    "psf_coefficients",
]

#: the variable terms, in the order of the coefficient columns
BASIS_NAMES = ("focus", "astig_x", "astig_diag", "trefoil")
_RENDER_OVERSAMPLE = 16
#: radius (pixels) within which the variable bases differ from B0 (their kernels reach
#: ~2.5 pixels; the difference 20 pixels out is < 1e-6 of the peak)
DIFF_RADIUS_PIX = 20


@dataclass(frozen=True)
class PSFVariation:
    """Amplitudes of the mismatch between the true PSF and the library PSF.

    Blur sigmas in detector pixels; fractions of the star's light.
    """

    halo_fraction: float = 0.04
    halo_sigma_pix: float = 4.0
    trefoil_fraction: float = 0.12
    trefoil_radius_pix: float = 0.6
    focus_sigma_pix: float = 0.45
    astig_sigma_pix: float = 0.6
    breathing_sd: float = 0.2  # per-exposure focus coefficient offset (sd)
    jitter_max: float = 0.4  # per-exposure jitter coefficient, uniform in [0, max]


def _gaussian_kernel(sx: float, sy: float, angle: float, step: float, half: int) -> NDArray:
    """Normalised elliptical Gaussian on a grid of ``step`` pixels (sigmas in pixels)."""
    u = np.arange(-half, half + 1) * step
    xx, yy = np.meshgrid(u, u)
    c, s = np.cos(angle), np.sin(angle)
    a = c * xx + s * yy
    b = -s * xx + c * yy
    k = np.exp(-0.5 * ((a / max(sx, 1e-3)) ** 2 + (b / max(sy, 1e-3)) ** 2))
    return k / k.sum()


def _trefoil_kernel(radius: float, step: float, half: int) -> NDArray:
    """Three compact blobs at ``radius`` pixels, 120 degrees apart: zero centroid shift."""
    u = np.arange(-half, half + 1) * step
    xx, yy = np.meshgrid(u, u)
    k = np.zeros(xx.shape)
    for ang in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
        bx, by = radius * np.cos(ang), radius * np.sin(ang)
        k += np.exp(-0.5 * ((xx - bx) ** 2 + (yy - by) ** 2) / 0.3**2)
    return k / k.sum()


def _convolve(data: NDArray, kernel: NDArray) -> NDArray:
    """``data`` convolved with a small odd-sized ``kernel``, same shape (zero padded)."""
    n, m = data.shape[0], kernel.shape[0]
    size = n + m - 1
    spec = np.fft.rfft2(data, (size, size)) * np.fft.rfft2(kernel, (size, size))
    full = np.fft.irfft2(spec, (size, size))
    h = m // 2
    return np.clip(full[h : h + n, h : h + n], 0.0, None)


def _phase_normalise(data: NDArray, oversample: int, total: float) -> NDArray:
    """Each sub-pixel phase sums to ``total`` (the effective-PSF flux constraint)."""
    out = data.copy()
    for p in range(oversample):
        for q in range(oversample):
            sub = out[p::oversample, q::oversample]
            sub *= total / sub.sum()
    return out


class PSFBasis:
    """``K`` effective PSFs of one camera/filter on one interleaved 16x render grid.

    Parameters
    ----------
    name : str
    datas : list of ndarray, each (n, n), n odd
        Effective PSFs on the library's oversampled grid (``oversample`` per pixel),
        the first the base B0, the others the B_k whose differences from B0 the
        coefficients weight.
    oversample : int
    fwhm_pix : float
        FWHM of B0 (sets the default stamp radii).
    """

    def __init__(self, name: str, datas: list[NDArray], oversample: int, fwhm_pix: float):
        from scipy.interpolate import RectBivariateSpline

        n = datas[0].shape[0]
        c = n // 2
        self.name = name
        self.k = len(datas)
        self.oversample = int(oversample)
        self.fwhm_pix = float(fwhm_pix)
        self.radius = c // self.oversample - 1
        coarse = (np.arange(n) - c) / self.oversample
        f = _RENDER_OVERSAMPLE
        fine = np.arange(-c * f // self.oversample, c * f // self.oversample + 1) / f
        grid = np.zeros((fine.size, fine.size, self.k), np.float32)
        base = np.clip(
            RectBivariateSpline(coarse, coarse, datas[0], kx=3, ky=3)(fine, fine), 0, None
        )
        grid[..., 0] = base
        # difference bases (weights need not sum to one) only where they differ: blur and
        # trefoil kernels reach a few pixels, so beyond DIFF_RADIUS_PIX they are ~0
        m = min(c // self.oversample, DIFF_RADIUS_PIX) * f
        mid = fine.size // 2
        sl = slice(mid - m, mid + m + 1)
        for i, d in enumerate(datas[1:], start=1):
            g = np.clip(
                RectBivariateSpline(coarse, coarse, d, kx=3, ky=3)(fine[sl], fine[sl]), 0, None
            )
            grid[sl, sl, i] = g - base[sl, sl]
        self.datas = [np.asarray(d) for d in datas]
        self._grid = grid
        self._flat = grid.reshape(-1, self.k)

    def default_radius(self, flux: NDArray) -> NDArray:
        """Stamp radius (pixels) per star: 3.5 FWHM below 300 e-, 4 FWHM below 1e3,
        8 FWHM below 3e4, the full model above (the lost wings of faint stars are
        far below the noise, and no PSF fit reaches them)."""
        flux = np.asarray(flux, dtype=float)
        tiny = min(self.radius, max(3, int(np.ceil(3.5 * self.fwhm_pix))))
        small = min(self.radius, max(tiny, int(np.ceil(4 * self.fwhm_pix))))
        mid = min(self.radius, max(small, int(np.ceil(8 * self.fwhm_pix))))
        return np.where(
            flux < 300, tiny, np.where(flux < 1e3, small, np.where(flux < 3e4, mid, self.radius))
        )

    def stamps(self, fx: NDArray, fy: NDArray, weights: NDArray, radius: int) -> NDArray:
        """Stamps (N, 2r+1, 2r+1) of unit-flux stars at offsets (fx, fy) (|f| <= 0.5 pix)
        from their central pixels, with per-star basis weights (N, K) (column 0 is 1).

        Bilinear in the 16x grid; the ``K`` bases of one grid point are contiguous, so
        the gathers cost what one basis costs.
        """
        f = _RENDER_OVERSAMPLE
        ng = self._grid.shape[0]
        c = ng // 2
        j = np.arange(-radius, radius + 1) * f
        ux = c - f * np.asarray(fx, float)
        uy = c - f * np.asarray(fy, float)
        u0 = np.floor(ux).astype(np.intp)
        v0 = np.floor(uy).astype(np.intp)
        tx = (ux - u0)[:, None]
        ty = (uy - v0)[:, None]
        w = np.asarray(weights, np.float32)
        idx = (v0 * ng + u0)[:, None, None] + (j[:, None] * ng + j[None, :])[None]
        n, s = idx.shape[0], idx.shape[1]
        idx = idx.reshape(n, -1)
        out = np.zeros((n, s * s), np.float64)
        for off, wt in (
            (0, (1 - tx) * (1 - ty)),
            (1, tx * (1 - ty)),
            (ng, (1 - tx) * ty),
            (ng + 1, tx * ty),
        ):
            g = self._flat[idx + off]  # (n, s*s, K)
            out += np.matmul(g, (w * wt.astype(np.float32))[:, :, None])[..., 0]
        np.clip(out, 0.0, None, out=out)
        return out.reshape(n, s, s)

    def render(
        self,
        out: NDArray,
        x: NDArray,
        y: NDArray,
        flux: NDArray,
        weights: NDArray | None = None,
        *,
        chunk: int = 4096,
    ) -> NDArray:
        """Add stars to ``out`` (float64, (ny, nx)) in place and return it.

        ``weights`` (N, K) are each star's basis weights (column 0 is 1); None draws
        every star with B0.
        """
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        flux = np.asarray(flux, float)
        if weights is None:
            weights = np.zeros((x.size, self.k))
            weights[:, 0] = 1.0
        weights = np.asarray(weights, float)
        if weights.shape != (x.size, self.k):
            raise ValueError(f"weights must have shape ({x.size}, {self.k})")
        ny, nx = out.shape
        radii = self.default_radius(flux)
        ix = np.round(x).astype(np.intp)
        iy = np.round(y).astype(np.intp)
        flat = out.reshape(-1)
        for r in np.unique(radii):
            r = int(r)
            sel = np.flatnonzero(
                (radii == r) & (ix >= -r) & (ix < nx + r) & (iy >= -r) & (iy < ny + r)
            )
            sel = sel[np.argsort(iy[sel], kind="stable")]
            jj = np.arange(-r, r + 1)
            step = max(1, min(chunk, (4 * chunk * 81) // (2 * r + 1) ** 2))
            for start in range(0, sel.size, step):
                s = sel[start : start + step]
                st = self.stamps(x[s] - ix[s], y[s] - iy[s], weights[s], r) * flux[s, None, None]
                px = (ix[s, None] + jj[None, :])[:, None, :]
                py = (iy[s, None] + jj[None, :])[:, :, None]
                ok = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
                lin = (py * nx + px)[ok]
                if lin.size == 0:
                    continue
                lo = int(lin.min())
                band = np.bincount(lin - lo, weights=st[ok])
                flat[lo : lo + band.size] += band
        return out


@functools.lru_cache(maxsize=16)
def psf_basis(
    instrument: str, detector: str, filter: str, mode: str, variation: PSFVariation
) -> PSFBasis:
    """The render basis of one filter: ``mode`` ``"matched"`` (B0 = library PSF, K = 1)
    or ``"mismatched"`` (B0 = library + halo + trefoil; K = 1 + len(BASIS_NAMES))."""
    lib: PSFModel = psf_for(instrument, detector, filter)
    if mode == "matched":
        return PSFBasis(lib.name, [np.asarray(lib.data)], lib.oversample, lib.fwhm_pix)
    if mode != "mismatched":
        raise ValueError(f"psf mode must be 'matched' or 'mismatched', got {mode!r}")
    v = variation
    os_ = lib.oversample
    step = 1.0 / os_
    data = np.asarray(lib.data, float)
    total = float(data[::os_, ::os_].sum())
    half = int(np.ceil(4 * max(v.halo_sigma_pix, v.focus_sigma_pix, v.astig_sigma_pix) / step))
    halo = _convolve(data, _gaussian_kernel(v.halo_sigma_pix, v.halo_sigma_pix, 0, step, half))
    tref_k = _trefoil_kernel(v.trefoil_radius_pix, step, int(np.ceil(2.5 / step)))
    base = (1 - v.halo_fraction) * data + v.halo_fraction * halo
    base = (1 - v.trefoil_fraction) * base + v.trefoil_fraction * _convolve(base, tref_k)
    base = _phase_normalise(base, os_, total)
    f = v.focus_sigma_pix
    a = v.astig_sigma_pix
    datas = [
        base,
        _convolve(base, _gaussian_kernel(f, f, 0.0, step, half)),
        _convolve(base, _gaussian_kernel(a, 0.05, 0.0, step, half)),
        _convolve(base, _gaussian_kernel(a, 0.05, np.pi / 4, step, half)),
        _convolve(base, tref_k),
    ]
    datas = [datas[0]] + [_phase_normalise(d, os_, total) for d in datas[1:]]
    return PSFBasis(f"{lib.name} mismatched", datas, os_, lib.fwhm_pix)


def exposure_psf_terms(rng: np.random.Generator, variation: PSFVariation) -> dict[str, float]:
    """The per-exposure part of the true PSF: focus breathing and jitter (size, angle)."""
    return {
        "breathing": float(np.clip(rng.normal(0.0, variation.breathing_sd), -0.45, 0.45)),
        "jitter": float(rng.uniform(0.0, variation.jitter_max)),
        "jitter_angle": float(rng.uniform(0.0, np.pi)),
    }


def psf_coefficients(u: NDArray, v: NDArray, terms: dict[str, float]) -> NDArray:
    """Basis weights (N, 1 + len(BASIS_NAMES)) at detector coordinates ``u, v`` in [-1, 1].

    ``u`` runs along the chip's x axis, ``v`` along the detector's stacked y axis (all
    chips of a camera share one focal plane). The focal-plane part is smooth but not
    a polynomial (an engine fitting polynomials over the chip cannot be exact);
    ``terms`` (:func:`exposure_psf_terms`) add the exposure's breathing and jitter.
    """
    u = np.asarray(u, float)
    v = np.asarray(v, float)
    jit, ang = terms["jitter"], terms["jitter_angle"]
    focus = -0.3 + 0.45 * (u**2 + 0.7 * v**2) + 0.12 * np.sin(2.1 * u + 0.5) + terms["breathing"]
    focus = focus + 0.5 * jit
    astig_x = 0.35 * np.tanh(1.2 * (u**2 - v**2)) + 0.12 * u + jit * np.cos(2 * ang)
    astig_diag = 0.35 * np.sin(1.3 * u * v + 0.2) - 0.08 * v + jit * np.sin(2 * ang)
    trefoil = 0.25 * u - 0.15 * v * u
    out = np.empty((u.size, 1 + len(BASIS_NAMES)))
    out[:, 0] = 1.0
    out[:, 1] = focus
    out[:, 2] = astig_x
    out[:, 3] = astig_diag
    out[:, 4] = trefoil
    return out
