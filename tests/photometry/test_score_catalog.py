"""The truth scorer (cloudphot.verify.score_catalog) on a catalog whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from cloudphot.verify import match_one_to_one, score_catalog


def _field(rng, n=2000):
    """Truth on a 400x400 chip (0.05"/pix TAN-like plane) and its exposure truth."""
    x, y = rng.uniform(0, 400, n), rng.uniform(0, 400, n)
    dec0, ra0 = 41.0, 10.0
    ra = ra0 + (x - 200) * 0.05 / 3600 / np.cos(np.radians(dec0))
    dec = dec0 + (y - 200) * 0.05 / 3600
    mag = rng.uniform(20.5, 27.0, n)
    truth = Table(
        {
            "star_id": np.arange(n),
            "ra": ra,
            "dec": dec,
            "f814w_vega": mag,
            "is_variable": np.zeros(n, bool),
        }
    )
    et = Table(
        {
            "exposure_id": ["e1"] * n,
            "filter": ["F814W"] * n,
            "star_id": np.arange(n),
            "x": x,
            "y": y,
            "chip": np.ones(n, int),
        }
    )
    return truth, et, mag


def test_scores_completeness_bias_calibration_and_false_detections():
    rng = np.random.default_rng(2)
    truth, et, mag = _field(rng)
    found = mag < 25.0  # everything brighter than 25 found, nothing fainter
    err = np.full(found.sum(), 0.02)
    meas = mag[found] + 0.03 + rng.normal(0, 0.02, found.sum())  # biased 0.03, honest errors
    # the catalog has a frame offset (no pipeline knows the absolute pointing) and 50
    # detections where there is no star
    ra = np.r_[truth["ra"][found], rng.uniform(truth["ra"].min(), truth["ra"].max(), 50)] + 2e-5
    dec = np.r_[truth["dec"][found], rng.uniform(truth["dec"].min(), truth["dec"].max(), 50)]
    cat = Table(
        {
            "ra": ra,
            "dec": dec,
            "f814w_vega": np.r_[meas, np.full(50, 26.5)],
            "f814w_err": np.r_[err, np.full(50, 0.1)],
            "f814w_gst": np.ones(len(ra), bool),
        }
    )
    rows = {r["lo"]: r for r in score_catalog(cat, truth, et, ["F814W"])}
    assert rows[22.0]["completeness"] > 0.97 and rows[26.0]["completeness"] < 0.02
    assert rows[22.0]["bias"] == pytest.approx(0.03, abs=0.006)
    assert rows[23.0]["err_calib"] == pytest.approx(1.0, abs=0.2)
    # the false detections sit at 26.5 measured; a few may land on a faint true star
    assert rows[26.0]["n_false"] >= 40 and rows[22.0]["n_false"] <= 2


def test_matching_is_one_to_one_closest_first():
    di, ti, d = match_one_to_one([0.0, 0.3], [0.0, 0.0], [0.25, 5.0], [0.0, 5.0], 1.0)
    assert di.tolist() == [1] and ti.tolist() == [0] and d[0] == pytest.approx(0.05)
    assert len(match_one_to_one([], [], [1.0], [1.0])[0]) == 0
