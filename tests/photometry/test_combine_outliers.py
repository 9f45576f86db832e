"""Outlier epochs: one bad measurement of a constant star is set aside; a variable keeps all."""

import numpy as np
from astropy.table import Table

from cloudphot.photometry.combine import combine_filter, outlier_epochs


def _meas(rates, errs):
    n = len(rates)
    return Table(
        {
            "rate": rates,
            "raterr": errs,
            "chi": np.ones(n),
            "sharp": np.zeros(n),
            "round": np.zeros(n),
            "crowd": np.zeros(n),
            "flag": np.zeros(n, int),
        }
    )


def test_a_bad_epoch_of_a_constant_star_is_set_aside_but_a_cepheid_keeps_all():
    rng = np.random.default_rng(1)
    constant = 100 + rng.normal(0, 1.0, 12)
    constant[5] = 160.0  # a cosmic-ray residual: 60 sigma
    phase = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    cepheid = 100 * (1 + 0.5 * np.sin(phase))  # a 1-mag amplitude light curve
    rates = np.r_[constant, cepheid]
    errs = np.ones(24)
    star = np.r_[np.zeros(12, int), np.ones(12, int)]
    flagged = outlier_epochs(star, rates, errs, np.ones(24, bool), 2)
    assert list(np.flatnonzero(flagged)) == [5]
    out = combine_filter(star, 2, _meas(rates, errs), np.full(24, 25.0), "ACS")
    assert abs(out["rate"][0] - np.mean(np.delete(constant, 5))) < 1e-9
    assert out["nmeas"][0] == 11 and out["nmeas"][1] == 12
    assert abs(out["rate"][1] - np.mean(cepheid)) < 1e-9


def test_too_few_epochs_are_never_judged():
    flagged = outlier_epochs(
        np.zeros(3, int), np.array([1.0, 1.0, 50.0]), np.ones(3), np.ones(3, bool), 1
    )
    assert not flagged.any()
