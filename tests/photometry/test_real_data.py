"""The engine on real crowded HST pixels: a PHAT M31 brick-09 ACS/WFC F475W cut-out.

The image (``/work/shared/data``, see its README) is drizzled, so its PSF is a bit
broader than the flc PSF model: the thresholds below are what a correct fit of a
slightly mismatched PSF gives (measured: 1436 detections, chi 1.65,
sharp -0.044, 12% of the core light left in the residuals).
"""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cloudphot.photometry.detect import detect_stars
from cloudphot.photometry.psfgrid import PSFGrid
from cloudphot.photometry.psfphot import fit_chip
from cloudphot.photometry.sky import estimate_sky

PHAT = Path("/work/shared/data/hst_images/beast_phat/M31-B09-EAST_chunk_F475W_drz.chip1.fits")
psf_mod = pytest.importorskip("cloudphot.psf")


@pytest.mark.skipif(not PHAT.exists(), reason="shared real data not present")
def test_phat_crowded_cutout_is_fitted():
    img = fits.getdata(PHAT).astype(float)[300:600, 300:600]
    bad = ~np.isfinite(img)
    psf = psf_mod.psf_for("ACS", "WFC", "F475W")
    sky, rms = estimate_sky(img, bad, box_pix=50, fwhm_pix=psf.fwhm_pix)
    sub = img - sky
    found = detect_stars(sub, rms, psf.fwhm_pix, threshold_sigma=5)
    assert len(found) > 1000  # a crowded field
    grid = PSFGrid(psf, 4)
    x, y = np.asarray(found["x"]), np.asarray(found["y"])
    for _ in range(3):
        fit = fit_chip(sub, rms, bad, x, y, grid, fit_positions=True)
        x, y = x + np.nan_to_num(fit.dx), y + np.nan_to_num(fit.dy)
    fit = fit_chip(sub, rms, bad, x, y, grid, return_model=True)
    b = fit.flux / fit.fluxerr > 30
    assert b.sum() > 150
    assert np.median(fit.chi[b]) < 2.5
    assert abs(np.median(fit.sharp[b])) < 0.1
    yy, xx = np.mgrid[0:300, 0:300]
    cores = np.zeros(img.shape, bool)
    for xi, yi in zip(x[b], y[b]):
        cores |= (xx - xi) ** 2 + (yy - yi) ** 2 < 4
    resid = sub - fit.model
    assert np.sum(np.abs(resid[cores])) < 0.2 * np.sum(np.abs(sub[cores]))
