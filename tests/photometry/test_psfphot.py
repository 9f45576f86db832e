"""Stage 7-8 on one chip: simultaneous PSF fit and its quality metrics."""

import numpy as np
import pytest

from cloudphot.photometry.psfgrid import PSFGrid
from cloudphot.photometry.psfphot import fit_chip

from .synth import GaussianPSF, render

PSF = GaussianPSF(2.2)
GRID = PSFGrid(PSF, 5)


def _crowded(seed=1, n=1500, shape=(256, 256), sky=50.0, rn=4.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(2, shape[1] - 3, n)
    y = rng.uniform(2, shape[0] - 3, n)
    f = 300 * 300 ** (rng.uniform(size=n) ** 2)
    img = rng.poisson(render(shape, x, y, f, PSF) + sky) + rng.normal(0, rn, shape) - sky
    return img, x, y, f, np.sqrt(sky + rn**2), rng


def test_grid_matches_model_between_phases():
    ix, iy, P = GRID.stamps(np.array([10.23]), np.array([20.41]))
    exact = PSF.stamp(0.23, 0.41, 5)
    assert (ix[0], iy[0]) == (10, 20)
    assert np.max(np.abs(P[0] - exact)) < 1e-3 * exact.max()


def test_crowded_fluxes_unbiased_with_honest_errors():
    img, x, y, f, rms, _ = _crowded()
    fit = fit_chip(img, rms, np.zeros(img.shape, bool), x, y, GRID)
    snr = fit.flux / fit.fluxerr
    bright = snr > 50
    assert bright.sum() > 200
    dmag = -2.5 * np.log10(fit.flux[bright] / f[bright])
    assert np.median(np.abs(dmag)) < 0.01
    assert abs(np.median(dmag)) < 0.003
    pull = (fit.flux - f) / fit.fluxerr
    # 1/diag(N) ignores blend covariances: a little above 1 in a crowded field
    assert 0.9 < np.std(pull) < 1.3
    assert 0.8 < np.median(fit.chi[bright]) < 1.2
    assert np.median(np.abs(fit.sharp[bright])) < 0.02
    assert np.median(fit.round[bright]) < 0.02


def test_position_corrections_converge():
    img, x, y, _f, rms, rng = _crowded(seed=2)
    xe = x + rng.normal(0, 0.15, len(x))
    ye = y + rng.normal(0, 0.15, len(x))
    bad = np.zeros(img.shape, bool)
    for _ in range(3):
        fit = fit_chip(img, rms, bad, xe, ye, GRID, fit_positions=True)
        xe = xe + np.nan_to_num(fit.dx)
        ye = ye + np.nan_to_num(fit.dy)
    b = np.isfinite(fit.dx) & (fit.flux / fit.fluxerr > 100)
    err = np.hypot(xe - x, ye - y)[b]
    assert np.median(err) < 0.02
    # the reported position errors are of the right size
    assert 0.5 < np.median(err / (np.sqrt(2) * fit.poserr[b])) < 2.0


def test_close_pair_fitted_jointly_and_crowding():
    shape = (41, 41)
    x = np.array([20.0, 22.2])
    y = np.array([20.0, 20.5])
    f = np.array([20000.0, 10000.0])
    rng = np.random.default_rng(0)
    img = rng.poisson(render(shape, x, y, f, PSF) + 20) - 20.0
    fit = fit_chip(img, np.sqrt(20), np.zeros(shape, bool), x, y, GRID)
    assert fit.flux == pytest.approx(f, rel=0.02)
    # crowding: each star would be much brighter without its neighbour subtracted
    assert fit.crowd[1] > fit.crowd[0] > 0.05
    alone = fit_chip(img, np.sqrt(20), np.zeros(shape, bool), x[:1], y[:1], GRID)
    assert alone.flux[0] > 1.1 * f[0]  # ignoring the neighbour biases the flux


def test_sharpness_signs_and_roundness():
    shape = (31, 31)
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3, shape)
    star = render(shape, [15.3], [14.8], [20000.0], PSF) + noise
    broad = render(shape, [15.3], [14.8], [20000.0], GaussianPSF(2.2 * 1.15)) + noise
    cosmic = noise.copy()
    cosmic[15, 15] += 5000.0
    ys, xs = np.mgrid[0:31, 0:31]
    sx, sy = PSF.sigma * 1.2, PSF.sigma / 1.2
    ell = (
        20000
        * np.exp(-0.5 * (((xs - 15.3) / sx) ** 2 + ((ys - 14.8) / sy) ** 2))
        / (2 * np.pi * sx * sy)
        + noise
    )
    res = {}
    for name, im in {"star": star, "broad": broad, "cosmic": cosmic, "ell": ell}.items():
        res[name] = fit_chip(
            im, 3.0, np.zeros(shape, bool), np.array([15.3]), np.array([14.8]), GRID
        )
    assert abs(res["star"].sharp[0]) < 0.02 and res["star"].round[0] < 0.02
    assert res["broad"].sharp[0] == pytest.approx(-0.15, abs=0.05)
    assert res["cosmic"].sharp[0] > 0.5
    assert res["ell"].round[0] > 0.1
    assert res["star"].chi[0] < 1.5 < res["cosmic"].chi[0]


def test_flags_edge_bad_saturated():
    shape = (64, 64)
    x = np.array([1.0, 30.0, 45.0])
    y = np.array([30.0, 30.0, 45.0])
    img = render(shape, x, y, np.full(3, 5000.0), PSF)
    bad = np.zeros(shape, bool)
    sat = np.zeros(shape, bool)
    bad[29:32, 29:32] = True  # star 1's core is bad
    sat[45, 45] = True
    bad |= sat
    fit = fit_chip(img, 2.0, bad, x, y, GRID, saturated=sat)
    assert fit.flag[0] & 1 and not fit.flag[0] & 2
    assert fit.flag[1] & 2 and fit.flag[1] & 8
    assert fit.flag[2] & 4 and not fit.flag[2] & 8  # saturated, still measured
    assert fit.flux[2] == pytest.approx(5000.0, rel=0.01)  # fitted on the wings


def test_star_off_the_chip_is_unused():
    img = np.zeros((32, 32))
    fit = fit_chip(img, 1.0, np.zeros((32, 32), bool), np.array([100.0]), np.array([5.0]), GRID)
    assert not fit.used[0] and np.isnan(fit.flux[0])


def test_coincident_stars_do_not_break_the_solve():
    shape = (31, 31)
    img = render(shape, [15.0], [15.0], [10000.0], PSF)
    fit = fit_chip(
        img, 1.0, np.zeros(shape, bool), np.array([15.0, 15.0]), np.array([15.0, 15.0]), GRID
    )
    assert np.all(np.isfinite(fit.flux))
    assert fit.flux.sum() == pytest.approx(10000.0, rel=1e-3)


class _WingedPSF:
    """95% core Gaussian + 5% broad halo (sigma 6 pix), like HST's extended wings."""

    fwhm_pix = 2.2

    def __init__(self):
        self.core, self.halo = GaussianPSF(2.2), GaussianPSF(6 * 2.3548)

    def stamp(self, dx, dy, radius):
        return 0.95 * self.core.stamp(dx, dy, radius) + 0.05 * self.halo.stamp(dx, dy, radius)


def test_bright_star_wings_are_removed_before_fitting_neighbours():
    from cloudphot.photometry.psfphot import wing_image

    psf = _WingedPSF()
    grid = PSFGrid(psf, 5)
    shape = (81, 81)
    x = np.array([40.0, 52.3])
    y = np.array([40.0, 44.6])
    f = np.array([3e6, 5000.0])  # a saturating star and a faint neighbour 13 pix away
    img = render(shape, x, y, f, psf, radius=40)
    bad = np.zeros(shape, bool)
    plain = fit_chip(img, 3.0, bad, x, y, grid)
    assert plain.flux[1] > 1.1 * f[1]  # the halo leaks into the neighbour's stamp
    wings = wing_image(shape, x, y, plain.flux, psf, grid.radius, wing_radius=30, sky_rms=3.0)
    clean = fit_chip(img - wings, 3.0, bad, x, y, grid)
    assert clean.flux[1] == pytest.approx(f[1], rel=0.02)
    assert clean.flux[0] == pytest.approx(f[0], rel=0.01)
