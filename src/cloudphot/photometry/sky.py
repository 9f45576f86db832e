"""Smooth sky background and its rms (photutils Background2D)."""

from __future__ import annotations

import warnings

import numpy as np
from astropy.stats import SigmaClip
from numpy.typing import NDArray
from photutils.background import (
    Background2D,
    MeanBackground,
    MedianBackground,
    StdBackgroundRMS,
)
from photutils.segmentation import detect_sources, detect_threshold, make_2dgaussian_kernel
from photutils.utils import NoDetectionsWarning

__all__ = ["estimate_sky", "residual_sky"]


def estimate_sky(
    sci: NDArray[np.floating],
    bad: NDArray[np.bool_] | None = None,
    *,
    box_pix: int = 64,
    filter_size: int = 3,
    fwhm_pix: float = 2.0,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Sky and sky rms of one chip, in the image's units (electrons).

    Sources are masked first (segmentation at 2 sigma above a first global
    sigma-clipped estimate, dilated by a PSF-sized kernel), then
    ``photutils.background.Background2D`` with 3-sigma clipping, the SExtractor-like
    median estimator and a ``filter_size`` median filter on the mesh gives a
    smooth sky. The rms map is the sigma-clipped standard deviation per box.

    Parameters
    ----------
    sci : ndarray, shape (ny, nx)
        Image, electrons.
    bad : ndarray of bool, shape (ny, nx), optional
        Pixels to ignore.
    box_pix : int
        Mesh box size (pixels), clipped to the image size.
    filter_size : int
        Median filter (boxes) on the mesh.
    fwhm_pix : float
        PSF FWHM (pixels) for the source mask.

    Returns
    -------
    sky, rms : ndarray of float32, shape (ny, nx)
    """
    data = np.asarray(sci, dtype=np.float32)
    mask = ~np.isfinite(data) if bad is None else (np.asarray(bad, bool) | ~np.isfinite(data))
    if mask.all():
        raise ValueError("every pixel is masked")
    # Non-finite pixels are masked already; zero them so no photutils/astropy step warns
    # about them. (Suppressing such warnings with warnings.catch_warnings is not
    # thread-safe, and the local runtime preprocesses exposures in threads.)
    data = np.where(np.isfinite(data), data, np.float32(0))
    box = int(max(8, min(box_pix, min(data.shape) // 2)))
    clip = SigmaClip(sigma=3.0, maxiters=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        thr = detect_threshold(data, n_sigma=2.0, mask=mask, sigma_clip=clip)
        kernel = make_2dgaussian_kernel(max(fwhm_pix, 1.0), size=int(2 * np.ceil(2 * fwhm_pix) + 1))
        from astropy.convolution import convolve

        smoothed = convolve(np.where(mask, 0, data), kernel, normalize_kernel=True)
        segm = detect_sources(smoothed, thr, n_pixels=3, mask=mask)
    srcmask = mask.copy()
    if segm is not None:
        srcmask |= segm.make_source_mask(footprint=np.ones((3, 3), bool))
    if srcmask.mean() > 0.9:  # very crowded: fall back to clipping alone
        srcmask = mask
    bkg = Background2D(
        data,
        box,
        mask=srcmask,
        filter_size=filter_size,
        sigma_clip=clip,
        bkg_estimator=MedianBackground(),
        bkg_rms_estimator=StdBackgroundRMS(),
        exclude_percentile=80.0,
    )
    return bkg.background.astype(np.float32), bkg.background_rms.astype(np.float32)


def residual_sky(
    residual: NDArray[np.floating],
    bad: NDArray[np.bool_] | None = None,
    *,
    box_pix: int = 64,
    filter_size: int = 3,
    clip_sigma: float = 5.0,
) -> NDArray[np.float32]:
    """What is left of the sky once the fitted stars are gone: the smooth level of
    ``residual`` (a sky-subtracted chip minus the model of every fitted star).

    The first sky (:func:`estimate_sky`, before any star is known) is a clipped median
    of pixels with the bright sources masked; in a crowded field it still holds the
    wings and halos of the resolved stars, which the photometry subtracts again as
    model, so faint stars come out too faint (on the mismatched demo field +1.0 and
    +1.6 e- per pixel, 4 % of the sky). Here the mesh takes each box's mean with only
    strong features (badly fitted cores, cosmic-ray remnants) clipped at
    ``clip_sigma``: the unresolved faint stars stay in it, as they are under every
    star's PSF (a median would leave part of them there; the aperture correction's
    local sky does the same, :func:`.psfsolve.aperture_fluxes`).

    Returns
    -------
    ndarray of float32, shape of ``residual``
        The correction to subtract from the sky-subtracted chip.
    """
    data = np.asarray(residual, dtype=np.float32)
    mask = ~np.isfinite(data) if bad is None else (np.asarray(bad, bool) | ~np.isfinite(data))
    if mask.all():
        raise ValueError("every pixel is masked")
    data = np.where(mask, np.float32(0), data)
    box = int(max(8, min(box_pix, min(data.shape) // 2)))
    bkg = Background2D(
        data,
        box,
        mask=mask,
        filter_size=filter_size,
        sigma_clip=SigmaClip(sigma=clip_sigma, maxiters=5),
        bkg_estimator=MeanBackground(),
        exclude_percentile=50.0,
    )
    return bkg.background.astype(np.float32)
