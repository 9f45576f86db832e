"""Stages 4-6: alignment, reference image, detection."""

import numpy as np
import pytest

from cloudphot.errors import DataError
from cloudphot.photometry.align import align_chip, apply_offset, fit_offset
from cloudphot.photometry.detect import detect_stars
from cloudphot.photometry.psfgrid import PSFGrid
from cloudphot.photometry.reference import build_reference

from .synth import GaussianPSF, render, tan_wcs

PSF = GaussianPSF(2.2)
GRID = PSFGrid(PSF, 5)
SHAPE = (256, 256)


def _stars(seed=0, n=400):
    rng = np.random.default_rng(seed)
    w = tan_wcs(SHAPE)
    x = rng.uniform(3, 252, n)
    y = rng.uniform(3, 252, n)
    f = 200 * 100 ** (rng.uniform(size=n) ** 2)
    ra, dec = w.all_pix2world(x, y, 0)
    return rng, w, x, y, f, ra, dec


def _image(rng, x, y, f, sky=30.0):
    return rng.poisson(render(SHAPE, x, y, f, PSF) + sky) + rng.normal(0, 4, SHAPE) - sky


@pytest.mark.parametrize(
    "mode,shift,rot_deg",
    [
        ("shift", (0.31, -0.22), 0.0),
        ("shift", (-0.12, 0.45), 0.0),
        ("shift+rotation", (0.2, 0.4), 0.01),
    ],
)
def test_alignment_removes_pointing_error(mode, shift, rot_deg):
    rng, w, x, y, f, ra, dec = _stars()
    c, s = np.cos(np.radians(rot_deg)), np.sin(np.radians(rot_deg))
    cx = cy = 127.5
    xs = cx + c * (x - cx) - s * (y - cy) + shift[0]
    ys = cy + s * (x - cx) + c * (y - cy) + shift[1]
    img = _image(rng, xs, ys, f)
    al = align_chip(img, 6.0, np.zeros(SHAPE, bool), w, GRID, ra, dec, mode=mode)
    xr, yr = al.wcs.all_world2pix(ra, dec, 0)
    assert np.max(np.hypot(xr - xs, yr - ys)) < 0.02
    assert al.nmatch > 50
    before = np.hypot(*w.all_world2pix(ra, dec, 0) - np.array([xs, ys]))
    assert np.max(before) > 0.1


def test_fit_offset_rejects_outliers():
    rng = np.random.default_rng(1)
    xp, yp = rng.uniform(0, 100, (2, 60))
    xm, ym = xp + 0.3, yp - 0.1
    xm[:5] += 1.5  # mismatches
    t, theta, n, _rms = fit_offset(xp, yp, xm, ym)
    assert t == pytest.approx([0.3, -0.1], abs=1e-9) and n == 55 and theta == 0.0


def test_apply_offset_pure_shift_is_exact():
    w = tan_wcs(SHAPE)
    w2 = apply_offset(w, np.array([0.25, -0.4]), 0.0, (127.5, 127.5))
    ra, dec = w.all_pix2world([10.0, 200.0], [30.0, 100.0], 0)
    x2, y2 = w2.all_world2pix(ra, dec, 0)
    assert x2 == pytest.approx([10.25, 200.25]) and y2 == pytest.approx([29.6, 99.6])


def test_alignment_refuses_unrelated_field():
    rng, w, _x, _y, _f, ra, dec = _stars(seed=2)
    other = _stars(seed=3)
    img = _image(rng, other[2], other[3], other[4])
    with pytest.raises(DataError, match="matched"):
        align_chip(img, 6.0, np.zeros(SHAPE, bool), w, GRID, ra, dec, match_pix=0.5, name="x.fits")


def test_reference_rejects_cosmics_and_detection_finds_stars():
    rng, _w, _x, _y, f, ra, dec = _stars(seed=4, n=150)
    imgs, bads, wcss = [], [], []
    for _k in range(4):
        sh = rng.uniform(-3, 3, 2)  # dithers, recorded in the WCS
        wk = tan_wcs(SHAPE)
        wk.wcs.crpix = wk.wcs.crpix + sh
        xk, yk = wk.all_world2pix(ra, dec, 0)
        im = _image(rng, xk, yk, f) / 400.0
        cr = (rng.integers(0, 256, 30), rng.integers(0, 256, 30))
        im[cr] += 50.0  # unflagged cosmic rays, e-/s
        imgs.append(im)
        bads.append(np.zeros(SHAPE, bool))
        wcss.append(wk)
    ref = build_reference(imgs, bads, wcss)
    assert ref.image.shape[0] >= 256 and ref.nexp.max() == 4
    gx, gy = ref.wcs.world_to_pixel_values(ra, dec)
    found = detect_stars(np.nan_to_num(ref.image), 0.01, 2.2, threshold_sigma=5)
    d = np.hypot(found["x"][:, None] - gx[None], found["y"][:, None] - gy[None]).min(axis=1)
    assert np.mean(d < 0.5) > 0.95  # few spurious detections: cosmic rays are clipped
    bright = f > 1000
    dt = np.hypot(
        gx[:, None] - np.asarray(found["x"])[None], gy[:, None] - np.asarray(found["y"])[None]
    ).min(axis=1)
    assert np.mean(dt[bright] < 0.5) > 0.95


def test_detect_on_empty_image_is_empty():
    rng = np.random.default_rng(0)
    assert len(detect_stars(rng.normal(0, 1, (64, 64)), 1.0, 2.2, threshold_sigma=6)) == 0


def test_significance_of_several_filters_adds_up_and_keeps_unit_noise():
    """The detection image of two filters: a star seen in both is more significant than
    in either; pure noise stays ~unit variance (so the threshold keeps its meaning)."""
    from cloudphot.photometry.field import _significance
    from cloudphot.photometry.options import PhotometryOptions

    rng = np.random.default_rng(3)
    shape = (128, 128)
    yy, xx = np.mgrid[0:128, 0:128]
    star = 8.0 * np.exp(-((xx - 64.0) ** 2 + (yy - 64.0) ** 2) / (2 * 1.0**2))
    a = rng.normal(10.0, 2.0, shape) + 2.0 * star  # 2 e-/s rms: the star 8 sigma peak
    b = rng.normal(5.0, 1.0, shape) + star  # 1 e-/s rms: the star 8 sigma peak
    nodata = np.zeros(shape, bool)
    opt = PhotometryOptions()
    s = _significance({"A": a, "B": b}, nodata, opt, {"A": 2.0, "B": 2.0})
    one = _significance({"A": a}, nodata, opt, {"A": 2.0})
    away = np.hypot(xx - 64, yy - 64) > 10
    assert abs(np.std(s[away]) - 1.0) < 0.1 and abs(np.median(s[away])) < 0.1
    assert s[64, 64] > 1.3 * one[64, 64]  # (8 + 8) / sqrt(2) = 11.3 against 8
    # a filter with no data anywhere is left out; NaN where no filter has data
    c = np.full(shape, np.nan)
    s2 = _significance({"A": a, "C": c}, nodata, opt, {"A": 2.0, "C": 2.0})
    assert np.allclose(s2, one, equal_nan=True)
