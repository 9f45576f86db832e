"""Stage 10: reduce_field / preprocess_exposure end to end, and hostile inputs."""

import numpy as np
import pytest
from astropy.io import fits
from scipy.spatial import cKDTree

from cloudphot import products
from cloudphot.errors import DataError, InvalidExposure, NoStars
from cloudphot.photometry import (
    PhotometryOptions,
    preprocess_exposure,
    read_preprocess,
    reduce_field,
)
from cloudphot.photometry.exposure import load_exposure

from .synth import GaussianPSF, Truth, make_truth, tan_wcs, write_exposure

PSF = GaussianPSF(2.2)
PSFS = {"F814W": PSF, "F475W": PSF}
SHAPE = (160, 160)


@pytest.fixture(scope="module")
def synth_field(tmp_path_factory):
    d = tmp_path_factory.mktemp("field")
    rng = np.random.default_rng(11)
    tr = make_truth(300, SHAPE, rng, tan_wcs(SHAPE), fmin=3, fmax=2000)
    tr2 = Truth(tr.ra, tr.dec, tr.flux_rate * rng.uniform(0.5, 2, len(tr.ra)))
    paths, shifts, infos = [], [], []
    for i in range(6):
        filt, t = ("F814W", tr) if i < 3 else ("F475W", tr2)
        sh = rng.uniform(-0.5, 0.5, 2)
        p = d / f"sim{i:02d}_flc.fits"
        infos.append(
            write_exposure(
                p,
                t,
                shape=SHAPE,
                filt=filt,
                shift=sh,
                rng=rng,
                ncosmics=30,
                exptime=400.0,
                mjd=57000.0 + i,
            )
        )
        paths.append(p)
        shifts.append(sh)
    res = reduce_field(paths, psfs=PSFS, workdir=d / "work")
    return {
        "dir": d,
        "paths": paths,
        "shifts": np.array(shifts),
        "infos": infos,
        "truth": (tr, tr2),
        "res": res,
    }


def test_tables_follow_the_product_contracts(synth_field):
    res = synth_field["res"]
    assert res.measurements.colnames == list(products.MEASUREMENT_COLUMNS)
    for name, (dtype, _, _) in products.MEASUREMENT_COLUMNS.items():
        assert res.measurements[name].dtype == np.dtype(dtype), name
    assert res.filters == ["F475W", "F814W"] or res.filters == ["F814W", "F475W"]
    assert res.catalog.colnames == products.field_catalog_columns(res.filters)
    assert res.catalog["star_id"].tolist() == list(range(1, len(res.catalog) + 1))
    assert set(res.measurements["star_id"]) <= set(res.catalog["star_id"])
    assert res.field_id == "testfield"
    assert set(res.timings) >= {
        "preprocess",
        "align",
        "reference",
        "detect",
        "photometry",
        "combine",
    }
    assert (synth_field["dir"] / "work" / "reference.fits").exists()


def test_relative_alignment_below_002_pix(synth_field):
    al = synth_field["res"].alignment
    # fitted offsets equal the injected pointing errors up to one common offset (the frame)
    diff = np.c_[al["dx"], al["dy"]] - synth_field["shifts"]
    assert np.max(np.abs(diff - diff.mean(axis=0))) < 0.02


def test_recovered_fluxes_and_positions(synth_field):
    res = synth_field["res"]
    m = res.measurements
    errs, dmags = [], []
    for k, p in enumerate(synth_field["paths"]):
        info = synth_field["infos"][k]
        mm = m[m["image"] == p.name]
        d, j = cKDTree(np.c_[info["x"], info["y"]]).query(np.c_[mm["x"], mm["y"]])
        ok = (d < 0.75) & (mm["snr"] > 50) & (mm["flag"] == 0)
        dmags.append(-2.5 * np.log10(mm["rate"][ok] * 400.0 / info["flux_e"][j[ok]]))
        # positions relative to the common frame offset
        # chip positions are where the star is on the chip: no frame offset in them
        # (the frame's error, the mean pointing error, goes into ra/dec only)
        errs.append(np.hypot(mm["x"][ok] - info["x"][j[ok]], mm["y"][ok] - info["y"][j[ok]]))
    dm = np.concatenate(dmags)
    assert len(dm) > 300
    assert np.median(np.abs(dm)) < 0.015
    # undetected faint neighbours make stars slightly too bright (crowding bias)
    assert abs(np.median(dm)) < 0.01
    assert np.median(np.concatenate(errs)) < 0.02


def test_bright_stars_complete_and_gst(synth_field):
    res = synth_field["res"]
    tr = synth_field["truth"][0]
    tx, ty = res.reference.wcs.world_to_pixel_values(tr.ra, tr.dec)
    d, j = cKDTree(np.c_[res.catalog["x"], res.catalog["y"]]).query(np.c_[tx, ty])
    bright = tr.flux_rate > 30  # S/N >~ 50 per exposure
    assert np.mean(d[bright] < 0.75) > 0.97
    gst = res.catalog["f814w_gst"][j[bright & (d < 0.75)]]
    assert gst.mean() > 0.85


def test_preprocess_product_round_trip_and_reuse(synth_field, tmp_path):
    p = synth_field["paths"][0]
    res = preprocess_exposure(p, fwhm_pix=2.2, output=tmp_path / "prep.fits")
    back = read_preprocess(tmp_path / "prep.fits")
    assert back.exposure == p.name and len(back.chips) == 1
    assert np.array_equal(back.chips[0].mask, res.chips[0].mask)
    assert np.allclose(back.chips[0].sky, res.chips[0].sky)
    assert res.stats["chip1_cosmic_frac"] > 0  # 30 cosmic rays were injected
    assert res.stats["chip1_sky_e"] == pytest.approx(40.0, abs=2.0)


# ----------------------------------------------------------------- hostile inputs


def _one(tmp_path, name="h_flc.fits", **kw):
    rng = np.random.default_rng(0)
    tr = make_truth(60, SHAPE, rng, tan_wcs(SHAPE), fmin=20, fmax=2000)
    p = tmp_path / name
    write_exposure(p, tr, shape=SHAPE, rng=rng, **kw)
    return p


def _edit(p, fn):
    with fits.open(p, mode="update") as h:
        fn(h)


def test_missing_dq_extension(tmp_path):
    p = _one(tmp_path, drop_dq=True)
    with pytest.raises(InvalidExposure, match=r"h_flc.fits: missing DQ extension"):
        load_exposure(p)


def test_mismatched_shapes(tmp_path):
    p = _one(tmp_path)
    _edit(p, lambda h: setattr(h["ERR", 1], "data", np.ones((10, 10), np.float32)))
    with pytest.raises(InvalidExposure, match="shapes differ"):
        reduce_field([p], psfs=PSFS)


@pytest.mark.parametrize(
    "value,what",
    [
        (np.nan, r"no finite pixel \(\d+ NaN, 0 \+Inf, 0 -Inf\)"),
        (np.inf, r"no finite pixel \(0 NaN, \d+ \+Inf, 0 -Inf\)"),
        (-np.inf, r"no finite pixel \(0 NaN, 0 \+Inf, \d+ -Inf\)"),
        (0.0, "all zero"),
    ],
)
def test_all_nan_inf_or_zero_image(tmp_path, value, what):
    p = _one(tmp_path)

    def blank(h):
        h["SCI", 1].data = np.full(SHAPE, value, np.float32)

    _edit(p, blank)
    with pytest.raises(InvalidExposure, match=what):
        preprocess_exposure(p, fwhm_pix=2.2)


def test_negative_err_refused(tmp_path):
    p = _one(tmp_path)
    _edit(p, lambda h: setattr(h["ERR", 1], "data", -np.abs(h["ERR", 1].data) - 1))
    with pytest.raises(InvalidExposure, match=r"ERR is negative in \d+ pixel\(s\)"):
        preprocess_exposure(p, fwhm_pix=2.2)


def test_zero_exposure_time(tmp_path):
    p = _one(tmp_path)
    _edit(p, lambda h: h[0].header.set("EXPTIME", 0.0))
    with pytest.raises(InvalidExposure, match="EXPTIME"):
        reduce_field([p], psfs=PSFS)


def test_mixed_targets_refused(tmp_path):
    a = _one(tmp_path, "a_flc.fits", target="M31-FIELD-1")
    b = _one(tmp_path, "b_flc.fits", target="NGC1644")
    with pytest.raises(DataError, match="different targets.*M31-FIELD-1.*NGC1644"):
        reduce_field([a, b], psfs=PSFS)


def test_non_overlapping_footprints_refused(tmp_path):
    a = _one(tmp_path, "a_flc.fits")
    b = _one(tmp_path, "b_flc.fits", ra=10.2)
    with pytest.raises(DataError, match="does not overlap"):
        reduce_field([a, b], psfs=PSFS)


def test_field_without_stars(tmp_path):
    p = tmp_path / "empty_flc.fits"
    write_exposure(p, Truth(np.array([]), np.array([]), np.array([])), shape=SHAPE)
    with pytest.raises(NoStars, match="testfield"):
        reduce_field([p], psfs=PSFS)


def test_no_exposures():
    with pytest.raises(DataError):
        reduce_field([], psfs=PSFS)


def test_options_validated():
    with pytest.raises(ValueError):
        PhotometryOptions(align_mode="affine")
    assert PhotometryOptions().with_(snr_min=5).as_dict()["snr_min"] == 5


def test_two_chip_exposures_and_rate_units(tmp_path):
    """Two-chip (ACS-like) exposures; one filter stored in e-/s (as WFC3/IR flt)."""
    rng = np.random.default_rng(21)
    tr = make_truth(250, (2 * SHAPE[0] + 10, SHAPE[1]), rng, tan_wcs(SHAPE), fmin=5, fmax=2000)
    paths, shifts, infos = [], [], []
    for i in range(4):
        sh = rng.uniform(-0.4, 0.4, 2)
        p = tmp_path / f"two{i}_flc.fits"
        infos.append(
            write_exposure(
                p,
                tr,
                shape=SHAPE,
                nchips=2,
                shift=sh,
                rng=rng,
                mjd=57000.0 + i,
                bunit="ELECTRONS/S" if i % 2 else "ELECTRONS",
            )
        )
        paths.append(p)
        shifts.append(sh)
    stages = []
    res = reduce_field(paths, psfs=PSFS, progress=lambda stage, done, total: stages.append(stage))
    assert {"preprocess", "align", "photometry"} <= set(stages)
    m = res.measurements
    assert set(m["chip"]) == {1, 2}
    al = res.alignment
    assert len(al) == 8
    diff = np.c_[al["dx"], al["dy"]] - np.repeat(np.array(shifts), 2, axis=0)
    assert np.max(np.abs(diff - diff.mean(axis=0))) < 0.02
    # chip-2 stars: fluxes right whatever the unit of the file
    tflux = tr.flux_rate * 400.0
    for unit_file in (paths[0], paths[1]):
        mm = m[
            (m["image"] == unit_file.name) & (m["chip"] == 2) & (m["snr"] > 50) & (m["flag"] == 0)
        ]
        ra, dec = np.asarray(mm["ra"]), np.asarray(mm["dec"])
        d, j = cKDTree(np.c_[tr.ra, tr.dec]).query(np.c_[ra, dec])
        assert len(mm) > 20
        assert np.median(d) * 3600 < 0.01  # arcsec: the right star (0.05"/pix)
        dm = -2.5 * np.log10(mm["rate"] * 400.0 / tflux[j])
        assert np.median(np.abs(dm)) < 0.02


def test_given_preprocessing_products_are_used(synth_field, tmp_path):
    prods = {
        p.name: preprocess_exposure(
            p, fwhm_pix=PSF.fwhm_pix, output=tmp_path / f"{p.stem}.fits"
        ).path
        for p in synth_field["paths"]
    }
    res = reduce_field(synth_field["paths"], psfs=PSFS, preprocessed=prods)
    ref = synth_field["res"]
    assert len(res.catalog) == len(ref.catalog)
    assert np.allclose(res.measurements["rate"], ref.measurements["rate"], rtol=1e-5, atol=1e-6)
