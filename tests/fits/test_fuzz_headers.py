"""Property-based fuzzing of exposure headers (Hypothesis, fixed seed and budget).

Each example takes a real HST exposure (``../shared/data/hst_images``, skipped when
absent) or a simulated one, changes, adds (duplicates) or removes one to four header
cards at the byte level with hostile values (NaN, huge, wrong types, path-like
strings, garbage), and checks the only two outcomes allowed:

- refused: :class:`~cloudphot.errors.InvalidExposure` with a reason and the file named;
- accepted: the metadata record is valid by the checks below, written independently
  of the reader; and for files with pixels, the photometry loader also either loads
  the exposure or refuses it with a named reason.

Any other exception fails the test (Hypothesis shrinks it to a minimal card edit).
``CLOUDPHOT_FUZZ_EXAMPLES`` raises the budget for a longer local campaign.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudphot.errors import InvalidExposure
from cloudphot.fits.exposure import EXPOSURE_ID_RE, MAX_EXPTIME, SUPPORTED, read_exposure
from cloudphot.fits.header_scan import scan_fits
from cloudphot.photometry.exposure import load_exposure
from cloudphot.pipeline.fields import FIELD_ID_RE
from cloudphot.simulate.exposure import synthetic_exposure
from fits_cards import add_card, remove_card, set_card

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a bounded budget in CI

EXAMPLES = int(os.environ.get("CLOUDPHOT_FUZZ_EXAMPLES", "120"))
REAL = (
    Path(
        os.environ.get(
            "CLOUDPHOT_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"
        )
    )
    / "hst_images"
)
REAL_FILES = [
    "drizzlepac/sample_ipppssoot_flc.fits",  # WFC3/UVIS, SIP, 10x10 pixels
    "drizzlepac/sample_ipppssoot_flt.fits",  # WFC3/IR
    "drizzlepac/sample_flc_header.fits",  # ACS/WFC, headers only
]
#: keywords worth aiming at besides those already in the header
KEYS = [
    "SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT",
    "EXTNAME", "EXTVER", "BSCALE", "BZERO", "BLANK", "INSTRUME", "DETECTOR", "FILTER",
    "FILTER1", "FILTER2", "OBSTYPE", "EXPTIME", "EXPSTART", "EXPEND", "DATE-OBS",
    "TARGNAME", "ROOTNAME", "PROPOSID", "RA_TARG", "DEC_TARG", "PHOTFLAM", "PHOTPLAM",
    "CCDCHIP", "BUNIT", "SIZAXIS1", "SIZAXIS2", "CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2",
    "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "CDELT1", "PC1_1", "CUNIT1",
    "WCSAXES", "RADESYS", "LONPOLE", "A_ORDER", "B_ORDER", "A_2_0", "B_0_2", "A_DMAX",
]  # fmt: skip

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from([0, 1, -1, 2, 9, 99, 16, 32, -32, 64, 2880, 32768]).map(str),
    _floats.map(lambda x: repr(x).upper().replace("INF", "Inf")),
    st.sampled_from(["NaN", "Inf", "-Inf", "1E308", "1E400", "1D5", "-0.0", "4.9E-324", "1E-30"]),
    st.sampled_from(["T", "F", "", "'", "''", "'IMAGE   '", "'TABLE   '", "'SCI'", "'ERR'"]),
    st.sampled_from(["'../../x'", "'a/b'", "'RA---TAN-SIP'", "'DEC--TAN'", "'CLEAR1L'"]),
    st.sampled_from(["'F814W'", "'ACS'", "'WFC3'", "'IR'", "'WFC'", "'PIXEL'", "'HRC'"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(
        lambda t: "'" + t.replace("'", "''") + "'"
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)


def _seed_files(root: Path) -> list[Path]:
    seeds = [
        synthetic_exposure(root / "acs", shape=(16, 24), nstars=3),
        synthetic_exposure(
            root / "ir", instrument="WFC3", detector="IR", filter="F160W", shape=(16, 16), nstars=3
        ),
        synthetic_exposure(
            root / "uvis", instrument="WFC3", detector="UVIS", filter="F475W", shape=(8, 8),
            nstars=0, nchips=1,
        ),
    ]  # fmt: skip
    if REAL.is_dir():
        seeds += [REAL / f for f in REAL_FILES if (REAL / f).exists()]
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Path]:
    return _seed_files(tmp_path_factory.mktemp("fuzz-seeds"))


def _keys_of(path: Path, hdu: int) -> list[str]:
    info = scan_fits(path)[hdu]
    raw = path.read_bytes()[info.header_offset : info.header_offset + info.header_bytes]
    cards = [raw[k : k + 80].decode("ascii") for k in range(0, len(raw), 80)]
    return [c[:8].rstrip() for c in cards if c[8:10] == "= " and c[:8].strip()]


# --- what "accepted and valid" means, independently of the reader ----------------


def _spherical_area_deg2(poly: list[list[float]]) -> float:
    """Area of a small spherical quadrilateral (two triangles, L'Huilier-free: vectors)."""
    v = [
        np.array(
            [
                math.cos(math.radians(d)) * math.cos(math.radians(r)),
                math.cos(math.radians(d)) * math.sin(math.radians(r)),
                math.sin(math.radians(d)),
            ]
        )
        for r, d in poly
    ]

    def tri(a, b, c):
        num = abs(np.dot(a, np.cross(b, c)))
        den = 1 + np.dot(a, b) + np.dot(b, c) + np.dot(c, a)
        return 2 * math.atan2(num, den)

    return math.degrees(math.degrees(tri(v[0], v[1], v[2]) + tri(v[0], v[2], v[3])))


NOMINAL = {("ACS", "WFC"): 0.05, ("WFC3", "UVIS"): 0.0396, ("WFC3", "IR"): 0.128}


def assert_valid(rec: dict) -> None:
    json.dumps(rec, allow_nan=False)  # strictly JSON: no NaN or Inf anywhere
    assert EXPOSURE_ID_RE.match(rec["exposure_id"]), rec["exposure_id"]
    assert FIELD_ID_RE.match(rec["field_id"]) or rec["field_id"] == "unknown", rec["field_id"]
    assert rec["detector"] in SUPPORTED[rec["instrument"]]
    assert re.match(r"^F\d{3}[A-Z]{1,2}$", rec["filter"])
    assert 0 < rec["exptime"] <= MAX_EXPTIME
    assert 40000 <= rec["mjd_start"] <= rec["mjd_mid"] <= rec["mjd_end"] <= rec["mjd_start"] + 1
    assert rec["exptime"] <= (rec["mjd_end"] - rec["mjd_start"]) * 86400 * 1.01 + 2.0
    assert 0 <= rec["pointing_ra"] < 360 and -90 <= rec["pointing_dec"] <= 90
    assert rec["ra_targ"] is None or 0 <= rec["ra_targ"] <= 360
    assert rec["dec_targ"] is None or -90 <= rec["dec_targ"] <= 90
    scale = NOMINAL[(rec["instrument"], rec["detector"])] / 3600
    assert len(rec["footprint"]) == len(rec["chips"]) >= 1
    for chip, poly in zip(rec["chips"], rec["footprint"], strict=True):
        ny, nx = chip["shape"]
        assert ny >= 1 and nx >= 1 and len(poly) == 4
        area = _spherical_area_deg2(poly)
        assert 0.2 < area / (nx * ny * scale**2) < 5, (area, chip["shape"])
        assert 1e-22 <= chip["photflam"] <= 1e-14
        assert 10 < chip["zpt_st"] < 40
        for zp in (chip["zpt_ab"], chip["zpt_vega"]):
            assert zp is None or 10 < zp < 40
    assert all(isinstance(n, str) for n in rec["notes"])


# --- the property ---------------------------------------------------------------------

EDIT = st.tuples(
    st.sampled_from(["set", "set", "set", "add", "remove"]),
    st.integers(min_value=0, max_value=6),  # HDU (taken modulo the file's count)
    st.one_of(st.sampled_from(KEYS), st.integers(min_value=0, max_value=400)),
    VALUES,
)


def _apply(path: Path, edits) -> None:
    """Apply the edits in order; stop at one after which the file no longer scans."""
    for op, hdu, key, value in edits:
        try:
            n = len(scan_fits(path))
        except InvalidExposure:
            return
        hdu %= min(n, 7)
        if isinstance(key, int):  # a keyword already in that header
            keys = _keys_of(path, hdu)
            key = keys[key % len(keys)]
        if op == "set":
            set_card(path, hdu, key, value)
        elif op == "add":
            add_card(path, hdu, key, value)
        else:
            remove_card(path, hdu, key)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the seed is fixed: CI runs the same examples every time
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(which=st.integers(min_value=0, max_value=5), edits=st.lists(EDIT, min_size=1, max_size=4))
def test_every_outcome_is_a_named_refusal_or_a_valid_record(seeds, which, edits):
    src = seeds[which % len(seeds)]
    with tempfile.TemporaryDirectory(prefix="cloudphot-fuzz-") as tmp:
        path = Path(tmp) / src.name
        shutil.copy(src, path)
        _apply(path, edits)
        # astropy warns about cards it fixes; a warning is not an outcome, the record is
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                meta = read_exposure(path)
            except InvalidExposure as exc:
                assert exc.source == path.name and exc.reason.strip()
                return
            assert_valid(meta.to_record())
            if meta.has_pixels:
                try:
                    load_exposure(path)
                except InvalidExposure as exc:
                    assert exc.reason.strip()


def test_seeds_are_accepted(seeds):
    """The unedited seeds are valid, so a refusal in the fuzz is the edit's doing."""
    for p in seeds:
        assert_valid(read_exposure(p).to_record())
