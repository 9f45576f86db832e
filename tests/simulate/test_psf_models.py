"""PSF models: normalisation, FWHM, rendering, the photutils model, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cloudphot.errors import ConfigError
from cloudphot.psf import FWHM_PIX, PSF_DIR_ENV, PSFModel, psf_dir, psf_for

CAMERAS = [
    ("ACS", "WFC", "F475W", (2.0, 2.5)),
    ("ACS", "WFC", "F814W", (2.0, 2.5)),
    ("WFC3", "UVIS", "F336W", (1.8, 2.0)),
    ("WFC3", "IR", "F160W", (1.1, 1.35)),
]


@pytest.fixture(scope="module")
def tinytim_dir(shared_data):
    d = shared_data / "psf" / "drizzlepac"
    if not (d / "acs_wfc_f814w.fits").is_file():
        pytest.skip("Tiny Tim PSFs not present")
    return d


@pytest.mark.parametrize("inst,det,filt,fwhm_range", CAMERAS)
def test_analytic_psf_is_normalised_with_realistic_core_and_wings(inst, det, filt, fwhm_range):
    psf = psf_for(inst, det, filt, source="analytic")
    assert psf.source == "analytic"
    assert psf.total == pytest.approx(1.0, abs=1e-9)
    assert psf.fwhm_pix == pytest.approx(FWHM_PIX[(inst, det, filt)], abs=0.03)
    assert fwhm_range[0] <= psf.fwhm_pix <= fwhm_range[1]
    # the full stamp holds (almost) all light for any sub-pixel phase
    for dx, dy in [(0, 0), (0.5, -0.5), (0.23, 0.41)]:
        assert psf.stamp(dx, dy, psf.radius - 1).sum() == pytest.approx(1.0, abs=2e-3)
    # extended wings: a Gaussian would hold > 99.9% within 3 FWHM; HST PSFs hold ~90%
    ee = psf.encircled_energy(3 * psf.fwhm_pix)
    assert 0.85 < ee < 0.95


def test_tinytim_psf_read_normalised_and_charge_diffused(tinytim_dir):
    from astropy.io import fits

    from cloudphot.psf import _parse_kernel

    psf = psf_for("ACS", "WFC", "F814W", source="tinytim", directory=tinytim_dir)
    assert psf.source == "tinytim" and psf.oversample == 4
    assert psf.total == pytest.approx(1.0, abs=0.01)
    assert 1.7 < psf.fwhm_pix < 2.5
    kernel = _parse_kernel(fits.getheader(tinytim_dir / "acs_wfc_f814w.fits"))
    assert kernel.shape == (3, 3) and kernel.sum() == pytest.approx(1.0, abs=1e-3)
    # the core is centred on the model origin and the stamp sums to ~1 at any phase (ACS)
    s = psf.stamp(0, 0, 1)
    assert np.argmax(s) == 4
    assert (s[1, 2] - s[1, 0]) / s[1, 1] == pytest.approx(0, abs=0.1)
    assert (s[2, 1] - s[0, 1]) / s[1, 1] == pytest.approx(0, abs=0.1)
    for dx, dy in [(0, 0), (0.5, 0.5), (-0.3, 0.2)]:
        assert psf.stamp(dx, dy, psf.radius - 1).sum() == pytest.approx(1.0, abs=0.01)
    # charge diffusion broadens the raw Tiny Tim core: the peak pixel loses light
    raw = fits.getdata(tinytim_dir / "acs_wfc_f814w.fits").astype(float)
    assert psf.stamp(0, 0, 2)[2, 2] < raw.max() / raw.sum()


def test_auto_falls_back_to_analytic_when_files_absent(tmp_path, monkeypatch):
    monkeypatch.setenv(PSF_DIR_ENV, str(tmp_path))
    assert psf_dir() == tmp_path
    psf = psf_for("ACS", "WFC", "F475W")
    assert psf.source == "analytic"
    with pytest.raises(ConfigError, match="acs_wfc_f475w.fits"):
        psf_for("ACS", "WFC", "F475W", source="tinytim")


def test_stamp_is_centred_at_the_offset():
    psf = psf_for("ACS", "WFC", "F606W", source="analytic")
    r = 30
    for dx, dy in [(0.0, 0.0), (0.3, -0.2), (-0.45, 0.45), (1.7, -2.2)]:
        s = psf.stamp(dx, dy, r)
        yy, xx = np.indices(s.shape) - r
        cx, cy = (s * xx).sum() / s.sum(), (s * yy).sum() / s.sum()
        assert cx == pytest.approx(dx, abs=0.03) and cy == pytest.approx(dy, abs=0.03)


def test_render_equals_sum_of_stamps():
    psf = psf_for("ACS", "WFC", "F814W", source="analytic")
    rng = np.random.default_rng(4)
    shape = (60, 70)
    n = 40
    x = rng.uniform(-5, 75, n)  # some stars off the edges
    y = rng.uniform(-5, 65, n)
    flux = rng.uniform(10, 1e4, n)
    r = 9
    img = psf.render(shape, x, y, flux, radius=r)
    ref = np.zeros((shape[0] + 2 * r + 20, shape[1] + 2 * r + 20))
    off = r + 10
    for xi, yi, fi in zip(x, y, flux):
        ix, iy = int(np.round(xi)), int(np.round(yi))
        ref[iy - r + off : iy + r + 1 + off, ix - r + off : ix + r + 1 + off] += fi * psf.stamp(
            xi - ix, yi - iy, r
        )
    np.testing.assert_allclose(img, ref[off : off + shape[0], off : off + shape[1]], atol=1e-9)
    # an isolated star well inside keeps its enclosed flux
    one = psf.render((80, 80), [40.2], [39.7], [1000.0], radius=r)
    assert one.sum() == pytest.approx(1000 * psf.stamp(0.2, -0.3, r).sum(), rel=1e-12)


def test_render_default_radius_grows_with_flux_and_adds_to_out():
    psf = psf_for("ACS", "WFC", "F475W", source="analytic")
    radii = psf.default_radius(np.array([10.0, 1e4, 1e6]))
    assert radii[0] < radii[1] < radii[2] == psf.radius
    out = np.ones((50, 50))
    psf.render(out.shape, [25.0], [25.0], [500.0], out=out)
    assert out.sum() == pytest.approx(2500 + 500 * psf.stamp(0, 0, int(radii[0])).sum(), rel=1e-9)


def test_photutils_model_matches_render_and_fits_a_star():
    from astropy.table import Table
    from photutils.psf import PSFPhotometry

    psf = psf_for("ACS", "WFC", "F814W", source="analytic")
    model = psf.as_photutils_model()
    yy, xx = np.mgrid[-6:7, -6:7]
    model.x_0, model.y_0, model.flux = 0.3, -0.2, 1.0
    np.testing.assert_allclose(model(xx, yy), psf.stamp(0.3, -0.2, 6), atol=2e-3 * psf.data.max())

    img = psf.render((41, 41), [20.35], [19.8], [5000.0], radius=15)
    phot = PSFPhotometry(psf.as_photutils_model(), fit_shape=(7, 7), aperture_radius=4)
    res = phot(img, init_params=Table({"x": [20.0], "y": [20.0], "flux": [4000.0]}))
    assert res["x_fit"][0] == pytest.approx(20.35, abs=0.01)
    assert res["y_fit"][0] == pytest.approx(19.8, abs=0.01)
    assert res["flux_fit"][0] == pytest.approx(5000.0, rel=0.01)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: psf_for("NICMOS", "NIC2", "F110W"), ValueError, "supported cameras"),
        (lambda: psf_for("ACS", "WFC", "F999W", source="analytic"), ValueError, "known filters"),
        (lambda: psf_for("ACS", "WFC", "F814W", source="webbpsf"), ValueError, "source"),
        (lambda: psf_for("", "WFC", "F814W"), ValueError, "instrument"),
        (
            lambda: psf_for("ACS", "WFC", "F814W", source="analytic").stamp(0, 0, 500),
            ValueError,
            "model radius",
        ),
        (
            lambda: psf_for("ACS", "WFC", "F814W", source="analytic").stamp(0, 0, -1),
            ValueError,
            "non-negative",
        ),
        (
            lambda: psf_for("ACS", "WFC", "F814W", source="analytic").render(
                (10, 10), [1.0, 2.0], [1.0], [1.0]
            ),
            ValueError,
            "same length",
        ),
        (
            lambda: psf_for("ACS", "WFC", "F814W", source="analytic").render(
                (10, 10), [np.nan], [1.0], [1.0]
            ),
            ValueError,
            "finite",
        ),
        (
            lambda: PSFModel("x", np.ones((4, 4)), 1, pixel_scale=0.05, source="analytic"),
            ValueError,
            "odd size",
        ),
    ],
)
def test_bad_parameters_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
