"""A whole simulated field: files, headers, fluxes vs zeropoints, noise, DQ, cosmic rays, truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.wcs import WCS

from cloudphot.fits.zeropoints import zeropoints
from cloudphot.psf import psf_for
from cloudphot.simulate.detector import DQ_BAD_DETECTOR, DQ_HOT, DQ_SATURATED
from cloudphot.simulate.exposure import ExposureSpec
from cloudphot.simulate.field import (
    FULL_WELL,
    read_truth,
    simulate_field,
    true_psf_image,
    true_psf_stamp,
)
from cloudphot.simulate.presets import get_preset
from cloudphot.simulate.stars import variable_mags


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate_field(tmp_path_factory.mktemp("tiny"), preset="tiny", seed=3)


@pytest.fixture(scope="module")
def sim_matched(tmp_path_factory):
    return simulate_field(tmp_path_factory.mktemp("tinym"), preset="tiny", seed=3, psf="matched")


def _filter(primary: fits.Header) -> str:
    f1, f2 = primary["FILTER1"], primary["FILTER2"]
    return f1 if not f1.startswith("CLEAR") else f2


def test_files_are_valid_flc_with_expected_headers(sim):
    p = get_preset("tiny")
    assert len(sim.exposures) == p.n_visits * len(p.filters) * p.exposures_per_visit
    assert sim.field_id == "sim-tiny-s3" and sim.filters == ["F475W", "F814W"]
    starts = []
    for path in sim.exposures:
        assert path.name.endswith("_flc.fits") and path.is_file()
        with fits.open(path) as hdul:
            hdul.verify("exception")
            assert [h.name for h in hdul[1:]] == ["SCI", "ERR", "DQ"]
            ph, sh = hdul[0].header, hdul["SCI"].header
            assert ph["INSTRUME"] == "ACS" and ph["DETECTOR"] == "WFC"
            assert _filter(ph) in ("F475W", "F814W")
            assert ph["EXPEND"] == pytest.approx(ph["EXPSTART"] + ph["EXPTIME"] / 86400)
            assert sh["BUNIT"] == "ELECTRONS" and sh["PHOTFLAM"] > 0 and sh["PHOTPLAM"] > 0
            assert hdul["SCI"].data.shape == (256, 256) and hdul["DQ"].data.dtype.kind == "i"
            WCS(sh)  # parses
            starts.append(ph["EXPSTART"])
    assert np.all(np.diff(starts) > 0)
    assert max(starts) - min(starts) > 0.5 * p.baseline_days


def test_truth_file_round_trips(sim):
    truth, et = read_truth(sim.truth_path)
    assert len(truth) == len(sim.truth) and len(et) == len(sim.exposures_truth)
    np.testing.assert_array_equal(truth["star_id"], sim.truth["star_id"])
    np.testing.assert_allclose(truth["f814w_vega"], sim.truth["f814w_vega"])
    assert set(et.colnames) >= {
        "exposure_id",
        "filter",
        "mjd",
        "star_id",
        "x",
        "y",
        "chip",
        "flux_e",
        "mag",
    }
    assert truth.meta["PHASEREF"] == 50000.0
    assert sim.truth["is_variable"].sum() == get_preset("tiny").n_cepheids


class _Drawer:
    """Stars of one exposure drawn with the true PSF or the library PSF."""

    def __init__(self, sim, psf_model, filt, shape, terms, x, y, f):
        self.sim, self.true, self.terms = sim, psf_model == "true", terms
        self.spec = ExposureSpec(filter=filt, chip_shape=shape, nchips=1)
        self.psf = psf_for("ACS", "WFC", filt)
        self.x, self.y, self.f = x, y, f

    def render(self, i):
        x, y, f = self.x[i], self.y[i], self.f[i]
        if self.true:
            return true_psf_image(self.spec, 1, x, y, f, self.terms, self.sim.psf)
        return self.psf.render(self.spec.shape, x, y, f)

    def stamp(self, i, ix, iy):
        if self.true:
            return true_psf_stamp(self.spec, 1, self.x[i], self.y[i], self.terms, self.sim.psf, 19)
        return self.psf.stamp(self.x[i] - ix, self.y[i] - iy, 19)


def _psf_photometry_ratios(sim, psf_model: str) -> np.ndarray:
    """Measured / injected flux of bright unsaturated stars, neighbours' truth light
    removed, measured with the true PSF (``"true"``) or the library PSF (``"library"``)."""
    et = sim.exposures_truth
    pt = sim.psf_truth if sim.psf_truth is not None else []
    terms = {str(r["exposure_id"]): {k: float(r[k]) for k in r.colnames[1:]} for r in pt}
    ratios = []
    for path in sim.exposures[:4]:
        with fits.open(path) as hdul:
            ph, sh = hdul[0].header, hdul["SCI"].header
            sci = hdul["SCI"].data.astype(float)
            dq = hdul["DQ"].data
        filt = _filter(ph)
        zpt = zeropoints("ACS", "WFC", filt, sh["PHOTFLAM"], sh["PHOTPLAM"])["zpt_vega"]
        rows = et[et["exposure_id"] == ph["ROOTNAME"]]
        np.testing.assert_allclose(
            rows["flux_e"], 10 ** (-0.4 * (rows["mag"] - zpt)) * ph["EXPTIME"], rtol=1e-6
        )
        x, y, f = np.asarray(rows["x"]), np.asarray(rows["y"]), np.asarray(rows["flux_e"])
        draw = _Drawer(sim, psf_model, filt, sci.shape, terms.get(ph["ROOTNAME"]), x, y, f)
        render, stamp = draw.render, draw.stamp
        fg = sim.truth[sim.truth["component"] == "fg"]
        fgx, fgy = WCS(sh).all_world2pix(fg["ra"], fg["dec"], 0)
        everyone = render(np.arange(len(x)))
        nstart = len(ratios)
        for i in np.argsort(-f):
            ix, iy = round(float(x[i])), round(float(y[i]))
            if not (
                4e3 < f[i] < 2e5 and 20 <= ix < sci.shape[1] - 20 and 20 <= iy < sci.shape[0] - 20
            ):
                continue
            box = dq[iy - 19 : iy + 20, ix - 19 : ix + 20]
            if (box & DQ_SATURATED).any() or np.any(np.hypot(fgx - x[i], fgy - y[i]) < 40):
                continue  # saturated stars bleed charge that no PSF model describes
            model = everyone - render(np.array([i]))
            cut = (sci - model)[iy - 19 : iy + 20, ix - 19 : ix + 20]
            r = np.hypot(*(np.indices(cut.shape) - 19))
            sky = np.median(cut[(r > 14) & (r < 19) & (box == 0)])
            st = stamp(i, ix, iy)
            # PSF-weighted flux over unflagged pixels, clipping cosmic-ray hits (> 5 sigma)
            use = (r <= 8) & (box == 0)
            for _ in range(3):
                var = f[i] * st + sky + 4.2**2
                flux = np.sum(((cut - sky) * st / var)[use]) / np.sum((st**2 / var)[use])
                use &= np.abs(cut - sky - flux * st) < 5 * np.sqrt(var)
            ratios.append(flux / f[i])
            if len(ratios) - nstart == 5:
                break
    return np.array(ratios)


@pytest.mark.parametrize("mode", ["mismatched", "matched"])
def test_injected_counts_follow_header_zeropoints(sim, sim_matched, mode):
    ratios = _psf_photometry_ratios(sim if mode == "mismatched" else sim_matched, "true")
    assert len(ratios) >= 8
    assert np.median(ratios) == pytest.approx(1.0, abs=0.015)
    assert np.all(np.abs(ratios - 1) < 0.06)


def test_mismatched_stars_are_not_drawn_with_the_library_psf(sim, sim_matched):
    # the engine's library PSF measures the matched field right and the mismatched one
    # wrong: that is the inverse crime the mismatched mode removes
    assert np.median(_psf_photometry_ratios(sim_matched, "library")) == pytest.approx(1, abs=0.015)
    wrong = _psf_photometry_ratios(sim, "library")
    assert abs(np.median(wrong) - 1) > 0.015 or np.std(wrong) > 0.02


def test_header_wcs_differs_from_truth_by_a_small_pointing_error(sim):
    truth, et = sim.truth, sim.exposures_truth
    offsets = []
    for path in sim.exposures:
        with fits.open(path) as hdul:
            w = WCS(hdul["SCI"].header)
            rows = et[et["exposure_id"] == hdul[0].header["ROOTNAME"]]
        idx = np.asarray(rows["star_id"])
        xh, yh = w.all_world2pix(truth["ra"][idx], truth["dec"][idx], 0)
        dx, dy = xh - rows["x"], yh - rows["y"]
        assert np.std(dx) < 1e-3 and np.std(dy) < 1e-3  # a pure shift
        offsets.append(np.hypot(np.mean(dx), np.mean(dy)))
    assert max(offsets) < 0.75 and np.mean(offsets) > 0.02


def test_noise_matches_err_and_sky(sim):
    with fits.open(sim.exposures[0]) as hdul:
        sci, err, dq = (hdul[k].data.astype(float) for k in ("SCI", "ERR", "DQ"))
        exptime = hdul[0].header["EXPTIME"]
    good = dq == 0
    _, med, std = sigma_clipped_stats(sci[good], sigma=3)
    sky_err = np.median(err[good & (np.abs(sci - med) < 3 * std)])
    assert std == pytest.approx(sky_err, rel=0.15)
    plan = get_preset("tiny").filters[0]
    assert med == pytest.approx(plan.sky_rate * exptime, rel=0.5)  # sky + faint unresolved stars
    # ERR follows sqrt(counts + readnoise^2)
    np.testing.assert_allclose(
        err[good] ** 2, np.clip(sci[good], 0, None) + 4.19**2, rtol=1e-3, atol=0.05
    )


def test_dq_flags_saturation_hot_and_bad_pixels(sim):
    truth = sim.truth
    fg = truth[truth["component"] == "fg"]
    dqs = []
    for path in sim.exposures:
        with fits.open(path) as hdul:
            sci, dq = hdul["SCI"].data, hdul["DQ"].data
            w = WCS(hdul["SCI"].header)
            filt = _filter(hdul[0].header)
        dqs.append(dq & (DQ_HOT | DQ_BAD_DETECTOR))
        sat = (dq & DQ_SATURATED) > 0
        assert np.all(sci[sat] >= 0.99 * FULL_WELL[("ACS", "WFC")])
        if filt == "F814W" and fg["f814w_vega"].min() < 17.5:
            assert sat.any()
        if sat.any():
            ys, xs = np.nonzero(sat)
            fx, fy = w.all_world2pix(fg["ra"], fg["dec"], 0)
            near = np.min(np.hypot(xs[:, None] - fx[None, :], ys[:, None] - fy[None, :]), axis=1)
            assert np.all(near < 40)  # saturation (and its bleeding) only at bright stars
    # fixed defects: the same pixels in every exposure, and a plausible fraction
    for d in dqs[1:]:
        np.testing.assert_array_equal(d, dqs[0])
    assert 0.001 < np.mean(dqs[0] & DQ_HOT > 0) < 0.01
    assert (dqs[0] & DQ_BAD_DETECTOR).any()


def test_cosmic_rays_present_and_not_flagged(sim):
    with fits.open(sim.exposures[0]) as hdul:
        sci, dq = hdul["SCI"].data.astype(float), hdul["DQ"].data
        exptime = hdul[0].header["EXPTIME"]
    # a CR pixel towers over the median of its 3x3 neighbourhood far more than a PSF peak
    from scipy.ndimage import median_filter

    _, med, std = sigma_clipped_stats(sci, sigma=3)
    excess = sci - median_filter(sci, size=3)
    sharp = (excess > 8 * std) & (excess > 0.6 * (sci - med)) & (dq == 0)
    expected_events = get_preset("tiny").cr_rate * exptime * sci.size
    assert sharp.sum() > 0.3 * expected_events
    assert not np.any(dq & 8192)  # no CR bit: finding them is the pipeline's job


def test_cepheid_truth_follows_its_light_curve(sim):
    et = sim.exposures_truth
    for row in sim.cepheids:
        mine = et[et["star_id"] == row["star_id"]]
        assert len(mine) == len(sim.exposures)  # placed where every exposure sees it
        for f in sim.filters:
            sel = mine[mine["filter"] == f]
            expect = variable_mags(
                row[f"{f.lower()}_vega"],
                row["period_d"],
                row["amplitude_mag"],
                row["phase"],
                np.asarray(sel["mjd"]),
                f,
            )
            np.testing.assert_allclose(sel["mag"], expect, atol=1e-5)
            assert np.ptp(sel["mag"]) > 0.05
    first = et[et["exposure_id"] == et["exposure_id"][0]]
    steady = first["star_id"][~sim.truth["is_variable"][first["star_id"]]][0]
    const = et[et["star_id"] == steady]
    assert len(const) > 1
    for f in sim.filters:
        assert np.ptp(const["mag"][const["filter"] == f]) == 0


def test_same_seed_same_pixels_other_seed_differs(sim, tmp_path):
    again = simulate_field(tmp_path / "a", preset="tiny", seed=3, filters=["F814W"])
    other = simulate_field(tmp_path / "b", preset="tiny", seed=4, filters=["F814W"])
    assert len(again.exposures) == get_preset("tiny").n_visits
    assert all(fits.getheader(p)["FILTER2"] == "F814W" for p in again.exposures)
    # a filter subset keeps the same stars (every filter's magnitudes are drawn)
    np.testing.assert_array_equal(again.truth["ra"], sim.truth["ra"])
    np.testing.assert_array_equal(again.truth["f814w_vega"], sim.truth["f814w_vega"])
    a = fits.getdata(again.exposures[0], "SCI")
    b = fits.getdata(other.exposures[0], "SCI")
    assert a.shape == b.shape and not np.array_equal(a, b)
    third = simulate_field(tmp_path / "c", preset="tiny", seed=3, filters=["F814W"])
    np.testing.assert_array_equal(fits.getdata(third.exposures[0], "SCI"), a)


def test_crowding_scales_the_number_of_stars(sim, tmp_path):
    dense = simulate_field(tmp_path / "d", preset="tiny", seed=3, crowding=3.0, filters=["F475W"])
    n1 = int((sim.truth["component"] != "fg").sum())
    n3 = int((dense.truth["component"] != "fg").sum())
    assert n3 / n1 == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"preset": "huge"}, "unknown preset"),
        ({"crowding": 0}, "crowding"),
        ({"crowding": "lots"}, "crowding"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"filters": ["F160W"]}, "no filter"),
        ({"filters": ["F814W", "F814W"]}, "repeated"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_field(tmp_path, **{"preset": "tiny", **kwargs})


def test_realistic_plan_uses_full_chips_and_all_cameras():
    from cloudphot.simulate.field import _plan_exposures

    p = get_preset("realistic")
    specs = _plan_exposures(p, np.random.default_rng(0), seed=0)
    assert len(specs) == p.n_visits * p.exposures_per_visit * len(p.filters)
    acs = [s for s in specs if s.instrument == "ACS"]
    ir = [s for s in specs if s.detector == "IR"]
    assert all(s.shape == (2048, 4096) and s.n_chips == 2 for s in acs)
    assert all(s.shape == (1014, 1014) and s.n_chips == 1 for s in ir)
    assert all(s.filename.endswith("_flt.fits") for s in ir)
    assert len({s.rootname for s in specs}) == len(specs)
    # dithers within a visit step by fractional pixels
    v1 = [s for s in acs if s.visit == "01" and s.filter == "F814W"]
    step = np.subtract(v1[1].dither_arcsec, v1[0].dither_arcsec) / 0.05
    np.testing.assert_allclose(step, [2.5, 1.5])


def test_detector_effects_conserve_charge_and_scale():
    from cloudphot.simulate import detector as det

    img = np.full((200, 50), 100.0)
    img[100, 25] = 500000.0
    before = img.sum()
    sat = det.saturate(img, 80000.0)
    assert img.sum() == pytest.approx(before)  # bleeding moves charge along the column
    assert img.max() == 80000.0 and sat[:, 25].sum() == 5 and not sat[:, 24].any()
    rng = np.random.default_rng(1)
    hits = [det.add_cosmic_rays(np.zeros((300, 300)), t, rng).sum() for t in (100, 1000)]
    assert hits[1] / hits[0] == pytest.approx(10, rel=0.3)
    with pytest.raises(ValueError, match="full_well"):
        det.saturate(img, 0)
    with pytest.raises(ValueError, match="non-negative"):
        det.add_cosmic_rays(img, -1, rng)
