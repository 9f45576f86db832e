"""Hostile headers that used to be accepted (wrong metadata, exit 0) or crash ingest.

Each case is one of the 18 accepted and 2 crashing files of issue 14: every one is
now refused with a reason naming the HDU, the keyword and what is wrong.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cloudphot.errors import InvalidExposure
from cloudphot.fits.exposure import read_exposure
from cloudphot.simulate.exposure import synthetic_exposure
from fits_cards import add_card, remove_card, set_card

REAL_UVIS = Path("/work/shared/data/hst_images/drizzlepac/sample_ipppssoot_flc.fits")

SCI1, ERR1, DQ1 = 1, 2, 3  # HDU indices in a synthetic ACS file


@pytest.fixture
def acs(tmp_path) -> Path:
    return synthetic_exposure(tmp_path, shape=(32, 48), nstars=5)


def refused(path: Path, match: str) -> str:
    with pytest.raises(InvalidExposure, match=match) as info:
        read_exposure(path)
    return info.value.reason


@pytest.mark.parametrize(
    "hdu,key,value,match",
    [
        (SCI1, "BSCALE", "0.0", r"BSCALE of SCI,1 is 0: every pixel would read as BZERO"),
        (SCI1, "BSCALE", "NaN", r"BSCALE of SCI,1 is 'NaN': it must be a finite number"),
        (ERR1, "BSCALE", "1E300", r"ERR,1 is a floating-point image with BSCALE=1e\+300"),
        (SCI1, "BZERO", "NaN", r"BZERO of SCI,1 is 'NaN'"),
        (SCI1, "BZERO", "1E300", r"SCI,1 is a floating-point image with BSCALE=1, BZERO=1e\+300"),
        (DQ1, "BSCALE", "1E300", r"DQ,1 has BSCALE=1e\+300, BZERO=0: its 16-bit values"),
        (DQ1, "BZERO", "0.0", None),  # explicit identity scaling is fine
    ],
)
def test_scaling(acs, hdu, key, value, match):
    set_card(acs, hdu, key, value)
    if match is None:
        assert read_exposure(acs).exposure_id == "jcp001aaq"
    else:
        refused(acs, match)


def test_unsigned_dq_is_accepted(acs, tmp_path):
    with fits.open(acs) as h:
        h["DQ", 1].data = h["DQ", 1].data.astype(np.uint16)  # written as BZERO = 32768
        h.writeto(tmp_path / "u_flc.fits")
    assert read_exposure(tmp_path / "u_flc.fits").exposure_id == "jcp001aaq"


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("EXPTIME", "1E308", r"EXPTIME is 1e\+308 s: longer than a day"),
        ("EXPTIME", "5000.0", r"EXPTIME \(5000 s\) is longer than EXPEND - EXPSTART \(500.0 s\)"),
        ("EXPEND", "99999.0", r"EXPEND - EXPSTART is \d+ s: longer than a day"),
        ("ROOTNAME", "'../../x'", r"ROOTNAME '../../x' is not an exposure id"),
        ("ROOTNAME", "'a b'", r"ROOTNAME 'a b' is not an exposure id"),
        ("TARGNAME", "'" + "M31" * 22 + "'", "gives a field id of 66 characters; at most 64"),
    ],
)
def test_primary_values(acs, key, value, match):
    refused(set_card(acs, 0, key, value), match)


def test_implausible_target_position_is_dropped_with_a_note(acs):
    m = read_exposure(set_card(acs, 0, "DEC_TARG", "123.0"))
    assert m.dec_targ is None and any("DEC_TARG is 123" in n for n in m.notes)


def test_file_name_without_rootname_must_be_an_id(acs, tmp_path):
    bad = tmp_path / "..~weird_flc.fits"
    remove_card(acs, 0, "ROOTNAME", out=bad)
    refused(bad, r"the file name '..~weird_flc.fits' \(no ROOTNAME in the primary header\)")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("CRVAL1", "NaN", r"CRVAL1 in the SCI,1 cannot be parsed: 'NaN' is not a FITS number"),
        ("CD1_1", "NaN", r"CD1_1 in the SCI,1 cannot be parsed: 'NaN'"),
        ("CRPIX2", "'centre'", r"CRPIX2 in the SCI,1 must be a number, got 'centre'"),
        ("CTYPE1", "-1", r"CTYPE1 in SCI,1 must be a string, got -1"),
        ("CDELT1", "1E400", r"CDELT1 in the SCI,1 (is inf|cannot be parsed)"),
        ("A_ORDER", "99", r"A_ORDER in SCI,1 is 99: a SIP polynomial order .* is an integer 0-9"),
    ],
)
def test_wcs_values(acs, key, value, match):
    refused(set_card(acs, SCI1, key, value), match)


def test_nearly_singular_cd(acs):
    with fits.open(acs, mode="update") as h:
        hd = h["SCI", 1].header
        hd["CD2_1"], hd["CD2_2"] = hd["CD1_1"] * 3.0000001, hd["CD1_2"] * 3.0
    refused(acs, r"SCI,1 WCS has a singular CD/PC matrix$")


def test_pixel_scale_far_off(acs):
    with fits.open(acs, mode="update") as h:
        for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
            h["SCI", 2].header[k] *= 10
    refused(acs, r"SCI,2 WCS pixel scale is 0.5\"/pix, not the detector's 0.05\"/pix")


def test_xtension_table_for_sci(acs):
    refused(set_card(acs, SCI1, "XTENSION", "'TABLE   '"), r"SCI,1 is a TABLE extension")


@pytest.mark.parametrize(
    "hdu,key,value,match",
    [
        (SCI1, "NAXIS1", "7", r"NAXIS1 is given twice in the header of HDU 1: readers disagree"),
        (DQ1, "BITPIX", "32", r"BITPIX is given twice in the header of HDU 3"),
        (SCI1, "BZERO", "0.0", None),  # first BZERO card added, then the duplicate
        (SCI1, "CRVAL1", "11.0", r"SCI,1 gives the WCS keyword CRVAL1 twice"),
        (SCI1, "PHOTFLAM", "1.0E-19", r"PHOTFLAM is given twice in the SCI,1"),
        (0, "EXPTIME", "10.0", r"EXPTIME is given twice in the primary header"),
    ],
)
def test_duplicated_keywords(acs, hdu, key, value, match):
    add_card(acs, hdu, key, value)
    if match is None:
        add_card(acs, hdu, key, value)
        match = r"BZERO is given twice in the header of HDU 1"
    refused(acs, match)


def test_duplicated_unread_keyword_is_tolerated(acs):
    add_card(acs, 0, "OBSERVER", "'A'")
    add_card(acs, 0, "OBSERVER", "'B'")
    assert read_exposure(acs).exposure_id == "jcp001aaq"


@pytest.fixture
def uvis(tmp_path) -> Path:
    if not REAL_UVIS.exists():
        pytest.skip("shared real data not present")
    p = tmp_path / "ib4606c5q_flc.fits"
    shutil.copy(REAL_UVIS, p)
    return p


def test_real_sip_order_99(uvis):
    with fits.open(uvis, mode="update") as h:
        h["SCI", 1].header["A_ORDER"] = 99
    refused(uvis, "A_ORDER in SCI,1 is 99")


def test_real_sip_that_folds_the_chip(uvis):
    with fits.open(uvis, mode="update") as h:
        h["SCI", 2].header["A_2_0"] = 1e-2
    refused(uvis, r"SCI,2 WCS distortion folds or stretches the chip")


def test_real_files_still_accepted(uvis):
    m = read_exposure(uvis)
    assert m.exposure_id == "ib4606c5q" and len(m.chips) == 2
