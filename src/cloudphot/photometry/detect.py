"""Star detection (photutils DAOStarFinder) with a threshold set by the sky rms."""

from __future__ import annotations

import warnings

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray
from photutils.detection import DAOStarFinder
from photutils.utils import NoDetectionsWarning

__all__ = ["detect_stars", "saturated_stars"]


def detect_stars(
    image: NDArray[np.floating],
    sky_rms: float | NDArray[np.floating],
    fwhm_pix: float,
    *,
    threshold_sigma: float = 4.0,
    mask: NDArray[np.bool_] | None = None,
    min_separation_pix: float = 1.5,
    n_brightest: int | None = None,
    sharpness_range: tuple[float, float] = (0.2, 1.0),
    roundness_range: tuple[float, float] = (-1.0, 1.0),
) -> Table:
    """Find point sources on a sky-subtracted image.

    ``DAOStarFinder`` convolves with a Gaussian of the PSF FWHM and keeps local
    maxima above ``threshold_sigma`` times the sky rms (the threshold is scaled
    to the convolved image by DAOStarFinder itself, ``scale_threshold=True``);
    two peaks closer than ``min_separation_pix`` are merged, so blends that
    show separate peaks are split (deblending by peak finding, as DAOFIND).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Sky-subtracted image (any flux unit; same unit as ``sky_rms``).
    sky_rms : float or ndarray
        Sky noise; an array is reduced to its median.
    fwhm_pix : float
        PSF FWHM, pixels.
    threshold_sigma : float
        Detection threshold in units of ``sky_rms``.
    mask : ndarray of bool, optional
        Pixels to ignore.
    min_separation_pix : float
        Minimum peak separation, pixels.
    n_brightest : int, optional
        Keep only the brightest sources.

    Returns
    -------
    astropy.table.Table
        Columns ``x``, ``y`` (0-based pixels), ``peak``, ``flux`` (DAOStarFinder's),
        ``sharpness``, ``roundness1``; sorted by decreasing flux. Empty when none.
    """
    rms = float(np.nanmedian(sky_rms))
    data = np.where(np.isfinite(image), image, 0.0)
    finder = DAOStarFinder(
        threshold=threshold_sigma * rms,
        fwhm=fwhm_pix,
        min_separation=min_separation_pix,
        n_brightest=n_brightest,
        exclude_border=False,
        sharpness_range=sharpness_range,
        roundness_range=roundness_range,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = finder(data, mask=mask)
    out = Table(names=["x", "y", "peak", "flux", "sharpness", "roundness1"], dtype=["f8"] * 6)
    if found is None or len(found) == 0:
        return out
    out = Table(
        {
            "x": np.asarray(found["x_centroid"], float),
            "y": np.asarray(found["y_centroid"], float),
            "peak": np.asarray(found["peak"], float),
            "flux": np.asarray(found["flux"], float),
            "sharpness": np.asarray(found["sharpness"], float),
            "roundness1": np.asarray(found["roundness1"], float),
        }
    )
    out.sort("flux", reverse=True)
    return out


def saturated_stars(
    saturated: NDArray[np.bool_], fwhm_pix: float, *, min_pixels: int = 2
) -> tuple[NDArray, NDArray, NDArray]:
    """Positions of saturated stars: centroids of connected saturated regions.

    DAOStarFinder cannot find stars whose cores are masked (it finds spurious
    peaks on the ring around the hole instead), so saturated stars are found
    here and their positions refined later by fitting their unsaturated wings.
    The centroid of a saturated region is the star to ~0.2 pixel (bleeding
    along columns is symmetric about the star).

    Parameters
    ----------
    saturated : ndarray of bool, shape (ny, nx)
        Saturated pixels.
    fwhm_pix : float
        PSF FWHM, pixels.
    min_pixels : int
        Smallest region taken as a star.

    Returns
    -------
    x, y : ndarray, shape (m,)
        Centroids (0-based pixels).
    radius : ndarray, shape (m,)
        Radius (pixels) within which detections are artefacts of the region:
        its half-extent plus 2 FWHM.
    """
    from scipy import ndimage

    lab, n = ndimage.label(saturated, structure=np.ones((3, 3)))
    if n == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    idx = np.arange(1, n + 1)
    area = ndimage.sum_labels(np.ones_like(lab), lab, idx)
    keep = area >= min_pixels
    cy, cx = np.array(ndimage.center_of_mass(np.ones_like(lab), lab, idx)).T
    sl = ndimage.find_objects(lab)
    half = np.array([max(s[0].stop - s[0].start, s[1].stop - s[1].start) / 2 for s in sl])
    return cx[keep], cy[keep], half[keep] + 2 * fwhm_pix
