"""DOLPHOT output parsing and its mapping onto the measurement and field-catalog contracts."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from cloudphot.dolphot.parse import (
    phot_to_catalog,
    phot_to_measurements,
    read_columns,
    read_phot,
)
from cloudphot.errors import DataError
from cloudphot.products import MEASUREMENT_COLUMNS, field_catalog_columns

TWO = [("aaa01aaq_flc.chip1", "ACS_F475W", 500.0), ("bbb02bbq_flc.chip2", "ACS_F814W", 350.0)]


def _col(fake, text_start, image=None):
    """Index of the legend line starting with ``text_start`` (for ``image`` if given)."""
    for j, t in enumerate(fake.legend):
        if t.startswith(text_start) and (image is None or f", {image} (" in t):
            return j
    raise AssertionError(text_start)


def _wcs(crpix1=50.0, crpix2=50.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.68, 41.27]
    w.wcs.crpix = [crpix1, crpix2]
    w.wcs.cd = np.array([[-1.4e-5, 0.0], [0.0, 1.4e-5]])
    return w


# ------------------------------------------------------------------ own fixture, exact mapping


def test_read_phot_names_columns_from_the_legend(fake_phot):
    fake = fake_phot(TWO)
    t = read_phot(fake.phot)
    assert t.colnames[:11] == [
        "ext",
        "chip",
        "x",
        "y",
        "chi",
        "snr",
        "sharp",
        "round",
        "majax",
        "crowd",
        "objtype",
    ]
    assert "img1_vega" in t.colnames and "img2_flag" in t.colnames
    assert len(t.colnames) == len(fake.legend) == 11 + 2 * 13
    assert [im["name"] for im in t.meta["images"]] == [n for n, _, _ in TWO]
    assert [im["filter"] for im in t.meta["images"]] == ["F475W", "F814W"]
    assert [im["exptime"] for im in t.meta["images"]] == [500.0, 350.0]
    for j, name in enumerate(t.colnames):
        np.testing.assert_allclose(t[name], fake.data[:, j], err_msg=name)
    assert t["img2_flag"].dtype.kind == "i"


def test_measurements_map_each_image_exactly(fake_phot):
    fake = fake_phot(TWO, nstar=6)
    t = read_phot(fake.phot)
    metas = [{"mjd": 55000.5, "wcs": _wcs()}, {"mjd": 55001.25, "wcs": _wcs(45.0, 52.0)}]
    m = phot_to_measurements(t, metas, "M31-B01-F01")

    assert m.colnames == list(MEASUREMENT_COLUMNS)
    for name, (dtype, _, _) in MEASUREMENT_COLUMNS.items():
        assert m[name].dtype == np.dtype(dtype), name
    assert len(m) == 12
    d = fake.data
    first, second = m[:6], m[6:]
    assert list(first["star_id"]) == list(range(1, 7)) == list(second["star_id"])
    assert set(m["field_id"]) == {"M31-B01-F01"}
    assert list(first["exposure_id"][:1]) == ["aaa01aaq"] and second["exposure_id"][0] == "bbb02bbq"
    assert first["chip"][0] == 1 and second["chip"][0] == 2
    assert first["filter"][0] == "F475W" and second["filter"][0] == "F814W"
    assert first["mjd"][0] == 55000.5 and second["exptime"][0] == np.float32(350.0)

    name2 = TWO[1][0]
    np.testing.assert_allclose(
        second["vega"], d[:, _col(fake, "Instrumental VEGAMAG", name2)], rtol=1e-6
    )
    assert first["vega"][0] == np.float32(99.999)  # DOLPHOT's no-flux sentinel kept
    np.testing.assert_allclose(
        second["err"], d[:, _col(fake, "Magnitude uncertainty", name2)], rtol=1e-6
    )
    for q, text in [
        ("chi", "Chi,"),
        ("snr", "Signal-to-noise,"),
        ("sharp", "Sharpness"),
        ("round", "Roundness"),
        ("crowd", "Crowding,"),
    ]:
        np.testing.assert_allclose(second[q], d[:, _col(fake, text, name2)], rtol=1e-6, err_msg=q)
    np.testing.assert_array_equal(second["flag"], d[:, _col(fake, "Photometry quality", name2)])
    counts = d[:, _col(fake, "Measured counts", name2)]
    np.testing.assert_allclose(second["rate"], counts / 350.0, rtol=1e-6)
    rel = (
        d[:, _col(fake, "Normalized count rate uncertainty", name2)]
        / d[:, _col(fake, "Normalized count rate,", name2)]
    )
    np.testing.assert_allclose(second["raterr"], counts / 350.0 * rel, rtol=1e-5)

    # positions: image 1 is DOLPHOT's frame (0.5 pixel convention), image 2 is shifted
    np.testing.assert_allclose(first["x"], d[:, 2] - 0.5)
    np.testing.assert_allclose(first["y"], d[:, 3] - 0.5)
    np.testing.assert_allclose(second["x"], d[:, 2] - 0.5 - 5.0, atol=1e-6)
    np.testing.assert_allclose(second["y"], d[:, 3] - 0.5 + 2.0, atol=1e-6)
    ra, dec = _wcs().all_pix2world(d[:, 2] - 0.5, d[:, 3] - 0.5, 0)
    np.testing.assert_allclose(first["ra"], ra)
    np.testing.assert_allclose(second["dec"], dec)


def test_measurements_without_wcs_have_nan_sky_positions(fake_phot):
    t = read_phot(fake_phot(TWO).phot)
    m = phot_to_measurements(t, None, "f")
    assert np.isnan(m["ra"]).all()
    assert np.isfinite(m["x"][:5]).all() and np.isnan(m["x"][5:]).all()


def test_combined_filter_block_and_catalog(fake_phot):
    images = [
        ("a1_flc.chip1", "ACS_F814W", 100.0),
        ("a2_flc.chip1", "ACS_F814W", 200.0),
        ("b1_flt.chip1", "WFC3_F160W", 300.0),
    ]
    fake = fake_phot(images, nstar=4)
    t = read_phot(fake.phot)
    assert [f["key"] for f in t.meta["filters"]] == ["f814w"]
    assert "f814w_vega" in t.colnames and "img3_vega" in t.colnames
    m = phot_to_measurements(t, None, "fld")
    cat = phot_to_catalog(t, "fld")
    assert cat.colnames == field_catalog_columns(["F814W", "F160W"])
    np.testing.assert_allclose(
        cat["f814w_vega"],
        fake.data[:, _col(fake, "Instrumental VEGAMAG magnitude, ACS")],
        rtol=1e-6,
    )
    np.testing.assert_allclose(cat["f160w_vega"], m["vega"][8:], rtol=1e-6)
    assert list(cat["f814w_nmeas"]) == [0, 2, 2, 2]  # star 0 has 99.999 everywhere
    assert list(cat["nexp"]) == [0, 3, 3, 3]
    # st/gst follow the documented cuts, per filter
    snr, sharp, flag = (
        np.asarray(cat[f"f160w_{q}"], dtype=float) for q in ("snr", "sharp", "flag")
    )
    expected = (snr >= 4) & (flag <= 2) & (sharp**2 <= 0.15) & (np.asarray(cat["f160w_vega"]) < 99)
    assert list(cat["f160w_st"]) == list(expected)
    assert not (cat["f814w_gst"] & ~cat["f814w_st"]).any()
    # rate: inverse-variance mean of the two F814W measurements' e-/s
    r, e = (
        np.asarray(m["rate"], float).reshape(3, 4)[:2],
        np.asarray(m["raterr"], float).reshape(3, 4)[:2],
    )
    ok = np.asarray(m["flag"]).reshape(3, 4)[:2] < 8
    w = np.where(ok, 1 / e**2, 0)
    np.testing.assert_allclose(cat["f814w_rate"], (w * r).sum(0) / w.sum(0), rtol=1e-5)


def test_filter_collision_keeps_the_instrument_prefix(fake_phot):
    images = [
        ("a_flc.chip1", "ACS_F814W", 1.0),
        ("a2_flc.chip1", "ACS_F814W", 1.0),
        ("u_flc.chip1", "WFC3_F814W", 1.0),
        ("u2_flc.chip1", "WFC3_F814W", 1.0),
    ]
    t = read_phot(fake_phot(images).phot)
    assert {"acs_f814w_vega", "wfc3_f814w_vega"} <= set(t.colnames)


# ------------------------------------------------------------------ hostile input


def test_truncated_line_names_the_line(fake_phot):
    fake = fake_phot(TWO)
    lines = fake.phot.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]
    fake.phot.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"field\.phot:4: \d+ columns, but the legend .* has 37"):
        read_phot(fake.phot)


def test_legend_and_data_disagree(fake_phot, tmp_path):
    fake = fake_phot(TWO)
    fake.columns.write_text("".join(f"{i}. {t}\n" for i, t in enumerate(fake.legend[:-1], 1)))
    with pytest.raises(
        DataError, match=r":1: 37 columns, but the legend field\.phot\.columns has 36"
    ):
        read_phot(fake.phot)


def test_non_numeric_value_names_line_and_column(fake_phot):
    fake = fake_phot(TWO)
    lines = fake.phot.read_text().splitlines()
    fields = lines[2].split()
    fields[14] = "abc"
    lines[2] = " ".join(fields)
    fake.phot.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"field\.phot:3: column 15 is not a number: 'abc'"):
        read_phot(fake.phot)


def test_fractional_flag_is_refused(fake_phot):
    fake = fake_phot(TWO)
    lines = fake.phot.read_text().splitlines()
    fields = lines[1].split()
    fields[-1] = "1.5"
    lines[1] = " ".join(fields)
    fake.phot.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r":2: column 37 \(img2_flag.*must be an integer"):
        read_phot(fake.phot)


def test_nan_values_pass_through(fake_phot):
    fake = fake_phot(TWO)
    lines = fake.phot.read_text().splitlines()
    fields = lines[1].split()
    fields[_col(fake, "Chi,", TWO[0][0])] = "nan"
    lines[1] = " ".join(fields)
    fake.phot.write_text("\n".join(lines) + "\n")
    t = read_phot(fake.phot)
    assert np.isnan(t["img1_chi"][1]) and np.isfinite(t["img1_chi"][0])


def test_empty_phot_file_is_zero_stars(fake_phot):
    fake = fake_phot(TWO)
    fake.phot.write_text("")
    t = read_phot(fake.phot)
    assert len(t) == 0 and "img2_vega" in t.colnames
    assert len(phot_to_measurements(t, None, "f")) == 0


@pytest.mark.parametrize(
    "legend, message",
    [
        ("", "legend is empty"),
        ("1. Extension\n3. Chip\n", r":2: legend column number 3, expected 2"),
        ("1. Extension\nChip\n", r":2: not a legend line"),
    ],
)
def test_bad_legends(tmp_path, legend, message):
    (tmp_path / "x.columns").write_text(legend)
    with pytest.raises(DataError, match=message):
        read_columns(tmp_path / "x.columns")


def test_missing_files(tmp_path, fake_phot):
    with pytest.raises(DataError, match="legend not found"):
        read_phot(tmp_path / "nope.phot")
    fake = fake_phot(TWO)
    fake.phot.unlink()
    with pytest.raises(DataError, match="photometry file not found"):
        read_phot(fake.phot)


def test_images_meta_must_match_the_legend(fake_phot):
    t = read_phot(fake_phot(TWO).phot)
    with pytest.raises(DataError, match="2 images in the legend but 1 entries"):
        phot_to_measurements(t, [{}], "f")


# ------------------------------------------------------------------ the real DOLPHOT output


def test_real_acs_chip_output(real_dolphot_dir):
    base = real_dolphot_dir / "raw_acs_j9ec41"
    t = read_phot(base / "j9ec41aiq_flc.chip1", base / "j9ec41aiq_flc.chip1.columns")
    assert len(t) == 13984
    assert len(t.colnames) == 28
    assert t.colnames[:4] == ["ext", "chip", "x", "y"]
    assert t.colnames[-6:] == [
        "img1_fwhm",
        "img1_ecc",
        "img1_psfa",
        "img1_psfb",
        "img1_psfc",
        "img1_flag",
    ]
    assert t.meta["images"] == [
        {
            "index": 1,
            "name": "j9ec41aiq_flc.chip1",
            "filter_label": None,
            "filter": None,
            "exptime": 355.0,
        }
    ]
    assert set(t["chip"]) == {1} and set(t["ext"]) == {0}
    assert 0 <= t["x"].min() and t["x"].max() <= 4096.5 and t["y"].max() <= 2048.5
    mag = np.asarray(t["img1_mag"])
    assert 14 < mag.min() and mag.max() < 30 and 22 < np.median(mag) < 28
    # the instrumental magnitude is DOLPHOT's -2.5 log10(normalized rate), Zero folded in
    good = t["img1_rate"] > 0
    np.testing.assert_allclose(-2.5 * np.log10(t["img1_rate"][good]), mag[good], atol=0.02)
    assert set(np.unique(t["objtype"])) <= {1, 2, 3, 4, 5}

    with pytest.raises(DataError, match="vega_zeropoint"):
        phot_to_measurements(t, [{"filter": "F814W"}], "j9ec41")
    m = phot_to_measurements(
        t, [{"filter": "F814W", "mjd": 53674.154821, "vega_zeropoint": 25.5}], "j9ec41"
    )
    assert len(m) == 13984 and m.colnames == list(MEASUREMENT_COLUMNS)
    np.testing.assert_allclose(m["vega"], mag + 0.5, atol=1e-4)
    # e-/s from the measured counts: bright stars agree with the zero point within apcor
    bright = (m["snr"] > 100) & good
    ratio = np.asarray(m["rate"])[bright] / (np.asarray(t["img1_rate"])[bright] * 10 ** (0.4 * 25))
    assert 0.9 < np.median(ratio) < 1.1
    assert m["exposure_id"][0] == "j9ec41aiq" and m["chip"][0] == 1


def test_real_full_flc_legend(real_dolphot_dir):
    legend = read_columns(real_dolphot_dir / "raw_acs_j9ec41" / "j9ec41aiq_flc_dolphot.columns")
    assert len(legend) == 28  # its leading '#' line is a comment
    assert legend.images[0]["name"] == "j9ec41aiq_flc"


def test_shape_keeps_only_stars_on_each_chip(fake_phot):
    fake = fake_phot(TWO, nstar=6)
    t = read_phot(fake.phot)
    x0 = fake.data[:, 2] - 0.5
    # image 2's chip is 50 pixels wide and starts 10 pixels left of image 1's origin
    metas = [{"wcs": _wcs(), "shape": (100, 100)}, {"wcs": _wcs(60.0, 50.0), "shape": (100, 50)}]
    m = phot_to_measurements(t, metas, "f")
    on_second = (x0 + 10 >= -0.5) & (x0 + 10 < 49.5)
    assert 0 < on_second.sum() < 6  # the fixture's x spread makes this a real cut
    assert len(m) == 6 + on_second.sum()
    assert list(m["star_id"][6:]) == list(np.flatnonzero(on_second) + 1)
    np.testing.assert_allclose(m["x"][6:], x0[on_second] + 10, atol=1e-6)
    cat = phot_to_catalog(t, "f", images_meta=metas)
    detected2 = on_second & (fake.data[:, _col(fake, "Instrumental VEGAMAG", TWO[1][0])] < 99)
    assert list(cat["f814w_nmeas"]) == list(detected2.astype(int))


def test_streamed_chunks_keep_order_and_line_numbers(fake_phot, monkeypatch):
    from cloudphot.dolphot import parse

    monkeypatch.setattr(parse, "_CHUNK_ROWS", 4)
    fake = fake_phot(TWO, nstar=11)
    t = read_phot(fake.phot)
    np.testing.assert_allclose(np.asarray(t["x"]), fake.data[:, 2])
    lines = fake.phot.read_text().splitlines()
    lines.insert(5, "")  # blank lines are skipped but still counted
    fields = lines[9].split()
    fields[-1] = "2.5"
    lines[9] = " ".join(fields)
    fake.phot.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"field\.phot:10: column 37 .*must be an integer, got 2\.5"
    ):
        read_phot(fake.phot)
