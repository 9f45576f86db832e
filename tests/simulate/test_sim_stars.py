"""Synthetic CMD, Cepheid light curves and zeropoints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloudphot.simulate.exposure import photometric_keywords
from cloudphot.simulate.stars import (
    AMPLITUDE_RATIO,
    PHASE_REF_MJD,
    cepheid_shape,
    draw_cepheids,
    draw_population,
    magnitude_to_rate,
    variable_mags,
    vega_zeropoint,
)


def test_population_is_reproducible_and_faint_rich():
    a = draw_population(20000, np.random.default_rng(1), filters=["F475W", "F814W", "F160W"])
    b = draw_population(20000, np.random.default_rng(1), filters=["F475W", "F814W", "F160W"])
    assert np.array_equal(a["f814w_vega"], b["f814w_vega"])
    m = np.asarray(a["f814w_vega"])
    assert m.max() <= 28.5 + 1e-9
    # luminosity function rises to the faint end
    counts = [np.sum((m >= lo) & (m < lo + 1)) for lo in (22, 24, 26)]
    assert counts[0] < counts[1] < counts[2]
    # RGB tip near I = -4.05 + 24.47 + A: nothing old is brighter
    rgb = np.asarray(a["component"]) == "rgb"
    assert m[rgb].min() == pytest.approx(-4.05 + 24.47 + 0.12, abs=0.02)
    colour = np.asarray(a["f475w_vega"] - a["f814w_vega"])
    ms = np.asarray(a["component"]) == "ms"
    assert np.median(colour[rgb]) > 1.2
    assert np.median(colour[ms]) < 0.5
    rc = np.asarray(a["component"]) == "rc"
    assert np.median(m[rc]) == pytest.approx(-0.25 + 24.47 + 0.12, abs=0.03)
    assert set(np.unique(a["component"])) == {"rgb", "rc", "agb", "ms", "bheb"}


def test_cepheids_follow_a_period_luminosity_relation():
    c = draw_cepheids(200, np.random.default_rng(2))
    logp = np.log10(c["period_d"])
    assert c["period_d"].min() >= 2 and c["period_d"].max() <= 30
    slope = np.polyfit(logp, c["f814w_vega"], 1)[0]
    assert slope == pytest.approx(-2.96, abs=0.15)
    assert np.all((c["phase"] >= 0) & (c["phase"] < 1))


def test_light_curve_shape_and_periodicity():
    phase = np.linspace(0, 1, 2001)[:-1]
    s = cepheid_shape(phase)
    assert s.mean() == pytest.approx(0, abs=1e-12)
    assert s.max() - s.min() == pytest.approx(1.0, abs=1e-5)
    # fast rise, slow decline: brightening (dm < 0) takes a minority of the cycle
    assert np.mean(np.diff(s) < 0) < 0.4
    mean, period, amp, ph = 21.3, 7.5, 0.8, 0.37
    t = 56000 + np.linspace(0, 300, 57)
    m = variable_mags(mean, period, amp, ph, t, "F475W")
    np.testing.assert_allclose(m, variable_mags(mean, period, amp, ph, t + 3 * period, "F475W"))
    m814 = variable_mags(mean, period, amp, ph, t, "F814W")
    np.testing.assert_allclose(m814 - mean, AMPLITUDE_RATIO["F814W"] * (m - mean), atol=1e-12)
    # phase is counted from PHASE_REF_MJD
    assert variable_mags(0.0, period, 1.0, 0.0, PHASE_REF_MJD, "F475W") == pytest.approx(
        cepheid_shape(0.0)
    )
    # non-variables stay constant
    assert np.all(variable_mags(20.0, 0.0, 0.0, 0.0, t, "F814W") == 20.0)


def test_demo_cadence_recovers_cepheid_periods_within_one_percent():
    from astropy.timeseries import LombScargle

    from cloudphot.simulate.field import _plan_exposures
    from cloudphot.simulate.presets import get_preset

    rng = np.random.default_rng(0)
    specs = _plan_exposures(get_preset("demo"), rng, seed=0)
    t = np.array([s.expstart for s in specs if s.filter == "F814W"])
    assert len(t) >= 12 and t.max() - t.min() > 365
    ceph = draw_cepheids(5, np.random.default_rng(11), filters=["F814W"])
    for row in ceph:
        m = variable_mags(
            row["f814w_vega"], row["period_d"], row["amplitude_mag"], row["phase"], t, "F814W"
        ) + rng.normal(0, 0.02, t.size)
        ls = LombScargle(t, m, nterms=2)
        step = 1 / (10 * (t.max() - t.min()))
        coarse = np.arange(1 / 40, 1 / 1.8, step)
        f0 = coarse[np.argmax(ls.power(coarse))]
        fine = np.linspace(f0 - step, f0 + step, 401)
        best = 1 / fine[np.argmax(ls.power(fine))]
        assert best == pytest.approx(row["period_d"], rel=0.01)


def test_vega_zeropoint_is_the_pipeline_formula():
    for inst, det, f, ab_vega in [
        ("ACS", "WFC", "F475W", -0.10),
        ("ACS", "WFC", "F814W", 0.42),
        ("WFC3", "IR", "F160W", 1.25),
    ]:
        kw = photometric_keywords(inst, det, f)
        st = -2.5 * math.log10(kw["PHOTFLAM"]) - 21.10
        ab = st - 5 * math.log10(kw["PHOTPLAM"]) + 18.6921
        assert vega_zeropoint(inst, det, f) == pytest.approx(ab - ab_vega, abs=2e-3)
    zpt = vega_zeropoint("ACS", "WFC", "F814W")
    assert magnitude_to_rate(zpt, zpt) == pytest.approx(1.0)
    assert magnitude_to_rate(zpt + 5, zpt) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: draw_population(-1, np.random.default_rng()), "non-negative"),
        (lambda: draw_population(10, np.random.default_rng(), filters=["F999W"]), "unsupported"),
        (lambda: draw_population(10, np.random.default_rng(), faint_f814w=15), "too bright"),
        (lambda: draw_cepheids(3, np.random.default_rng(), period_range_d=(5, 2)), "period_range"),
        (lambda: variable_mags(20, 5, 0.5, 0, 56000, "F999W"), "amplitude ratio"),
    ],
)
def test_bad_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()
