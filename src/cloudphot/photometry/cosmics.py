"""Cosmic-ray flagging on single exposures (LA Cosmic via astroscrappy + a PSF veto)."""

from __future__ import annotations

import astroscrappy
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.special import erf

__all__ = ["flag_cosmics", "psf_neighbour_ratio"]


def psf_neighbour_ratio(fwhm_pix: float, nphase: int = 11) -> float:
    """Smallest (median of the 8 neighbours / peak pixel) of a pixelated Gaussian PSF.

    Taken over sub-pixel phases in [-0.5, 0.5]; a real star is never sharper than this.
    """
    s = fwhm_pix / 2.3548
    worst = np.inf
    for dx in np.linspace(-0.5, 0.5, nphase):
        for dy in np.linspace(-0.5, 0.5, nphase):
            ex = np.diff(0.5 * (1 + erf((np.arange(-1, 3) - 0.5 - dx) / (np.sqrt(2) * s))))
            ey = np.diff(0.5 * (1 + erf((np.arange(-1, 3) - 0.5 - dy) / (np.sqrt(2) * s))))
            st = np.outer(ey, ex)
            j, i = np.unravel_index(np.argmax(st), st.shape)
            if (j, i) != (1, 1):
                continue
            ring = np.delete(st.ravel(), 4)
            worst = min(worst, float(np.median(ring) / st[1, 1]))
    return worst


def flag_cosmics(
    sci: NDArray[np.floating],
    bad: NDArray[np.bool_] | None = None,
    *,
    sky: float | NDArray[np.floating] = 0.0,
    sky_rms: float | NDArray[np.floating] | None = None,
    readnoise: float = 5.0,
    fwhm_pix: float = 2.0,
    sigclip: float = 4.5,
    objlim: float = 12.0,
    niter: int = 3,
    psf_veto: bool = True,
) -> NDArray[np.bool_]:
    """Cosmic-ray mask of one chip.

    Runs ``astroscrappy.detect_cosmics`` (LA Cosmic, van Dokkum 2001; median
    fine-structure mode). On undersampled HST images LA Cosmic also flags the
    cores of bright stars (in our tests ~140 core pixels of a 256x256 chip with
    ~100 bright stars, whatever ``objlim``), which would bias their photometry.
    So each connected group of flagged pixels is then vetoed when it is as
    smooth as a star: when the median of the 8 neighbours of its brightest pixel
    is at least half the smallest neighbour/peak ratio a pixelated PSF of this
    FWHM can have (:func:`psf_neighbour_ratio`), less 3 sigma of noise. Cosmic
    rays (one to a few sharp pixels) have neighbour medians near the sky and
    stay flagged, also when they hit a star. Pixels already bad are ignored.

    Parameters
    ----------
    sci : ndarray, shape (ny, nx)
        Image in electrons *including* its sky (as in flc files).
    bad : ndarray of bool, shape (ny, nx), optional
        Pixels to ignore (DQ bad, saturated).
    sky : float or ndarray
        Sky level in ``sci`` (electrons), used by the veto.
    sky_rms : float or ndarray, optional
        Sky noise (electrons); default sqrt(sky + readnoise**2).
    readnoise : float
        Read noise, electrons.
    fwhm_pix : float
        PSF FWHM, pixels.
    sigclip, objlim : float
        astroscrappy limits.
    niter : int
        astroscrappy iterations.
    psf_veto : bool
        Apply the star veto.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True where a cosmic ray was found (never on ``bad`` pixels).
    """
    data = np.array(sci, dtype=np.float32)
    mask = np.zeros(data.shape, bool) if bad is None else np.asarray(bad, bool).copy()
    mask |= ~np.isfinite(data)
    data[mask] = np.float32(np.median(np.broadcast_to(sky, data.shape)))
    crmask, _ = astroscrappy.detect_cosmics(
        data,
        inmask=mask,
        sigclip=sigclip,
        sigfrac=0.3,
        objlim=objlim,
        gain=1.0,
        readnoise=readnoise,
        satlevel=np.inf,
        niter=niter,
        sepmed=True,
        cleantype="meanmask",
        fsmode="median",
        verbose=False,
    )
    crmask = np.asarray(crmask, bool) & ~mask
    if not psf_veto or not crmask.any():
        return crmask
    skyv = np.broadcast_to(np.asarray(sky, np.float32), data.shape)
    rms = (
        np.sqrt(np.clip(skyv, 0, None) + readnoise**2)
        if sky_rms is None
        else np.broadcast_to(np.asarray(sky_rms, np.float32), data.shape)
    )
    sub = data - skyv
    q = 0.5 * psf_neighbour_ratio(fwhm_pix)
    labels, nlab = ndimage.label(crmask, structure=np.ones((3, 3)))
    peaks = ndimage.maximum_position(np.where(crmask, sub, -np.inf), labels, np.arange(1, nlab + 1))
    ny, nx = data.shape
    keep = np.ones(nlab + 1, bool)
    keep[0] = False
    for k, (py, px) in enumerate(peaks, start=1):
        y0, y1, x0, x1 = max(py - 1, 0), min(py + 2, ny), max(px - 1, 0), min(px + 2, nx)
        ring = sub[y0:y1, x0:x1].ravel().copy()
        okr = ~mask[y0:y1, x0:x1].ravel()
        centre = (py - y0) * (x1 - x0) + (px - x0)
        okr[centre] = False
        if okr.sum() < 4:
            continue
        noise = float(np.sqrt(rms[py, px] ** 2 + max(sub[py, px], 0.0)))
        med = float(np.median(ring[okr]))
        if med >= q * sub[py, px] - 3.0 * noise / np.sqrt(okr.sum()) * 1.25:
            keep[k] = False  # smooth like a star: not a cosmic ray
    return keep[labels] & crmask
