"""Stage 9: per-filter combination and st/gst culling."""

import numpy as np
import pytest
from astropy.table import Table

from cloudphot.photometry.combine import MAG_BAD, combine_filter, rate_to_mag
from cloudphot.photometry.culling import cull_filter, cull_pair, cuts_for
from cloudphot.photometry.options import PhotometryOptions


def _meas(rate, raterr, flag=None, sharp=None, crowd=None):
    n = len(rate)
    return Table(
        {
            "rate": rate,
            "raterr": raterr,
            "chi": np.ones(n),
            "sharp": sharp if sharp is not None else np.zeros(n),
            "round": np.zeros(n),
            "crowd": crowd if crowd is not None else np.zeros(n),
            "flag": flag if flag is not None else np.zeros(n, int),
        }
    )


def test_weighted_mean_and_zeropoints():
    # star 0: two measurements on chips whose zeropoints differ by 0.1 mag
    idx = np.array([0, 0, 1, 1, 1])
    zpt = np.array([25.0, 25.1, 25.0, 25.0, 25.0])
    rate = np.array([100.0, 100.0 * 10 ** (0.4 * 0.1), 10.0, 12.0, -1.0])  # same star: 20.0 mag
    raterr = np.array([1.0, 1.0, 1.0, 2.0, 1.0])
    out = combine_filter(idx, 3, _meas(rate, raterr, flag=np.array([0, 1, 0, 0, 8])), zpt, "ACS")
    # zp_ref = median = 25.0: both measurements of star 0 are the same star
    assert out["rate"][0] == pytest.approx(100.0)
    c = 10 ** (-0.4 * 0.1)  # the second error is rescaled with its rate
    assert out["raterr"][0] == pytest.approx(1 / np.sqrt(1 + 1 / c**2))
    assert out["vega"][0] == pytest.approx(25.0 - 5.0)
    # star 1: the flag-8 measurement is not used but its flag is ORed
    w = np.array([1.0, 0.25])
    assert out["rate"][1] == pytest.approx(np.sum(w * [10.0, 12.0]) / w.sum())
    assert out["nmeas"].tolist() == [2, 2, 0] and out["flag"].tolist() == [1, 8, 0]
    assert out["snr"][1] == pytest.approx(out["rate"][1] / out["raterr"][1])
    # star 2 has no measurement
    assert np.isnan(out["rate"][2]) and out["vega"][2] == MAG_BAD and not out["st"][2]


def test_error_floor_does_not_average_down():
    # 32 exposures of a bright star: the statistical error alone would be 0.0002 mag
    n = 32
    meas = _meas(np.full(n, 1e4), np.full(n, 10.0))
    out = combine_filter(np.zeros(n, int), 2, meas, np.full(n, 25.0), "ACS")
    stat = 2.5 / np.log(10) * 10.0 / np.sqrt(n) / 1e4
    floor = PhotometryOptions().error_floor_mag
    common = np.sqrt(1 + PhotometryOptions().error_common_fraction ** 2 * (n - 1))
    assert out["err"][0] == pytest.approx(np.hypot(stat * common, floor))
    assert out["snr"][0] == pytest.approx(1e4 * np.sqrt(n) / 10.0)  # S/N stays statistical
    assert out["err"][1] == 9.999  # no measurement: the bad-error marker, untouched
    none = combine_filter(
        np.zeros(n, int),
        1,
        meas,
        np.full(n, 25.0),
        "ACS",
        PhotometryOptions(error_floor_mag=0, error_common_fraction=0),
    )
    assert none["err"][0] == pytest.approx(stat)


def test_errors_take_the_scatter_between_exposures():
    """Honest errors (issue 16 item 5): 200 constant stars whose measurements scatter
    1.5x their stated errors, 16 exposures each: the combined magnitude errors are
    1.5x the statistical ones (times the common share), the magnitudes unchanged;
    with errors that were right the scale stays 1; three wildly variable stars in the
    same bin do not move it."""
    from cloudphot.photometry.combine import repeatability_scale

    rng = np.random.default_rng(11)
    nstar, nexp = 200, 16
    true = np.repeat(rng.uniform(200.0, 400.0, nstar), nexp)  # 24-25 mag at zp 31
    err = np.sqrt(true * 100.0) / 100.0
    star = np.repeat(np.arange(nstar), nexp)
    rate = true + rng.normal(0, 1, true.size) * err * 1.5
    var = star < 3
    rate[var] *= 1 + 0.8 * np.sin(np.arange(var.sum()))
    use = np.ones(rate.size, bool)
    scale = repeatability_scale(star, rate, err, use, nstar, 31.0)
    assert 1.4 < np.median(scale) < 1.6
    right = true + rng.normal(0, 1, true.size) * err
    assert np.all(repeatability_scale(star, right, err, use, nstar, 31.0) <= 1.1)
    opt = PhotometryOptions(error_common_fraction=0, error_floor_mag=0)
    meas = _meas(rate, err)
    out = combine_filter(star, nstar, meas, np.full(rate.size, 31.0), "ACS", opt)
    stat = 2.5 / np.log(10) * np.asarray(out["raterr"]) / np.asarray(out["rate"])
    # (the combination first sets outlier epochs aside, so its scale differs a little)
    assert np.median(out["err"][3:] / stat[3:]) == pytest.approx(np.median(scale), rel=0.02)
    plain = combine_filter(
        star,
        nstar,
        meas,
        np.full(rate.size, 31.0),
        "ACS",
        PhotometryOptions(
            error_common_fraction=0, error_floor_mag=0, error_from_repeatability=False
        ),
    )
    assert np.allclose(plain["err"], stat)
    assert np.array_equal(plain["vega"], out["vega"])


def test_rate_to_mag_non_positive():
    mag, err = rate_to_mag(np.array([-1.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.1]), 25.0)
    assert mag.tolist()[:2] == [MAG_BAD, MAG_BAD] and mag[2] == 25.0
    assert err[2] == pytest.approx(1.0857 * 0.1, rel=1e-3)


def test_published_limits():
    assert cuts_for("ACS") == (0.075, 0.1)
    assert cuts_for("IR") == (0.15, 0.48)
    assert cuts_for("UVIS") == (0.15, 1.3)


def test_cull_filter_each_criterion():
    snr = np.array([10, 3.9, 10, 10, 10, 10])
    sharp = np.array([0.1, 0.1, 0.3, 0.1, 0.1, 0.1])
    crowd = np.array([0.05, 0.05, 0.05, 0.05, 0.2, 0.05])
    flag = np.array([0, 0, 0, 4, 0, 2])
    st, gst = cull_filter(snr, sharp, crowd, flag, "ACS")
    assert st.tolist() == [True, False, False, False, True, True]
    assert gst.tolist() == [True, False, False, False, False, True]
    _st_ir, gst_ir = cull_filter(snr, sharp, crowd, flag, "IR")
    assert gst_ir[4]  # 0.2 <= 0.48 in the IR
    loose = PhotometryOptions(crowd_cut_acs=2.25)
    assert cull_filter(snr, sharp, crowd, flag, "ACS", loose)[1][4]


def test_cull_pair_uses_sums():
    st, gst = cull_pair(
        np.array([5.0]),
        np.array([5.0]),
        np.array([0.15]),
        np.array([0.15]),
        np.array([0.04]),
        np.array([0.04]),
        np.array([0]),
        np.array([0]),
        "ACS",
    )
    assert not st[0]  # (0.3)^2 = 0.09 > 0.075
    st, gst = cull_pair(
        np.array([5.0]),
        np.array([5.0]),
        np.array([0.1]),
        np.array([-0.1]),
        np.array([0.06]),
        np.array([0.06]),
        np.array([0]),
        np.array([0]),
        "ACS",
    )
    assert st[0] and not gst[0]  # crowd sum 0.12 > 0.1
