"""read_exposure: metadata of synthetic and real exposures, and a specific reason for each refusal."""

from __future__ import annotations

import json
import math
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from cloudphot.errors import DataError, InvalidExposure
from cloudphot.fits import exposure as exposure_mod
from cloudphot.fits.exposure import field_id_from_target, read_exposure
from cloudphot.simulate.exposure import ExposureSpec, chip_wcs, synthetic_exposure

REAL = Path("/work/shared/data/hst_images")
RECORD_KEYS = {
    "exposure_id",
    "image",
    "instrument",
    "detector",
    "filter",
    "exptime",
    "mjd_start",
    "mjd_end",
    "mjd_mid",
    "date_obs",
    "target",
    "field_id",
    "proposal_id",
    "ra_targ",
    "dec_targ",
    "pointing_ra",
    "pointing_dec",
    "footprint",
    "chips",
    "zpt_st",
    "zpt_ab",
    "zpt_vega",
    "has_pixels",
    "notes",
}


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip("shared real data not present")
    return path


def edit(path: Path, fn) -> Path:
    """Change headers of a (synthetic, temporary) file in place."""
    with fits.open(path, mode="update") as h:
        fn(h)
    return path


def refused(path: Path, match: str) -> InvalidExposure:
    with pytest.raises(InvalidExposure, match=match) as info:
        read_exposure(path)
    assert isinstance(info.value, DataError) and info.value.error_name == "InvalidExposure"
    return info.value


@pytest.fixture
def acs(tmp_path) -> Path:
    return synthetic_exposure(tmp_path, shape=(32, 48), nstars=5)


# --- synthetic exposures of each instrument -------------------------------------------


@pytest.mark.parametrize(
    "inst,det,filt,suffix,nchips,vega",
    [
        ("ACS", "WFC", "F814W", "flc", 2, 25.52),
        ("WFC3", "UVIS", "F275W", "flc", 2, None),
        ("WFC3", "IR", "F160W", "flt", 1, None),
    ],
)
def test_synthetic_each_instrument(tmp_path, inst, det, filt, suffix, nchips, vega):
    p = synthetic_exposure(
        tmp_path,
        instrument=inst,
        detector=det,
        filter=filt,
        shape=(40, 60),
        nstars=5,
        expstart=57000.25,
        exptime=350.0,
        target="M31-B15-F09",
        orientat=33.0,
    )
    m = read_exposure(p)
    rec = m.to_record()
    assert set(rec) == RECORD_KEYS
    assert json.loads(json.dumps(rec, allow_nan=False)) == rec
    assert (rec["instrument"], rec["detector"], rec["filter"]) == (inst, det, filt)
    assert rec["image"] == p.name and rec["image"].endswith(f"_{suffix}.fits")
    assert rec["exposure_id"] == p.name.split("_")[0]
    assert rec["exptime"] == 350.0 and rec["mjd_start"] == 57000.25
    assert rec["mjd_mid"] == pytest.approx(57000.25 + 175.0 / 86400)
    assert rec["date_obs"] == "2014-12-09" and rec["field_id"] == "m31-b15-f09"
    assert rec["has_pixels"] is True and rec["notes"] == []
    assert [c["shape"] for c in rec["chips"]] == [[40, 60]] * nchips
    assert len(rec["footprint"]) == nchips and all(len(poly) == 4 for poly in rec["footprint"])
    assert rec["pointing_ra"] == pytest.approx(10.6847, abs=1e-6)
    assert rec["pointing_dec"] == pytest.approx(41.2690, abs=1e-6)
    st = -2.5 * math.log10(rec["chips"][0]["photflam"]) - 21.10
    assert rec["zpt_st"] == pytest.approx(st)
    ab = st - 5 * math.log10(rec["chips"][0]["photplam"]) + 18.692
    assert rec["zpt_ab"] == pytest.approx(ab)
    if vega is not None:
        assert rec["zpt_vega"] == pytest.approx(vega, abs=0.01)
    assert rec["zpt_vega"] == pytest.approx(
        rec["zpt_ab"] - {"F814W": 0.42, "F275W": 1.50, "F160W": 1.25}[filt]
    )
    if nchips == 2:
        assert [c["ccdchip"] for c in rec["chips"]] == [2, 1]


def test_footprint_matches_writer_wcs_and_tiles(tmp_path):
    spec_kw = {"orientat": 120.0, "ra": 359.999, "dec": -30.0}  # across RA = 0
    p = synthetic_exposure(tmp_path, shape=(100, 200), nstars=0, **spec_kw)
    m = read_exposure(p)
    spec = ExposureSpec(chip_shape=(100, 200), **spec_kw)
    for k, poly in enumerate(m.footprint):
        w = chip_wcs(spec, k + 1)
        expect = w.all_pix2world([[-0.5, -0.5], [199.5, -0.5], [199.5, 99.5], [-0.5, 99.5]], 0)
        got = SkyCoord(np.array(poly) * 1.0, unit="deg")
        assert np.all(got.separation(SkyCoord(expect, unit="deg")).arcsec < 1e-6)
    # SCI,2's bottom edge lies 50 pixels (2.5") above SCI,1's top edge, parallel to it
    top1 = SkyCoord(np.array(m.footprint[0][2:][::-1]), unit="deg")
    bottom2 = SkyCoord(np.array(m.footprint[1][:2]), unit="deg")
    np.testing.assert_allclose(top1.separation(bottom2).arcsec, 2.5, atol=1e-6)
    assert m.pointing_ra == pytest.approx(359.999, abs=1e-6)
    assert m.pointing_dec == pytest.approx(-30.0, abs=1e-6)


def test_per_chip_photflam_wins_over_primary(tmp_path):
    p = synthetic_exposure(
        tmp_path, instrument="WFC3", detector="UVIS", filter="F555W", shape=(16, 16), nstars=0
    )
    edit(p, lambda h: h[0].header.set("PHOTFLAM", 9.9e-19))
    chips = read_exposure(p).chips
    assert [c.photflam for c in chips] == [pytest.approx(1.8379346e-19)] * 2

    def only_primary(h):
        for v in (1, 2):
            del h["SCI", v].header["PHOTFLAM"]

    edit(p, only_primary)
    assert [c.photflam for c in read_exposure(p).chips] == [pytest.approx(9.9e-19)] * 2


def test_package_exports():
    import cloudphot.fits as pkg

    assert pkg.read_exposure is read_exposure
    with pytest.raises(AttributeError):
        _ = pkg.no_such_name


def test_field_id_from_target():
    assert field_id_from_target("M31-B15-F09") == "m31-b15-f09"
    assert field_id_from_target("  NGC 1644 / east ") == "ngc-1644-east"
    assert field_id_from_target("") == "unknown" and field_id_from_target(None) == "unknown"
    assert field_id_from_target("***") == "unknown"


def test_missing_targname_and_rootname_are_notes(acs):
    def strip(h):
        del h[0].header["TARGNAME"]
        del h[0].header["ROOTNAME"]

    m = read_exposure(edit(acs, strip))
    assert m.field_id == "unknown" and m.exposure_id == "jcp001aaq"
    assert any("TARGNAME" in n for n in m.notes) and any("ROOTNAME" in n for n in m.notes)


def test_unknown_vega_offset_is_a_note(acs):
    def swap(h):
        h[0].header["FILTER1"] = "F550M"
        h[0].header["FILTER2"] = "CLEAR2L"

    m = read_exposure(edit(acs, swap))
    assert m.filter == "F550M" and m.chips[0].zpt_vega is None and m.chips[0].zpt_ab
    assert any("no published AB-Vega offset for ACS/WFC F550M" in n for n in m.notes)


def test_future_epoch_and_missing_date_obs(tmp_path):
    p = synthetic_exposure(tmp_path, shape=(8, 8), nstars=0, expstart=70000.5)
    assert fits.getval(p, "DATE-OBS") == "2050-07-13" and fits.getval(p, "TIME-OBS") == "12:00:00"
    m = read_exposure(edit(p, lambda h: h[0].header.remove("DATE-OBS")))
    assert m.date_obs == "2050-07-13" and any("DATE-OBS" in n for n in m.notes)


def test_malformed_optional_keywords_are_notes(acs):
    def spoil(h):
        h[0].header["RA_TARG"] = "ten"
        h[0].header["TARGNAME"] = 42

    m = read_exposure(edit(acs, spoil))
    assert m.ra_targ is None and m.field_id == "unknown"
    assert "RA_TARG in the primary header must be a number, got 'ten': ignored" in m.notes


def test_source_names_the_upload(acs):
    with pytest.raises(InvalidExposure) as info:
        read_exposure(
            edit(acs, lambda h: h[0].header.set("EXPTIME", 0.0)),
            source="raw/uploads/jcp001aaq_flc.fits",
        )
    assert info.value.source == "raw/uploads/jcp001aaq_flc.fits"
    assert str(info.value).startswith("raw/uploads/jcp001aaq_flc.fits: EXPTIME is 0")


# --- real files -------------------------------------------------------------------------


def test_real_wfc3_uvis_flc():
    path = real("drizzlepac/sample_ipppssoot_flc.fits")
    m = read_exposure(path)
    assert (m.exposure_id, m.instrument, m.detector, m.filter) == (
        "ib4606c5q",
        "WFC3",
        "UVIS",
        "F555W",
    )
    assert m.exptime == 1.0 and m.proposal_id == 11665 and m.date_obs == "2011-02-19"
    assert [c.ccdchip for c in m.chips] == [2, 1]
    # per-chip PHOTPLAM differ in the real file: each chip carries its own
    assert [c.photplam for c in m.chips] == [pytest.approx(5307.9121), pytest.approx(5308.4307)]
    assert m.chips[0].zpt_ab == pytest.approx(25.81, abs=0.01)
    assert any("cut-out or subarray" in n for n in m.notes)
    # the footprint honours SIP: compare with astropy's full WCS (incl. lookup tables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as h:
            full = WCS(h["SCI", 1].header, h)
            expect = full.all_pix2world([[-0.5, -0.5], [9.5, 9.5]], 0)
    got = SkyCoord(np.array(m.footprint[0])[[0, 2]], unit="deg")
    assert np.all(got.separation(SkyCoord(expect, unit="deg")).arcsec < 0.01)


def test_real_wfc3_ir_flt():
    m = read_exposure(real("drizzlepac/sample_ipppssoot_flt.fits"))
    assert (m.exposure_id, m.detector, m.filter) == ("ib4606cpq", "IR", "F110W")
    assert len(m.chips) == 1 and m.chips[0].ccdchip == 1
    assert m.chips[0].photflam == pytest.approx(1.5318e-20)  # from the primary header
    assert m.chips[0].zpt_vega == pytest.approx(26.06, abs=0.01)
    assert m.exptime == pytest.approx(699.232483)


def test_real_acs_headers_only():
    """Header-only files are accepted, flagged has_pixels=False, shape from SIZAXIS."""
    m = read_exposure(real("drizzlepac/sample_flc_header.fits"))
    assert (m.exposure_id, m.instrument, m.detector, m.filter) == (
        "jbt122x8q",
        "ACS",
        "WFC",
        "F814W",
    )
    assert m.has_pixels is False and m.to_record()["has_pixels"] is False
    assert [c.shape for c in m.chips] == [[2048, 4096]] * 2
    assert any("header-only" in n for n in m.notes)
    assert m.field_id == "pgc2807133" and m.chips[0].zpt_vega == pytest.approx(25.52, abs=0.01)
    # each chip spans ~204" x 102"; the two chips are ~104" apart centre to centre
    for poly in m.footprint:
        c = SkyCoord(np.array(poly), unit="deg")
        assert c[0].separation(c[1]).arcsec == pytest.approx(204.8, rel=0.03)
        assert c[1].separation(c[2]).arcsec == pytest.approx(102.4, rel=0.03)
    # the centre of the footprint is midway between the chip centres (CRVALs of SCI,1/SCI,2)
    centres = SkyCoord(
        [150.01077568325, 150.06467046258], [63.168919138087, 63.184500592883], unit="deg"
    )
    mid = centres[0].directional_offset_by(
        centres[0].position_angle(centres[1]), centres[0].separation(centres[1]) / 2
    )
    # (ACS distortion skews the footprint by ~2")
    assert mid.separation(SkyCoord(m.pointing_ra, m.pointing_dec, unit="deg")).arcsec < 5


def test_real_wfpc2_refused():
    e = refused(real("pyfits_wfpc2/test0.fits"), r"INSTRUME is 'WFPC2': not supported")
    assert "ACS/WFC, WFC3/UVIS and WFC3/IR" in e.reason


def test_real_drizzled_products_refused():
    # named as what they are (issue 18 item 8: they were 'missing keyword INSTRUME' and
    # 'missing ERR,1 extension'), with what to upload instead
    e = refused(
        real("beast_phat/M31-B09-EAST_chunk_F475W_drz.chip1.fits"),
        r"a drizzled image \(drz/drc: its name\), not an exposure",
    )
    assert "*_flc.fits or *_flt.fits" in e.reason
    refused(
        real("drizzlepac/sample_drc_header.fits"),
        r"a drizzled image \(drz/drc: SCI/CTX/WHT extensions, NDRIZIM = \d+\), not an exposure",
    )


def test_a_table_or_a_plain_image_is_not_an_exposure(tmp_path):
    from astropy.table import Table

    Table({"ra": [1.0, 2.0]}).write(tmp_path / "cat_flc.fits")
    e = refused(tmp_path / "cat_flc.fits", r"not an flc/flt exposure: no SCI extension")
    assert "(its HDUs: PRIMARY (no data), BINTABLE (" in e.reason, e.reason
    fits.PrimaryHDU(np.zeros((8, 10), np.float32)).writeto(tmp_path / "plain.fits")
    e = refused(tmp_path / "plain.fits", r"its HDUs: PRIMARY \(10x8\)\); cloudphot takes")
    assert "missing keyword" not in e.reason


# --- hostile inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["INSTRUME", "DETECTOR", "FILTER1", "FILTER2", "EXPTIME", "EXPSTART"]
)
def test_missing_required_keyword_acs(acs, key):
    edit(acs, lambda h: h[0].header.remove(key))
    refused(acs, f"^{acs.name}: missing keyword {key} in the primary header$")


def test_missing_filter_wfc3(tmp_path):
    p = synthetic_exposure(
        tmp_path, instrument="WFC3", detector="IR", filter="F125W", shape=(8, 8), nstars=0
    )
    refused(
        edit(p, lambda h: h[0].header.remove("FILTER")),
        "missing keyword FILTER in the primary header",
    )


def test_missing_photflam(acs):
    def strip(h):
        del h["SCI", 2].header["PHOTFLAM"]

    refused(edit(acs, strip), "missing keyword PHOTFLAM in SCI,2 and in the primary header")


@pytest.mark.parametrize(
    "value,match",
    [
        (0.0, "EXPTIME is 0: a zero-length exposure has no photometry"),
        (-5.0, "EXPTIME is -5: an exposure time cannot be negative"),
        ("long", "EXPTIME in the primary header must be a number, got 'long'"),
    ],
)
def test_bad_exptime(acs, value, match):
    refused(edit(acs, lambda h: h[0].header.set("EXPTIME", value)), match)


def test_implausible_expstart(acs):
    refused(
        edit(acs, lambda h: h[0].header.set("EXPSTART", 12.0)),
        "EXPSTART is 12: not a plausible MJD",
    )


def test_non_celestial_wcs(acs):
    def pixel(h):
        h["SCI", 1].header["CTYPE1"] = "PIXEL"
        h["SCI", 1].header["CTYPE2"] = "PIXEL"

    refused(edit(acs, pixel), r"SCI,1 has a non-celestial WCS \(CTYPE1='PIXEL', CTYPE2='PIXEL'\)")


def test_missing_wcs(acs):
    refused(
        edit(acs, lambda h: h["SCI", 2].header.remove("CTYPE2")),
        "SCI,2 has no WCS: missing keyword CTYPE2",
    )


def test_singular_wcs(acs):
    def flat(h):
        for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
            h["SCI", 1].header[k] = 0.0

    refused(edit(acs, flat), r"SCI,1 WCS has a singular CD/PC matrix$")


def test_both_clear(acs):
    refused(
        edit(acs, lambda h: h[0].header.set("FILTER2", "CLEAR2L")),
        "no filter in the beam: FILTER1='CLEAR1L' and FILTER2='CLEAR2L' are both CLEAR",
    )


def test_grism(tmp_path):
    p = synthetic_exposure(
        tmp_path, instrument="WFC3", detector="IR", filter="F140W", shape=(8, 8), nstars=0
    )
    refused(
        edit(p, lambda h: h[0].header.set("FILTER", "G141")),
        "filter 'G141' is not an imaging filter",
    )


def test_unsupported_detector(acs):
    refused(
        edit(acs, lambda h: h[0].header.set("DETECTOR", "HRC")),
        r"DETECTOR is 'HRC': ACS/HRC is not supported \(only ACS/WFC\)",
    )


def test_missing_dq_and_sci(acs, tmp_path):
    with fits.open(acs) as h:
        fits.HDUList([h[0], h[1], h[2], h[4], h[5], h[6]]).writeto(tmp_path / "nodq_flc.fits")
        fits.HDUList([h[0], h[2], h[3]]).writeto(tmp_path / "nosci_flc.fits")
    refused(
        tmp_path / "nodq_flc.fits",
        r"missing DQ,1 extension \(ACS/WFC exposures have SCI, "
        r"ERR and DQ per chip\)",
    )
    refused(tmp_path / "nosci_flc.fits", "no SCI extension")


def test_mismatched_dq_shape(acs, tmp_path):
    with fits.open(acs) as h:
        h["DQ", 2].data = np.zeros((5, 5), np.int16)
        h.writeto(tmp_path / "dq_flc.fits")
    refused(tmp_path / "dq_flc.fits", r"DQ,2 has shape \[5, 5\], SCI,2 has \[32, 48\]")


def test_float_dq(acs, tmp_path):
    with fits.open(acs) as h:
        h["DQ", 1].data = h["DQ", 1].data.astype(np.float32)
        h.writeto(tmp_path / "fdq_flc.fits")
    refused(tmp_path / "fdq_flc.fits", "DQ,1 has BITPIX=-32: data quality must be integer flags")


def test_structural_errors_come_through(tmp_path, acs):
    refused(tmp_path, "is a directory")
    (tmp_path / "e.fits").write_bytes(b"")
    refused(tmp_path / "e.fits", "empty file")
    (tmp_path / "t.txt").write_text("SIMPLE? no.\n" * 400)
    refused(tmp_path / "t.txt", "not a FITS file")
    cut = tmp_path / "cut_flc.fits"
    cut.write_bytes(acs.read_bytes()[:-3000])
    refused(cut, r"truncated: HDU 6 \(DQ,2\) declares")


def test_bomb_refused_before_any_header_parse(tmp_path, monkeypatch):
    p = tmp_path / "bomb_flc.fits"
    hdu = fits.CompImageHDU(np.zeros((16, 16), np.float32), name="SCI")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(p)
    raw = bytearray(p.read_bytes())
    for key in (b"ZNAXIS1 =", b"ZNAXIS2 ="):
        i = raw.index(key)
        raw[i : i + 80] = f"{key.decode()[:8]}= {'3000000':>20}".ljust(80).encode()
    p.write_bytes(bytes(raw))

    def boom(*a, **k):
        raise AssertionError("a header or pixel was read after the scan")

    monkeypatch.setattr(exposure_mod, "read_header_bytes", boom)
    monkeypatch.setattr(exposure_mod.fits.Header, "fromstring", boom)
    tracemalloc.start()
    try:
        refused(p, r"would decompress to 9000000000000 pixels")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_fuzzed_headers_never_crash(tmp_path):
    """Random byte changes in the headers: metadata or InvalidExposure, nothing else."""
    src = synthetic_exposure(tmp_path, shape=(8, 8), nstars=0, nchips=1)
    raw = src.read_bytes()
    from cloudphot.fits.header_scan import scan_fits

    spans = [(h.header_offset, h.header_offset + h.header_bytes) for h in scan_fits(src)]
    rng = np.random.default_rng(12345)
    alphabet = np.frombuffer(b" =/'.-+0123456789ETFXAZ\x00\xff", dtype=np.uint8)
    outcomes = {"ok": 0, "refused": 0}
    for i in range(60):
        buf = bytearray(raw)
        for _ in range(rng.integers(1, 6)):
            lo, hi = spans[rng.integers(len(spans))]
            buf[rng.integers(lo, hi)] = int(rng.choice(alphabet))
        p = tmp_path / f"fuzz{i}_flc.fits"
        p.write_bytes(bytes(buf))
        try:
            read_exposure(p)
            outcomes["ok"] += 1
        except InvalidExposure as exc:
            assert exc.reason and p.name == exc.source
            outcomes["refused"] += 1
        p.unlink()
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0
