"""The synthetic exposure writer: headers, WCS, chip order, tiling, pixels."""

from __future__ import annotations

import warnings
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from cloudphot.simulate.exposure import (
    DQ_HOT_PIXEL,
    ExposureSpec,
    chip_wcs,
    photometric_keywords,
    synthetic_exposure,
    write_exposure,
)

DATA = Path("/work/shared/data/hst_images/drizzlepac")


def _sep_arcsec(w1: WCS, w2: WCS) -> float:
    from astropy.coordinates import SkyCoord

    c = [SkyCoord(*w.wcs.crval, unit="deg") for w in (w1, w2)]
    return c[0].separation(c[1]).arcsec


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sim")
    return {
        "acs": synthetic_exposure(d, instrument="ACS", detector="WFC", filter="F814W", seed=1),
        "uvis": synthetic_exposure(d, instrument="WFC3", detector="UVIS", filter="F336W", seed=2),
        "ir": synthetic_exposure(d, instrument="WFC3", detector="IR", filter="F160W", seed=3),
    }


def test_file_names_and_layout(files):
    assert files["acs"].name == "jcp001aaq_flc.fits"
    assert files["uvis"].name == "icp001aaq_flc.fits"
    assert files["ir"].name == "icp001aaq_flt.fits"
    for path in files.values():
        with fits.open(path) as h:
            h.verify("exception")  # standard-conforming headers, no fix-ups needed
        with fitsio.FITS(str(path)) as f:  # and readable by cfitsio
            assert f["SCI", 1].read().shape == (128, 128)
    with fits.open(files["acs"]) as h:
        assert [(x.name, x.ver) for x in h[1:]] == [
            ("SCI", 1),
            ("ERR", 1),
            ("DQ", 1),
            ("SCI", 2),
            ("ERR", 2),
            ("DQ", 2),
        ]
        assert h["DQ", 1].data.dtype == np.dtype(">i2")
        assert h["SCI", 1].data.dtype == np.dtype(">f4")
    with fits.open(files["ir"]) as h:
        assert [x.name for x in h[1:]] == ["SCI", "ERR", "DQ", "SAMP", "TIME"]


def test_primary_header_acs(files):
    p = fits.getheader(files["acs"], 0)
    assert p["INSTRUME"] == "ACS" and p["DETECTOR"] == "WFC"
    assert (p["FILTER1"], p["FILTER2"]) == ("CLEAR1L", "F814W")  # F814W is on wheel 2
    assert "FILTER" not in p and "PHOTFLAM" not in p  # ACS keeps photometry per chip
    assert p["ROOTNAME"] == "jcp001aaq" and p["FILENAME"] == "jcp001aaq_flc.fits"
    assert p["EXPTIME"] == 500.0
    assert p["EXPEND"] == pytest.approx(56000.0 + 500.0 / 86400.0)
    assert (p["DATE-OBS"], p["TIME-OBS"]) == ("2012-03-14", "00:00:00")
    assert p["TARGNAME"] == "M31-B15-F09" and p["PROPOSID"] == 12345
    assert p["PA_V3"] == pytest.approx(182.45)  # ORIENTAT 0 + the real ACS/WFC offset
    for key in (
        "RA_TARG",
        "DEC_TARG",
        "LINENUM",
        "CCDGAIN",
        "READNSEA",
        "READNSED",
        "PA_V3",
        "ASN_ID",
        "ASN_TAB",
        "ASN_MTYP",
    ):
        assert key in p, key


def test_acs_wheel1_filter(tmp_path):
    p = synthetic_exposure(tmp_path, filter="F606W", nstars=0)
    h = fits.getheader(p, 0)
    assert (h["FILTER1"], h["FILTER2"]) == ("F606W", "CLEAR2L")


def test_photometry_placement(files):
    s1 = fits.getheader(files["acs"], "SCI", 1)
    assert s1["PHOTFLAM"] == pytest.approx(7.0768959e-20) and s1["PHOTPLAM"] > 8000
    assert s1["BUNIT"] == "ELECTRONS"
    u = fits.getheader(files["uvis"], 0)
    assert u["FILTER"] == "F336W" and u["PHOTFLAM"] > 0 and "PHOTPLAM" not in u
    u1, u2 = (fits.getheader(files["uvis"], "SCI", v) for v in (1, 2))
    assert u1["PHOTMODE"].startswith("WFC3 UVIS2 F336W") and u2["PHOTMODE"].startswith("WFC3 UVIS1")
    ir = fits.getheader(files["ir"], 0)
    assert ir["PHOTPLAM"] == pytest.approx(15369.0) and ir["FILTER"] == "F160W"
    irs = fits.getheader(files["ir"], "SCI", 1)
    assert irs["BUNIT"] == "ELECTRONS/S" and "CCDCHIP" not in irs and "PHOTFLAM" not in irs


def test_photometric_keywords_unknown_filter():
    with pytest.raises(ValueError, match=r"F999W.*known filters: .*F814W"):
        photometric_keywords("ACS", "WFC", "F999W")
    with pytest.raises(ValueError, match="known filters: none"):
        photometric_keywords("NICMOS", "NIC2", "F110W")
    assert photometric_keywords("wfc3", "ir", "f110w")["PHOTFLAM"] == pytest.approx(1.5318e-20)


def test_chip_order_and_wcs_round_trip(files):
    spec = ExposureSpec(chip_shape=(128, 128))
    with fits.open(files["acs"]) as h:
        assert h["SCI", 1].header["CCDCHIP"] == 2 and h["SCI", 2].header["CCDCHIP"] == 1
        for v in (1, 2):
            hdr_wcs = WCS(h["SCI", v].header)
            w = chip_wcs(spec, v)
            pix = np.array([[0, 0], [127, 0], [0, 127], [127, 127], [63.2, 40.7]])
            np.testing.assert_allclose(
                hdr_wcs.all_pix2world(pix, 0), w.all_pix2world(pix, 0), atol=1e-10
            )
            scale = proj_plane_pixel_scales(hdr_wcs) * 3600
            np.testing.assert_allclose(scale, 0.05, rtol=1e-6)
    # CCDCHIP 1 (SCI,2) lies at +y of CCDCHIP 2 (SCI,1), as in the real files
    w1, w2 = chip_wcs(spec, 1), chip_wcs(spec, 2)
    x, y = w1.all_world2pix([w2.wcs.crval], 0)[0]
    assert x == pytest.approx(63.5, abs=1e-6) and y == pytest.approx(63.5 + 128 + 50, abs=1e-6)


@pytest.mark.parametrize(
    "inst,det,shape,gap,scale",
    [
        ("ACS", "WFC", (2048, 4096), 50, 0.05),
        ("WFC3", "UVIS", (2051, 4096), 31, 0.0396),
    ],
)
def test_full_size_chips_tile(inst, det, shape, gap, scale):
    spec = ExposureSpec(instrument=inst, detector=det, orientat=57.0, ra=150.0, dec=63.2)
    assert spec.shape == shape and spec.n_chips == 2
    w1, w2 = chip_wcs(spec, 1), chip_wcs(spec, 2)
    assert w1.pixel_shape == (shape[1], shape[0])
    ny, nx = shape
    # bottom edge of the upper chip is parallel to and `gap` pixels above the lower chip's top edge
    bottom = np.array([[0, 0], [nx - 1, 0], [nx / 2, 0]], float)
    in_lower = w1.all_world2pix(w2.all_pix2world(bottom, 0), 0)
    np.testing.assert_allclose(in_lower[:, 0], bottom[:, 0], atol=0.01)
    np.testing.assert_allclose(in_lower[:, 1], ny + gap, atol=0.01)
    np.testing.assert_allclose(proj_plane_pixel_scales(w2) * 3600, scale, rtol=1e-4)


def test_chip_separation_matches_real_acs_file():
    path = DATA / "sample_flc_header.fits"
    if not path.exists():
        pytest.skip("shared real data not present")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # real headers: SIP/distortion notes irrelevant here
        with fits.open(path) as h:
            real = [WCS(h["SCI", v].header, h) for v in (1, 2)]
            orient = h["SCI", 1].header["ORIENTAT"]
    spec = ExposureSpec(ra=real[0].wcs.crval[0], dec=real[0].wcs.crval[1], orientat=orient)
    sim = [chip_wcs(spec, v) for v in (1, 2)]
    # real distortion adds ~1.5%; the simulated stack must be within 3% of the real one
    assert _sep_arcsec(*sim) == pytest.approx(_sep_arcsec(*real), rel=0.03)


@pytest.mark.parametrize(
    "name,inst,det",
    [("sample_flc_header.fits", "ACS", "WFC"), ("sample_ipppssoot_flc.fits", "WFC3", "UVIS")],
)
def test_chip_layout_matches_real_file(name, inst, det):
    """Where SCI,2's centre falls in SCI,1's pixel frame: real file vs simulation."""
    path = DATA / name
    if not path.exists():
        pytest.skip("shared real data not present")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # real headers carry distortion keywords we don't need
        with fits.open(path) as h:
            r1, r2 = (WCS(h["SCI", v].header, h) for v in (1, 2))
            orient = h["SCI", 1].header["ORIENTAT"]
    real_xy = r1.all_world2pix([r2.wcs.crval], 0)[0]
    spec = ExposureSpec(
        instrument=inst, detector=det, ra=r1.wcs.crval[0], dec=r1.wcs.crval[1], orientat=orient
    )
    s1, s2 = chip_wcs(spec, 1), chip_wcs(spec, 2)
    sim_xy = s1.all_world2pix([s2.wcs.crval], 0)[0]
    # SCI,2 (CCDCHIP 1) sits one chip height plus the gap above SCI,1, as in the real files;
    # the residual is the real geometric distortion (< 10 pixels)
    np.testing.assert_allclose(sim_xy, real_xy, atol=10)
    assert real_xy[1] > 3000


def test_orientat_dither_and_pointing_error():
    spec = ExposureSpec(
        chip_shape=(100, 200),
        orientat=30.0,
        dither_arcsec=(2.0, -1.0),
        pointing_error_arcsec=(0.3, 0.4),
    )
    base = ExposureSpec(chip_shape=(100, 200), orientat=30.0)
    # ORIENTAT recorded per chip agrees with the spec (chips near the reference point)
    w = chip_wcs(spec, 1)
    cd = w.wcs.cd
    assert np.degrees(np.arctan2(cd[0, 1], cd[1, 1])) == pytest.approx(30.0, abs=0.01)
    # the recorded dither moves the chip by (2, -1) arcsec along its own axes
    shift = chip_wcs(base, 1).all_world2pix([w.wcs.crval], 0)[0] - (w.wcs.crpix - 1)
    np.testing.assert_allclose(shift, [2.0 / 0.05, -1.0 / 0.05], atol=1e-3)
    # the pointing error only shows in the true WCS
    wt = chip_wcs(spec, 1, true=True)
    d = wt.all_world2pix([w.wcs.crval], 0)[0] - (w.wcs.crpix - 1)
    np.testing.assert_allclose(-d, [0.3 / 0.05, 0.4 / 0.05], atol=1e-3)


def test_synthetic_pixels(files, tmp_path):
    with fits.open(files["acs"]) as h:
        sci, err, dq = h["SCI", 1].data, h["ERR", 1].data, h["DQ", 1].data
        assert np.all(np.isfinite(sci)) and np.all(err > 0)
        hot = (dq & DQ_HOT_PIXEL) != 0
        assert 3 <= hot.sum() <= 20
        assert np.all(sci[hot] > 1000)
        sky = 0.10 * 500.0
        good = ~hot
        assert np.median(sci[good]) == pytest.approx(sky, rel=0.1)
        mad = 1.4826 * np.median(np.abs(sci[good] - np.median(sci[good])))
        assert mad == pytest.approx(np.sqrt(sky + 4.19**2), rel=0.15)  # Poisson + read noise
        assert sci.max() > sky + 200  # stars are there
        assert not np.array_equal(sci, h["SCI", 2].data)
    with fits.open(files["ir"]) as h:  # IR flt is a rate
        assert np.median(h["SCI", 1].data) == pytest.approx(1.0, rel=0.1)
    a = synthetic_exposure(tmp_path / "a.fits", seed=5, nstars=5)
    b = synthetic_exposure(tmp_path / "b.fits", seed=5, nstars=5)
    c = synthetic_exposure(tmp_path / "c.fits", seed=6, nstars=5)
    assert np.array_equal(fits.getdata(a, 1), fits.getdata(b, 1))
    assert not np.array_equal(fits.getdata(a, 1), fits.getdata(c, 1))


def test_write_exposure_is_atomic_and_checks_shapes(tmp_path):
    spec = ExposureSpec(chip_shape=(10, 12))
    sci = [np.ones((10, 12)), np.zeros((10, 12))]
    target = tmp_path / "x_flc.fits"
    target.write_bytes(b"old")
    out = write_exposure(target, spec, sci)
    assert out == target and sorted(p.name for p in tmp_path.iterdir()) == ["x_flc.fits"]
    with fits.open(out) as h:
        assert h[0].header["FILENAME"] == "x_flc.fits"
        assert np.all(h["DQ", 2].data == 0) and h["ERR", 1].data[0, 0] == pytest.approx(
            np.sqrt(1 + np.mean([4.57, 3.91, 4.25, 4.04]) ** 2), rel=1e-6
        )
    with pytest.raises(ValueError, match="expected 2 arrays"):
        write_exposure(target, spec, sci[:1])
    with pytest.raises(ValueError, match=r"sci\[1\] has shape \(10, 11\)"):
        write_exposure(target, spec, [np.ones((10, 12)), np.ones((10, 11))])
    with pytest.raises(ValueError, match="unknown instrument/detector"):
        _ = ExposureSpec(instrument="NICMOS", detector="NIC2").info
