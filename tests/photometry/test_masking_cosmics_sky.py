"""Stages 1-3: DQ masks, cosmic rays, sky."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from cloudphot.photometry.cosmics import flag_cosmics, psf_neighbour_ratio
from cloudphot.photometry.masking import BAD_DQ_BITS, dq_masks
from cloudphot.photometry.sky import estimate_sky

from .synth import GaussianPSF, make_truth, render, tan_wcs


def test_dq_bits_bad_saturated_and_kept():
    dq = np.array([[0, 4, 64, 256], [2048, 1024, 16384, 16]], np.int16)
    sci = np.ones(dq.shape)
    sci[0, 0] = np.nan
    bad, sat = dq_masks(dq, sci, detector="WFC")
    assert bad.tolist() == [[True, True, False, True], [True, False, False, True]]
    assert sat.tolist() == [[False, False, False, True], [True, False, False, False]]
    # on WFC3/IR, 2048 means "signal in zero read": not saturation, not bad
    bad_ir, sat_ir = dq_masks(dq, detector="IR")
    assert not sat_ir[1, 0] and not bad_ir[1, 0]
    assert BAD_DQ_BITS & 64 == 0


def _cr_image(seed, ncr=40):
    rng = np.random.default_rng(seed)
    shape = (256, 256)
    w = tan_wcs(shape)
    tr = make_truth(300, shape, rng, w, fmax=300)
    x, y = w.all_world2pix(tr.ra, tr.dec, 0)
    img = render(shape, x, y, tr.flux_rate * 400, GaussianPSF(2.2)) + 40
    img = rng.poisson(img) + rng.normal(0, 4, shape)
    crt = np.zeros(shape, bool)
    cy, cx = rng.integers(2, 253, ncr), rng.integers(2, 253, ncr)
    for a, b in zip(cy, cx):
        img[a, b] += rng.uniform(300, 3000)
        img[a, b + 1] += rng.uniform(100, 1000)
        crt[a, b] = crt[a, b + 1] = True
    return img, crt, x, y


@pytest.mark.parametrize("seed", [0, 1])
def test_cosmics_found_and_star_cores_spared(seed):
    img, crt, _x, _y = _cr_image(seed)
    m = flag_cosmics(img, sky=40.0, readnoise=4.0, fwhm_pix=2.2)
    assert (m & crt).sum() >= 0.75 * crt.sum()
    near = binary_dilation(crt, np.ones((3, 3)))
    assert (m & ~near).sum() <= 20  # of 65536 pixels with ~100 bright stars
    # without the PSF veto LA Cosmic eats star cores
    raw = flag_cosmics(img, sky=40.0, readnoise=4.0, fwhm_pix=2.2, psf_veto=False)
    assert (raw & ~near).sum() > 3 * max((m & ~near).sum(), 10)


def test_cosmics_ignore_bad_pixels():
    img, crt, _, _ = _cr_image(2)
    bad = np.zeros(img.shape, bool)
    bad[crt] = True
    m = flag_cosmics(img, bad, sky=40.0, readnoise=4.0, fwhm_pix=2.2)
    assert not (m & bad).any()


def test_psf_neighbour_ratio_sharper_psf_is_smaller():
    assert 0 < psf_neighbour_ratio(1.2) < psf_neighbour_ratio(2.2) < 1


def test_sky_gradient_and_rms_recovered():
    rng = np.random.default_rng(5)
    shape = (256, 256)
    yy, xx = np.mgrid[0:256, 0:256]
    true_sky = 50 + 0.05 * xx + 0.02 * yy
    w = tan_wcs(shape)
    tr = make_truth(200, shape, rng, w, fmax=200)
    x, y = w.all_world2pix(tr.ra, tr.dec, 0)
    img = rng.poisson(
        render(shape, x, y, tr.flux_rate * 400, GaussianPSF(2.2)) + true_sky
    ) + rng.normal(0, 3, shape)
    bad = np.zeros(shape, bool)
    bad[100:110, :] = True
    img[bad] = np.nan
    sky, rms = estimate_sky(img, bad, box_pix=32, fwhm_pix=2.2)
    inner = (slice(32, -32), slice(32, -32))
    assert np.median(np.abs(sky - true_sky)[inner]) < 1.0
    expected_rms = np.sqrt(true_sky + 9)
    assert np.median(rms[inner] / expected_rms[inner]) == pytest.approx(1.0, abs=0.1)


def test_sky_all_masked_refused():
    with pytest.raises(ValueError):
        estimate_sky(np.ones((64, 64)), np.ones((64, 64), bool))


def test_residual_sky_recovers_a_sky_left_over_under_the_stars():
    """A chip whose stars were fitted away but whose first sky was 1 e- too high: the
    residual sky finds the -1 e- (a clipped mean: badly fitted cores do not pull it)."""
    from cloudphot.photometry.sky import residual_sky

    rng = np.random.default_rng(5)
    resid = rng.normal(-1.0, 5.0, (256, 256)).astype(np.float32)
    cores = rng.integers(0, 256, (300, 2))
    resid[cores[:, 0], cores[:, 1]] += 200.0  # fit residuals of bright cores
    bad = np.zeros(resid.shape, bool)
    bad[:, :20] = True
    resid[bad] = np.nan
    dsky = residual_sky(resid, bad, box_pix=64)
    assert dsky.shape == resid.shape
    assert abs(float(np.median(dsky)) + 1.0) < 0.15
    with pytest.raises(ValueError, match="masked"):
        residual_sky(resid, np.ones(resid.shape, bool))
