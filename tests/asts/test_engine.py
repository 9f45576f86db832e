"""Artificial stars on a tiny simulated field: drawn on the images over the CMD, recovered
within their errors, refused off the images, and a completeness that matches the truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from cloudphot.asts.completeness import completeness_table, crossing_magnitude, mag_at
from cloudphot.asts.engine import AstOptions, draw_fakes, prepare_state, run_fakes
from cloudphot.asts.model import read_model
from cloudphot.errors import DataError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state(reduced_tiny):
    r = reduced_tiny
    return prepare_state(r.exposures, r.prepared, r.model, r.catalog)


def test_fakes_follow_the_cmd_and_stay_on_every_filters_images(reduced_tiny):
    r = reduced_tiny
    fakes = draw_fakes(r.catalog, r.model, AstOptions(n_fakes=500, seed=1))
    assert len(fakes) == 500 and list(fakes["fake_id"]) == list(range(1, 501))
    assert r.model.covered(np.asarray(fakes["x"]), np.asarray(fakes["y"])).all()
    deep = r.model.filters[0].lower()
    cat = np.asarray(r.catalog[f"{deep}_vega"], float)
    cat = cat[np.isfinite(cat) & (cat < 90)]
    m = np.asarray(fakes[f"{deep}_in"], float)
    # from the catalog's bright end to beyond its faint limit, flat in magnitude
    assert m.min() >= np.percentile(cat, 1) - 0.3
    snr = np.asarray(r.catalog[f"{deep}_snr"], float)
    measured = np.asarray(r.catalog[f"{deep}_vega"], float)[snr >= 3]
    assert np.percentile(measured, 99) < m.max() <= np.max(measured) + 1.0 + 1e-3
    counts, _ = np.histogram(m, bins=5)
    assert counts.min() > 0.6 * counts.mean()
    # colours are the catalog's: the fakes' median colour is the stars'
    other = r.model.filters[1].lower()
    col = np.asarray(fakes[f"{deep}_in"]) - np.asarray(fakes[f"{other}_in"])
    ccat = np.asarray(r.catalog[f"{deep}_vega"]) - np.asarray(r.catalog[f"{other}_vega"])
    ccat = ccat[np.isfinite(ccat) & (np.abs(ccat) < 10)]
    assert abs(np.median(col) - np.median(ccat)) < 0.5
    # the same seed, the same fakes
    again = draw_fakes(r.catalog, r.model, AstOptions(n_fakes=500, seed=1))
    assert np.array_equal(np.asarray(again["x"]), np.asarray(fakes["x"]))


def test_bright_fakes_are_recovered_within_their_errors(reduced_tiny, state):
    r = reduced_tiny
    fakes = draw_fakes(r.catalog, r.model, AstOptions(n_fakes=400, seed=2))
    deep = r.model.filters[0].lower()
    bright = fakes[np.asarray(fakes[f"{deep}_in"]) < 25.0][:40]
    out = run_fakes(state, bright, AstOptions(n_fakes=len(bright)))
    assert np.asarray(out["recovered"]).mean() >= 0.9
    for f in r.model.filters:
        p = f.lower()
        ok = np.asarray(out["recovered"]) & np.isfinite(np.asarray(out[f"{p}_out"], float))
        dm = np.asarray(out[f"{p}_out"], float)[ok] - np.asarray(out[f"{p}_in"], float)[ok]
        err = np.asarray(out[f"{p}_err"], float)[ok]
        assert ok.sum() >= 30
        # within 3 sigma (and the 0.005 mag floor) for nearly all
        assert np.mean(np.abs(dm) < 3 * err + 0.01) >= 0.85, (f, dm, err)
        assert abs(np.median(dm)) < 0.03
    assert np.nanmax(np.hypot(np.asarray(out["dx"]), np.asarray(out["dy"]))) <= 1.0


def test_a_fake_off_the_images_is_refused_by_name(reduced_tiny, state):
    r = reduced_tiny
    fakes = draw_fakes(r.catalog, r.model, AstOptions(n_fakes=3, seed=3))
    fakes["x"][1] = -40.0
    with pytest.raises(DataError, match=r"fake\(s\) \[2\] are off the images"):
        run_fakes(state, fakes, AstOptions(n_fakes=3))
    del fakes["y"]
    with pytest.raises(DataError, match="no column 'y'"):
        run_fakes(state, fakes, AstOptions(n_fakes=3))


def test_completeness_from_asts_matches_the_truth(reduced_tiny, state):
    """The 50 % completeness magnitude the ASTs give is the one the simulator's truth
    gives for the catalog (every star with a magnitude, matched within 1 pixel)."""
    from cloudphot.verify import score_catalog

    r = reduced_tiny
    ast = AstOptions(n_fakes=300, seed=4)
    fakes = draw_fakes(r.catalog, r.model, ast)
    deep = r.model.filters[0]
    # only the faint end matters for the 50 % point: fakes within 2.5 mag of it
    m = np.asarray(fakes[f"{deep.lower()}_in"], float)
    out = run_fakes(state, fakes[m > 25.5], ast)
    comp = completeness_table(out, r.model.filters, r.model.field_id, 0.5)
    m50 = mag_at(comp, deep)
    rows = score_catalog(
        r.catalog, r.sim.truth, r.sim.exposures_truth, [deep], quality="all",
        bins=(14.0, 25.0, 25.5, 26.0, 26.5, 27.0, 27.5, 28.0, 28.5, 29.0, 29.5),
    )  # fmt: skip
    mid = np.array([(x["lo"] + x["hi"]) / 2 for x in rows])
    truth50 = crossing_magnitude(mid, np.array([x["completeness"] for x in rows]))
    assert np.isfinite(m50) and np.isfinite(truth50)
    assert abs(m50 - truth50) < 0.4, (m50, truth50)


def test_completeness_rows_per_filter_density_and_bin():
    rng = np.random.default_rng(0)
    m = rng.uniform(20, 30, 2000)
    rec = rng.random(2000) < 1 / (1 + np.exp((m - 27.0) / 0.3))
    t = Table({"f814w_in": m, "f814w_out": np.where(rec, m + 0.01, np.nan), "recovered": rec})
    t["f814w_gst"] = rec & (m < 26.5)
    t["density"] = rng.random(2000)
    comp = completeness_table(t, ["F814W"], "fld", 0.5)
    assert set(np.asarray(comp["density"]).astype(str)) == {"all", "low", "mid", "high"}
    assert abs(mag_at(comp, "F814W") - 27.0) < 0.15
    allrows = comp[np.asarray(comp["density"]).astype(str) == "all"]
    assert int(np.sum(allrows["n_fakes"])) == 2000
    assert np.nanmax(np.abs(np.asarray(allrows["bias"]) - 0.01)) < 1e-6
    assert np.isnan(crossing_magnitude(np.array([1.0, 2.0]), np.array([0.9, 0.8])))
    # one lucky fake recovered far beyond the limit is no crossing (a 1-fake bin)
    extra = Table(rows=[("fld", "F814W", "all", 32.0, 32.5, 1, 1, 1.0, 1.0, 0.0, 0.0)],
                  names=comp.colnames)  # fmt: skip
    from astropy.table import vstack

    assert abs(mag_at(vstack([comp, extra]), "F814W") - 27.0) < 0.15


def test_a_model_that_is_not_one_is_refused_by_name(tmp_path):
    with pytest.raises(DataError, match="bad.npz: not a field model"):
        read_model(b"not an npz", "bad.npz")
    np.savez(tmp_path / "m.npz", version=np.array(1))
    with pytest.raises(DataError, match="m.npz: not a field model \\(no field_id"):
        read_model((tmp_path / "m.npz").read_bytes(), "m.npz")
